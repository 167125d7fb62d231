"""The LUNA16 CSV files and candidate matching.

Files of a data root::

    ROOT/candidates_V2.csv or ROOT/candidates.csv        seriesuid,coordX,coordY,coordZ,class
    ROOT/annotations.csv                                 seriesuid,coordX,coordY,coordZ,diameter_mm
    ROOT/annotations_with_malignancy.csv  (optional)     ... ,diameter_mm,mal_bool

Coordinates are patient ``(x, y, z)`` millimetres. Matching: a candidate is matched to the annotation
of its scan whose centre is nearest, if the candidate's centre lies within that nodule's radius
(Euclidean distance <= diameter_mm / 2). The ``class`` column of the candidates file is the label; the
match gives a positive its diameter (and its malignancy). A positive with no annotation within reach is
an *unmatched positive*: its diameter is ``NaN`` (not 0, as in the book).
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np

from zoo.errors import DataError
from zoo.files import read_user_text

__all__ = [
    "CandidateRow", "Annotation", "CandidateInfo", "MatchSummary", "read_candidates", "read_annotations",
    "match_candidates", "read_memoized", "find_file", "write_csv",
]


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
    text = read_user_text(path, name=str(path), expected=f"a CSV file with the columns {','.join(required)}")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path} lacks the column(s) {', '.join(missing)}; its header is {','.join(header) or '(empty)'} "
                        f"and it needs {','.join(required)}")

    def rows() -> Iterator[tuple[int, list[str]]]:
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


_CSV_MEMO: dict[tuple, Any] = {}


def read_memoized(path: Path, parse: Callable[[Path], Any]) -> Any:
    """``parse(path)``, once per process and version of the file (train and test splits share it)."""
    st = path.stat()
    k = (str(path.resolve()), st.st_size, st.st_mtime_ns, parse.__name__)
    if k not in _CSV_MEMO:
        if len(_CSV_MEMO) >= 8:  # a few files at a time: candidates, annotations, malignancy
            _CSV_MEMO.pop(next(iter(_CSV_MEMO)))
        _CSV_MEMO[k] = parse(path)
    return _CSV_MEMO[k]


def find_file(root: Path, names: Sequence[str], what: str, explicit: str | None) -> Path | None:
    """``explicit`` (relative to ``root``; an error when missing), else the first of ``names`` in ``root`` that exists."""
    if explicit is not None:
        path = Path(explicit)
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DataError(f"{what} file {path} does not exist")
        return path
    return next((root / n for n in names if (root / n).is_file()), None)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
