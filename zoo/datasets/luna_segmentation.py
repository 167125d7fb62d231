"""LUNA16 nodule segmentation (the book "Deep Learning with PyTorch", p2ch13): the ``luna_seg`` dataset.

Masks are DERIVED, not hand-drawn. LUNA16 gives a centre and a diameter per nodule
(``annotations.csv``), no voxel masks; like the book's ``buildAnnotationMask``, :func:`derive_mask`
grows a box around each annotated centre, one axis at a time, while the voxels on the axis line at
``+/- r`` on both sides stay above -700 HU (starting at ``r = 2``; the first radius where one side is
not above is the box's half-width), then keeps the voxels of the boxes above -700 HU. The positives
are the annotations (as in the book's p2ch13, whose positive candidates are the annotations), not
the ``class = 1`` rows of the candidates file. One change from the book at the volume's edge: a side
that leaves the volume neither stops the growth nor wraps around (the book's negative index read
the far end of the scan and could leave an edge nodule without a mask); the box is clipped.

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

Splits are by scan with :func:`zoo.datasets.luna.split_series` over every scan on disk, with the same
seed, fractions and ``fold`` as ``luna``, so a scan is in the same split in both; only the scans with
at least one annotation give samples.

Cache. The crops need whole slices, so one entry per scan holds the whole int16 volume and its mask
(packed bits along the columns): a :class:`SegmentationCache`, the ``luna`` cache machinery
(:class:`zoo.datasets.luna.ScanCache`: per-scan lock, atomic write, format version, rebuilt when the
source scan, the annotations of the scan or the mask parameters change or the file is truncated,
``cache_max_bytes`` for its ``.zseg`` entries) in the same folder as the ``luna`` entries.

Without a ``root`` the synthetic set of ``zoo.datasets.luna`` is used; then the description says
SYNTHETIC. Every description says that the masks are derived.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch

from zoo.datasets import check_split
from zoo.datasets.luna import (
    _SPLITS,
    SYNTHETIC_MARKER,
    LunaAugment,
    ScanCache,
    _aligned,
    _first_existing,
    _memo,
    _resolve_root,
    _root_key,
    _source_stamp,
    affine_resample,
    crop_start,
    default_cache_dir,
    find_series,
    read_annotations,
    read_ct,
    read_geometry,
    split_series,
)
from zoo.errors import DataError
from zoo.hookspecs import hookimpl

__all__ = [
    "MASK_THRESHOLD_HU", "MIN_RADIUS", "CONTEXT_SLICES", "CROP", "CROP_JITTER", "SEG_CACHE_VERSION", "SEG_CLASS_NAMES",
    "MASK_NOTE", "grow_radius", "derive_mask", "SegmentationEntry", "SegmentationCache", "SegmentationAugment",
    "LunaSegmentationDataset", "luna_seg",
]

MASK_THRESHOLD_HU = -700  # the book's threshold: nodule tissue is above it, lung parenchyma below
MIN_RADIUS = 2  # the book starts growing at +/- 2 voxels
CONTEXT_SLICES = 3  # neighbours on each side: 7 input channels
CROP = 64  # training crop, pixels (rows and columns)
CROP_JITTER = 16  # largest offset of a training crop's centre from the nodule's centre, pixels
SEG_CACHE_VERSION = 1  # bump when the entry format or the mask rule changes; older entries are rebuilt
SEG_CLASS_NAMES = ("background", "nodule")
MASK_NOTE = "masks derived from annotations.csv by box growth at -700 HU (the book's rule), not hand-drawn"


# ---------------------------------------------------------------------------------------- masks


def grow_radius(line: np.ndarray, center: int, *, threshold_hu: float = MASK_THRESHOLD_HU, min_radius: int = MIN_RADIUS) -> int:
    """The book's half-width along one axis: the first ``r >= min_radius`` at which ``line[center - r]`` or
    ``line[center + r]`` is not above ``threshold_hu``. A side outside the line does not stop the growth
    (the other side decides); when both sides are outside, growth stops there."""
    n = len(line)
    stop = max(center, n - 1 - center) + 1  # both sides are outside from here on
    radii = np.arange(min_radius, max(stop, min_radius) + 1)
    lo, hi = center - radii, center + radii
    lo_in, hi_in = lo >= 0, hi < n
    above_lo = ~lo_in | (line[np.clip(lo, 0, n - 1)] > threshold_hu)
    above_hi = ~hi_in | (line[np.clip(hi, 0, n - 1)] > threshold_hu)
    grows = above_lo & above_hi & (lo_in | hi_in)
    return int(radii[np.argmin(grows)])  # the last radius never grows, so argmin finds the first stop


def derive_mask(
    hu: np.ndarray, centers_irc: Any, *, threshold_hu: float = MASK_THRESHOLD_HU, min_radius: int = MIN_RADIUS
) -> tuple[np.ndarray, np.ndarray]:
    """Nodule masks from centres, as the book's ``buildAnnotationMask``: ``(bool [index, row, column], boxes)``.

    ``hu`` is a scan ``[index, row, column]`` in HU, ``centers_irc`` int ``[K, 3]`` voxel centres inside it.
    Each box is grown with :func:`grow_radius` along the index, row and column lines through its centre;
    ``boxes`` is int64 ``[K, 2, 3]``: ``[start, stop)`` per box, clipped to the volume. The mask is the
    union of the boxes, restricted to voxels above ``threshold_hu``.
    """
    centers = np.asarray(centers_irc, dtype=np.int64).reshape(-1, 3)
    shape = np.asarray(hu.shape)
    outside = ((centers < 0) | (centers >= shape)).any(axis=1)
    if outside.any():
        raise DataError(f"nodule centres {centers[outside].tolist()} lie outside the scan's {shape.tolist()} voxels")
    mask = np.zeros(hu.shape, dtype=bool)
    boxes = np.zeros((len(centers), 2, 3), dtype=np.int64)
    for k, (i, r, c) in enumerate(centers):
        radius = np.array([grow_radius(hu[:, r, c], i, threshold_hu=threshold_hu, min_radius=min_radius),
                           grow_radius(hu[i, :, c], r, threshold_hu=threshold_hu, min_radius=min_radius),
                           grow_radius(hu[i, r, :], c, threshold_hu=threshold_hu, min_radius=min_radius)])
        boxes[k, 0] = np.maximum(centers[k] - radius, 0)
        boxes[k, 1] = np.minimum(centers[k] + radius + 1, shape)
        box = tuple(slice(a, b) for a, b in zip(boxes[k, 0], boxes[k, 1]))
        mask[box] |= hu[box] > threshold_hu
    return mask, boxes


# ---------------------------------------------------------------------------------------- cache


class SegmentationEntry(NamedTuple):
    """One scan of the segmentation cache.

    ``hu``: int16 ``[index, row, column]`` HU (memory-mapped); ``mask``: uint8 ``[index, row, ceil(columns / 8)]``,
    the derived mask packed along the columns (``np.packbits``); ``nodules``: per annotation of the
    scan, ``{"center": [i, r, c], "box": [[start], [stop]], "slices": [first, last]}`` (``slices``: the
    slices where the mask inside its box has voxels; the centre slice when it has none);
    ``mask_slices``: int64, the slices with any mask voxel.
    """

    hu: np.ndarray
    mask: np.ndarray
    nodules: list[dict[str, Any]]
    mask_slices: np.ndarray

    def mask_rows(self, z: int, rows: Any = slice(None)) -> np.ndarray:
        """The mask of slice ``z`` (rows ``rows``), unpacked: bool ``[rows, column]``."""
        return np.unpackbits(self.mask[z, rows], axis=-1, count=self.hu.shape[2]).astype(bool)


class SegmentationCache(ScanCache):
    """Whole scans with their derived masks, one ``.zseg`` file per scan (see :class:`ScanCache` for the
    locking, validation and eviction). ``entry(uid, mhd, region, params, source)`` returns
    ``(SegmentationEntry, region_start)``; ``region`` is the whole scan and ``params`` holds the mask
    parameters and the scan's nodule centres, so changed annotations rebuild the entry."""

    suffix = ".zseg"

    @property
    def version(self) -> int:
        return SEG_CACHE_VERSION

    def _payload_bytes(self, header: dict[str, Any]) -> int:
        d, h, w = header["region"][1]
        return _aligned(d * h * w * 2) + d * h * math.ceil(w / 8)

    def _open_payload(self, path: Path, header: dict[str, Any]) -> SegmentationEntry:
        d, h, w = header["region"][1]
        offset = header["_offset"]
        hu = np.memmap(path, dtype="<i2", mode="r", offset=offset, shape=(d, h, w))
        mask = np.memmap(path, dtype=np.uint8, mode="r", offset=offset + _aligned(d * h * w * 2), shape=(d, h, math.ceil(w / 8)))
        return SegmentationEntry(hu, mask, header["nodules"], np.asarray(header["mask_slices"], dtype=np.int64))

    def _build(self, path: Path, uid: str, mhd_path: Path, expected: dict[str, Any]) -> None:
        hu, geometry = read_ct(mhd_path)
        if [[0, 0, 0], list(geometry.shape_irc)] != expected["region"]:
            raise DataError(f"scan {uid}: the segmentation cache wants the whole scan {expected['region']}, "
                            f"the scan is {list(geometry.shape_irc)}")
        params = expected["crop"]
        centers = np.asarray(params["centers_irc"], dtype=np.int64).reshape(-1, 3)
        mask, boxes = derive_mask(hu, centers, threshold_hu=params["threshold_hu"], min_radius=params["min_radius"])
        nodules = []
        for center, box in zip(centers, boxes):
            sub = mask[box[0, 0] : box[1, 0], box[0, 1] : box[1, 1], box[0, 2] : box[1, 2]]
            zs = np.flatnonzero(sub.any(axis=(1, 2))) + box[0, 0]
            slices = [int(zs[0]), int(zs[-1])] if len(zs) else [int(center[0])] * 2
            nodules.append({"center": center.tolist(), "box": box.tolist(), "slices": slices})
        mask_slices = np.flatnonzero(mask.any(axis=(1, 2))).tolist()
        block = np.ascontiguousarray(hu, dtype="<i2")
        packed = np.packbits(mask, axis=-1)
        pad = b"\0" * (_aligned(block.nbytes) - block.nbytes)
        header = {"version": self.version, "series_uid": uid, **expected, "nodules": nodules, "mask_slices": mask_slices,
                  "arrays": ["hu: int16 [index, row, column]", "mask: np.packbits along columns, uint8 [index, row, ceil(column / 8)]"],
                  "note": MASK_NOTE}
        self._write_entry(path, header, [memoryview(block).cast("B"), pad, memoryview(packed).cast("B")])


# ---------------------------------------------------------------------------------- augmentation


@dataclass
class SegmentationAugment(LunaAugment):
    """Batched 2-D augmentation of slice stacks and their masks (CPU or GPU, global torch RNG).

    The fields of :class:`LunaAugment` with the book's p2ch13 settings: a flip of the rows and of the
    columns with probability 1/2 each, an offset of up to ``offset * size / 2`` pixels, a scale of
    ``1 +/- scale`` per axis, a rotation by a uniform angle in the slice plane (LUNA16 pixels are
    square), HU noise of ``noise``. The slices of a stack move together (the index axis is left
    alone), and the mask takes exactly the image's transform, resampled at the nearest pixel.
    """

    offset: float = 0.03

    def __call__(  # type: ignore[override]
        self, images: torch.Tensor, masks: torch.Tensor, *, out_size: Sequence[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(float [B, C, H_in, W_in] HU, int [B, H_in, W_in])`` -> ``(float [B, C, H, W], int64 [B, H, W])``:
        the output window is centred on the input (``out_size``, default the input's size)."""
        b = images.shape[0]
        out_size = tuple(out_size or images.shape[2:])
        matrix = torch.eye(3).repeat(b, 1, 1)  # (index, row, column); the index row stays the identity
        shift = torch.zeros(b, 3)
        if self.flip:
            matrix[:, 1:, 1:] *= torch.where(torch.rand(b, 2) < 0.5, -1.0, 1.0)[:, None, :]
        if self.scale:
            matrix[:, 1:, 1:] *= (1 + self.scale * (2 * torch.rand(b, 2) - 1))[:, :, None]
        if self.rotate:
            angle = torch.rand(b) * 2 * math.pi
            rot = torch.eye(3).repeat(b, 1, 1)
            rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
            matrix = rot @ matrix
        if self.offset:
            shift[:, 1:] = self.offset * torch.tensor(out_size, dtype=torch.float32) / 2 * (2 * torch.rand(b, 2) - 1)
        if self.geometric or tuple(images.shape[2:]) != out_size:
            images = affine_resample(images[:, :, None], matrix, shift, (1, *out_size))[:, :, 0]
            masks = affine_resample(masks[:, None, None].float(), matrix, shift, (1, *out_size), mode="nearest")[:, 0, 0]
        if self.noise:
            images = images + torch.randn_like(images) * self.noise
        return images, masks.long()


# ---------------------------------------------------------------------------------------- dataset


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
        from tqdm.auto import tqdm

        before = self.cache.builds
        for s in tqdm(range(len(self.series_uids)), desc="luna_seg cache", unit="scan", disable=not progress):
            self._entry(s)
        return self.cache.builds - before

    def __repr__(self) -> str:
        what = f"{len(self.nodules)} nodules x {self.crops_per_nodule} crops" if self.samples == "crops" else f"{len(self)} slices"
        return f"LunaSegmentationDataset({what} from {len(self.series_uids)} scans; {self.target_note})"


# ---------------------------------------------------------------------------------------- factory

_announced: set[str] = set()


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

    * ``root``: the LUNA16 folder (``zoo.datasets.luna``'s layout; ``annotations.csv`` is required);
      ``None`` uses the synthetic set. ``download=True`` is an error (LUNA16 needs registration).
    * ``split``: ``train``/``val``/``test``/``all`` by scan, as ``luna`` (``split_seed``, ``val_fraction``,
      ``test_fraction``, ``fold=K``, ``subsets=[...]``).
    * ``samples``: ``"crops"`` (default for train) or ``"slices"`` (default otherwise); ``crops_per_nodule``
      (8), ``crop_size`` (64), ``crop_jitter`` (16 pixels), ``context_slices`` (3 per side: 7 channels),
      ``empty_slice_ratio`` (0: whole-slice samples are the slices with mask voxels only).
    * ``threshold_hu`` (-700) and ``min_radius`` (2): the mask rule (:func:`derive_mask`).
    * ``augment``: ``true`` (default; train split), ``false`` or a dict of :class:`SegmentationAugment` fields.
    * ``cache_dir``, ``cache_max_bytes``; ``annotations_file`` (a name in ``root``).
    """
    check_split(split, _SPLITS, "luna_seg")
    samples = samples or ("crops" if split == "train" else "slices")
    if samples not in ("crops", "slices"):
        raise DataError(f"samples must be 'crops' or 'slices', got {samples!r}")
    for name, value, low in (("crops_per_nodule", crops_per_nodule, 1), ("crop_size", crop_size, 8), ("crop_jitter", crop_jitter, 0),
                             ("context_slices", context_slices, 0), ("min_radius", min_radius, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise DataError(f"{name} must be an integer >= {low}, got {value!r}")
    if not isinstance(empty_slice_ratio, (int, float)) or not 0 <= empty_slice_ratio:
        raise DataError(f"empty_slice_ratio must be a number >= 0, got {empty_slice_ratio!r}")
    root_path = _resolve_root(root, download)
    series = find_series(root_path, subsets)
    uids = set(split_series(series, split, fold=fold, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed))
    ann_path = _first_existing(root_path, ("annotations.csv", "annotations_with_malignancy.csv"), "annotations", annotations_file)
    if ann_path is None:
        raise DataError(f"luna_seg needs {root_path}/annotations.csv (seriesuid,coordX,coordY,coordZ,diameter_mm): "
                        "the masks are derived from the annotated nodule centres")
    by_series: dict[str, list] = {}
    for a in _memo(ann_path, read_annotations):
        by_series.setdefault(a.series_uid, []).append(a.center_xyz)
    wanted = sorted(u for u in uids if u in by_series)
    if not wanted:
        raise DataError(f"luna_seg: the {split} split of {root_path} has no scan with an annotated nodule (scans in split: {len(uids)})")

    info, centers, nodules = {}, [], []
    for s, uid in enumerate(wanted):
        mhd = series[uid][0]
        geometry = read_geometry(mhd)
        points = np.asarray(by_series[uid], dtype=np.float64)
        irc = geometry.patient_to_index(points)
        shape = np.asarray(geometry.shape_irc)
        outside = np.flatnonzero(((irc < 0) | (irc >= shape)).any(axis=1))
        if len(outside):
            k = int(outside[0])
            raise DataError(f"a nodule of scan {uid} at {points[k].tolist()} mm (x, y, z) is voxel {irc[k].tolist()}, "
                            f"outside the scan's {shape.tolist()} voxels (index, row, column)")
        if samples == "crops" and min(shape[1:]) < crop_size:
            raise DataError(f"scan {uid} has {shape[1]}x{shape[2]}-pixel slices, smaller than the {crop_size}x{crop_size} "
                            "training crop; pass a smaller crop_size")
        params = {"rule": "box growth (buildAnnotationMask)", "threshold_hu": threshold_hu, "min_radius": min_radius,
                  "centers_irc": irc.tolist()}
        info[uid] = (mhd, geometry, _source_stamp(mhd), params)
        centers += irc.tolist()
        nodules += [(s, k) for k in range(len(irc))]

    cache_path = Path(cache_dir) if cache_dir is not None else default_cache_dir() / _root_key(root_path)
    cache = SegmentationCache(cache_path, max_bytes=cache_max_bytes)
    synthetic = (root_path / SYNTHETIC_MARKER).is_file()
    options = dict(root=root_path, series=info, samples=samples, cache=cache, crop_size=crop_size, crop_jitter=crop_jitter,
                   context_slices=context_slices, seed=split_seed, synthetic=synthetic)
    if samples == "crops":
        data = LunaSegmentationDataset(**options, nodules=np.asarray(nodules), centers_irc=np.asarray(centers),
                                       crops_per_nodule=crops_per_nodule,
                                       augment=SegmentationAugment.from_option(augment) if split == "train" else None)
        what = f"{len(nodules)} nodules x {crops_per_nodule} crops of {crop_size}x{crop_size}"
    else:
        data = LunaSegmentationDataset(**options)
        pairs = []
        for s in range(len(wanted)):
            entry = data._entry(s)
            positive = entry.mask_slices
            pairs += [(s, int(z)) for z in positive]
            if empty_slice_ratio:
                empty = np.setdiff1d(np.arange(entry.hu.shape[0]), positive)
                n_empty = min(len(empty), round(empty_slice_ratio * len(positive)))
                chosen = np.random.default_rng([split_seed, s, 7]).choice(empty, n_empty, replace=False)
                pairs += [(s, int(z)) for z in np.sort(chosen)]
        if not pairs:
            raise DataError(f"luna_seg: no slice of the {split} split has mask voxels (every nodule centre at or below {threshold_hu} HU?)")
        data.sample_slices = np.asarray(pairs, dtype=np.int64)
        what = f"{len(pairs)} whole slices" + (f" (with {empty_slice_ratio:g} x as many without mask voxels)" if empty_slice_ratio
                                                else " with mask voxels")
    data.description = (f"LUNA16 nodule segmentation, {split} split ({what}, {len(wanted)} scans) from {root_path}; "
                        f"{MASK_NOTE}" + (" -- SYNTHETIC data from zoo.datasets.luna.synthesize, not real CT" if synthetic else ""))
    if str(root_path) not in _announced:
        _announced.add(str(root_path))
        print(f"zoo: luna_seg {MASK_NOTE}", file=sys.stderr)
    return data


# ---------------------------------------------------------------------------------------- registration


@hookimpl
def register_datasets(register):
    register("luna_seg", luna_seg, task="segmentation", num_classes=2, class_names=SEG_CLASS_NAMES,
             meta={"extra": "luna", "splits": _SPLITS, "synthetic_default": True, "masks": "derived"},
             description="LUNA16 nodule segmentation, 7-slice stacks: 64x64 crops (train) or whole slices, "
                         "masks derived by box growth at -700 HU, not hand-drawn (root=None: synthetic set)")
