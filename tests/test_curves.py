"""Tests for zoo.curves: the precision-recall curve, average precision and the threshold for a recall,
against scikit-learn and hand-computed values."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score
from sklearn.metrics import precision_recall_curve as sk_pr_curve

from zoo.curves import average_precision, precision_recall_curve, threshold_for_recall


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**31 - 1), st.sampled_from([None, 1, 2]))
def test_pr_curve_and_ap_match_sklearn(n, seed, decimals):
    rng = np.random.default_rng(seed)
    scores = rng.random(n)
    if decimals is not None:
        scores = np.round(scores, decimals)  # ties
    target = (rng.random(n) < rng.random()).astype(np.int64)
    target[0] = 1
    p, r, thr = precision_recall_curve(torch.from_numpy(scores), torch.from_numpy(target))
    sp, sr, sthr = sk_pr_curve(target, scores)
    np.testing.assert_allclose(p, sp, rtol=1e-12)
    np.testing.assert_allclose(r, sr, rtol=1e-12)
    np.testing.assert_array_equal(thr, sthr)
    assert average_precision(scores, target) == pytest.approx(average_precision_score(target, scores), rel=1e-12)
    for want in (0.5, 0.9, 1.0, float(rng.uniform(0.01, 1.0))):
        t = threshold_for_recall(scores, target, want)
        rec_at = np.sum((scores >= t) & (target == 1)) / target.sum()
        assert rec_at >= want
        higher = scores[scores > t]
        if higher.size:  # the next higher distinct threshold falls short
            nxt = higher.min()
            assert np.sum((scores >= nxt) & (target == 1)) / target.sum() < want


def test_small_case_by_hand():
    scores = [0.9, 0.8, 0.8, 0.3]
    target = [1, 0, 1, 0]
    p, r, thr = precision_recall_curve(scores, target)
    # thresholds increasing: 0.3 -> all 4 predicted (2 TP); 0.8 -> 3 predicted (2 TP); 0.9 -> 1 (1 TP)
    np.testing.assert_array_equal(thr, [0.3, 0.8, 0.9])
    np.testing.assert_allclose(p, [2 / 4, 2 / 3, 1.0, 1.0])
    np.testing.assert_allclose(r, [1.0, 1.0, 0.5, 0.0])
    assert p.dtype == r.dtype == thr.dtype == np.float64
    assert average_precision(scores, target) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    assert threshold_for_recall(scores, target, 0.5) == 0.9
    assert threshold_for_recall(scores, target, 0.51) == 0.8
    assert threshold_for_recall(scores, target, 1) == 0.8


def test_input_forms_agree():
    """Tensors (any shape, bool targets), arrays and lists give the same curve."""
    g = torch.Generator().manual_seed(3)
    s = torch.rand(4, 5, generator=g)
    t = torch.rand(4, 5, generator=g) < 0.4
    t[0, 0] = True
    ref = precision_recall_curve(s.reshape(-1).tolist(), t.reshape(-1).long().tolist())
    for scores, target in ((s, t), (s.numpy(), t.numpy()), (s.double(), t.to(torch.uint8)), (s, t.long().unsqueeze(0))):
        for a, b in zip(precision_recall_curve(scores, target), ref):
            np.testing.assert_array_equal(a, b)
    assert average_precision(s, t) == average_precision(s.numpy().ravel(), t.numpy().ravel())


def test_no_positive_target():
    assert math.isnan(average_precision([0.1, 0.7], [0, 0]))
    p, r, thr = precision_recall_curve([0.1, 0.7], [0, 0])  # recall set to 1, as scikit-learn does
    np.testing.assert_array_equal(r, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(p, [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"target has no positive sample"):
        threshold_for_recall([0.1, 0.2], [0, 0], 0.9)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: precision_recall_curve([0.1, 0.2, 0.3], [0, 1]), r"scores has 3 elements but target has 2"),
        (lambda: average_precision([0.1, float("nan")], [0, 1]), r"scores contains NaN"),
        (lambda: precision_recall_curve([0.1, 0.2], [0, 2]), r"target must hold binary labels 0/1, got values \[0, 2\]"),
        (lambda: precision_recall_curve([], []), r"scores and target are empty"),
        (lambda: precision_recall_curve(["a", "b"], [0, 1]), r"scores must be real numbers"),
        (lambda: precision_recall_curve(np.array([1j, 2j]), [0, 1]), r"scores must be real numbers"),
        (lambda: threshold_for_recall([0.1, 0.2], [0, 1], 0), r"target_recall must be in \(0, 1\], got 0"),
        (lambda: threshold_for_recall([0.1, 0.2], [0, 1], 1.5), r"target_recall must be in \(0, 1\], got 1.5"),
        (lambda: threshold_for_recall([0.1, 0.2], [0, 1], True), r"target_recall must be in \(0, 1\], got True"),
    ],
)
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
