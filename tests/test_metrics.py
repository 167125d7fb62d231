"""Tests for zoo.metrics: every number against scikit-learn / torchmetrics / direct references.

The binary-score curves (zoo.curves) are tested in test_curves.py, the counting kernels (zoo.confusion)
in test_confusion.py."""

import json
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    jaccard_score,
    precision_recall_fscore_support,
)

from zoo.confusion import MANUAL_ARGMAX_MAX_CLASSES
from zoo.curves import precision_recall_curve
from zoo.metrics import Evaluator
from zoo.reports import format_report, report_to_json

REPORT_KEYS = {
    "task", "num_classes", "class_names", "ignore_index", "num_samples", "total", "accuracy",
    "precision", "recall", "f1", "miou", "dice", "dice_classes", "per_class", "support",
    "absent_classes", "confusion_matrix", "positive", "sample_dice", "average_precision",
}  # fmt: skip


# --------------------------------------------------------------------------- references
def sk_reference(t, p, C):
    """Per-class precision/recall/f1/iou and macro means from scikit-learn (NaN = undefined)."""
    labels = list(range(C))
    cm = confusion_matrix(t, p, labels=labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=labels, zero_division=np.nan)
        iou = jaccard_score(t, p, labels=labels, average=None, zero_division=0).astype(float)
    iou[(cm.sum(0) + cm.sum(1)) == 0] = np.nan  # jaccard_score cannot return NaN itself
    return dict(cm=cm, precision=prec, recall=rec, f1=f1, iou=iou, support=sup)


def nanmean(x):
    x = np.asarray(x, dtype=float)
    return float(np.mean(x[~np.isnan(x)])) if (~np.isnan(x)).any() else math.nan


def sample_dice_reference(t, p, C, valid):
    """Mean over (sample, class>=1) of per-sample Dice with the empty-target rule, by brute force."""
    vals = []
    for n in range(t.shape[0]):
        tn, pn = t[n][valid[n]], p[n][valid[n]]
        for c in range(1, C):
            tp = np.sum((tn == c) & (pn == c))
            den = np.sum(tn == c) + np.sum(pn == c)
            vals.append(1.0 if den == 0 else 2 * tp / den)
    return float(np.mean(vals)), len(vals)


def same(a, b):
    """Floats equal including NaN == NaN."""
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


def assert_close_nan(a, b, rtol=1e-12):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=1e-15, equal_nan=True)


def check_against_sklearn(rep, t_flat, p_flat, C, seg):
    ref = sk_reference(t_flat, p_flat, C)
    assert rep["confusion_matrix"] == ref["cm"].tolist()
    assert rep["support"] == ref["support"].tolist()
    assert rep["total"] == t_flat.size
    for key in ("precision", "recall", "f1", "iou"):
        assert_close_nan(rep["per_class"][key], ref[key])
    assert_close_nan(rep["per_class"]["dice"], ref["f1"])
    assert_close_nan(rep["precision"], nanmean(ref["precision"]))
    assert_close_nan(rep["recall"], nanmean(ref["recall"]))
    assert_close_nan(rep["f1"], nanmean(ref["f1"]))
    assert_close_nan(rep["miou"], nanmean(ref["iou"]))
    assert_close_nan(rep["dice"], nanmean(ref["f1"][1:] if seg else ref["f1"]))
    assert_close_nan(rep["accuracy"], np.mean(t_flat == p_flat) if t_flat.size else math.nan)
    assert rep["absent_classes"] == [c for c in range(C) if ref["support"][c] == 0]
    if C == 2:
        for key, refkey in (("precision", "precision"), ("recall", "recall"), ("f1", "f1"), ("iou", "iou"), ("dice", "f1")):
            assert_close_nan(rep["positive"][key], ref[refkey][1])
    else:
        assert rep["positive"] is None


# --------------------------------------------------------------------------- random cases
def make_case(rng, task, C, spatial, kind, ignore, n):
    """Random (preds, target, reference predicted indices, valid mask) with empty classes sometimes."""
    shape = (n,) + tuple(spatial) if task == "segmentation" else (n,)
    t_classes = rng.choice(C, size=rng.integers(1, C + 1), replace=False)  # some classes may be absent
    target = rng.choice(t_classes, size=shape).astype(np.int64)
    valid = np.ones(shape, bool)
    if ignore is not None:
        target[rng.random(shape) < 0.25] = ignore
        if 0 <= ignore < C and target.flat[0] == ignore:
            target.flat[0] = (ignore + 1) % C  # keep at least one counted element
        elif not 0 <= ignore < C:
            target.flat[0] = t_classes[0]
        valid = target != ignore
    if kind == "index":
        p_classes = rng.choice(C, size=rng.integers(1, C + 1), replace=False)
        pred_idx = rng.choice(p_classes, size=shape).astype(np.int64)
        preds = torch.from_numpy(pred_idx.copy())
        if ignore is not None and rng.random() < 0.3:
            preds[torch.from_numpy(~valid)] = 255  # junk predictions where the target is ignored
    elif kind == "logits":
        logits = rng.standard_normal((n, C) + shape[1:]).astype(np.float32)
        if rng.random() < 0.3:
            logits = np.round(logits)  # many ties: first maximum must win
        dropped = rng.choice(C, size=rng.integers(0, C), replace=False)
        logits[:, dropped] -= 50.0  # classes never predicted
        preds = torch.from_numpy(logits)
        pred_idx = torch.argmax(preds, dim=1).numpy()
    elif kind in ("prob", "prob_c1"):
        x = rng.random(shape)
        preds = torch.from_numpy(x)
        pred_idx = (x >= 0.5).astype(np.int64)
        if kind == "prob_c1":
            preds = preds.unsqueeze(1)
    elif kind == "logit_map":
        x = (3 * rng.standard_normal(shape)).astype(np.float32)
        preds = torch.from_numpy(x)
        pred_idx = (torch.sigmoid(preds.double()) >= 0.5).numpy().astype(np.int64)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return preds, torch.from_numpy(target), np.asarray(pred_idx), valid


@st.composite
def cases(draw):
    task = draw(st.sampled_from(["classification", "segmentation"]))
    C = draw(st.integers(2, 6))
    spatial = draw(st.lists(st.integers(1, 7), min_size=1, max_size=3)) if task == "segmentation" else []
    kinds = ["index", "logits"] + (["prob", "prob_c1", "logit_map"] if C == 2 else [])
    kind = draw(st.sampled_from(kinds))
    ignore = draw(st.sampled_from([None, 255, -100, "in-range"]))
    n = draw(st.integers(1, 40 if task == "segmentation" else 200))
    seed = draw(st.integers(0, 2**31 - 1))
    return task, C, spatial, kind, ignore, n, seed


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_matches_sklearn_and_batch_split_invariant(case):
    task, C, spatial, kind, ignore, n, seed = case
    rng = np.random.default_rng(seed)
    if ignore == "in-range":
        ignore = int(rng.integers(0, C))
    preds, target, pred_idx, valid = make_case(rng, task, C, spatial, kind, ignore, n)
    scores = "logit" if kind == "logit_map" else "probability"
    ev = Evaluator(task, C, ignore_index=ignore, scores=scores)
    ev.update(preds, target)
    rep = ev.compute()
    assert set(rep) == REPORT_KEYS
    t_np = target.numpy()
    seg = task == "segmentation"
    check_against_sklearn(rep, t_np[valid], pred_idx[valid], C, seg)
    assert rep["num_samples"] == n
    if seg:
        mean, count = sample_dice_reference(t_np, pred_idx, C, valid)
        assert rep["sample_dice"]["count"] == count
        assert rep["sample_dice"]["mean"] == pytest.approx(mean, abs=1e-9)
        assert rep["sample_dice"]["classes"] == list(range(1, C))
    else:
        assert rep["sample_dice"] is None

    # same data in random batch splits and a shuffled order -> bit-identical report
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n - 1, int(rng.integers(0, 4))), replace=False)) if n > 1 else []
    bounds = [0, *cuts.tolist(), n] if len(cuts) else [0, n]
    parts = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    rng.shuffle(parts)
    ev2 = Evaluator(task, C, ignore_index=ignore, scores=scores)
    for a, b in parts:
        ev2.update(preds[a:b], target[a:b])
    assert report_to_json(ev2.compute()) == report_to_json(rep)
    assert torch.equal(ev2.confusion, ev.confusion) and torch.equal(ev2.sample_state, ev.sample_state)

    # merge of two evaluators == one evaluator over all the data
    k = n // 2
    ea = Evaluator(task, C, ignore_index=ignore, scores=scores)
    eb = Evaluator(task, C, ignore_index=ignore, scores=scores)
    ea.update(preds[:k], target[:k])
    eb.update(preds[k:], target[k:])
    assert ea.merge(eb) is ea
    assert report_to_json(ea.compute()) == report_to_json(rep)


def test_sklearn_macro_average_agrees_with_nan_exclusion():
    t = np.array([0, 0, 1, 1, 1, 3])
    p = np.array([0, 1, 1, 1, 2, 0])  # class 2 predicted but absent, class 3 present but never predicted
    ev = Evaluator("classification", 4)
    ev.update(torch.from_numpy(p), torch.from_numpy(t))
    rep = ev.compute()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P, R, F, _ = precision_recall_fscore_support(t, p, labels=[0, 1, 2, 3], average="macro", zero_division=np.nan)
    assert rep["precision"] == pytest.approx(P) and rep["recall"] == pytest.approx(R) and rep["f1"] == pytest.approx(F)
    assert rep["absent_classes"] == [2]
    assert rep["per_class"]["precision"][2] == 0.0 and math.isnan(rep["per_class"]["recall"][2])
    assert math.isnan(rep["per_class"]["precision"][3]) and rep["per_class"]["recall"][3] == 0.0
    assert rep["recall"] == pytest.approx((1 / 2 + 2 / 3 + 0.0) / 3)
    # exact values by hand: class 1 TP=2 FP=1 FN=1
    assert rep["per_class"]["iou"][1] == pytest.approx(0.5) and rep["per_class"]["f1"][1] == pytest.approx(2 / 3)
    assert rep["accuracy"] == pytest.approx(3 / 6)


# --------------------------------------------------------------------------- torchmetrics
@pytest.mark.parametrize("spatial,ignore", [((13, 11), None), ((5, 7, 6), 255), ((40,), None), ((6, 9, 4), None)])
@pytest.mark.parametrize("C", [2, 4])
def test_matches_torchmetrics(spatial, ignore, C):
    from torchmetrics.classification import (
        MulticlassF1Score,
        MulticlassJaccardIndex,
        MulticlassPrecision,
        MulticlassRecall,
    )
    from torchmetrics.segmentation import DiceScore

    g = torch.Generator().manual_seed(C * 1000 + len(spatial))
    N = 3
    logits = torch.randn((N, C, *spatial), generator=g)
    target = torch.randint(0, C, (N, *spatial), generator=g)
    if ignore is not None:
        target[torch.rand(target.shape, generator=g) < 0.2] = ignore
    ev = Evaluator("segmentation", C, ignore_index=ignore)
    ev.update(logits, target)
    rep = ev.compute()
    kw = dict(num_classes=C, ignore_index=ignore)
    for cls, key in ((MulticlassPrecision, "precision"), (MulticlassRecall, "recall"), (MulticlassF1Score, "f1"), (MulticlassJaccardIndex, "iou")):
        per = cls(average="none", **kw)(logits, target)
        macro = cls(average="macro", **kw)(logits, target)
        np.testing.assert_allclose(rep["per_class"][key], per.double().numpy(), rtol=1e-6)
        assert rep[{"iou": "miou"}.get(key, key)] == pytest.approx(float(macro), rel=1e-6)
    if ignore is None:
        pred = logits.argmax(1)
        dice_global = DiceScore(C, include_background=False, average="none", input_format="index", aggregation_level="global")(pred, target)
        np.testing.assert_allclose(rep["per_class"]["dice"][1:], dice_global.double().numpy(), rtol=1e-6)
        # torchmetrics' samplewise Dice (mean over samples, then over classes): no empty cases here
        dice_samples = DiceScore(C, include_background=False, average="none", input_format="index")(pred, target)
        assert rep["sample_dice"]["mean"] == pytest.approx(float(dice_samples.double().mean()), rel=1e-6)


# --------------------------------------------------------------------------- specific behaviour
def test_report_structure_json_and_absent_classes():
    ev = Evaluator("segmentation", 3, class_names=["bg", "liver", "tumor"])
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    target[0, :2] = 1
    preds = torch.zeros(2, 4, 4, dtype=torch.long)
    preds[0, :1] = 1
    ev.update(preds, target)
    rep = ev.compute()
    assert set(rep) == REPORT_KEYS
    assert set(rep["per_class"]) == {"precision", "recall", "f1", "iou", "dice"}
    assert rep["absent_classes"] == [2] and rep["class_names"] == ["bg", "liver", "tumor"]
    assert all(math.isnan(rep["per_class"][k][2]) for k in ("precision", "recall", "f1", "iou"))
    assert rep["dice_classes"] == [1, 2] and rep["dice"] == pytest.approx(2 * 4 / (2 * 4 + 4))
    assert rep["support"] == [24, 8, 0] and rep["total"] == 32 and rep["num_samples"] == 2
    text = report_to_json(rep)
    back = json.loads(text)
    assert back["per_class"]["iou"][2] is None and "NaN" not in text
    assert back["confusion_matrix"] == [[24, 0, 0], [4, 4, 0], [0, 0, 0]]
    assert back["positive"] is None and back["average_precision"] is None
    out = format_report(rep)
    assert "tumor" in out and "liver" in out and "absent from target" in out
    assert "24" in out and "mIoU" in out


def test_report_to_json_is_strict_json():
    report = {"a": np.float32(0.5), "b": np.float64("nan"), "c": np.int64(3), "d": (1.0, float("inf")), 4: torch.tensor(2.5)}
    text = report_to_json(report)
    assert json.loads(text) == {"a": 0.5, "b": None, "c": 3, "d": [1.0, None], "4": 2.5}
    assert report_to_json({"x": 1}, indent=2) == '{\n  "x": 1\n}'


def test_empty_evaluator_reports_nan():
    rep = Evaluator("classification", 3).compute()
    assert rep["total"] == 0 and math.isnan(rep["accuracy"]) and math.isnan(rep["miou"])
    assert rep["absent_classes"] == [0, 1, 2]
    json.loads(report_to_json(rep))


def test_sample_dice_empty_target_rule_binary():
    target = torch.zeros(4, 3, 3, dtype=torch.long)
    preds = torch.zeros(4, 3, 3, dtype=torch.long)
    # sample 0: empty target, empty prediction -> 1
    # sample 1: empty target, non-empty prediction -> 0
    preds[1, 0, 0] = 1
    # sample 2: target 2 px, prediction hits 1 of them plus 1 false positive -> 2*1/(2+2) = 0.5
    target[2, 0, :2] = 1
    preds[2, 0, 1:3] = 1
    # sample 3: perfect -> 1
    target[3, 1] = 1
    preds[3, 1] = 1
    ev = Evaluator("segmentation", 2)
    ev.update(preds, target)
    rep = ev.compute()
    assert rep["sample_dice"]["count"] == 4
    assert rep["sample_dice"]["mean"] == (1.0 + 0.0 + 0.5 + 1.0) / 4
    assert "empty target & empty prediction -> 1" in rep["sample_dice"]["empty_rule"]
    # pooled Dice of the positive class differs from the per-sample mean
    assert rep["positive"]["dice"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 1 + 1))


def test_sample_dice_multiclass_per_class_pairs():
    target = torch.tensor([[0, 1, 1, 0], [2, 2, 0, 0]])
    preds = torch.tensor([[0, 1, 0, 0], [2, 0, 0, 1]])
    ev = Evaluator("segmentation", 3)
    ev.update(preds, target)
    sd = ev.compute()["sample_dice"]
    # sample 0: class1 2*1/3, class2 empty/empty=1; sample 1: class1 empty target, pred 1 px -> 0, class2 2*1/3
    assert sd["count"] == 4 and sd["classes"] == [1, 2]
    assert sd["mean"] == pytest.approx((2 / 3 + 1 + 0 + 2 / 3) / 4, abs=1e-9)


@pytest.mark.parametrize("C", [4, 17])
def test_index_dtype_paths_agree(C):
    """Batch sizes that put the per-sample bins in uint8, int16 and int32 index tensors agree exactly."""
    g = torch.Generator().manual_seed(C)
    N = 2100 if C == 4 else 130  # 2100 * 18 bins > 32767 -> int32; 130 * 291 -> int32 as well
    target = torch.randint(0, C, (N, 2, 3), generator=g, dtype=torch.uint8)
    preds = torch.randint(0, C, (N, 2, 3), generator=g)
    ref = np.zeros((C, C), np.int64)
    np.add.at(ref, (target.numpy().ravel(), preds.numpy().ravel()), 1)
    states = []
    # C=4: uint8, int16, int32 then a 1-sample batch in uint8, int32; C=17: int16, int16, int32 then int16, int32
    for bs in (7, 100, N - 1, N):
        ev = Evaluator("segmentation", C)
        for a in range(0, N, bs):
            ev.update(preds[a : a + bs], target[a : a + bs])
        assert ev.confusion.tolist() == ref.tolist()
        states.append(ev.sample_state.tolist())
    assert all(s == states[0] for s in states)


@pytest.mark.parametrize("C", [3, MANUAL_ARGMAX_MAX_CLASSES + 8])
def test_argmax_paths_match_torch_argmax_with_ties(C):
    g = torch.Generator().manual_seed(C)
    logits = torch.randint(-2, 3, (64, C, 5), generator=g).float()  # heavy ties
    target = torch.randint(0, C, (64, 5), generator=g)
    ev = Evaluator("segmentation", C)
    ev.update(logits, target)
    ref = np.zeros((C, C), np.int64)
    np.add.at(ref, (target.numpy().ravel(), logits.argmax(1).numpy().ravel()), 1)
    assert ev.confusion.tolist() == ref.tolist()


def test_input_dtypes_layouts_and_equivalent_forms():
    g = torch.Generator().manual_seed(7)
    target = torch.randint(0, 2, (3, 6, 5), generator=g)
    prob = torch.rand(3, 6, 5, generator=g)
    reports = []
    for preds, tgt, kw in [
        (prob, target, {}),
        (prob.unsqueeze(1), target.to(torch.uint8), {}),
        (prob.double(), target.bool(), {}),
        (torch.logit(prob.double()), target.int(), {"scores": "logit"}),
        ((prob >= 0.5), target, {}),
        ((prob >= 0.5).to(torch.int32).transpose(1, 2).contiguous().transpose(1, 2), target.transpose(1, 2).contiguous().transpose(1, 2), {}),
        (prob.numpy(), target.numpy(), {}),
    ]:
        ev = Evaluator("segmentation", 2, **kw)
        ev.update(preds, tgt)
        reports.append(report_to_json(ev.compute()))
    assert all(r == reports[0] for r in reports)
    # non-contiguous (transposed) inputs give the same counts
    ev = Evaluator("segmentation", 2)
    ev.update(prob.transpose(1, 2), target.transpose(1, 2))
    assert ev.compute()["confusion_matrix"] == json.loads(reports[0])["confusion_matrix"]


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_threshold_probability_and_logit(threshold):
    g = torch.Generator().manual_seed(11)
    prob = torch.rand(500, generator=g, dtype=torch.float64)
    prob[:5] = torch.tensor([0.0, 0.3, 0.5, 0.9, 1.0], dtype=torch.float64)
    target = torch.randint(0, 2, (500,), generator=g)
    ev = Evaluator("classification", 2, threshold=threshold)
    ev.update(prob, target)
    ref = confusion_matrix(target.numpy(), (prob >= threshold).long().numpy(), labels=[0, 1])
    assert ev.confusion.tolist() == ref.tolist()
    logits = torch.randn(500, generator=g, dtype=torch.float64) * 4
    ev = Evaluator("classification", 2, threshold=threshold, scores="logit")
    ev.update(logits, target)
    ref = confusion_matrix(target.numpy(), (torch.sigmoid(logits) >= threshold).long().numpy(), labels=[0, 1])
    assert ev.confusion.tolist() == ref.tolist()


def test_ignore_index_inside_class_range():
    target = torch.tensor([0, 1, 2, 2, 1, 0])
    preds = torch.tensor([0, 2, 2, 1, 1, 1])
    ev = Evaluator("classification", 3, ignore_index=2)
    ev.update(preds, target)
    keep = target != 2
    ref = confusion_matrix(target[keep].numpy(), preds[keep].numpy(), labels=[0, 1, 2])
    assert ev.confusion.tolist() == ref.tolist() and ev.compute()["total"] == 4


def test_state_is_constant_size():
    ev = Evaluator("segmentation", 3)
    before = [t.shape for t in ev.state_tensors()]
    for _ in range(5):
        ev.update(torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4)))
    assert [t.shape for t in ev.state_tensors()] == before and ev._scores == []
    assert ev.state_tensors()[0] is ev.confusion and ev.confusion.dtype == torch.int64
    ev.reset()
    assert int(ev.confusion.sum()) == 0 and int(ev.sample_state.sum()) == 0


def test_inference_mode_inside_and_outside():
    with torch.inference_mode():
        ev = Evaluator("classification", 3)  # created in inference mode ...
        ev.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    ev.update(torch.tensor([2]), torch.tensor([1]))  # ... updated outside it
    with torch.inference_mode():
        ev.update(torch.tensor([2]), torch.tensor([2]))
    assert ev.confusion.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]


def test_all_reduce_single_process(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ev = Evaluator("segmentation", 3)
        ev.update(torch.randint(0, 3, (2, 4, 4)), torch.randint(0, 3, (2, 4, 4)))
        before = report_to_json(ev.compute())
        assert ev.all_reduce() is ev
        assert report_to_json(ev.compute()) == before
    finally:
        dist.destroy_process_group()


# --------------------------------------------------------------------------- kept scores / AP
def test_keep_scores_ap_in_report():
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(300, 2, generator=g)
    target = torch.randint(0, 2, (300,), generator=g)
    target[:10] = 255
    ev = Evaluator("classification", 2, ignore_index=255, scores="logit", keep_scores=True)
    ev.update(logits[:100], target[:100])
    ev.update(logits[100:], target[100:])
    rep = ev.compute()
    keep = target != 255
    prob = torch.softmax(logits, 1)[:, 1][keep].numpy()
    assert rep["average_precision"] == pytest.approx(average_precision_score(target[keep].numpy(), prob), rel=1e-6)
    s, t = ev.scores()
    assert s.shape == (290,) and torch.equal(t, target[keep])
    p, r, thr = ev.precision_recall_curve()
    assert p[-1] == 1.0 and r[-1] == 0.0 and len(thr) == len(p) - 1
    for got, want in zip((p, r, thr), precision_recall_curve(prob, target[keep].numpy())):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    # single-map probabilities, segmentation
    ev = Evaluator("segmentation", 2, keep_scores=True)
    prob = torch.rand(2, 1, 4, 4, generator=g)
    tgt = torch.randint(0, 2, (2, 4, 4), generator=g)
    ev.update(prob, tgt)
    assert ev.compute()["average_precision"] == pytest.approx(average_precision_score(tgt.numpy().ravel(), prob.numpy().ravel()))


# --------------------------------------------------------------------------- bad input
BAD_UPDATES = [
    ("segmentation", 3, {}, torch.randn(4, 3, 8, 8), torch.zeros(4, 8, 9, dtype=torch.long),
     r"preds has shape \(4, 3, 8, 8\) but target has shape \(4, 8, 9\); expected preds \[N, C, \*spatial\]"),
    ("segmentation", 3, {}, torch.zeros(4, 8, 8, dtype=torch.long), torch.zeros(4, 8, 9, dtype=torch.long),
     r"preds has shape \(4, 8, 8\) but target has shape \(4, 8, 9\); integer preds are class indices"),
    ("segmentation", 3, {}, torch.randn(4, 4, 8, 8), torch.zeros(4, 8, 8, dtype=torch.long),
     r"class dimension \(dim 1\) of size 4 but num_classes is 3"),
    ("classification", 2, {}, torch.randn(4, 3), torch.zeros(4, dtype=torch.long),
     r"class dimension \(dim 1\) of size 3 but num_classes is 2; expected size 2 \(or 1 for a positive-class map\)"),
    ("segmentation", 3, {}, torch.rand(4, 8, 8), torch.zeros(4, 8, 8, dtype=torch.long),
     r"single score map is only allowed for num_classes == 2 \(got 3\)"),
    ("segmentation", 3, {}, torch.zeros(4, 8, 8, dtype=torch.long), torch.full((4, 8, 8), 3),
     r"target holds label 3 outside \[0, 3\) \(ignore_index=None\)"),
    ("segmentation", 3, {}, torch.zeros(2, 4, dtype=torch.long), torch.tensor([[0, 1, -1, 2], [0, 0, 0, 0]]),
     r"target holds label -1 outside \[0, 3\)"),
    ("segmentation", 3, {"ignore_index": 255}, torch.zeros(2, 4, dtype=torch.long), torch.tensor([[0, 255, 7, 2], [0, 0, 0, 0]]),
     r"target holds labels \[7\] outside \[0, 3\) \(ignore_index=255\)"),
    ("segmentation", 3, {"ignore_index": -100}, torch.zeros(2, 4, dtype=torch.long), torch.tensor([[0, -100, -3, 2], [0, 0, 0, 0]]),
     r"target holds labels \[-3\] outside \[0, 3\) \(ignore_index=-100\)"),
    ("classification", 3, {}, torch.tensor([0, 5, 1]), torch.tensor([0, 1, 1]),
     r"preds holds class index 5 outside \[0, 3\)"),
    ("classification", 3, {"ignore_index": 255}, torch.tensor([0, 255, 255]), torch.tensor([0, 1, 255]),
     r"preds holds class index 255 outside \[0, 3\)"),
    ("segmentation", 3, {}, torch.tensor([[[0.1, float("nan"), 0.3]] * 3]), torch.zeros(1, 3, dtype=torch.long),
     r"preds \(shape \(1, 3, 3\)\) contains NaN"),
    ("classification", 2, {}, torch.tensor([0.2, float("nan")]), torch.tensor([0, 1]),
     r"preds \(shape \(2,\)\) contains NaN"),
    ("classification", 2, {"scores": "logit"}, torch.tensor([0.2, float("nan")]), torch.tensor([0, 1]),
     r"preds \(shape \(2,\)\) contains NaN"),
    ("classification", 2, {}, torch.tensor([0.2, 1.5]), torch.tensor([0, 1]),
     r"outside \[0, 1\], but scores='probability'; pass scores='logit'"),
    ("classification", 3, {}, torch.tensor([0, 1]), torch.tensor([0.0, 1.0]),
     r"target must hold integer class indices, got dtype torch.float32"),
    ("classification", 3, {}, torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long),
     r"target has shape \(2, 3\) but classification expects target \[N\]"),
    ("segmentation", 3, {}, torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long),
     r"target has shape \(2,\) but segmentation expects target \[N, \*spatial\]"),
    ("classification", 2, {"keep_scores": True}, torch.tensor([0, 1]), torch.tensor([0, 1]),
     r"keep_scores=True needs floating scores"),
]  # fmt: skip


@pytest.mark.parametrize("task,C,kw,preds,target,match", BAD_UPDATES)
def test_bad_update_raises(task, C, kw, preds, target, match):
    ev = Evaluator(task, C, **kw)
    with pytest.raises(ValueError, match=match):
        ev.update(preds, target)
    assert int(ev.confusion.sum()) == 0  # nothing was counted


@pytest.mark.parametrize(
    "args,kw,match",
    [
        (("detection", 3), {}, r"task must be one of \('classification', 'segmentation'\), got 'detection'"),
        (("classification", 1), {}, r"num_classes must be >= 2, got 1"),
        (("classification", 2.0), {}, r"num_classes must be an int >= 2"),
        (("classification", 2), {"threshold": 1.5}, r"threshold must be a probability in \[0, 1\]"),
        (("classification", 2), {"scores": "logits"}, r"scores must be one of \('probability', 'logit'\)"),
        (("classification", 3), {"class_names": ["a", "b"]}, r"class_names has 2 names but num_classes is 3"),
        (("classification", 3), {"keep_scores": True}, r"keep_scores=True needs num_classes == 2"),
        (("classification", 3), {"ignore_index": 2.5}, r"ignore_index must be an int or None"),
    ],
)
def test_bad_constructor_raises(args, kw, match):
    with pytest.raises(ValueError, match=match):
        Evaluator(*args, **kw)


def test_bad_merge_and_scores():
    with pytest.raises(ValueError, match=r"cannot merge evaluators with different settings"):
        Evaluator("classification", 3).merge(Evaluator("classification", 4))
    with pytest.raises(ValueError, match=r"can only merge another Evaluator"):
        Evaluator("classification", 3).merge("x")
    with pytest.raises(ValueError, match=r"no scores kept: create the Evaluator with keep_scores=True"):
        Evaluator("classification", 2).scores()
