"""The on-disk LUNA16 cache: one file per scan, of one of two kinds.

* :class:`ScanCache` (``.zct``, ``luna`` and ``luna_malignancy``): the clipped int16 voxels of the region
  the crops of a scan need (the union of the crop boxes, with the augmentation margin);
* :class:`SegmentationCache` (``.zseg``, ``luna_seg``): the whole int16 scan and its derived mask
  (packed bits along the columns).

An entry is a JSON header (format version, source file sizes and mtimes, crop or mask parameters,
region) and the raw arrays, memory-mapped on later passes. Entries are written atomically
(:func:`zoo.files.atomic_write_chunks`: temporary file + rename, the usual ``0666 & ~umask``
permissions) under a per-scan lock, so several DataLoader workers can fill the cache at once; an entry
whose header does not match (older version, changed source, other parameters, truncated file) is
rebuilt. Location: ``cache_dir`` or ``$ZOO_HOME/cache/luna/<root key>``; ``max_bytes`` evicts the least
recently used entries.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from zoo.errors import DataError
from zoo.files import atomic_write_chunks, file_lock, zoo_home
from zoo.luna.geometry import read_ct, source_stamp
from zoo.luna.masks import MASK_NOTE, derive_mask

__all__ = [
    "CACHE_VERSION", "SEG_CACHE_VERSION", "default_cache_dir", "root_key", "cache_directory", "ScanCache",
    "SegmentationEntry", "SegmentationCache",
]

CACHE_VERSION = 1  # bump when the .zct format or its contents change; older entries are rebuilt
SEG_CACHE_VERSION = 1  # bump when the .zseg format or the mask rule changes; older entries are rebuilt
_MAGIC = b"ZOOLUNA\x00"
_ALIGN = 64


def default_cache_dir() -> Path:
    """``$ZOO_HOME/cache/luna`` (``ZOO_HOME`` defaults to ``~/.cache/zoo``)."""
    return zoo_home() / "cache" / "luna"


def root_key(root: Path) -> str:
    """One cache folder per data root, so that two roots with the same series uids never share entries."""
    return hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]


def cache_directory(cache_dir: str | os.PathLike | None, root: Path) -> Path:
    """``cache_dir`` when given, else the data root's own folder under :func:`default_cache_dir`."""
    return Path(cache_dir) if cache_dir is not None else default_cache_dir() / root_key(root)


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


class ScanCache:
    """The on-disk store: one file per scan holding the int16 voxels of the region its crops need.

    ``entry(uid, ...)`` returns ``(array, region_start)``, where ``array`` is memory-mapped and
    ``region_start`` is its first voxel ``(index, row, column)`` in the scan. ``builds`` counts the
    entries this process wrote; ``rebuilt`` records why an existing entry was replaced.

    Other entry kinds (:class:`SegmentationCache`: whole scans with their masks) subclass it and
    override :attr:`suffix`, :attr:`version`, :meth:`_build`, :meth:`_payload_bytes` and
    :meth:`_open_payload`; the locking, validation, atomic writing and eviction stay here.
    """

    suffix = ".zct"

    def __init__(self, directory: str | os.PathLike | None = None, *, max_bytes: int | None = None, max_open: int = 64) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        if max_bytes is not None and max_bytes <= 0:
            raise DataError(f"cache_max_bytes must be positive, got {max_bytes}")
        self.max_bytes = max_bytes
        self.max_open = max_open
        self.builds = 0
        self.rebuilt: list[tuple[str, str]] = []
        self._open: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers open their own memory maps
        return {**self.__dict__, "_open": OrderedDict()}

    @property
    def version(self) -> int:
        """The entry format version written into every header; entries of another version are rebuilt."""
        return CACHE_VERSION

    def path(self, uid: str) -> Path:
        return self.directory / f"{uid}{self.suffix}"

    def files(self) -> list[Path]:
        return sorted(self.directory.rglob(f"*{self.suffix}")) if self.directory.is_dir() else []

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files())

    def clear(self) -> int:
        """Delete every entry (and stray temporary files); returns the number of entries removed."""
        self._open.clear()
        removed = 0
        for p in self.files():
            p.unlink(missing_ok=True)
            removed += 1
        if self.directory.is_dir():
            for p in list(self.directory.rglob(".*.tmp")) + list(self.directory.rglob("*.lock")):
                p.unlink(missing_ok=True)
        return removed

    @staticmethod
    def read_header(path: Path) -> dict[str, Any] | None:
        """The JSON header of an entry file, or ``None`` when it is not a readable entry."""
        try:
            with open(path, "rb") as f:
                start = f.read(12)
                if len(start) < 12 or start[:8] != _MAGIC:
                    return None
                n = int.from_bytes(start[8:12], "little")
                header = json.loads(f.read(n).decode())
            header["_offset"] = _aligned(12 + n)
            return header
        except (OSError, ValueError):
            return None

    def _mismatch(self, path: Path, expected: dict[str, Any]) -> str | None:
        """Why the entry at ``path`` cannot be used for ``expected`` (``None`` when it can)."""
        header = self.read_header(path)
        if header is None:
            return "missing" if not path.exists() else "unreadable"
        if header.get("version") != self.version:
            return f"written by cache version {header.get('version')}, now {self.version}"
        if header.get("source") != expected["source"]:
            return "source scan changed"
        if header.get("crop") != expected["crop"]:
            return "crop parameters changed"
        if header.get("region") != expected["region"]:
            return "candidate region changed"
        if path.stat().st_size != header["_offset"] + self._payload_bytes(header):
            return "truncated"
        return None

    def _payload_bytes(self, header: dict[str, Any]) -> int:
        """The size of an entry's data after its header: the int16 region."""
        return math.prod(header["region"][1][k] - header["region"][0][k] for k in range(3)) * 2

    def _open_payload(self, path: Path, header: dict[str, Any]) -> Any:
        """The entry's data, memory-mapped: the int16 region ``[index, row, column]``."""
        shape = tuple(header["region"][1][k] - header["region"][0][k] for k in range(3))
        return np.memmap(path, dtype="<i2", mode="r", offset=header["_offset"], shape=shape)

    def entry(self, uid: str, mhd_path: Path, region: np.ndarray, crop: dict[str, Any], source: dict[str, Any] | None = None) -> tuple[Any, np.ndarray]:
        """The cached region ``[start, stop)`` (int ``[2, 3]``) of scan ``uid``, built first if needed:
        ``(payload, region_start)`` (the payload is :meth:`_open_payload`'s: here the int16 region)."""
        cached = self._open.get(uid)
        if cached is not None:
            self._open.move_to_end(uid)
            return cached
        expected = {"source": source or source_stamp(mhd_path), "crop": crop, "region": [[int(v) for v in region[0]], [int(v) for v in region[1]]]}
        path = self.path(uid)
        if self._mismatch(path, expected) is not None:
            with file_lock(self.directory / ".locks" / f"{uid}.lock"):
                reason = self._mismatch(path, expected)  # another worker may have built it meanwhile
                if reason is not None:
                    if reason != "missing":
                        self.rebuilt.append((uid, reason))
                    self._build(path, uid, mhd_path, expected)
            self._evict(keep=path)
        header = self.read_header(path)
        array = self._open_payload(path, header)
        try:
            os.utime(path)  # last use, for the size limit's least-recently-used eviction
        except OSError:
            pass
        result = (array, np.asarray(header["region"][0], dtype=np.int64))
        self._open[uid] = result
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)
        return result

    def _build(self, path: Path, uid: str, mhd_path: Path, expected: dict[str, Any]) -> None:
        hu, geometry = read_ct(mhd_path)
        (z0, y0, x0), (z1, y1, x1) = expected["region"]
        if any(stop > size for stop, size in zip((z1, y1, x1), geometry.shape_irc)):
            raise DataError(f"scan {uid}: cache region {expected['region']} exceeds its shape {geometry.shape_irc}")
        block = np.ascontiguousarray(hu[z0:z1, y0:y1, x0:x1], dtype="<i2")
        self._write_entry(path, {"version": self.version, "series_uid": uid, **expected, "dtype": "<i2"}, [memoryview(block).cast("B")])

    def _write_entry(self, path: Path, header: dict[str, Any], chunks: Sequence[bytes | memoryview]) -> None:
        """Write one entry atomically: magic, header length, the JSON header padded to the alignment, the data
        (chunk by chunk, without joining a scan-sized buffer in memory first)."""
        data = json.dumps(header).encode()
        data += b" " * (_aligned(12 + len(data)) - 12 - len(data))
        atomic_write_chunks(path, [_MAGIC, len(data).to_bytes(4, "little"), data, *chunks])
        self.builds += 1

    def _evict(self, keep: Path) -> None:
        if self.max_bytes is None:
            return
        entries = []
        for p in self.files():
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime_ns, st.st_size, p))
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries):
            if total <= self.max_bytes:
                break
            if p != keep:
                p.unlink(missing_ok=True)
                self._open.pop(p.stem, None)
                total -= size


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
