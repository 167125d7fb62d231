"""LUNA16 nodule segmentation (the book "Deep Learning with PyTorch", p2ch13): the ``luna_seg`` dataset.

Masks are DERIVED, not hand-drawn (:mod:`zoo.luna.masks`: the book's box growth at -700 HU). The
positives are the annotations (as in the book's p2ch13, whose positive candidates are the
annotations), not the ``class = 1`` rows of the candidates file.

Samples. ``(x, mask)``: ``x`` is ``float32 [7, H, W]`` in HU clipped to [-1000, 1000], a slice and 3
neighbours on each side (the first/last slice repeated at the ends of the scan), ``mask`` is
``int64 [H, W]`` in {0, 1}, the derived mask of the middle slice.

* ``samples="crops"`` (the train split's default): ``64 x 64`` crops around the nodules,
  ``crops_per_nodule`` per nodule and epoch. Index ``i`` is nodule ``i % n_nodules``. With
  ``batch(..., augment=True)`` every call draws a new slice (uniformly among the slices where that
  nodule's mask has voxels; the book used the centre slice only) and a new offset of up to
  ``crop_jitter`` pixels from the nodule's centre (the book's random 64 crop out of 96), then the
  batch augmentation (:class:`SegmentationAugment`); without it each index has a fixed, seeded slice
  and offset, so the trainer's held-out crops score the same every epoch.
* ``samples="slices"`` (val/test/all): whole slices that contain mask voxels, plus
  ``empty_slice_ratio`` times as many slices without mask voxels from the same scans (seeded; 0 by
  default, as in the book's validation set). Slices of one batch that differ in size (scans that are
  not all 512 x 512) are padded at the bottom/right with -1000 HU and background: the padding counts
  as true negatives, which leaves the nodule-class Dice, IoU, precision and recall unchanged.

Splits are by scan (:func:`zoo.luna.scans.open_split`) over every scan on disk, with the same seed,
fractions and ``fold`` as ``luna``, so a scan is in the same split in both; only the scans with at
least one annotation give samples.

Cache. The crops need whole slices, so one entry per scan holds the whole int16 volume and its mask
(packed bits along the columns): a :class:`zoo.luna.cache.SegmentationCache` (per-scan lock, atomic
write, format version, rebuilt when the source scan, the annotations of the scan or the mask parameters
change or the file is truncated, ``cache_max_bytes`` for its ``.zseg`` entries) in the same folder as
the ``luna`` entries.

Without a ``root`` the synthetic set is used; then the description says SYNTHETIC. Every description
says that the masks are derived.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from zoo.datasets.common import check_split
from zoo.errors import DataError
from zoo.luna.annotations import find_file, read_annotations, read_memoized
from zoo.luna.augment import SegmentationAugment
from zoo.luna.cache import SegmentationCache, SegmentationEntry, cache_directory
from zoo.luna.family import SEG_CLASS_NAMES, SPLITS
from zoo.luna.geometry import crop_start, source_stamp
from zoo.luna.masks import MASK_NOTE, MASK_THRESHOLD_HU, MIN_RADIUS
from zoo.luna.scans import ScanSplit, locate, open_split

__all__ = ["CONTEXT_SLICES", "CROP", "CROP_JITTER", "LunaSegmentationDataset", "luna_seg"]

CONTEXT_SLICES = 3  # neighbours on each side: 7 input channels
CROP = 64  # training crop, pixels (rows and columns)
CROP_JITTER = 16  # largest offset of a training crop's centre from the nodule's centre, pixels


class LunaSegmentationDataset(torch.utils.data.Dataset):
    """``dataset[i] -> (float32 [7, H, W] HU, int64 [H, W] mask)``; see the module docstring for the samples.

    ``batch(indices, augment=False, device=None)`` returns ``(float32 [B, 7, H, W], int64 [B, H, W])``:
    crops of ``crop_size`` (``samples="crops"``) or whole slices (``samples="slices"``), read from the
    cache in one pass and, for crops with ``augment`` and an augmentation, augmented as tensors on
    ``device``. ``sample_slices`` int64 ``[n, 2]`` lists ``(scan, slice)`` of the whole-slice samples,
    ``nodules`` int64 ``[n, 2]`` ``(scan, annotation of that scan)`` of the crop samples.
    """

    class_names = SEG_CLASS_NAMES

    def __init__(
        self,
        *,
        root: Path,
        series: dict[str, tuple[Path, Any, dict[str, Any], dict[str, Any]]],
        samples: str,
        cache: SegmentationCache,
        sample_slices: np.ndarray | None = None,
        nodules: np.ndarray | None = None,
        centers_irc: np.ndarray | None = None,
        crops_per_nodule: int = 8,
        crop_size: int = CROP,
        crop_jitter: int = CROP_JITTER,
        context_slices: int = CONTEXT_SLICES,
        augment: SegmentationAugment | None = None,
        seed: int = 0,
        synthetic: bool = False,
        description: str = "",
    ) -> None:
        self.root = root
        self.series_uids = list(series)
        self._series = [series[u] for u in self.series_uids]  # (mhd, geometry, source stamp, mask parameters)
        self.samples = samples
        self.cache = cache
        self.sample_slices = np.asarray(sample_slices if sample_slices is not None else np.zeros((0, 2)), dtype=np.int64).reshape(-1, 2)
        self.nodules = np.asarray(nodules if nodules is not None else np.zeros((0, 2)), dtype=np.int64).reshape(-1, 2)
        self.centers_irc = np.asarray(centers_irc if centers_irc is not None else np.zeros((0, 3)), dtype=np.int64).reshape(-1, 3)
        self.crops_per_nodule, self.crop_size, self.crop_jitter = crops_per_nodule, crop_size, crop_jitter
        self.context_slices = context_slices
        self.augment = augment
        self.seed = seed
        self.synthetic = synthetic
        self.description = description
        self.target_note = MASK_NOTE + ("; SYNTHETIC data, not real CT" if synthetic else "")
        # The fixed draws of the crops without augmentation: (slice fraction, row and column offsets in [0, 1)).
        self._fixed = np.random.default_rng([seed, 13]).random((len(self), 3)) if samples == "crops" else None

    @property
    def scan_paths(self) -> dict[str, Path]:
        """``{seriesuid: .mhd path}`` of this dataset's scans, in split order."""
        return {uid: series[0] for uid, series in zip(self.series_uids, self._series)}

    def __len__(self) -> int:
        return len(self.nodules) * self.crops_per_nodule if self.samples == "crops" else len(self.sample_slices)

    def _ids(self, indices: Any) -> np.ndarray:
        idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if len(idx) and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for a dataset of {n} samples")
        return idx % max(n, 1)

    def _entry(self, s: int) -> SegmentationEntry:
        mhd, geometry, source, params = self._series[s]
        region = np.array([[0, 0, 0], geometry.shape_irc], dtype=np.int64)
        return self.cache.entry(self.series_uids[s], mhd, region, params, source)[0]

    def _stack_indices(self, z: int, depth: int) -> np.ndarray:
        """The slices of the stack around ``z``, the first/last slice repeated at the scan's ends."""
        return np.clip(np.arange(z - self.context_slices, z + self.context_slices + 1), 0, depth - 1)

    def read_slices(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whole slices: ``(int16 [B, 7, H, W], bool [B, H, W])``, padded to the batch's largest slice."""
        entries = [self._entry(int(self.sample_slices[i, 0])) for i in ids]
        height = max(e.hu.shape[1] for e in entries)
        width = max(e.hu.shape[2] for e in entries)
        images = np.full((len(ids), 2 * self.context_slices + 1, height, width), -1000, dtype=np.int16)
        masks = np.zeros((len(ids), height, width), dtype=bool)
        for k, (i, e) in enumerate(zip(ids, entries)):
            z = int(self.sample_slices[i, 1])
            _, h, w = e.hu.shape
            images[k, :, :h, :w] = e.hu[self._stack_indices(z, e.hu.shape[0])]
            masks[k, :h, :w] = e.mask_rows(z)
        return images, masks

    def read_crops(self, ids: np.ndarray, draws: np.ndarray, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Crops around nodules: ``(int16 [B, 7, S + 2m, S + 2m], bool [B, S + 2m, S + 2m])`` for ``S = crop_size``.

        ``draws`` ``[B, 3]`` in ``[0, 1)`` pick the slice among the nodule's mask slices and the offset of
        the crop's centre (up to ``crop_jitter`` pixels per axis); the ``S x S`` crop is shifted to lie
        inside the slice, and the ``margin`` around it repeats the slice's edge where it runs out.
        """
        size = self.crop_size + 2 * margin
        images = np.empty((len(ids), 2 * self.context_slices + 1, size, size), dtype=np.int16)
        masks = np.empty((len(ids), size, size), dtype=bool)
        n = len(self.nodules)
        for k, i in enumerate(ids):
            s, a = (int(v) for v in self.nodules[i % n])
            e = self._entry(s)
            depth, height, width = e.hu.shape
            first, last = e.nodules[a]["slices"]
            z = first + min(int(draws[k, 0] * (last - first + 1)), last - first)
            offset = np.round((2 * draws[k, 1:] - 1) * self.crop_jitter).astype(np.int64)
            center = self.centers_irc[i % n, 1:] + offset
            start = crop_start(center, (height, width), (self.crop_size, self.crop_size)) - margin
            rows = np.clip(start[0] + np.arange(size), 0, height - 1)
            cols = np.clip(start[1] + np.arange(size), 0, width - 1)
            images[k] = e.hu[np.ix_(self._stack_indices(z, depth), rows, cols)]
            masks[k] = e.mask_rows(z, slice(rows[0], rows[-1] + 1))[rows - rows[0]][:, cols]
        return images, masks

    def batch(self, indices: Any, augment: bool = False, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(float32 [B, 7, H, W] HU, int64 [B, H, W])`` for ``indices``. For crops, ``augment`` draws new
        slices and offsets from the global torch RNG (seeded per epoch by the trainer) and applies the
        dataset's augmentation, if any, on ``device``."""
        ids = self._ids(indices)
        use_aug = bool(augment) and self.augment is not None and self.samples == "crops"
        if self.samples == "crops":
            draws = torch.rand(len(ids), 3, dtype=torch.float64).numpy() if augment else self._fixed[ids]
            margin = self.crop_size // 4 if use_aug and self.augment.geometric else 0  # room for rotation and scale
            images, masks = self.read_crops(ids, draws, margin)
        else:
            images, masks = self.read_slices(ids)
        x, y = torch.from_numpy(images), torch.from_numpy(masks)
        if device is not None:  # int16 and bool: fewer bytes to copy than float32 and int64
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        x, y = x.to(torch.float32), y.to(torch.int64)
        if use_aug:
            x, y = self.augment(x, y, out_size=(self.crop_size, self.crop_size))
        return x, y

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch([index])
        return x[0], y[0]

    def prepare_cache(self, progress: bool = True) -> int:
        """Build every missing or stale cache entry of this dataset's scans; returns how many were built."""
        from zoo.progress import progress as progress_bar

        before = self.cache.builds
        for s in progress_bar(range(len(self.series_uids)), desc="luna_seg cache", unit="scan", disable=not progress):
            self._entry(s)
        return self.cache.builds - before

    def __repr__(self) -> str:
        what = f"{len(self.nodules)} nodules x {self.crops_per_nodule} crops" if self.samples == "crops" else f"{len(self)} slices"
        return f"LunaSegmentationDataset({what} from {len(self.series_uids)} scans; {self.target_note})"


# ---------------------------------------------------------------------------------------- factory

_announced: set[str] = set()


def _check_options(**values: Any) -> None:
    """Integers at or above their minimum (``name=(value, minimum)``)."""
    for name, (value, low) in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise DataError(f"{name} must be an integer >= {low}, got {value!r}")


def _annotated_centres(scans: ScanSplit, annotations_file: str | None) -> dict[str, list]:
    """``{uid: [center_xyz, ...]}`` of the annotated nodules of the root's scans (``annotations.csv`` is required)."""
    ann_path = find_file(scans.root, ("annotations.csv", "annotations_with_malignancy.csv"), "annotations", annotations_file)
    if ann_path is None:
        raise DataError(f"luna_seg needs {scans.root}/annotations.csv (seriesuid,coordX,coordY,coordZ,diameter_mm): "
                        "the masks are derived from the annotated nodule centres")
    by_series: dict[str, list] = {}
    for a in read_memoized(ann_path, read_annotations):
        by_series.setdefault(a.series_uid, []).append(a.center_xyz)
    return by_series


def _index_nodules(scans: ScanSplit, wanted: list[str], by_series: dict[str, list], *, crops: bool, crop_size: int,
                   mask_rule: dict[str, Any]) -> tuple[dict[str, tuple], list, list]:
    """Per scan ``(mhd, geometry, source stamp, mask parameters)``; the nodule centres (voxels) and
    ``(scan, annotation)`` pairs in scan order."""
    info, centers, nodules = {}, [], []
    for s, uid in enumerate(wanted):
        geometry, irc = locate(scans, uid, by_series[uid], "nodule")
        shape = np.asarray(geometry.shape_irc)
        if crops and min(shape[1:]) < crop_size:
            raise DataError(f"scan {uid} has {shape[1]}x{shape[2]}-pixel slices, smaller than the {crop_size}x{crop_size} "
                            "training crop; pass a smaller crop_size")
        mhd = scans.mhd(uid)
        info[uid] = (mhd, geometry, source_stamp(mhd), {**mask_rule, "centers_irc": irc.tolist()})
        centers += irc.tolist()
        nodules += [(s, k) for k in range(len(irc))]
    return info, centers, nodules


def _whole_slice_samples(data: LunaSegmentationDataset, *, empty_slice_ratio: float, split_seed: int) -> np.ndarray:
    """``(scan, slice)`` int64 ``[n, 2]``: every slice with mask voxels, then ``empty_slice_ratio`` as many without."""
    pairs = []
    for s in range(len(data.series_uids)):
        entry = data._entry(s)
        positive = entry.mask_slices
        pairs += [(s, int(z)) for z in positive]
        if empty_slice_ratio:
            empty = np.setdiff1d(np.arange(entry.hu.shape[0]), positive)
            n_empty = min(len(empty), round(empty_slice_ratio * len(positive)))
            chosen = np.random.default_rng([split_seed, s, 7]).choice(empty, n_empty, replace=False)
            pairs += [(s, int(z)) for z in np.sort(chosen)]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def luna_seg(
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = False,
    *,
    fold: int | None = None,
    subsets: Sequence[int] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    samples: str | None = None,
    crops_per_nodule: int = 8,
    crop_size: int = CROP,
    crop_jitter: int = CROP_JITTER,
    context_slices: int = CONTEXT_SLICES,
    empty_slice_ratio: float = 0.0,
    threshold_hu: float = MASK_THRESHOLD_HU,
    min_radius: int = MIN_RADIUS,
    augment: Any = True,
    cache_dir: str | os.PathLike | None = None,
    cache_max_bytes: int | None = None,
    annotations_file: str | None = None,
) -> LunaSegmentationDataset:
    """LUNA16 nodule segmentation with derived masks: ``(float32 [7, H, W] HU, int64 [H, W] mask)``.

    * ``root``: the LUNA16 folder (``zoo.luna.scans``'s layout; ``annotations.csv`` is required);
      ``None`` uses the synthetic set. ``download=True`` is an error (LUNA16 needs registration).
    * ``split``: ``train``/``val``/``test``/``all`` by scan, as ``luna`` (``split_seed``, ``val_fraction``,
      ``test_fraction``, ``fold=K``, ``subsets=[...]``).
    * ``samples``: ``"crops"`` (default for train) or ``"slices"`` (default otherwise); ``crops_per_nodule``
      (8), ``crop_size`` (64), ``crop_jitter`` (16 pixels), ``context_slices`` (3 per side: 7 channels),
      ``empty_slice_ratio`` (0: whole-slice samples are the slices with mask voxels only).
    * ``threshold_hu`` (-700) and ``min_radius`` (2): the mask rule (:func:`zoo.luna.masks.derive_mask`).
    * ``augment``: ``true`` (default; train split), ``false`` or a dict of :class:`SegmentationAugment` fields.
    * ``cache_dir``, ``cache_max_bytes``; ``annotations_file`` (a name in ``root``).
    """
    check_split(split, SPLITS, "luna_seg")
    samples = samples or ("crops" if split == "train" else "slices")
    if samples not in ("crops", "slices"):
        raise DataError(f"samples must be 'crops' or 'slices', got {samples!r}")
    _check_options(crops_per_nodule=(crops_per_nodule, 1), crop_size=(crop_size, 8), crop_jitter=(crop_jitter, 0),
                   context_slices=(context_slices, 0), min_radius=(min_radius, 1))
    if not isinstance(empty_slice_ratio, (int, float)) or not 0 <= empty_slice_ratio:
        raise DataError(f"empty_slice_ratio must be a number >= 0, got {empty_slice_ratio!r}")
    scans = open_split(split, root, download, fold=fold, subsets=subsets, val_fraction=val_fraction,
                       test_fraction=test_fraction, split_seed=split_seed)
    by_series = _annotated_centres(scans, annotations_file)
    wanted = sorted(u for u in scans.uids if u in by_series)
    if not wanted:
        raise DataError(f"luna_seg: the {split} split of {scans.root} has no scan with an annotated nodule (scans in split: {len(scans.uids)})")
    mask_rule = {"rule": "box growth (buildAnnotationMask)", "threshold_hu": threshold_hu, "min_radius": min_radius}
    info, centers, nodules = _index_nodules(scans, wanted, by_series, crops=samples == "crops", crop_size=crop_size, mask_rule=mask_rule)

    cache = SegmentationCache(cache_directory(cache_dir, scans.root), max_bytes=cache_max_bytes)
    options = dict(root=scans.root, series=info, samples=samples, cache=cache, crop_size=crop_size, crop_jitter=crop_jitter,
                   context_slices=context_slices, seed=split_seed, synthetic=scans.synthetic)
    if samples == "crops":
        data = LunaSegmentationDataset(**options, nodules=np.asarray(nodules), centers_irc=np.asarray(centers),
                                       crops_per_nodule=crops_per_nodule,
                                       augment=SegmentationAugment.from_option(augment) if split == "train" else None)
        what = f"{len(nodules)} nodules x {crops_per_nodule} crops of {crop_size}x{crop_size}"
    else:
        data = LunaSegmentationDataset(**options)
        data.sample_slices = _whole_slice_samples(data, empty_slice_ratio=empty_slice_ratio, split_seed=split_seed)
        if not len(data.sample_slices):
            raise DataError(f"luna_seg: no slice of the {split} split has mask voxels (every nodule centre at or below {threshold_hu} HU?)")
        what = f"{len(data.sample_slices)} whole slices" + (f" (with {empty_slice_ratio:g} x as many without mask voxels)"
                                                            if empty_slice_ratio else " with mask voxels")
    data.description = (f"LUNA16 nodule segmentation, {split} split ({what}, {len(wanted)} scans) from {scans.root}; "
                        f"{MASK_NOTE}" + (" -- SYNTHETIC data from zoo.luna.synthetic.synthesize, not real CT" if scans.synthetic else ""))
    if str(scans.root) not in _announced:
        _announced.add(str(scans.root))
        print(f"zoo: luna_seg {MASK_NOTE}", file=sys.stderr)
    return data
