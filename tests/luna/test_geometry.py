"""CT geometry: voxel <-> patient coordinates (against SimpleITK, with a non-symmetric direction), crop placement."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.luna.geometry import CtGeometry, crop_start
from zoo.luna.synthetic import _rotation


def _rotated_geometry(shape=(30, 50, 60)) -> CtGeometry:
    rot = _rotation(np.array([0.3, -0.5, 1.0]), 0.7)
    assert not np.allclose(rot, rot.T)  # a non-symmetric direction: the book's inverse would be wrong
    return CtGeometry((-170.5, 33.25, -402.0), (0.68, 0.74, 2.5), tuple(rot.flatten()), shape)


def test_patient_voxel_round_trip_with_nonsymmetric_direction():
    geometry = _rotated_geometry()
    irc = np.random.default_rng(0).uniform(0, 30, size=(200, 3))
    xyz = geometry.voxel_to_patient(irc)
    np.testing.assert_allclose(geometry.patient_to_voxel(xyz), irc, atol=1e-9)
    # The book's formula, ((xyz - origin) @ inv(direction)) / spacing, fails for this direction.
    book = ((xyz - np.asarray(geometry.origin_xyz)) @ np.linalg.inv(geometry.direction_matrix)) / np.asarray(geometry.spacing_xyz)
    assert np.abs(book[:, ::-1] - irc).max() > 1.0


def test_geometry_agrees_with_simpleitk():
    sitk = pytest.importorskip("SimpleITK")
    geometry = _rotated_geometry()
    image = sitk.Image([int(s) for s in geometry.shape_irc[::-1]], sitk.sitkInt16)
    image.SetOrigin(geometry.origin_xyz)
    image.SetSpacing(geometry.spacing_xyz)
    image.SetDirection(geometry.direction)
    rng = np.random.default_rng(1)
    for irc in rng.uniform(0, 29, size=(50, 3)):
        xyz = image.TransformContinuousIndexToPhysicalPoint([float(v) for v in irc[::-1]])
        np.testing.assert_allclose(geometry.voxel_to_patient(irc), xyz, atol=1e-9)
        assert tuple(geometry.patient_to_index(xyz)) == tuple(image.TransformPhysicalPointToIndex(xyz))[::-1]


def test_crop_start_shifts_inside_the_volume():
    shape, size = (40, 96, 96), (32, 48, 48)
    assert crop_start((0, 0, 0), shape, size).tolist() == [0, 0, 0]
    assert crop_start((39, 95, 95), shape, size).tolist() == [8, 48, 48]
    assert crop_start((20, 50, 30), shape, size).tolist() == [4, 26, 6]
