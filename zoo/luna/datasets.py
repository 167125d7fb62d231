"""LUNA16 candidate crops: ``luna`` (nodule vs non-nodule) and ``luna_malignancy`` (benign vs malignant).

The data layer of the book "Deep Learning with PyTorch", part 2 (p2ch10-p2ch14), rebuilt as software.
Every sample is a crop of ``32 x 48 x 48`` voxels ``(index, row, column)`` around a candidate, shifted to
stay inside the volume, as ``float32 [1, 32, 48, 48]`` in HU clipped to ``[-1000, 1000]`` (the models
normalise with an input batch norm).

``luna`` takes its samples from the candidates file, labelled by its ``class`` column and matched to
the annotations (:func:`zoo.luna.annotations.match_candidates`); ``unmatched_positives`` says whether a
positive that matches no nodule is kept (default), dropped, or an error. ``luna_malignancy`` uses the
annotations themselves (one sample per nodule of ``annotations_with_malignancy.csv``). Both split by
scan (:mod:`zoo.luna.scans`) and read their crops through the per-scan cache (:class:`ScanCache`),
whose region per scan covers every position any dataset of the root may crop, so the two share entries.

Class balancing (``balance_ratio=R``: R negatives per positive, interleaved; a list gives one ratio per
epoch, see :meth:`LunaDataset.set_epoch`) and augmentation (:class:`LunaAugment`) apply to the
``train`` split only; other splits always keep the natural class mix. Without a ``root`` the synthetic
set is used; such datasets carry ``synthetic = True`` and say so in ``description``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from zoo.datasets.common import check_split
from zoo.errors import DataError
from zoo.luna.annotations import MatchSummary, find_file, match_candidates, read_annotations, read_candidates, read_memoized
from zoo.luna.augment import LunaAugment
from zoo.luna.cache import ScanCache, cache_directory
from zoo.luna.family import CLASS_NAMES, CROP_SIZE, MALIGNANCY_NAMES, SPLITS
from zoo.luna.geometry import CtGeometry, crop_start, source_stamp
from zoo.luna.scans import ScanSplit, locate, open_split

__all__ = ["CROP_MARGIN", "LunaDataset", "luna", "luna_malignancy"]

CROP_MARGIN = (4, 6, 6)  # extra context cached around each crop, so that an augmentation offset moves the crop


class LunaDataset(torch.utils.data.Dataset):
    """Crops around LUNA16 candidates (or nodules): ``dataset[i] -> (float32 [1, 32, 48, 48] HU, label)``.

    ``batch(indices, augment=False, device=None)`` returns ``(float32 [B, 1, 32, 48, 48], int64 [B])``,
    reading the crops from the cache in one pass and augmenting the whole batch as a tensor on
    ``device`` when ``augment`` is true and the dataset has an augmentation (train split only).

    With ``balance_ratio`` (train split), index ``i`` is virtual: every ``ratio + 1``-th index is a
    positive, the others negatives, cycling through each class; ``len()`` is ``epoch_size`` (default:
    every negative once per epoch). ``labels`` and ``series_uids`` describe the underlying samples.
    """

    def __init__(
        self,
        *,
        root: Path,
        series: dict[str, tuple[Path, CtGeometry, dict[str, Any], np.ndarray]],
        sample_series: np.ndarray,
        centers_irc: np.ndarray,
        labels: np.ndarray,
        class_names: Sequence[str],
        cache: ScanCache,
        crop_size: Sequence[int] = CROP_SIZE,
        crop_margin: Sequence[int] = CROP_MARGIN,
        augment: LunaAugment | None = None,
        balance_ratio: int | Sequence[int] | None = None,
        epoch_size: int | None = None,
        seed: int = 0,
        synthetic: bool = False,
        description: str = "",
        matching: MatchSummary | None = None,
    ) -> None:
        self.root = root
        self.series_uids = list(series)
        self._series = [series[u] for u in self.series_uids]  # (mhd, geometry, source stamp, region)
        self._sample_series = np.asarray(sample_series, dtype=np.int64)
        self.centers_irc = np.asarray(centers_irc, dtype=np.int64).reshape(-1, 3)
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        self.class_names = tuple(class_names)
        self.cache = cache
        self.crop_size = tuple(int(s) for s in crop_size)
        self.crop_margin = tuple(int(m) for m in crop_margin)
        self.augment = augment
        self.synthetic = synthetic
        self.description = description
        self.matching = matching
        self.seed = seed
        shapes = np.asarray([s[1].shape_irc for s in self._series], dtype=np.int64).reshape(-1, 3)
        self._spacing = torch.tensor(np.asarray([s[1].spacing_irc for s in self._series]).reshape(-1, 3), dtype=torch.float32)
        sample_shapes = shapes[self._sample_series] if len(self._sample_series) else np.zeros((0, 3), np.int64)
        self._start = crop_start(self.centers_irc, sample_shapes, self.crop_size)
        self._margin_start = crop_start(self.centers_irc, sample_shapes, np.add(self.crop_size, 2 * np.asarray(self.crop_margin)))
        self._crop_key = {"size": list(self.crop_size), "margin": list(self.crop_margin)}
        self._ratios, self._epoch_size = _balance_options(balance_ratio, epoch_size)
        if self._ratios is not None:
            labels_np = self.labels.numpy()
            self._pos, self._neg = np.flatnonzero(labels_np == 1), np.flatnonzero(labels_np == 0)
            if len(self._pos) == 0 or len(self._neg) == 0:
                raise DataError(f"cannot balance classes: this split has {len(self._pos)} positives and {len(self._neg)} negatives")
            self.set_epoch(1)

    @property
    def scan_paths(self) -> dict[str, Path]:
        """``{seriesuid: .mhd path}`` of this split's scans, in split order."""
        return {uid: series[0] for uid, series in zip(self.series_uids, self._series)}

    # -- indexing
    def __len__(self) -> int:
        if self._ratios is None:
            return len(self.labels)
        if self._epoch_size is not None:
            return int(self._epoch_size)
        r = self._ratios[0]
        return math.ceil(len(self._neg) / r) * (r + 1)

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle which positive and negative each balanced index maps to, and take this epoch's ratio
        (the ``epoch``-th entry of a ``balance_ratio`` list, the last one after that). No-op when unbalanced."""
        if self._ratios is None:
            return
        self.ratio = self._ratios[min(max(epoch, 1), len(self._ratios)) - 1]
        rng = np.random.default_rng([self.seed, epoch])
        self._pos_order, self._neg_order = rng.permutation(self._pos), rng.permutation(self._neg)

    def sample_ids(self, indices: Any) -> np.ndarray:
        """The underlying sample of each (possibly virtual, balanced) index."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if len(idx) and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for a dataset of {n} samples")
        idx = idx % max(n, 1)
        if self._ratios is None:
            return idx
        r = self.ratio
        group, slot = idx // (r + 1), idx % (r + 1)
        pos = self._pos_order[group % len(self._pos_order)]
        neg = self._neg_order[(group * r + slot - 1) % len(self._neg_order)]
        return np.where(slot == 0, pos, neg)

    def label_of(self, indices: Any) -> torch.Tensor:
        return self.labels[torch.from_numpy(self.sample_ids(indices))]

    # -- reading
    def _region(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        mhd, _, source, region = self._series[s]
        return self.cache.entry(self.series_uids[s], mhd, region, self._crop_key, source)

    def crops(self, sample_ids: np.ndarray, *, margin: bool = False) -> np.ndarray:
        """``int16 [B, 1, D, H, W]`` HU crops of underlying samples (with the augmentation margin when ``margin``)."""
        size = np.add(self.crop_size, 2 * np.asarray(self.crop_margin)) if margin else np.asarray(self.crop_size)
        starts = self._margin_start if margin else self._start
        out = np.empty((len(sample_ids), 1, *size), dtype=np.int16)
        for k, i in enumerate(sample_ids):
            s = int(self._sample_series[i])
            volume, region_start = self._region(s)
            z, y, x = starts[i] - region_start
            block = volume[z : z + size[0], y : y + size[1], x : x + size[2]]
            if block.shape != tuple(size):  # the region covers every crop by construction; never return a short one
                raise DataError(f"scan {self.series_uids[s]}: crop at {starts[i].tolist()} leaves its cached region; "
                                f"clear the cache ({self.cache.directory})")
            out[k, 0] = block
        return out

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = self.sample_ids([index])
        return torch.from_numpy(self.crops(i)[0].astype(np.float32)), int(self.labels[int(i[0])])

    def batch(self, indices: Any, augment: bool = False, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(float32 [B, 1, 32, 48, 48] HU, int64 [B])`` for ``indices``; with ``augment`` (and an augmentation,
        train split), crops are read with their margin and augmented as one tensor on ``device``."""
        ids = self.sample_ids(indices.cpu() if isinstance(indices, torch.Tensor) else indices)
        use_aug = bool(augment) and self.augment is not None
        crops = torch.from_numpy(self.crops(ids, margin=use_aug))
        labels = self.labels[torch.from_numpy(ids)]
        if device is not None:  # int16: half the bytes of float32 to copy
            crops, labels = crops.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        x = crops.to(torch.float32)
        if use_aug:
            base = torch.from_numpy(self._start[ids] - self._margin_start[ids] - np.asarray(self.crop_margin)).float()
            spacing = self._spacing[torch.from_numpy(self._sample_series[ids])]
            x = self.augment(x, out_size=self.crop_size, base_shift=base, spacing_irc=spacing)
        return x, labels

    def prepare_cache(self, progress: bool = True) -> int:
        """Build every missing or stale cache entry of this dataset's scans; returns how many were built."""
        from zoo.progress import progress as progress_bar

        before = self.cache.builds
        for s in progress_bar(range(len(self.series_uids)), desc="luna cache", unit="scan", disable=not progress):
            self._region(s)
        return self.cache.builds - before

    def __repr__(self) -> str:
        counts = torch.bincount(self.labels, minlength=len(self.class_names)).tolist()
        mix = ", ".join(f"{n} {name}" for n, name in zip(counts, self.class_names))
        return f"LunaDataset({len(self)} samples from {len(self.series_uids)} scans: {mix}{'; synthetic' if self.synthetic else ''})"


def _balance_options(balance_ratio: Any, epoch_size: Any) -> tuple[list[int] | None, int | None]:
    """``balance_ratio`` as a list of ratios (``None``: no balancing) and ``epoch_size``, checked."""
    try:
        ratios = None if balance_ratio is None else [int(r) for r in np.atleast_1d(balance_ratio)]
    except (TypeError, ValueError):
        ratios = []
    if ratios is not None and (not ratios or min(ratios) < 1):
        raise DataError(f"balance_ratio must be a positive number of negatives per positive (or a list, one per epoch), got {balance_ratio!r}")
    if epoch_size is not None and (not isinstance(epoch_size, int) or epoch_size < 1):
        raise DataError(f"epoch_size must be a positive integer, got {epoch_size!r}")
    return ratios, epoch_size


# ---------------------------------------------------------------------------------------- factories

class _CsvFiles:
    """The CSV files of a root a task reads: candidates, annotations and the malignancy annotations (each may be ``None``)."""

    def __init__(self, root: Path, task: str, candidates_file: str | None, annotations_file: str | None) -> None:
        self.candidates = find_file(root, ("candidates_V2.csv", "candidates.csv"), "candidates", candidates_file if task == "luna" else None)
        self.malignancy = find_file(root, ("annotations_with_malignancy.csv",), "annotations", annotations_file if task != "luna" else None)
        self.annotations = find_file(root, ("annotations.csv", "annotations_with_malignancy.csv"), "annotations",
                                     annotations_file if task == "luna" else None)

    def crop_positions(self) -> dict[str, list]:
        """Every position any dataset of this root may crop, per scan: the cached region is their union, so
        ``luna`` and ``luna_malignancy`` share one cache entry per scan."""
        points: dict[str, list] = {}
        for path, parse in ((self.candidates, read_candidates), (self.annotations, read_annotations), (self.malignancy, read_annotations)):
            if path is not None:
                for r in read_memoized(path, parse):
                    points.setdefault(r.series_uid, []).append(r.center_xyz)
        return points


def _candidate_rows(root: Path, files: _CsvFiles, unmatched_positives: str) -> tuple[list[tuple], MatchSummary]:
    """``luna``'s samples ``(uid, center_xyz, label)`` from the candidates file, matched to the annotations."""
    annotations = read_memoized(files.annotations, read_annotations) if files.annotations else []
    if files.candidates is None:
        raise DataError(f"no candidates file in {root}: expected candidates_V2.csv or candidates.csv "
                        "(seriesuid,coordX,coordY,coordZ,class)")
    infos, summary = match_candidates(read_memoized(files.candidates, read_candidates), annotations)
    if unmatched_positives == "error" and summary.unmatched_positives:
        first = next(c for c in infos if c.is_nodule and c.annotation < 0)
        raise DataError(f"{summary.unmatched_positives} positive candidate(s) match no annotation within its radius, "
                        f"e.g. {first.series_uid} at {first.center_xyz}; pass unmatched_positives='keep' or 'drop'")
    rows = [(c.series_uid, c.center_xyz, int(c.is_nodule)) for c in infos
            if not (unmatched_positives == "drop" and c.is_nodule and c.annotation < 0)]
    return rows, summary


def _nodule_rows(root: Path, files: _CsvFiles) -> list[tuple]:
    """``luna_malignancy``'s samples ``(uid, center_xyz, label)``: the nodules of ``annotations_with_malignancy.csv``."""
    if files.annotations:
        read_memoized(files.annotations, read_annotations)  # parsed (and checked) as for luna
    if files.malignancy is None:
        raise DataError(f"luna_malignancy needs {root}/annotations_with_malignancy.csv "
                        "(seriesuid,coordX,coordY,coordZ,diameter_mm,mal_bool)")
    nodules = read_memoized(files.malignancy, read_annotations)
    if any(a.is_malignant is None for a in nodules):
        raise DataError(f"{files.malignancy} has no mal_bool column")
    return [(a.series_uid, a.center_xyz, int(a.is_malignant)) for a in nodules]


def _crop_region(scans: ScanSplit, uid: str, points: list, crop_size: tuple[int, ...], crop_margin: tuple[int, ...]) -> tuple:
    """Scan ``uid``'s ``(mhd, geometry, source stamp, region)``: ``region`` int ``[2, 3]`` is the box
    ``[start, stop)`` that holds every crop of ``points``, with and without the augmentation margin."""
    geometry, centers = locate(scans, uid, points, "candidate")
    shape = np.asarray(geometry.shape_irc)
    if (shape < np.asarray(crop_size)).any():
        raise DataError(f"scan {uid} has shape {shape.tolist()}, smaller than the crop {list(crop_size)}")
    boxes = []
    for size in (np.asarray(crop_size), np.add(crop_size, 2 * np.asarray(crop_margin))):
        start = crop_start(centers, shape, size)
        boxes += [start, np.minimum(start + size, shape)]
    region = np.stack([np.minimum(boxes[0], boxes[2]).min(0), np.maximum(boxes[1], boxes[3]).max(0)])
    mhd = scans.mhd(uid)
    return mhd, geometry, source_stamp(mhd), region


def _sample_arrays(rows: list[tuple], wanted: list[str], info: dict[str, tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scan index int64 [N], centre voxel int64 [N, 3], label int64 [N])`` of the rows of the ``wanted`` scans."""
    index = {uid: k for k, uid in enumerate(wanted)}
    keep = [r for r in rows if r[0] in index]
    sample_series = np.asarray([index[r[0]] for r in keep], dtype=np.int64)
    centers = np.zeros((len(keep), 3), dtype=np.int64)
    xyz = np.asarray([r[1] for r in keep], dtype=np.float64).reshape(-1, 3)
    by_series = np.argsort(sample_series, kind="stable")
    bounds = np.searchsorted(sample_series[by_series], np.arange(len(wanted) + 1))
    for k, uid in enumerate(wanted):
        members = by_series[bounds[k] : bounds[k + 1]]
        centers[members] = info[uid][1].patient_to_index(xyz[members])
    return sample_series, centers, np.asarray([r[2] for r in keep], dtype=np.int64)


def _build(
    task: str,
    split: str,
    root: str | os.PathLike | None,
    download: bool,
    *,
    fold: int | None = None,
    subsets: Sequence[int] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    balance_ratio: int | Sequence[int] | None = None,
    epoch_size: int | None = None,
    augment: Any = True,
    crop_size: Sequence[int] = CROP_SIZE,
    crop_margin: Sequence[int] = CROP_MARGIN,
    cache_dir: str | os.PathLike | None = None,
    cache_max_bytes: int | None = None,
    candidates_file: str | None = None,
    annotations_file: str | None = None,
    unmatched_positives: str = "keep",
) -> LunaDataset:
    """The dataset of ``task`` (``luna`` or ``luna_malignancy``): split, samples, their scans' crop regions, cache."""
    check_split(split, SPLITS, task)
    if unmatched_positives not in ("keep", "drop", "error"):
        raise DataError(f"unmatched_positives must be keep, drop or error, got {unmatched_positives!r}")
    crop_size, crop_margin = tuple(int(v) for v in crop_size), tuple(int(v) for v in crop_margin)
    if len(crop_size) != 3 or len(crop_margin) != 3 or min(crop_size) < 1 or min(crop_margin) < 0:
        raise DataError(f"crop_size must be 3 positive and crop_margin 3 non-negative voxel counts, got {crop_size}, {crop_margin}")
    scans = open_split(split, root, download, fold=fold, subsets=subsets, val_fraction=val_fraction,
                       test_fraction=test_fraction, split_seed=split_seed)
    files = _CsvFiles(scans.root, task, candidates_file, annotations_file)
    if task == "luna":
        rows, summary = _candidate_rows(scans.root, files, unmatched_positives)
    else:
        rows, summary = _nodule_rows(scans.root, files), None
    positions = files.crop_positions()
    wanted = sorted({uid for uid, _, _ in rows if uid in scans.uids})
    info = {uid: _crop_region(scans, uid, positions[uid], crop_size, crop_margin) for uid in wanted}
    sample_series, centers, labels = _sample_arrays(rows, wanted, info)
    if len(labels) == 0:
        raise DataError(f"{task}: the {split} split of {scans.root} has no samples (scans in split: {len(scans.uids)})")

    what = "nodule vs non-nodule candidates" if task == "luna" else "benign vs malignant nodules"
    description = (f"LUNA16 {what}, {split} split ({len(labels)} samples, {len(wanted)} scans) from {scans.root}"
                   + (" -- SYNTHETIC data from zoo.luna.synthetic.synthesize, not real CT" if scans.synthetic else ""))
    train = split == "train"
    return LunaDataset(
        root=scans.root, series=info, sample_series=sample_series, centers_irc=centers, labels=labels,
        class_names=CLASS_NAMES if task == "luna" else MALIGNANCY_NAMES,
        cache=ScanCache(cache_directory(cache_dir, scans.root), max_bytes=cache_max_bytes), crop_size=crop_size,
        crop_margin=crop_margin, augment=_augment_for(task, augment) if train else None,
        balance_ratio=balance_ratio if train else None, epoch_size=epoch_size if train else None,
        seed=split_seed, synthetic=scans.synthetic, description=description, matching=summary,
    )


def _augment_for(task: str, option: Any) -> LunaAugment | None:
    """The augmentation of a task's train split. ``augment=True`` means the book's settings, except that
    malignancy does not rescale: a nodule's diameter is one of the cues for malignancy, and +/-20% would
    turn a 10 mm nodule into anything from 8 to 12 mm."""
    if option is True and task == "luna_malignancy":
        return LunaAugment(scale=0.0)
    return LunaAugment.from_option(option)


_FACTORY_DOC = """

    Arguments (all keyword, all optional; ``-d KEY=VALUE`` on the command line):

    * ``root``: the LUNA16 folder (layout in ``zoo.luna.scans``); ``None`` uses the synthetic set.
      ``download=True`` is an error: LUNA16 needs registration and a manual download.
    * ``split``: ``train``, ``val``, ``test`` or ``all``, by scan; ``split_seed`` (0), ``val_fraction`` (0.1),
      ``test_fraction`` (0.2); or ``fold=K`` for the official subsets as folds; ``subsets=[...]`` to use only some.
    * ``balance_ratio``: negatives per positive, interleaved (train split); a list gives one per epoch;
      ``epoch_size``: samples per balanced epoch (default: every negative once).
    * ``augment``: ``true`` (default, train split; no rescaling for malignancy), ``false``, or a dict of
      :class:`LunaAugment` fields.
    * ``crop_size`` ((32, 48, 48)), ``crop_margin`` ((4, 6, 6)), ``cache_dir``, ``cache_max_bytes``.
    """


def luna(split: str = "train", root: str | None = None, download: bool = False, **options: Any) -> LunaDataset:
    """LUNA16 candidates, nodule (1) vs non-nodule (0): ``(float32 [1, 32, 48, 48] HU, label)``.

    Also: ``candidates_file``/``annotations_file`` (names in ``root``), and ``unmatched_positives``:
    ``keep`` (default; diameter NaN), ``drop`` or ``error``.
    """
    return _build("luna", split, root, download, **options)


def luna_malignancy(split: str = "train", root: str | None = None, download: bool = False, **options: Any) -> LunaDataset:
    """LUNA16 nodules, benign (0) vs malignant (1), one sample per annotation of
    ``annotations_with_malignancy.csv`` (``mal_bool``): ``(float32 [1, 32, 48, 48] HU, label)``."""
    return _build("luna_malignancy", split, root, download, **options)


luna.__doc__ += _FACTORY_DOC
luna_malignancy.__doc__ += _FACTORY_DOC
