"""zoo.splits: one seeded split, stratified by labels, grouped by groups; the splits that shipped weights
were measured on stay the same; bad input is one clear DataError each."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.errors import DataError
from zoo.splits import Split, split_indices

PARTS = ("train", "val", "test")


def _check_partition(split: Split, n: int) -> None:
    together = np.concatenate([split[p] for p in PARTS])
    assert sorted(together.tolist()) == list(range(n))  # disjoint and complete
    for p in PARTS:
        assert split[p].dtype == np.int64 and np.all(np.diff(split[p]) > 0)  # sorted positions


def test_a_seed_gives_the_same_split_and_another_seed_another():
    a = split_indices(200, val_fraction=0.1, test_fraction=0.2, seed=3)
    b = split_indices(200, val_fraction=0.1, test_fraction=0.2, seed=3)
    c = split_indices(200, val_fraction=0.1, test_fraction=0.2, seed=4)
    _check_partition(a, 200)
    assert all(np.array_equal(a[p], b[p]) for p in PARTS)
    assert not np.array_equal(a.test, c.test)


def test_fractions_are_respected_and_zero_asks_for_no_part():
    split = split_indices(1000, val_fraction=0.15, test_fraction=0.25, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (600, 150, 250)
    only_val = split_indices(45, val_fraction=0.1)
    assert (len(only_val.train), len(only_val.val), len(only_val.test)) == (41, 4, 0)  # round(4.5) == 4: halves to even
    assert len(split_indices(5, test_fraction=0.01).test) == 1  # a positive fraction takes at least one


def test_labels_stratify_every_class_within_one_item_of_its_share():
    labels = [0] * 10 + [1] * 20 + [2] * 3 + [3] * 101
    split = split_indices(len(labels), val_fraction=0.1, test_fraction=0.2, seed=0, labels=torch.tensor(labels))
    _check_partition(split, len(labels))
    counts = {p: np.bincount(np.asarray(labels)[split[p]], minlength=4).tolist() for p in PARTS}
    assert counts == {"train": [7, 14, 1, 71], "val": [1, 2, 1, 10], "test": [2, 4, 1, 20]}
    sizes = np.bincount(labels)
    for p, fraction in (("val", 0.1), ("test", 0.2)):
        assert np.all(np.abs(np.asarray(counts[p]) - sizes * fraction) <= 1)
    named = split_indices(len(labels), val_fraction=0.1, test_fraction=0.2, labels=[f"c{y}" for y in labels])
    assert all(np.array_equal(named[p], split[p]) for p in PARTS)  # any sortable label values


def test_groups_are_never_split():
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 30, size=500)
    split = split_indices(500, val_fraction=0.2, test_fraction=0.2, seed=5, groups=[f"scan{g}" for g in groups])
    _check_partition(split, 500)
    seen = [set(groups[split[p]].tolist()) for p in PARTS]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert (len(seen[1]), len(seen[2])) == (6, 6)  # the fractions count groups, not items
    # Grouped and stratified: a group's items share its label, and each class's groups are shared out.
    labels = groups % 2
    both = split_indices(500, val_fraction=0.2, test_fraction=0.2, groups=groups, labels=labels)
    for p in ("val", "test"):
        assert sorted(set(labels[both[p]].tolist())) == [0, 1]


def test_the_splits_shipped_weights_were_measured_on_are_unchanged():
    # LUNA16: the synthetic set's 100 scans (uids ...9999.0.0000 to .0099, sorted), seed 0, test 0.2, val 0.1:
    # the luna_*.synthetic entries' recorded metrics are of these 20 test scans.
    split = split_indices(100, val_fraction=0.1, test_fraction=0.2, seed=0)
    assert split.test.tolist() == [5, 8, 9, 10, 11, 13, 16, 20, 27, 36, 37, 52, 72, 75, 81, 82, 83, 90, 93, 94]
    assert split.val.tolist() == [4, 19, 22, 23, 44, 50, 71, 85, 97, 98]
    # The digits' fixed test split (mnist_*.digits): 20% of each class, seed 0.
    digits = pytest.importorskip("sklearn.datasets").load_digits().target
    test = split_indices(len(digits), test_fraction=0.2, seed=0, labels=digits).test
    assert len(test) == 359 and test[:10].tolist() == [5, 9, 12, 14, 16, 17, 19, 23, 24, 34]


@pytest.mark.parametrize("kwargs, message", [
    (dict(val_fraction=1.0), r"x: val_fraction=1.0 must lie in \[0, 1\)"),
    (dict(test_fraction=-0.1), r"x: test_fraction=-0.1 must lie in \[0, 1\)"),
    (dict(val_fraction=float("nan")), r"x: val_fraction=nan must lie in \[0, 1\)"),
    (dict(val_fraction=True), r"x: val_fraction=True must lie in \[0, 1\)"),
    (dict(val_fraction=0.7, test_fraction=0.3), r"x: val_fraction=0.7 \+ test_fraction=0.3 leaves nothing for training"),
    (dict(n=2, val_fraction=0.1, test_fraction=0.1), r"x: 2 item\(s\) are too few for 1 test \+ 1 val and one left for train"),
    (dict(n=0, val_fraction=0.1), r"x: nothing to split \(0 items\)"),
    (dict(labels=[0] * 10 + [2] * 2, val_fraction=0.1, test_fraction=0.2),
     r"x: class 2 has 2 item\(s\), too few for 1 test \+ 1 val and one left for train; add data of that class"),
    (dict(groups=["scan"] * 12, val_fraction=0.3), r"x: 1 group\(s\) are too few for 0 test \+ 1 val"),
    (dict(labels=[0, 1]), r"x: labels must hold one value per item \(12\), got shape \(2,\)"),
    (dict(groups=[[0, 1]] * 12), r"x: groups must hold one value per item \(12\), got shape \(12, 2\)"),
    (dict(groups=[0] * 6 + [1] * 6, labels=[0] * 5 + [1] * 7), r"x: group 0 holds items of more than one label"),
])
def test_bad_input_is_one_clear_data_error(kwargs, message):
    n = kwargs.pop("n", 12)
    with pytest.raises(DataError, match=message):
        split_indices(n, what="x", **kwargs)
    with pytest.raises(DataError, match="not 'all'"):
        split_indices(12, val_fraction=0.1)["all"]
