"""LUNA16 lung-nodule candidates: ``luna`` (nodule vs non-nodule) and ``luna_malignancy`` (benign vs malignant).

The data layer of the book "Deep Learning with PyTorch", part 2 (p2ch10-p2ch14), rebuilt as software.

Layout of a data root (the official LUNA16 download, unpacked)::

    ROOT/subset0/<seriesuid>.mhd + <seriesuid>.raw      ... ROOT/subset9/
    ROOT/candidates_V2.csv or ROOT/candidates.csv        seriesuid,coordX,coordY,coordZ,class
    ROOT/annotations.csv                                 seriesuid,coordX,coordY,coordZ,diameter_mm
    ROOT/annotations_with_malignancy.csv  (optional)     ... ,diameter_mm,mal_bool

Conventions. Patient coordinates are ``(x, y, z)`` in millimetres, as in the CSV files. Voxel
coordinates are ``(index, row, column)``: the order of the numpy array SimpleITK returns, slowest
first (``index`` is the slice, along the head-foot axis in axial CT). Hounsfield units are clipped to
``[-1000, 1000]``. Every sample is a crop of ``32 x 48 x 48`` voxels around a candidate, shifted to stay
inside the volume, as ``float32 [1, 32, 48, 48]`` in HU (the models normalise with an input batch norm).

Matching. A candidate is matched to the annotation of its scan whose centre is nearest, if the
candidate's centre lies within that nodule's radius (Euclidean distance <= diameter_mm / 2). The
``class`` column of the candidates file is the label; the match gives a positive its diameter (and its
malignancy). A positive with no annotation within reach is an *unmatched positive*: its diameter is
``NaN`` (not 0, as in the book) and ``unmatched_positives`` says whether it is kept (default), dropped,
or an error. ``luna_malignancy`` uses the annotations themselves (one sample per nodule).

Splits are by scan (series), never by candidate: ``train``/``val``/``test`` (and ``all``) from a fixed
seed over every scan on disk, so ``luna`` and ``luna_malignancy`` put a scan in the same split; or,
with ``fold=K``, the official subsets as folds (test = subset K, val = the next subset present).

Cache. The first pass reads each scan once with SimpleITK and stores, per scan, the clipped int16
voxels of the region the crops of that scan need (the union of the crop boxes, with the augmentation
margin) as one file: a JSON header (format version, source file sizes and mtimes, crop parameters,
region) and the raw array, memory-mapped on later passes. Entries are written atomically (temporary
file + rename) under a per-scan lock, so several DataLoader workers can fill the cache at once; an
entry whose header does not match (older version, changed source, other crop parameters, truncated
file) is rebuilt. Location: ``cache_dir`` or ``$ZOO_HOME/cache/luna``; ``cache_max_bytes`` evicts the
least recently used entries. ``zoo cache luna --prepare/--clear`` fills or empties it.

Class balancing (``balance_ratio=R``: R negatives per positive, interleaved; a list gives one ratio per
epoch, see :meth:`LunaDataset.set_epoch`) and augmentation (:class:`LunaAugment`) apply to the
``train`` split only; other splits always keep the natural class mix.

Without a ``root``, a synthetic set (:func:`synthesize`) is generated under
``$ZOO_DATA/luna-synthetic`` (default ``$ZOO_HOME/data``) on first use; such datasets carry
``synthetic = True`` and say so in ``description``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import sys
import tempfile
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zoo.datasets import check_split
from zoo.errors import DataError, ZooError
from zoo.hookspecs import hookimpl

__all__ = [
    "HU_MIN", "HU_MAX", "CROP_SIZE", "CROP_MARGIN", "CACHE_VERSION", "CLASS_NAMES", "MALIGNANCY_NAMES",
    "CtGeometry", "CandidateRow", "Annotation", "CandidateInfo", "MatchSummary",
    "read_candidates", "read_annotations", "match_candidates", "read_geometry", "read_ct", "crop_start",
    "find_series", "split_series", "ScanCache", "LunaAugment", "affine_resample", "LunaDataset",
    "luna", "luna_malignancy", "synthesize", "default_cache_dir", "default_synthetic_root", "add_commands",
]

HU_MIN, HU_MAX = -1000, 1000
CROP_SIZE = (32, 48, 48)  # (index, row, column) voxels
CROP_MARGIN = (4, 6, 6)  # extra context cached around each crop, so that an augmentation offset moves the crop
CACHE_VERSION = 1  # bump when the cache file format or its contents change; older entries are rebuilt
CLASS_NAMES = ("non-nodule", "nodule")
MALIGNANCY_NAMES = ("benign", "malignant")
LUNA16_SITE = "https://luna16.grand-challenge.org/Download/"
SYNTHETIC_MARKER = "SYNTHETIC.json"
_SPLITS = ("train", "val", "test", "all")


def _sitk():
    try:
        import SimpleITK
    except ImportError:
        raise ZooError("reading LUNA16 CT scans needs SimpleITK: pip install 'hubzoo[luna]'") from None
    return SimpleITK


def _zoo_home() -> Path:
    return Path(os.environ.get("ZOO_HOME", Path.home() / ".cache" / "zoo"))


def default_cache_dir() -> Path:
    """``$ZOO_HOME/cache/luna`` (``ZOO_HOME`` defaults to ``~/.cache/zoo``)."""
    return _zoo_home() / "cache" / "luna"


def default_synthetic_root() -> Path:
    """Where the synthetic set lives when no root is given: ``$ZOO_DATA/luna-synthetic``, else ``$ZOO_HOME/data/luna-synthetic``."""
    data = os.environ.get("ZOO_DATA")
    return (Path(data) if data else _zoo_home() / "data") / "luna-synthetic"


# ------------------------------------------------------------------------------------------ geometry


@dataclass(frozen=True)
class CtGeometry:
    """Where a scan's voxels are in the patient: ``x = origin + direction @ (spacing * (col, row, index))``.

    ``origin_xyz`` and ``spacing_xyz`` are in mm, ``direction`` is the 3x3 matrix whose columns are the
    patient-space directions of the column, row and index axes (SimpleITK's ``GetDirection()``, row
    major), and ``shape_irc`` is the array shape ``(index, row, column)``.
    """

    origin_xyz: tuple[float, float, float]
    spacing_xyz: tuple[float, float, float]
    direction: tuple[float, ...]  # 9 values, row major
    shape_irc: tuple[int, int, int]

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def spacing_irc(self) -> np.ndarray:
        return np.asarray(self.spacing_xyz, dtype=np.float64)[::-1].copy()

    def voxel_to_patient(self, irc: Any) -> np.ndarray:
        """Voxel ``(index, row, column)`` (float or int, ``[..., 3]``) -> patient ``(x, y, z)`` mm ``[..., 3]``."""
        cri = np.asarray(irc, dtype=np.float64)[..., ::-1]
        return np.asarray(self.origin_xyz) + (cri * np.asarray(self.spacing_xyz)) @ self.direction_matrix.T

    def patient_to_voxel(self, xyz: Any) -> np.ndarray:
        """Patient ``(x, y, z)`` mm ``[..., 3]`` -> continuous voxel ``(index, row, column)`` ``[..., 3]``.

        Solves ``direction @ (spacing * cri) = xyz - origin``. The book computed
        ``(xyz - origin) @ inv(direction)``, i.e. ``inv(direction).T @ v``: the inverse applied from the
        wrong side, right only when the direction matrix is symmetric (identity, as in most of LUNA16).
        """
        offset = np.asarray(xyz, dtype=np.float64) - np.asarray(self.origin_xyz)
        cri = np.linalg.solve(self.direction_matrix, offset.reshape(-1, 3).T).T.reshape(offset.shape)
        return (cri / np.asarray(self.spacing_xyz))[..., ::-1]

    def patient_to_index(self, xyz: Any) -> np.ndarray:
        """The nearest voxel ``(index, row, column)`` as ``int64``, like SimpleITK's ``TransformPhysicalPointToIndex``."""
        return np.floor(self.patient_to_voxel(xyz) + 0.5).astype(np.int64)


def _geometry_from(obj: Any) -> CtGeometry:
    """A :class:`CtGeometry` from a SimpleITK image or an ``ImageFileReader`` after ``ReadImageInformation``."""
    size = tuple(int(s) for s in obj.GetSize())
    return CtGeometry(tuple(obj.GetOrigin()), tuple(obj.GetSpacing()), tuple(obj.GetDirection()), size[::-1])


_ELEMENT_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
                  "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def _read_mhd_header(mhd_path: Path) -> dict[str, str]:
    try:
        text = mhd_path.read_text(errors="replace")
    except FileNotFoundError:
        raise DataError(f"CT header {mhd_path} does not exist") from None
    header = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            header[key.strip()] = value.strip()
    missing = [k for k in ("NDims", "DimSize", "ElementType", "ElementDataFile") if k not in header]
    if missing:
        raise DataError(f"{mhd_path} is not a MetaImage header (no {', '.join(missing)})")
    return header


def _check_raw(mhd_path: Path) -> Path:
    """The ``.raw`` file of ``mhd_path``; an error unless it exists and holds every voxel the header promises."""
    header = _read_mhd_header(mhd_path)
    raw_path = mhd_path.parent / header["ElementDataFile"]
    if header["ElementDataFile"] == "LOCAL" or header.get("CompressedData", "False").lower() == "true":
        return mhd_path  # data inside the header, or compressed: SimpleITK checks it while reading
    if not raw_path.is_file():
        raise DataError(f"{mhd_path} names the data file {raw_path.name}, which does not exist")
    try:
        dims = [int(d) for d in header["DimSize"].split()]
        channels = int(header.get("ElementNumberOfChannels", "1"))
        expected = math.prod(dims) * channels * _ELEMENT_BYTES[header["ElementType"]]
    except (ValueError, KeyError):
        raise DataError(f"{mhd_path}: cannot read DimSize/ElementType ({header.get('DimSize')!r}, {header.get('ElementType')!r})") from None
    actual = raw_path.stat().st_size
    if actual < expected:
        raise DataError(f"{raw_path} is truncated: {actual:,} bytes, but its header {mhd_path.name} describes "
                        f"{'x'.join(map(str, dims))} voxels of {header['ElementType']} ({expected:,} bytes). Download it again.")
    return raw_path


def read_geometry(mhd_path: str | os.PathLike) -> CtGeometry:
    """The geometry of a ``.mhd`` scan from its header alone (checks that the ``.raw`` file is complete)."""
    mhd_path = Path(mhd_path)
    _check_raw(mhd_path)
    sitk = _sitk()
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(mhd_path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise DataError(f"SimpleITK cannot read the header {mhd_path}: {str(exc).strip().splitlines()[-1]}") from None
    if reader.GetDimension() != 3:
        raise DataError(f"{mhd_path} is a {reader.GetDimension()}-D image; CT scans are 3-D")
    return _geometry_from(reader)


def read_ct(mhd_path: str | os.PathLike) -> tuple[np.ndarray, CtGeometry]:
    """Read a scan with SimpleITK: ``(int16 [index, row, column] HU clipped to [-1000, 1000], geometry)``."""
    mhd_path = Path(mhd_path)
    _check_raw(mhd_path)
    sitk = _sitk()
    try:
        image = sitk.ReadImage(str(mhd_path))
    except RuntimeError as exc:
        raise DataError(f"SimpleITK cannot read {mhd_path}: {str(exc).strip().splitlines()[-1]}") from None
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise DataError(f"{mhd_path} is not a 3-D single-channel CT scan")
    hu = np.clip(sitk.GetArrayViewFromImage(image), HU_MIN, HU_MAX).astype(np.int16)
    return hu, _geometry_from(image)


def crop_start(center_irc: Any, shape_irc: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """First voxel of a crop of ``size`` centred on ``center_irc`` (int ``[..., 3]``), shifted to lie inside ``shape_irc``."""
    center = np.asarray(center_irc, dtype=np.int64)
    size_a, shape_a = np.asarray(size, dtype=np.int64), np.asarray(shape_irc, dtype=np.int64)
    return np.clip(center - size_a // 2, 0, np.maximum(shape_a - size_a, 0))


# ------------------------------------------------------------------------------------------ CSV files


class CandidateRow(NamedTuple):
    """One line of ``candidates.csv``: ``center_xyz`` in mm, ``is_nodule`` from the ``class`` column."""

    series_uid: str
    center_xyz: tuple[float, float, float]
    is_nodule: bool


class Annotation(NamedTuple):
    """One nodule of ``annotations.csv``; ``is_malignant`` is ``None`` when the file has no malignancy column."""

    series_uid: str
    center_xyz: tuple[float, float, float]
    diameter_mm: float
    is_malignant: bool | None


class CandidateInfo(NamedTuple):
    """A candidate after matching: ``diameter_mm`` is ``NaN`` and ``annotation`` is -1 when no nodule matched."""

    series_uid: str
    center_xyz: tuple[float, float, float]
    is_nodule: bool
    diameter_mm: float
    is_malignant: bool | None
    annotation: int


@dataclass(frozen=True)
class MatchSummary:
    """Counts from :func:`match_candidates`, kept on the dataset (``dataset.matching``)."""

    candidates: int
    positives: int
    matched_positives: int
    unmatched_positives: int
    negatives_inside_nodule: int  # class-0 candidates within a nodule's radius (the class column wins)
    annotations: int
    annotations_without_candidate: int


_TRUE, _FALSE = {"1", "true", "yes", "t", "y"}, {"0", "false", "no", "f", "n"}


def _read_csv(path: Path, required: Sequence[str]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    f = open(path, newline="")
    reader = csv.reader(f)
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in required if c not in header]
    if missing:
        f.close()
        raise DataError(f"{path} lacks the column(s) {', '.join(missing)}; its header is {','.join(header) or '(empty)'} "
                        f"and it needs {','.join(required)}")

    def rows() -> Iterator[tuple[int, list[str]]]:
        with f:
            for line_no, row in enumerate(reader, start=2):
                if row and any(cell.strip() for cell in row):
                    yield line_no, row

    return header, rows()


def _parse_float(value: str, path: Path, line_no: int, column: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise DataError(f"{path}, line {line_no}: {column} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise DataError(f"{path}, line {line_no}: {column} is {value!r}")
    return number


def _parse_bool(value: str, path: Path, line_no: int, column: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DataError(f"{path}, line {line_no}: {column} is {value!r}; expected True/False or 1/0")


def read_candidates(path: str | os.PathLike) -> list[CandidateRow]:
    """Parse ``candidates.csv`` / ``candidates_V2.csv`` (``seriesuid,coordX,coordY,coordZ,class``)."""
    path = Path(path)
    cols = ("seriesuid", "coordX", "coordY", "coordZ", "class")
    header, rows = _read_csv(path, cols)
    at = [header.index(c) for c in cols]
    out = []
    for line_no, row in rows:
        if len(row) < len(header):
            raise DataError(f"{path}, line {line_no}: {len(row)} fields, the header has {len(header)}")
        xyz = tuple(_parse_float(row[i], path, line_no, c) for i, c in zip(at[1:4], cols[1:4]))
        out.append(CandidateRow(row[at[0]].strip(), xyz, _parse_bool(row[at[4]], path, line_no, "class")))
    return out


def read_annotations(path: str | os.PathLike, *, malignancy_column: str | None = None) -> list[Annotation]:
    """Parse ``annotations.csv`` (``seriesuid,coordX,coordY,coordZ,diameter_mm``), with the malignancy flag
    from ``malignancy_column`` (``mal_bool`` when present and not named) if the file has one."""
    path = Path(path)
    cols = ("seriesuid", "coordX", "coordY", "coordZ", "diameter_mm")
    header, rows = _read_csv(path, cols + ((malignancy_column,) if malignancy_column else ()))
    mal = malignancy_column or ("mal_bool" if "mal_bool" in header else None)
    at = [header.index(c) for c in cols]
    out = []
    for line_no, row in rows:
        if len(row) < len(header):
            raise DataError(f"{path}, line {line_no}: {len(row)} fields, the header has {len(header)}")
        xyz = tuple(_parse_float(row[i], path, line_no, c) for i, c in zip(at[1:4], cols[1:4]))
        diameter = _parse_float(row[at[4]], path, line_no, "diameter_mm")
        if diameter <= 0:
            raise DataError(f"{path}, line {line_no}: diameter_mm must be positive, got {diameter}")
        malignant = _parse_bool(row[header.index(mal)], path, line_no, mal) if mal else None
        out.append(Annotation(row[at[0]].strip(), xyz, diameter, malignant))
    return out


def match_candidates(
    candidates: Sequence[CandidateRow], annotations: Sequence[Annotation]
) -> tuple[list[CandidateInfo], MatchSummary]:
    """Match each candidate to the nearest annotation of its scan whose radius (``diameter_mm / 2``) reaches it.

    Positives take the matched nodule's diameter and malignancy; unmatched positives get ``NaN`` and
    ``annotation=-1``. Negatives are never relabelled, even inside a nodule (counted in the summary).
    """
    by_series: dict[str, list[int]] = {}
    for k, a in enumerate(annotations):
        by_series.setdefault(a.series_uid, []).append(k)
    centers = np.asarray([a.center_xyz for a in annotations], dtype=np.float64).reshape(-1, 3)
    radii = np.asarray([a.diameter_mm / 2 for a in annotations], dtype=np.float64)
    hit = np.zeros(len(annotations), dtype=bool)
    out, matched, unmatched, neg_inside = [], 0, 0, 0
    for c in candidates:
        ks = by_series.get(c.series_uid, [])
        best = -1
        if ks:
            d = np.linalg.norm(centers[ks] - np.asarray(c.center_xyz), axis=1)
            inside = d <= radii[ks]
            if inside.any():
                best = ks[int(np.argmin(np.where(inside, d, np.inf)))]
        if not c.is_nodule:
            neg_inside += best >= 0
            out.append(CandidateInfo(c.series_uid, c.center_xyz, False, math.nan, None, -1))
        elif best >= 0:
            matched += 1
            hit[best] = True
            a = annotations[best]
            out.append(CandidateInfo(c.series_uid, c.center_xyz, True, a.diameter_mm, a.is_malignant, best))
        else:
            unmatched += 1
            out.append(CandidateInfo(c.series_uid, c.center_xyz, True, math.nan, None, -1))
    summary = MatchSummary(len(candidates), matched + unmatched, matched, unmatched, int(neg_inside),
                           len(annotations), int((~hit).sum()))
    return out, summary


# -------------------------------------------------------------------------------------- layout, splits

_SUBSET = re.compile(r"^subset(\d+)$")


def find_series(root: str | os.PathLike, subsets: Sequence[int] | None = None) -> dict[str, tuple[Path, int]]:
    """``{seriesuid: (mhd path, subset number)}`` for the ``ROOT/subsetN/*.mhd`` files.

    ``subsets`` restricts the search; a named subset whose folder is missing is an error, and so is a
    root without any ``subsetN`` folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"LUNA16 root {root} does not exist")
    present = {int(m.group(1)): p for p in root.iterdir() if p.is_dir() and (m := _SUBSET.match(p.name))}
    if not present:
        raise DataError(f"no subset folders under {root}: expected {root}/subset0/*.mhd (+ .raw) ... subset9, "
                        f"with candidates.csv and annotations.csv beside them (see {LUNA16_SITE})")
    wanted = sorted(present) if subsets is None else [int(s) for s in subsets]
    missing = [s for s in wanted if s not in present]
    if missing:
        raise DataError(f"subset folder(s) {', '.join(f'subset{s}' for s in missing)} missing under {root}; "
                        f"present: {', '.join(f'subset{s}' for s in sorted(present))}")
    series = {}
    for s in wanted:
        for mhd in sorted(present[s].glob("*.mhd")):
            series[mhd.stem] = (mhd, s)
    if not series:
        raise DataError(f"no .mhd files in {', '.join(str(present[s]) for s in wanted)}")
    return series


def split_series(
    series: dict[str, tuple[Path, int]],
    split: str,
    *,
    fold: int | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> list[str]:
    """The sorted series uids of ``split`` (``train``/``val``/``test``/``all``); no uid is in two splits.

    Without ``fold``: a seeded shuffle of all uids, the first ``test_fraction`` for test, the next
    ``val_fraction`` for validation (each at least one scan when its fraction is positive). With
    ``fold=K``: test is subset K, val is the next subset present (cyclically), train is the rest.
    """
    check_split(split, _SPLITS, "luna")
    uids = sorted(series)
    if split == "all":
        return uids
    if fold is not None:
        subsets = sorted({s for _, s in series.values()})
        if fold not in subsets:
            raise DataError(f"fold {fold}: subset{fold} is not present (present: {', '.join(f'subset{s}' for s in subsets)})")
        if len(subsets) < 3:
            raise DataError(f"folds need at least 3 subsets (train, val, test); only {len(subsets)} present")
        val_subset = subsets[(subsets.index(fold) + 1) % len(subsets)]
        which = {"test": {fold}, "val": {val_subset}, "train": set(subsets) - {fold, val_subset}}[split]
        return [u for u in uids if series[u][1] in which]
    for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= frac < 1:
            raise DataError(f"{name} must be in [0, 1), got {frac}")
    order = [uids[i] for i in np.random.default_rng(seed).permutation(len(uids))]
    n_test = max(1, round(len(uids) * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(len(uids) * val_fraction)) if val_fraction > 0 else 0
    if len(uids) - n_test - n_val < 1:
        raise DataError(f"{len(uids)} scans are too few for a test split of {n_test} and a validation split of {n_val}")
    part = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}[split]
    return sorted(part)


# ---------------------------------------------------------------------------------------------- cache

_MAGIC = b"ZOOLUNA\x00"
_ALIGN = 64


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (DataLoader workers); a no-op where ``fcntl`` is missing."""
    try:
        import fcntl
    except ImportError:  # Windows: the atomic rename alone still keeps entries whole
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _source_stamp(mhd_path: Path) -> dict[str, Any]:
    """What identifies a scan's source files: their paths, sizes and modification times."""
    raw = _check_raw(mhd_path)
    stamp = {"mhd": str(mhd_path.resolve())}
    for key, p in (("mhd", mhd_path), ("raw", raw)):
        st = p.stat()
        stamp[f"{key}_bytes"], stamp[f"{key}_mtime_ns"] = st.st_size, st.st_mtime_ns
    return stamp


class ScanCache:
    """The on-disk store: one file per scan holding the int16 voxels of the region its crops need.

    ``entry(uid, ...)`` returns ``(array, region_start)``, where ``array`` is memory-mapped and
    ``region_start`` is its first voxel ``(index, row, column)`` in the scan. ``builds`` counts the
    entries this process wrote; ``rebuilt`` records why an existing entry was replaced.

    Other entry kinds (``zoo.datasets.luna_segmentation``: whole scans with their masks) subclass it
    and override :attr:`suffix`, :attr:`version`, :meth:`_build`, :meth:`_payload_bytes` and
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
        expected = {"source": source or _source_stamp(mhd_path), "crop": crop,
                    "region": [[int(v) for v in region[0]], [int(v) for v in region[1]]]}
        path = self.path(uid)
        if self._mismatch(path, expected) is not None:
            with _file_lock(self.directory / ".locks" / f"{uid}.lock"):
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
        """Write one entry atomically: magic, header length, the JSON header padded to the alignment, the data."""
        data = json.dumps(header).encode()
        data += b" " * (_aligned(12 + len(data)) - 12 - len(data))
        _write_atomic(path, [_MAGIC, len(data).to_bytes(4, "little"), data, *chunks])
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


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _write_atomic(path: Path, chunks: Sequence[bytes | memoryview]) -> None:
    """Write ``chunks`` to a temporary file beside ``path`` and rename it over ``path`` (as ``zoo.weights.atomic_write_bytes``,
    without joining a scan-sized buffer in memory first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------- augmentation


def affine_resample(volumes: torch.Tensor, matrices: torch.Tensor, shifts: torch.Tensor, out_size: Sequence[int],
                    mode: str = "bilinear") -> torch.Tensor:
    """Resample ``volumes`` ``[B, C, D, H, W]`` to ``[B, C, *out_size]`` through an affine map in voxel units.

    An output voxel at offset ``o`` (``(index, row, column)``, from the output's centre) reads the input
    at offset ``matrices[b] @ o + shifts[b]`` from the input's centre (``matrices`` ``[B, 3, 3]``,
    ``shifts`` ``[B, 3]``), trilinearly (``mode="nearest"``: the nearest voxel, for masks), repeating the
    border outside. With the identity and a shift of ``(0, 0, 2)``, output column ``k`` is input column
    ``k + 2`` (plus the centring margin).
    """
    b = volumes.shape[0]
    size_in = torch.tensor(volumes.shape[2:], dtype=torch.float32, device=volumes.device)
    size_out = torch.tensor(list(out_size), dtype=torch.float32, device=volumes.device)
    matrices, shifts = matrices.to(volumes.device, torch.float32), shifts.to(volumes.device, torch.float32)
    # grid_sample's normalised coordinates (align_corners=False): n = 2 * offset / size, in (x, y, z) = (column, row, index) order.
    theta_irc = (2 / size_in)[:, None] * matrices * (size_out / 2)[None, :]
    flip = [2, 1, 0]
    theta = torch.empty(b, 3, 4, device=volumes.device)
    theta[:, :, :3] = theta_irc[:, flip][:, :, flip]
    theta[:, :, 3] = (2 * shifts / size_in)[:, flip]
    grid = F.affine_grid(theta, [b, volumes.shape[1], *out_size], align_corners=False)
    return F.grid_sample(volumes, grid, mode=mode, padding_mode="border", align_corners=False)


@dataclass
class LunaAugment:
    """Batched CT augmentation on tensors (CPU or GPU), drawing from the global torch RNG.

    Per sample: a flip of each axis with probability 1/2 (``flip``); an offset of up to
    ``offset * crop_size / 2`` voxels per axis (0.1: the book's setting); a scale of ``1 +/- scale`` per
    axis; a rotation by a uniform angle about the index (head-foot) axis, computed in millimetres so that
    non-square pixels stay right (``rotate``); Gaussian noise of ``noise`` HU. Called on crops read with
    a margin (:data:`CROP_MARGIN`), the offset moves the crop window over real neighbouring voxels.
    """

    flip: bool = True
    offset: float = 0.1
    scale: float = 0.2
    rotate: bool = True
    noise: float = 25.0

    @classmethod
    def from_option(cls, option: Any) -> LunaAugment | None:
        """``True`` -> defaults, ``False``/``None`` -> none, a dict -> those fields, a :class:`LunaAugment` as is."""
        if option is None or option is False:
            return None
        if option is True:
            return cls()
        if isinstance(option, cls):
            return option
        if isinstance(option, dict):
            unknown = set(option) - set(cls.__dataclass_fields__)
            if unknown:
                raise DataError(f"unknown augmentation option(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
            return cls(**option)
        raise DataError(f"augment must be true/false or a dict of {sorted(cls.__dataclass_fields__)}, got {option!r}")

    @property
    def geometric(self) -> bool:
        return bool(self.flip or self.offset or self.scale or self.rotate)

    def __call__(
        self,
        volumes: torch.Tensor,
        *,
        out_size: Sequence[int] | None = None,
        base_shift: torch.Tensor | None = None,
        spacing_irc: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``float [B, 1, D, H, W]`` HU -> ``float [B, 1, *out_size]`` HU.

        ``base_shift`` ``[B, 3]`` is where each crop's centre sits relative to the input's centre
        (voxels), ``spacing_irc`` ``[B, 3]`` the voxel size in mm (for the rotation).
        """
        b = volumes.shape[0]
        out_size = tuple(out_size or volumes.shape[2:])
        shift = torch.zeros(b, 3) if base_shift is None else base_shift.to("cpu", torch.float32).clone()
        out = volumes
        if self.geometric or tuple(volumes.shape[2:]) != out_size or bool(shift.abs().sum()):
            matrix = torch.eye(3).repeat(b, 1, 1)
            if self.flip:
                matrix = matrix * torch.where(torch.rand(b, 3) < 0.5, -1.0, 1.0)[:, None, :]
            if self.scale:
                matrix = matrix * (1 + self.scale * (2 * torch.rand(b, 3) - 1))[:, :, None]
            if self.rotate:
                angle = torch.rand(b) * 2 * math.pi
                cos, sin = torch.cos(angle), torch.sin(angle)
                sp = torch.ones(b, 3) if spacing_irc is None else spacing_irc.to("cpu", torch.float32)
                rot = torch.eye(3).repeat(b, 1, 1)
                ratio = sp[:, 2] / sp[:, 1]  # row and column voxels in mm: R_voxel = S^-1 R_mm S
                rot[:, 1, 1], rot[:, 1, 2] = cos, -sin * ratio
                rot[:, 2, 1], rot[:, 2, 2] = sin / ratio, cos
                matrix = rot @ matrix
            if self.offset:
                half = torch.tensor(out_size, dtype=torch.float32) / 2
                shift = shift + self.offset * half * (2 * torch.rand(b, 3) - 1)
            out = affine_resample(volumes, matrix, shift, out_size)
        if self.noise:
            out = out + torch.randn_like(out) * self.noise
        return out


# -------------------------------------------------------------------------------------------- dataset


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
        try:
            ratios = None if balance_ratio is None else [int(r) for r in np.atleast_1d(balance_ratio)]
        except (TypeError, ValueError):
            ratios = []
        if ratios is not None and (not ratios or min(ratios) < 1):
            raise DataError(f"balance_ratio must be a positive number of negatives per positive (or a list, one per epoch), got {balance_ratio!r}")
        if epoch_size is not None and (not isinstance(epoch_size, int) or epoch_size < 1):
            raise DataError(f"epoch_size must be a positive integer, got {epoch_size!r}")
        self._ratios, self._epoch_size = ratios, epoch_size
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
        from tqdm.auto import tqdm

        before = self.cache.builds
        for s in tqdm(range(len(self.series_uids)), desc="luna cache", unit="scan", disable=not progress):
            self._region(s)
        return self.cache.builds - before

    def __repr__(self) -> str:
        counts = torch.bincount(self.labels, minlength=len(self.class_names)).tolist()
        mix = ", ".join(f"{n} {name}" for n, name in zip(counts, self.class_names))
        return f"LunaDataset({len(self)} samples from {len(self.series_uids)} scans: {mix}{'; synthetic' if self.synthetic else ''})"


# ---------------------------------------------------------------------------------------- factories

_CSV_MEMO: dict[tuple, Any] = {}


def _memo(path: Path, parse: Callable[[Path], Any]) -> Any:
    """Parse a CSV once per process and version of the file (train and test splits share it)."""
    st = path.stat()
    k = (str(path.resolve()), st.st_size, st.st_mtime_ns, parse.__name__)
    if k not in _CSV_MEMO:
        if len(_CSV_MEMO) >= 8:  # a few files at a time: candidates, annotations, malignancy
            _CSV_MEMO.pop(next(iter(_CSV_MEMO)))
        _CSV_MEMO[k] = parse(path)
    return _CSV_MEMO[k]


def _first_existing(root: Path, names: Sequence[str], what: str, explicit: str | None) -> Path | None:
    if explicit is not None:
        path = Path(explicit)
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DataError(f"{what} file {path} does not exist")
        return path
    return next((root / n for n in names if (root / n).is_file()), None)


_announced: set[str] = set()


def _resolve_root(root: str | os.PathLike | None, download: bool) -> Path:
    if download:
        raise DataError(
            "LUNA16 cannot be downloaded automatically: it requires registering at "
            f"{LUNA16_SITE} (the scans are also on Zenodo, records 3723295 and 4121926). Download subset0.zip ... "
            "subset9.zip, annotations.csv and candidates_V2.csv (or candidates.csv), unpack them as ROOT/subset0/*.mhd "
            "(+ .raw) ... ROOT/subset9/, ROOT/candidates_V2.csv, ROOT/annotations.csv (optionally "
            "ROOT/annotations_with_malignancy.csv with a mal_bool column, from the book's dlwpt-code repository), "
            "then pass --root ROOT. Without a root, a synthetic set is used."
        )
    if root is not None:
        return Path(root).expanduser()
    path = default_synthetic_root()
    if not (path / SYNTHETIC_MARKER).is_file():
        with _file_lock(path.parent / ".luna-synthetic.lock"):
            if not (path / SYNTHETIC_MARKER).is_file():
                print(f"zoo: no LUNA16 root given: generating the synthetic LUNA16-like set in {path} "
                      "(synthetic scans, not real CT; pass --root for the real data)", file=sys.stderr)
                tmp = Path(tempfile.mkdtemp(prefix=".luna-synthetic.", dir=path.parent))
                synthesize(tmp, **_DEFAULT_SYNTHETIC)
                if path.exists():
                    import shutil

                    shutil.rmtree(path)
                tmp.rename(path)
    if str(path) not in _announced:
        _announced.add(str(path))
        print(f"zoo: using the synthetic LUNA16-like set in {path} (not real CT)", file=sys.stderr)
    return path


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
    check_split(split, _SPLITS, task)
    if unmatched_positives not in ("keep", "drop", "error"):
        raise DataError(f"unmatched_positives must be keep, drop or error, got {unmatched_positives!r}")
    crop_size, crop_margin = tuple(int(v) for v in crop_size), tuple(int(v) for v in crop_margin)
    if len(crop_size) != 3 or len(crop_margin) != 3 or min(crop_size) < 1 or min(crop_margin) < 0:
        raise DataError(f"crop_size must be 3 positive and crop_margin 3 non-negative voxel counts, got {crop_size}, {crop_margin}")
    root_path = _resolve_root(root, download)
    series = find_series(root_path, subsets)
    uids = set(split_series(series, split, fold=fold, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed))

    cand_path = _first_existing(root_path, ("candidates_V2.csv", "candidates.csv"), "candidates", candidates_file if task == "luna" else None)
    mal_path = _first_existing(root_path, ("annotations_with_malignancy.csv",), "annotations", annotations_file if task != "luna" else None)
    ann_path = _first_existing(root_path, ("annotations.csv", "annotations_with_malignancy.csv"), "annotations", annotations_file if task == "luna" else None)
    annotations = _memo(ann_path, read_annotations) if ann_path else []
    if task == "luna":
        if cand_path is None:
            raise DataError(f"no candidates file in {root_path}: expected candidates_V2.csv or candidates.csv "
                            "(seriesuid,coordX,coordY,coordZ,class)")
        infos, summary = match_candidates(_memo(cand_path, read_candidates), annotations)
        if unmatched_positives == "error" and summary.unmatched_positives:
            first = next(c for c in infos if c.is_nodule and c.annotation < 0)
            raise DataError(f"{summary.unmatched_positives} positive candidate(s) match no annotation within its radius, "
                            f"e.g. {first.series_uid} at {first.center_xyz}; pass unmatched_positives='keep' or 'drop'")
        rows = [(c.series_uid, c.center_xyz, int(c.is_nodule)) for c in infos
                if not (unmatched_positives == "drop" and c.is_nodule and c.annotation < 0)]
        class_names = CLASS_NAMES
    else:
        if mal_path is None:
            raise DataError(f"luna_malignancy needs {root_path}/annotations_with_malignancy.csv "
                            "(seriesuid,coordX,coordY,coordZ,diameter_mm,mal_bool)")
        nodules = _memo(mal_path, read_annotations)
        if any(a.is_malignant is None for a in nodules):
            raise DataError(f"{mal_path} has no mal_bool column")
        rows = [(a.series_uid, a.center_xyz, int(a.is_malignant)) for a in nodules]
        summary = None
        class_names = MALIGNANCY_NAMES

    # Every position any dataset of this root may crop, per scan: the cached region is their union, so
    # luna and luna_malignancy share one cache entry per scan.
    all_points: dict[str, list] = {}
    for path, parse in ((cand_path, read_candidates), (ann_path, read_annotations), (mal_path, read_annotations)):
        if path is not None:
            for r in _memo(path, parse):
                all_points.setdefault(r.series_uid, []).append(r.center_xyz)

    wanted = sorted({uid for uid, _, _ in rows if uid in uids})
    info = {}
    for uid in wanted:
        mhd = series[uid][0]
        geometry = read_geometry(mhd)
        points = np.asarray(all_points[uid], dtype=np.float64)
        centers = geometry.patient_to_index(points)
        shape = np.asarray(geometry.shape_irc)
        outside = np.flatnonzero(((centers < 0) | (centers >= shape)).any(axis=1))
        if len(outside):
            k = int(outside[0])
            raise DataError(f"a candidate of scan {uid} at {points[k].tolist()} mm (x, y, z) is voxel {centers[k].tolist()}, "
                            f"outside the scan's {shape.tolist()} voxels (index, row, column); {len(outside)} such position(s)")
        if (shape < np.asarray(crop_size)).any():
            raise DataError(f"scan {uid} has shape {shape.tolist()}, smaller than the crop {list(crop_size)}")
        boxes = []
        for size in (np.asarray(crop_size), np.add(crop_size, 2 * np.asarray(crop_margin))):
            start = crop_start(centers, shape, size)
            boxes += [start, np.minimum(start + size, shape)]
        region = np.stack([np.minimum(boxes[0], boxes[2]).min(0), np.maximum(boxes[1], boxes[3]).max(0)])
        info[uid] = (mhd, geometry, _source_stamp(mhd), region)

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
    labels = np.asarray([r[2] for r in keep], dtype=np.int64)
    if len(keep) == 0:
        raise DataError(f"{task}: the {split} split of {root_path} has no samples (scans in split: {len(uids)})")

    synthetic = (root_path / SYNTHETIC_MARKER).is_file()
    what = "nodule vs non-nodule candidates" if task == "luna" else "benign vs malignant nodules"
    description = (f"LUNA16 {what}, {split} split ({len(keep)} samples, {len(wanted)} scans) from {root_path}"
                   + (" -- SYNTHETIC data from zoo.datasets.luna.synthesize, not real CT" if synthetic else ""))
    cache = ScanCache(Path(cache_dir) if cache_dir is not None else default_cache_dir() / _root_key(root_path), max_bytes=cache_max_bytes)
    train = split == "train"
    return LunaDataset(
        root=root_path, series={u: info[u] for u in wanted}, sample_series=sample_series, centers_irc=centers, labels=labels,
        class_names=class_names, cache=cache, crop_size=crop_size, crop_margin=crop_margin,
        augment=_augment_for(task, augment) if train else None,
        balance_ratio=balance_ratio if train else None, epoch_size=epoch_size if train else None,
        seed=split_seed, synthetic=synthetic, description=description, matching=summary,
    )


def _augment_for(task: str, option: Any) -> LunaAugment | None:
    """The augmentation of a task's train split. ``augment=True`` means the book's settings, except that
    malignancy does not rescale: a nodule's diameter is one of the cues for malignancy, and +/-20% would
    turn a 10 mm nodule into anything from 8 to 12 mm."""
    if option is True and task == "luna_malignancy":
        return LunaAugment(scale=0.0)
    return LunaAugment.from_option(option)


def _root_key(root: Path) -> str:
    """One cache folder per data root, so that two roots with the same series uids never share entries."""
    return hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]


_FACTORY_DOC = """

    Arguments (all keyword, all optional; ``-d KEY=VALUE`` on the command line):

    * ``root``: the LUNA16 folder (layout in ``zoo.datasets.luna``); ``None`` uses the synthetic set.
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


# -------------------------------------------------------------------------------------- synthetic data

#: The set generated when no root is given: enough nodules for a malignancy test split of about 25
#: malignant ones; 100 scans of 48 x 128 x 128 voxels, about 160 MB, a minute or two to generate.
_DEFAULT_SYNTHETIC = {"n_scans": 100, "seed": 0}


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _local_box(center: np.ndarray, radius_mm: float, spacing: np.ndarray, shape: Sequence[int]) -> tuple[tuple[slice, ...], np.ndarray]:
    """Slices of the voxels within ``radius_mm`` of ``center`` (voxels) and their offsets from it in mm ``[3, ...]``."""
    lo = np.maximum(np.floor(center - radius_mm / spacing).astype(int), 0)
    hi = np.minimum(np.ceil(center + radius_mm / spacing).astype(int) + 1, shape)
    grids = np.meshgrid(*[(np.arange(lo[k], hi[k]) - center[k]) * spacing[k] for k in range(3)], indexing="ij")
    return tuple(slice(lo[k], hi[k]) for k in range(3)), np.stack(grids)


def _paint(volume: np.ndarray, box: tuple[slice, ...], distance: np.ndarray, radius: float, hu: float, edge: float = 0.6) -> None:
    """Blend ``hu`` into ``volume[box]`` where ``distance`` (mm) < ``radius``, with a soft edge of ``edge`` mm."""
    w = np.clip((radius - distance) / edge + 0.5, 0, 1)
    volume[box] = volume[box] * (1 - w) + hu * w


def _segment_distance(offsets: np.ndarray, direction: np.ndarray, length: float) -> np.ndarray:
    t = np.clip(np.tensordot(direction, offsets, axes=1), 0, length)
    return np.linalg.norm(offsets - direction[:, None, None, None] * t, axis=0)


def synthesize(
    root: str | os.PathLike,
    n_scans: int = 8,
    *,
    seed: int = 0,
    shape: Sequence[int] = (48, 128, 128),
    nodules_per_scan: tuple[int, int] = (2, 6),
    negatives_per_scan: int = 40,
    malignant_fraction: float = 0.4,
    n_subsets: int | None = None,
) -> Path:
    """Write a synthetic LUNA16-like set into ``root`` (new or empty) and return ``root``.

    Each scan is a real MetaImage (``subsetK/<uid>.mhd`` + ``.raw``, int16 HU) of ``shape`` voxels
    ``(index, row, column)`` with a non-trivial origin, anisotropic spacing (square pixels of 0.6-0.9 mm,
    slices of 1.25-2.5 mm) and a rotated, non-symmetric direction matrix; a body of soft tissue in air
    with a -3024 HU field-of-view border (as scanners write), two lungs of -850 HU with texture, vessels
    and small calcified specks; and spherical nodules: benign ones 4-12 mm, smooth, about 0 HU;
    malignant ones 9-22 mm, denser and spiculated. ``candidates.csv`` lists 1-2 candidates per nodule
    (class 1) and ``negatives_per_scan`` non-nodules (class 0: on vessels, on specks, in the lung);
    ``annotations.csv`` lists the nodules with their diameters and ``annotations_with_malignancy.csv``
    adds ``mal_bool``. ``SYNTHETIC.json`` records that the set is synthetic and how it was made.
    """
    from scipy.ndimage import gaussian_filter

    sitk = _sitk()
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise DataError(f"{root} is not empty; synthesize into a new folder")
    shape = tuple(int(s) for s in shape)
    if n_scans < 1 or any(s < c for s, c in zip(shape, CROP_SIZE)):
        raise DataError(f"need at least one scan of at least {CROP_SIZE} voxels, got {n_scans} of {shape}")
    n_subsets = n_subsets or min(10, n_scans)
    rng = np.random.default_rng(seed)
    cand_rows, ann_rows = [], []
    for i in range(n_scans):
        uid = f"1.3.6.1.4.1.14519.5.2.1.9999.{seed}.{i:04d}{rng.integers(10**9, 10**10)}"
        sp_rc = rng.uniform(0.6, 0.9)
        spacing = np.array([rng.choice([1.25, 1.5, 2.0, 2.5]), sp_rc, sp_rc])  # (index, row, column) mm
        direction = _rotation(np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), 1.0]), rng.choice([-1, 1]) * rng.uniform(0.15, 0.45))
        origin = np.array([-rng.uniform(120, 220), -rng.uniform(120, 240), -rng.uniform(150, 400)])
        geometry = CtGeometry(tuple(origin), tuple(spacing[::-1]), tuple(direction.flatten()), shape)
        volume, lungs = _synthetic_anatomy(rng, shape, spacing, gaussian_filter)
        lung_voxels = np.argwhere(lungs)

        def lung_point(clearance_mm: float) -> np.ndarray:
            for _ in range(200):
                p = lung_voxels[rng.integers(len(lung_voxels))] + rng.uniform(-0.5, 0.5, 3)
                box, off = _local_box(p, clearance_mm, spacing, shape)
                near = lungs[box][np.linalg.norm(off, axis=0) <= clearance_mm]
                if near.size == 0 or near.mean() > 0.97:
                    return p
            return lung_voxels[rng.integers(len(lung_voxels))].astype(float)

        vessels = []
        for _ in range(rng.integers(12, 20)):  # vessels: soft-tissue tubes through the lungs
            start = lung_point(2.0)
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            length, radius = rng.uniform(15, 45), rng.uniform(0.8, 2.2)
            box, off = _local_box(start + d * length / 2 / spacing, length / 2 + radius + 1, spacing, shape)
            from_start = off + (d * length / 2)[:, None, None, None]  # mm offsets from the vessel's start
            _paint(volume, box, _segment_distance(from_start, d, length), radius, rng.uniform(0, 60))
            vessels.append((start, d, length))
        specks = []
        for _ in range(rng.integers(3, 7)):  # calcified specks: small, very dense
            p = lung_point(3.0)
            box, off = _local_box(p, 3.0, spacing, shape)
            _paint(volume, box, np.linalg.norm(off, axis=0), rng.uniform(0.8, 1.5), rng.uniform(250, 500), edge=0.4)
            specks.append(p)
        nodules = []
        for _ in range(rng.integers(nodules_per_scan[0], nodules_per_scan[1] + 1)):
            malignant = rng.random() < malignant_fraction
            diameter = rng.uniform(9, 22) if malignant else rng.uniform(4, 12)
            p = lung_point(diameter / 2 + 2)
            if any(np.linalg.norm((p - q) * spacing) < (diameter + dq) / 2 + 6 for q, dq, _ in nodules):
                continue
            _draw_nodule(volume, rng, p, diameter / 2, malignant, spacing, shape)
            nodules.append((p, diameter, malignant))
        volume += rng.normal(0, 18, volume.shape)  # scanner noise
        fov = _fov_mask(shape, spacing)
        volume[~fov] = -3024
        image = sitk.GetImageFromArray(np.round(volume).astype(np.int16))
        image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
        image.SetOrigin(tuple(float(o) for o in origin))
        image.SetDirection(tuple(float(d) for d in direction.flatten()))
        folder = root / f"subset{i % n_subsets}"
        folder.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image, str(folder / f"{uid}.mhd"), useCompression=False)

        def xyz(p: np.ndarray) -> list[str]:  # inside the volume, also after rounding to the nearest voxel
            p = np.clip(p, 0, np.asarray(shape) - 1)
            return [repr(round(float(v), 4)) for v in geometry.voxel_to_patient(p)]

        for p, diameter, malignant in nodules:
            ann_rows.append([uid, *xyz(p), repr(round(diameter, 3)), str(bool(malignant))])
            for _ in range(rng.integers(1, 3)):
                jitter = rng.normal(size=3)
                jitter *= rng.uniform(0, 0.3 * diameter / 2) / np.linalg.norm(jitter)
                cand_rows.append([uid, *xyz(p + jitter / spacing), "1"])
        negatives = []
        for k in range(negatives_per_scan):
            kind = rng.random()
            if kind < 0.5 and vessels:  # on a vessel: the hard negatives
                start, d, length = vessels[rng.integers(len(vessels))]
                p = start + d * rng.uniform(0, length) / spacing
            elif kind < 0.62 and specks:
                p = specks[rng.integers(len(specks))] + rng.normal(0, 0.3, 3)
            else:  # lung tissue, with nothing denser than -500 HU within 3 mm: not a structure seen off-centre
                for _ in range(20):
                    p = lung_point(1.0)
                    box, off = _local_box(p, 3.0, spacing, shape)
                    if volume[box][np.linalg.norm(off, axis=0) <= 3.0].max(initial=-1000) < -500:
                        break
            p = np.clip(p, 0, np.asarray(shape) - 1)
            if all(np.linalg.norm((p - q) * spacing) > dq / 2 + 6 for q, dq, _ in nodules):  # clear of every nodule
                negatives.append(p)
        cand_rows += [[uid, *xyz(p), "0"] for p in negatives]

    _write_csv(root / "candidates.csv", ["seriesuid", "coordX", "coordY", "coordZ", "class"], cand_rows)
    _write_csv(root / "annotations.csv", ["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"], [r[:5] for r in ann_rows])
    _write_csv(root / "annotations_with_malignancy.csv", ["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm", "mal_bool"], ann_rows)
    marker = {"synthetic": True, "generator": "zoo.datasets.luna.synthesize", "note": "synthetic LUNA16-like scans, not real CT",
              "n_scans": n_scans, "seed": seed, "shape": list(shape), "nodules_per_scan": list(nodules_per_scan),
              "negatives_per_scan": negatives_per_scan, "malignant_fraction": malignant_fraction,
              "candidates": len(cand_rows), "nodules": len(ann_rows)}
    (root / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return root


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _fov_mask(shape: Sequence[int], spacing: np.ndarray) -> np.ndarray:
    """The scanner's circular field of view, the same on every slice ``[index, row, column]``."""
    r = (np.arange(shape[1]) - (shape[1] - 1) / 2)[:, None]
    c = (np.arange(shape[2]) - (shape[2] - 1) / 2)[None, :]
    inside = (r / (shape[1] / 2)) ** 2 + (c / (shape[2] / 2)) ** 2 <= 1.0
    return np.broadcast_to(inside, shape)


def _synthetic_anatomy(rng: np.random.Generator, shape: Sequence[int], spacing: np.ndarray, smooth: Callable) -> tuple[np.ndarray, np.ndarray]:
    """A body of soft tissue in air with two textured lungs: ``(float HU [index, row, column], lung mask)``."""
    z = (np.arange(shape[0]) - (shape[0] - 1) / 2)[:, None, None] / (shape[0] / 2)
    r = (np.arange(shape[1]) - (shape[1] - 1) / 2)[None, :, None] / (shape[1] / 2)
    c = (np.arange(shape[2]) - (shape[2] - 1) / 2)[None, None, :] / (shape[2] / 2)
    body = (r / 0.78) ** 2 + (c / 0.92) ** 2 <= 1
    taper = 1 - 0.25 * z**2
    lungs = np.zeros(shape, dtype=bool)
    for side in (-1, 1):
        lungs |= ((r + 0.05) / (0.55 * taper)) ** 2 + ((c - side * 0.42) / (0.34 * taper)) ** 2 <= 1
    texture = smooth(rng.normal(0, 1, shape), sigma=(1.0, 2.0, 2.0))
    volume = np.where(body, 40.0 + 25 * texture, -1000.0)
    volume = np.where(lungs, -850.0 + 60 * texture, volume)
    return volume.astype(np.float32), lungs & body


def _draw_nodule(volume: np.ndarray, rng: np.random.Generator, center: np.ndarray, radius: float, malignant: bool,
                 spacing: np.ndarray, shape: Sequence[int]) -> None:
    reach = radius * (2.0 if malignant else 1.0) + 1.5
    box, off = _local_box(center, reach, spacing, shape)
    distance = np.linalg.norm(off, axis=0)
    if malignant:  # denser, lobulated, with spicules radiating from the surface
        hu = rng.uniform(40, 130)
        unit = off / np.maximum(distance, 1e-6)
        lobes = rng.normal(size=(3, 3))
        bumps = 1 + 0.12 * np.sin(np.tensordot(lobes, unit, axes=1) * 3).sum(0) / 3
        _paint(volume, box, distance / bumps, radius, hu, edge=0.8)
        for _ in range(rng.integers(6, 12)):
            d = rng.normal(size=3)
            d /= np.linalg.norm(d)
            length = radius * rng.uniform(1.4, 2.0)
            _paint(volume, box, _segment_distance(off, d, length), rng.uniform(0.5, 0.9), hu - 20, edge=0.5)
    else:
        _paint(volume, box, distance, radius, rng.uniform(-60, 50), edge=1.0)


# ------------------------------------------------------------------------------------------ commands


def add_commands(subparsers: Any) -> None:
    """Add ``zoo cache luna --prepare/--clear`` and ``zoo data synth-luna ROOT`` to an argparse ``subparsers``."""
    p = subparsers.add_parser("cache", help="prepare or clear a dataset's preprocessing cache",
                              description="Fill (--prepare) or empty (--clear) the on-disk LUNA16 cache: crop regions "
                                          "(luna, luna_malignancy) or whole scans with their derived masks (luna_seg).")
    p.add_argument("dataset", choices=["luna", "luna_seg"], help="the cached data: luna (crops) or luna_seg (scans + masks)")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--prepare", action="store_true", help="read every scan once and write its cache entry")
    action.add_argument("--clear", action="store_true", help="delete the cache entries (of --root, or all)")
    p.add_argument("--root", help="LUNA16 folder (default: the synthetic set)")
    p.add_argument("--cache-dir", help="cache folder (default $ZOO_HOME/cache/luna/<root key>)")
    p.add_argument("--max-bytes", type=int, help="size limit; least recently used entries are evicted")
    p.set_defaults(run=_cmd_cache)

    p = subparsers.add_parser("data", help="generate data sets", description="Generate data sets.")
    sub = p.add_subparsers(dest="data_command", required=True, metavar="WHAT")
    s = sub.add_parser("synth-luna", help="write a synthetic LUNA16-like set",
                       description="Write synthetic LUNA16-like scans (.mhd/.raw) and CSV files into ROOT (new or empty).")
    s.add_argument("root")
    s.add_argument("--scans", type=int, default=_DEFAULT_SYNTHETIC["n_scans"], help=f"number of scans (default {_DEFAULT_SYNTHETIC['n_scans']})")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(run=_cmd_synth)


def _cmd_cache(args: Any) -> int:
    if args.clear:
        directory = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
        if args.root and not args.cache_dir:
            directory = directory / _root_key(Path(args.root).expanduser())
        if args.dataset == "luna_seg":
            from zoo.datasets.luna_segmentation import SegmentationCache as cache_type
        else:
            cache_type = ScanCache
        removed = cache_type(directory).clear()
        print(f"removed {removed} cache entries from {directory}")
        return 0
    if args.dataset == "luna_seg":
        from zoo.datasets.luna_segmentation import luna_seg as build
    else:
        build = luna
    data = build("all", root=args.root, cache_dir=args.cache_dir, cache_max_bytes=args.max_bytes)
    built = data.prepare_cache(progress=True)
    raw = sum(_check_raw(s[0]).stat().st_size for s in data._series)
    size = data.cache.size_bytes()
    print(f"{built} of {len(data.series_uids)} scans written; cache {size / 1e6:.1f} MB in {data.cache.directory} "
          f"(raw CT {raw / 1e6:.1f} MB, {size / max(raw, 1):.0%})")
    return 0


def _cmd_synth(args: Any) -> int:
    root = synthesize(args.root, args.scans, seed=args.seed)
    marker = json.loads((root / SYNTHETIC_MARKER).read_text())
    print(f"wrote {args.scans} synthetic scans ({marker['nodules']} nodules, {marker['candidates']} candidates) to {root}")
    return 0


# ---------------------------------------------------------------------------------------- registration


@hookimpl
def register_datasets(register):
    meta = {"extra": "luna", "splits": _SPLITS, "synthetic_default": True}
    register("luna", luna, task="classification", num_classes=2, class_names=CLASS_NAMES, meta=meta,
             description="LUNA16 nodule candidates, 32x48x48 CT crops, nodule vs non-nodule (root=None: synthetic set)")
    register("luna_malignancy", luna_malignancy, task="classification", num_classes=2, class_names=MALIGNANCY_NAMES, meta=meta,
             description="LUNA16 nodules, 32x48x48 CT crops, benign vs malignant (root=None: synthetic set)")
