"""Synthetic LUNA16-like sets shared by the LUNA16 tests: tiny real .mhd/.raw scans, written once per
session (the suite must stay fast on two CPU cores). They are read-only for the tests: copy before changing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHAPE = (40, 96, 96)  # the scans of `luna_root`
SEG_SHAPE = (36, 80, 80)  # the scans of `seg_root`


@pytest.fixture(scope="session")
def luna_root(tmp_path_factory) -> Path:
    """Four synthetic scans of SHAPE in subset0..subset3."""
    pytest.importorskip("SimpleITK")
    from zoo.luna.synthetic import synthesize

    return synthesize(tmp_path_factory.mktemp("luna") / "root", 4, seed=3, shape=SHAPE)


@pytest.fixture
def root_copy(luna_root, tmp_path) -> Path:
    """A copy of `luna_root` that a test may change."""
    dst = tmp_path / "root"
    shutil.copytree(luna_root, dst)
    return dst


@pytest.fixture(scope="session")
def seg_root(tmp_path_factory) -> Path:
    """Four small synthetic scans of SEG_SHAPE with few negatives (the segmentation tests)."""
    pytest.importorskip("SimpleITK")
    from zoo.luna.synthetic import synthesize

    return synthesize(tmp_path_factory.mktemp("luna_seg") / "root", 4, seed=5, shape=SEG_SHAPE, negatives_per_scan=4)


@pytest.fixture(scope="session")
def small_luna(tmp_path_factory) -> Path:
    """Five scans of 36x64x64 voxels with 1-3 nodules each (the analysis tests)."""
    pytest.importorskip("SimpleITK")
    from zoo.luna.synthetic import synthesize

    return synthesize(tmp_path_factory.mktemp("luna-analysis"), 5, seed=3, shape=(36, 64, 64), nodules_per_scan=(1, 3), negatives_per_scan=5)
