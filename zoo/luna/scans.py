"""The data root, the scan index and the split by scan: the skeleton every LUNA16 dataset starts from.

Layout of a data root (the official LUNA16 download, unpacked)::

    ROOT/subset0/<seriesuid>.mhd + <seriesuid>.raw      ... ROOT/subset9/
    ROOT/candidates_V2.csv or ROOT/candidates.csv, ROOT/annotations.csv (see zoo.luna.annotations)

Splits are by scan (series), never by sample: ``train``/``val``/``test`` (and ``all``) from a fixed
seed over every scan on disk, so that every LUNA16 dataset of a root puts a scan in the same split; or,
with ``fold=K``, the official subsets as folds (test = subset K, val = the next subset present).

Without a ``root``, a synthetic set (:func:`zoo.luna.synthetic.synthesize`) is generated under
``$ZOO_DATA/luna-synthetic`` (default ``$ZOO_HOME/data``) on first use.

:func:`open_split` resolves the root and splits its scans; :func:`locate` reads a scan's geometry and
turns patient positions into voxels inside it; the datasets build their samples on top.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zoo.datasets.common import check_split
from zoo.errors import DataError
from zoo.files import data_root, file_lock
from zoo.luna import family
from zoo.luna.family import SPLITS
from zoo.luna.geometry import CtGeometry, read_geometry
from zoo.luna.synthetic import SYNTHETIC_MARKER, synthesize
from zoo.splits import split_indices

__all__ = ["LUNA16_SITE", "find_series", "split_series", "default_synthetic_root", "resolve_root", "ScanSplit",
           "open_split", "locate"]

LUNA16_SITE = "https://luna16.grand-challenge.org/Download/"
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

    Without ``fold``: :func:`zoo.splits.split_indices` over the sorted uids, one unit per scan (a seeded
    shuffle, the first ``test_fraction`` for test, the next ``val_fraction`` for validation, each at least
    one scan when its fraction is positive, 0 for none). With ``fold=K``: test is subset K, val is the next
    subset present (cyclically), train is the rest.
    """
    check_split(split, SPLITS, "luna")
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
    # The shipped LUNA16 weights were measured on this split's test scans: split_indices keeps exactly the
    # scans the former shuffle here chose (tests/test_splits.py pins the synthetic set's test scans).
    part = split_indices(len(uids), val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                         what="the LUNA16 split by scan (an item is a scan)")[split]
    return [uids[i] for i in part]


# ---------------------------------------------------------------------------------------------- root

def default_synthetic_root() -> Path:
    """Where the synthetic set lives when no root is given: ``$ZOO_DATA/luna-synthetic``, else ``$ZOO_HOME/data/luna-synthetic``."""
    return data_root() / "luna-synthetic"


_announced: set[str] = set()


def resolve_root(root: str | os.PathLike | None, download: bool) -> Path:
    """The data root: ``root`` itself, or the synthetic set (generated on first use, announced once per process)."""
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
        with file_lock(path.parent / ".luna-synthetic.lock"):
            if not (path / SYNTHETIC_MARKER).is_file():
                _generate_default_set(path)
    if str(path) not in _announced:
        _announced.add(str(path))
        print(f"zoo: using the synthetic LUNA16-like set in {path} (not real CT)", file=sys.stderr)
    return path


def _generate_default_set(path: Path) -> None:
    """Write :data:`zoo.luna.family.DEFAULT_SYNTHETIC` into a temporary folder beside ``path``, then move it there."""
    print(f"zoo: no LUNA16 root given: generating the synthetic LUNA16-like set in {path} "
          "(synthetic scans, not real CT; pass --root for the real data)", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix=".luna-synthetic.", dir=path.parent))
    synthesize(tmp, **family.DEFAULT_SYNTHETIC)
    if path.exists():
        import shutil

        shutil.rmtree(path)
    tmp.rename(path)


# ---------------------------------------------------------------------------------------------- index

@dataclass(frozen=True)
class ScanSplit:
    """The scans of a data root and those of one split: ``series`` ``{uid: (mhd path, subset)}`` holds
    every scan on disk (of ``subsets``), ``uids`` the split's; ``synthetic`` when the root is a synthetic set."""

    root: Path
    series: dict[str, tuple[Path, int]]
    uids: frozenset[str]
    synthetic: bool

    def mhd(self, uid: str) -> Path:
        return self.series[uid][0]


def open_split(
    split: str,
    root: str | os.PathLike | None,
    download: bool,
    *,
    fold: int | None = None,
    subsets: Sequence[int] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    split_seed: int = 0,
) -> ScanSplit:
    """Resolve the root (:func:`resolve_root`), index its scans (:func:`find_series`) and take ``split``'s
    (:func:`split_series`): the same scans for every dataset with the same arguments."""
    root_path = resolve_root(root, download)
    series = find_series(root_path, subsets)
    uids = split_series(series, split, fold=fold, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed)
    return ScanSplit(root_path, series, frozenset(uids), (root_path / SYNTHETIC_MARKER).is_file())


def locate(scans: ScanSplit, uid: str, points_xyz: Any, what: str) -> tuple[CtGeometry, np.ndarray]:
    """Scan ``uid``'s geometry (header only) and the voxels ``int64 [K, 3]`` (index, row, column) nearest to
    ``points_xyz`` ``[K, 3]`` mm; an error naming ``what`` ("candidate", "nodule") when one lies outside the scan."""
    geometry = read_geometry(scans.mhd(uid))
    points = np.asarray(points_xyz, dtype=np.float64)
    irc = geometry.patient_to_index(points)
    shape = np.asarray(geometry.shape_irc)
    outside = np.flatnonzero(((irc < 0) | (irc >= shape)).any(axis=1))
    if len(outside):
        k = int(outside[0])
        raise DataError(f"a {what} of scan {uid} at {points[k].tolist()} mm (x, y, z) is voxel {irc[k].tolist()}, "
                        f"outside the scan's {shape.tolist()} voxels (index, row, column); {len(outside)} such position(s)")
    return geometry, irc
