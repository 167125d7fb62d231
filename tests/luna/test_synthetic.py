"""The synthetic generator writes real MetaImage scans and CSV files in the LUNA16 format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import SHAPE
from zoo.luna.annotations import match_candidates, read_annotations, read_candidates
from zoo.luna.geometry import HU_MAX, HU_MIN, read_ct, read_geometry, read_mhd_header
from zoo.luna.synthetic import SYNTHETIC_MARKER

sitk = pytest.importorskip("SimpleITK")


def _rows(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_synthetic_files_are_real_metaimages(luna_root):
    mhd = next((luna_root / "subset0").glob("*.mhd"))
    header = read_mhd_header(mhd)
    assert header["ElementType"] == "MET_SHORT" and (mhd.parent / header["ElementDataFile"]).suffix == ".raw"
    image = sitk.ReadImage(str(mhd))
    geometry = read_geometry(mhd)
    assert geometry.shape_irc == SHAPE and geometry.direction == image.GetDirection()
    direction = geometry.direction_matrix
    assert not np.allclose(direction, np.eye(3)) and not np.allclose(direction, direction.T)
    assert geometry.spacing_xyz[0] == geometry.spacing_xyz[1] != geometry.spacing_xyz[2]  # anisotropic
    assert min(abs(o) for o in geometry.origin_xyz) > 50
    raw = sitk.GetArrayFromImage(image)
    hu, _ = read_ct(mhd)
    assert raw.min() == -3024 and hu.min() == HU_MIN and hu.max() <= HU_MAX  # clipped
    np.testing.assert_array_equal(hu, np.clip(raw, -1000, 1000))
    # The candidates' voxels agree with SimpleITK's conversion of their patient coordinates.
    rows = [r for r in read_candidates(luna_root / "candidates.csv") if r.series_uid == mhd.stem]
    for r in rows[:20]:
        assert tuple(geometry.patient_to_index(r.center_xyz)) == tuple(image.TransformPhysicalPointToIndex(r.center_xyz))[::-1]


def test_synthetic_csvs_in_the_real_format(luna_root):
    assert _rows(luna_root / "candidates.csv")[0] == "seriesuid,coordX,coordY,coordZ,class"
    assert _rows(luna_root / "annotations.csv")[0] == "seriesuid,coordX,coordY,coordZ,diameter_mm"
    assert _rows(luna_root / "annotations_with_malignancy.csv")[0].endswith(",diameter_mm,mal_bool")
    candidates = read_candidates(luna_root / "candidates.csv")
    nodules = read_annotations(luna_root / "annotations_with_malignancy.csv")
    positives = sum(c.is_nodule for c in candidates)
    assert len(candidates) - positives >= 5 * positives  # many non-nodule candidates
    assert {n.is_malignant for n in nodules} == {True, False}
    malignant = [n.diameter_mm for n in nodules if n.is_malignant]
    benign = [n.diameter_mm for n in nodules if not n.is_malignant]
    assert np.mean(malignant) > np.mean(benign)
    _, summary = match_candidates(candidates, read_annotations(luna_root / "annotations.csv"))
    assert summary.matched_positives == positives and summary.annotations_without_candidate == 0
    assert '"synthetic": true' in (luna_root / SYNTHETIC_MARKER).read_text()
