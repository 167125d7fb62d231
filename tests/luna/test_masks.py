"""Nodule masks derived from annotated centres by the book's box growth at -700 HU."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.errors import DataError
from zoo.luna.masks import derive_mask, grow_radius


def _sphere(shape, center, radius):
    grid = np.indices(shape)
    return ((grid - np.asarray(center).reshape(3, 1, 1, 1)) ** 2).sum(0) <= radius**2


def test_mask_of_a_sphere_in_air():
    hu = np.full((30, 40, 40), -1000, dtype=np.int16)
    ball = _sphere(hu.shape, (15, 20, 20), 5)
    hu[ball] = 40
    hu[15, 20, 33:] = 300  # a dense structure outside the box (a rib), on the column line through the centre
    hu[2:5, 2:5, 2:5] = 0  # and one elsewhere
    mask, boxes = derive_mask(hu, [(15, 20, 20)])
    np.testing.assert_array_equal(mask, ball)
    assert boxes.tolist() == [[[9, 14, 14], [22, 27, 27]]]  # half-width 6: the first voxel in air on a side


def test_mask_threshold_and_minimum_radius():
    hu = np.full((20, 20, 20), -1000, dtype=np.int16)
    ball = _sphere(hu.shape, (10, 10, 10), 4)
    hu[ball] = -650  # above -700
    hu[_sphere(hu.shape, (10, 10, 10), 4) & ~_sphere(hu.shape, (10, 10, 10), 3)] = -750  # a rim below -700 stays out
    mask, _ = derive_mask(hu, [(10, 10, 10)])
    np.testing.assert_array_equal(mask, _sphere(hu.shape, (10, 10, 10), 3))
    speck = np.full((9, 9, 9), -1000, dtype=np.int16)
    speck[4, 4, 4] = 100
    mask, boxes = derive_mask(speck, [(4, 4, 4)])  # the book's smallest box is +/- 2 voxels
    assert mask.sum() == 1 and (boxes[0, 1] - boxes[0, 0]).tolist() == [5, 5, 5]
    assert grow_radius(np.array([-1000, 0, 0, 0, 0, 0, -1000]), 3) == 3


def test_mask_of_two_nodules_and_one_at_the_edge():
    hu = np.full((24, 48, 48), -1000, dtype=np.int16)
    a, b = _sphere(hu.shape, (8, 12, 12), 4), _sphere(hu.shape, (14, 34, 30), 6)
    hu[a], hu[b] = 20, 60
    mask, _ = derive_mask(hu, [(8, 12, 12), (14, 34, 30)])
    np.testing.assert_array_equal(mask, a | b)
    edge = _sphere(hu.shape, (1, 45, 24), 5)  # cut by the first slice and the last row
    hu = np.full(hu.shape, -1000, dtype=np.int16)
    hu[edge] = 30
    mask, boxes = derive_mask(hu, [(1, 45, 24)])
    np.testing.assert_array_equal(mask, edge)  # the book's negative index would have wrapped and lost it
    assert boxes[0, 0, 0] == 0 and boxes[0, 1, 1] == 48
    with pytest.raises(DataError, match="outside the scan"):
        derive_mask(hu, [(24, 0, 0)])
