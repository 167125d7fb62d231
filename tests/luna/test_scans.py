"""The scan index and the split by scan (the same for every LUNA16 dataset of a root), and the default root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zoo.luna import family
from zoo.luna.datasets import luna, luna_malignancy
from zoo.luna.scans import find_series, split_series
from zoo.luna.segmentation import luna_seg

from .conftest import SHAPE

pytest.importorskip("SimpleITK")

SPLIT = {"test_fraction": 0.25}  # 4 scans: 2 train, 1 val, 1 test


def test_splits_share_no_series(luna_root):
    parts = {s: luna(s, root=luna_root, val_fraction=0.25, test_fraction=0.25) for s in ("train", "val", "test")}
    uids = {s: set(d.series_uids) for s, d in parts.items()}
    assert not (uids["train"] & uids["val"]) and not (uids["train"] & uids["test"]) and not (uids["val"] & uids["test"])
    assert uids["train"] | uids["val"] | uids["test"] == set(luna("all", root=luna_root).series_uids)
    # The malignancy task puts every scan in the same split; the split is fixed by the seed.
    assert set(luna_malignancy("test", root=luna_root, val_fraction=0.25, test_fraction=0.25).series_uids) <= uids["test"]
    assert set(luna("test", root=luna_root, val_fraction=0.25, test_fraction=0.25).series_uids) == uids["test"]
    series = find_series(luna_root)
    folds = {s: set(split_series(series, s, fold=2)) for s in ("train", "val", "test")}
    assert folds["test"] == {u for u, (_, k) in series.items() if k == 2}
    assert folds["val"] == {u for u, (_, k) in series.items() if k == 3}
    assert not (folds["train"] & (folds["val"] | folds["test"])) and len(folds["train"]) == 2


def test_segmentation_splits_by_series_as_luna(seg_root, tmp_path):
    seg = {split: set(luna_seg(split, root=seg_root, cache_dir=tmp_path / "c", **SPLIT).series_uids) for split in ("train", "val", "test")}
    cls = {split: set(luna(split, root=seg_root, cache_dir=tmp_path / "c", **SPLIT).series_uids) for split in ("train", "val", "test")}
    for a in seg:
        assert seg[a] <= cls[a]  # every scan with a nodule also has candidates, in the same split
        for b in cls:
            if a != b:
                assert not seg[a] & cls[b] and not seg[a] & seg[b]
    fold = luna_seg("test", root=seg_root, cache_dir=tmp_path / "c", fold=2)
    assert {find_series(seg_root)[u][1] for u in fold.series_uids} == {2}


def test_default_root_is_synthesised_and_announced(monkeypatch, capsys):
    monkeypatch.setattr(family, "DEFAULT_SYNTHETIC", {"n_scans": 3, "seed": 1, "shape": SHAPE})
    data = luna("all")
    assert data.root == Path(os.environ["ZOO_DATA"]) / "luna-synthetic" and data.synthetic
    assert "synthetic" in capsys.readouterr().err
    assert len(luna("all").series_uids) == 3  # generated once, then reused
