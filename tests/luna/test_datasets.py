"""The candidate datasets ``luna`` and ``luna_malignancy``: crops, unmatched positives, class balancing, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.errors import DataError
from zoo.luna.annotations import read_annotations
from zoo.luna.datasets import luna, luna_malignancy
from zoo.luna.geometry import HU_MAX, HU_MIN, read_ct, read_geometry

pytest.importorskip("SimpleITK")


def _rows(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_crops_lie_inside_the_volume_and_match_the_source(luna_root):
    data = luna("all", root=luna_root)
    assert len(data.series_uids) == 4
    x, y = data.batch(torch.arange(len(data)))
    assert x.shape == (len(data), 1, 32, 48, 48) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= HU_MIN and x.max() <= HU_MAX
    volumes = {uid: read_ct(mhd)[0] for uid, mhd in data.scan_paths.items()}
    for i in range(len(data)):
        uid = data.series_uids[data._sample_series[i]]
        start, shape = data._start[i], np.asarray(volumes[uid].shape)
        assert (start >= 0).all() and (start + (32, 48, 48) <= shape).all()
        assert ((data.centers_irc[i] >= start) & (data.centers_irc[i] < start + (32, 48, 48))).all()
        z, r, c = start
        np.testing.assert_array_equal(x[i, 0].numpy(), volumes[uid][z : z + 32, r : r + 48, c : c + 48])
    item, label = data[0]
    assert item.shape == (1, 32, 48, 48) and isinstance(label, int)


def _assert_indexes_like_a_list(data) -> None:
    n = len(data)
    for a, b in ((data[-1], data[n - 1]), (data[-n], data[0])):
        assert torch.equal(a[0], b[0]) and a[1] == b[1]
    for bad in (n, -n - 1):
        with pytest.raises(IndexError, match=f"out of range for a dataset of {n} samples"):
            data[bad]


def test_negative_indices_count_from_the_end(luna_root):
    _assert_indexes_like_a_list(luna("all", root=luna_root))
    _assert_indexes_like_a_list(luna("train", root=luna_root, balance_ratio=2, test_fraction=0.25, val_fraction=0.25))
    _assert_indexes_like_a_list(luna_malignancy("all", root=luna_root))


def test_unmatched_positive_policies(luna_root, tmp_path):
    rows = _rows(luna_root / "candidates.csv")
    uid = rows[1].split(",")[0]
    # An extra positive at the centre of the scan (between the lungs), away from every nodule.
    nodules = [n for n in read_annotations(luna_root / "annotations.csv") if n.series_uid == uid]
    geometry = read_geometry(next(luna_root.glob(f"subset*/{uid}.mhd")))
    center = geometry.voxel_to_patient(np.asarray(geometry.shape_irc) // 2)
    assert all(np.linalg.norm(center - np.asarray(n.center_xyz)) > n.diameter_mm / 2 for n in nodules)
    far = f"{uid},{center[0]},{center[1]},{center[2]},1"
    path = tmp_path / "candidates_extra.csv"
    path.write_text("\n".join(rows + [far]) + "\n")
    keep = luna("all", root=luna_root, candidates_file=str(path))
    drop = luna("all", root=luna_root, candidates_file=str(path), unmatched_positives="drop")
    assert keep.matching.unmatched_positives == 1 and len(keep) == len(drop) + 1
    with pytest.raises(DataError, match="match no annotation"):
        luna("all", root=luna_root, candidates_file=str(path), unmatched_positives="error")


def test_class_balancing(luna_root):
    data = luna("train", root=luna_root, balance_ratio=2, test_fraction=0.25, val_fraction=0.25)
    n_pos, n_neg = int(data.labels.sum()), int((data.labels == 0).sum())
    assert len(data) == -(-n_neg // 2) * 3  # every negative once per epoch
    labels = data.label_of(range(len(data)))
    assert labels[::3].eq(1).all() and labels[1::3].eq(0).all() and labels[2::3].eq(0).all()
    assert len(set(data.sample_ids(np.flatnonzero(labels.numpy() == 0)).tolist())) == n_neg
    first = data.sample_ids(range(len(data)))
    data.set_epoch(2)
    assert not np.array_equal(first, data.sample_ids(range(len(data))))
    per_epoch = luna("train", root=luna_root, balance_ratio=[1, 3], epoch_size=40, test_fraction=0.25, val_fraction=0.25)
    assert len(per_epoch) == 40 and per_epoch.label_of(range(40)).sum() == 20
    per_epoch.set_epoch(5)
    assert per_epoch.label_of(range(40)).sum() == 10
    test = luna("test", root=luna_root, balance_ratio=2, test_fraction=0.25, val_fraction=0.25)
    assert len(test) == len(test.labels) and test.augment is None  # other splits keep the natural mix
    assert n_pos > 0


def test_bad_roots_and_files(luna_root, tmp_path):
    with pytest.raises(DataError, match="registering at https://luna16.grand-challenge.org"):
        luna(root=luna_root, download=True)
    with pytest.raises(DataError, match="no subset folders"):
        luna(root=tmp_path)
    with pytest.raises(DataError, match="subset7"):
        luna(root=luna_root, subsets=[0, 7])
    with pytest.raises(DataError, match="subset9 is not present"):
        luna(root=luna_root, fold=9)
    bad = tmp_path / "bad.csv"
    bad.write_text("seriesuid,coordX,coordY,coordZ\n1.2.3,0,0,0\n")
    with pytest.raises(DataError, match="lacks the column.*class"):
        luna(root=luna_root, candidates_file=str(bad))
    rows = _rows(luna_root / "candidates.csv")
    uid = rows[1].split(",")[0]
    bad.write_text("\n".join(rows + [f"{uid},1e4,0,0,0"]) + "\n")
    with pytest.raises(DataError, match="outside the scan"):
        luna("all", root=luna_root, candidates_file=str(bad))
    bad.write_text("\n".join(rows + [f"{uid},abc,0,0,0"]) + "\n")
    with pytest.raises(DataError, match=f"line {len(rows) + 1}: coordX is 'abc'"):
        luna("all", root=luna_root, candidates_file=str(bad))


def test_truncated_raw_is_an_error(root_copy):
    raw = next(root_copy.glob("subset1/*.raw"))
    with open(raw, "r+b") as f:
        f.truncate(raw.stat().st_size // 2)
    with pytest.raises(DataError, match=f"{raw.name} is truncated"):
        luna("all", root=root_copy)
