"""Tests for zoo.evaluation: batching (fast path and DataLoader), the model-side protocol, ``evaluate``.

Every ``evaluate`` report is checked against an Evaluator filled by hand from the same model outputs."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from zoo.errors import DataError
from zoo.evaluation import EVALUATOR_TASK, all_reduce_sum, evaluate, evaluate_with_evaluator, forward, iterate_batches, to_device
from zoo.metrics import Evaluator
from zoo.reports import report_to_json


class SliceDataset(Dataset):
    """A dataset with the whole-batch fast path; records how ``batch`` was called."""

    def __init__(self, x, y, class_names=None):
        self.x, self.y, self.calls = x, y, []
        if class_names is not None:
            self.class_names = class_names

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):  # pragma: no cover - the fast path never calls it
        raise AssertionError("iterate_batches must use batch()")

    def batch(self, indices, augment=False, device=None):
        self.calls.append((indices.tolist(), augment, device))
        return self.x[indices], self.y[indices]


class TextDataset(Dataset):
    """Raw string inputs batched by ``collate_fn`` into a list of strings."""

    class_names = ["short", "long"]

    def __init__(self, texts, labels):
        self.texts, self.labels = texts, labels

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        return self.texts[i], self.labels[i]

    @staticmethod
    def collate_fn(items):
        return [t for t, _ in items], torch.tensor([label for _, label in items])


class LengthClassifier(nn.Module):
    """Scores [N, 2] from string lengths; ``encode_batch`` turns strings into a [N, 1] tensor."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.linear.bias.copy_(torch.tensor([2.5, -2.5]))

    def encode_batch(self, texts):
        return torch.tensor([[float(len(t))] for t in texts])

    def forward(self, x):
        return self.linear(x)


def classification_data(n=37, features=4, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    model = nn.Linear(features, classes)
    with torch.no_grad():
        model.weight.copy_(torch.randn(classes, features, generator=g))
        model.bias.copy_(torch.randn(classes, generator=g))
    return model, x, y


def by_hand(task, model, x, y, num_classes, **kw):
    """The report evaluate() must give: the same outputs fed to an Evaluator in one update."""
    with torch.no_grad():
        out = model(x).float()
    if num_classes == 2:
        out = out[:, 1] - out[:, 0]
    ev = Evaluator(task, num_classes, scores="logit", **kw)
    ev.update(out, y)
    return ev


# --------------------------------------------------------------------------- batching and protocol
def test_iterate_batches_fast_path_follows_the_indices():
    x, y = torch.arange(10.0).view(10, 1), torch.arange(10)
    data = SliceDataset(x, y)
    order = torch.tensor([9, 3, 4, 0, 7])
    batches = list(iterate_batches(data, order, batch_size=2, augment=True, device="cpu"))
    assert [b[1].tolist() for b in batches] == [[9, 3], [4, 0], [7]]
    assert data.calls == [([9, 3], True, "cpu"), ([4, 0], True, "cpu"), ([7], True, "cpu")]


def test_iterate_batches_through_a_dataloader():
    x, y = torch.arange(12.0).view(6, 2), torch.arange(6)
    order = torch.tensor([5, 1, 2, 0])
    batches = list(iterate_batches(TensorDataset(x, y), order, batch_size=3))
    assert [b[1].tolist() for b in batches] == [[5, 1, 2], [0]]
    assert torch.equal(batches[0][0], x[[5, 1, 2]])
    # the dataset's collate_fn is used, and targets follow ``device``
    texts = TextDataset(["a", "bbb", "cc"], [0, 1, 1])
    (inputs, targets), = iterate_batches(texts, torch.arange(3), batch_size=8, device="cpu")
    assert inputs == ["a", "bbb", "cc"] and targets.tolist() == [0, 1, 1]


def test_to_device():
    t = torch.ones(2)
    assert to_device(t, None) is t
    assert to_device(t, "meta").device.type == "meta"
    moved = to_device({"a": t, "b": (t, t)}, "meta")
    assert moved["a"].device.type == "meta" and all(v.device.type == "meta" for v in moved["b"])
    as_list = to_device([t, t], "meta")
    assert isinstance(as_list, list) and all(v.device.type == "meta" for v in as_list)
    strings = ["x", "y"]
    assert to_device(strings, "meta") is strings and to_device((), "meta") == ()
    assert to_device(3, "meta") == 3


def test_forward_calls_the_model_as_the_protocol_says():
    class Recorder(nn.Module):
        def forward(self, *args, **kwargs):
            return args, kwargs

    model, t = Recorder(), torch.ones(1)
    assert forward(model, t) == ((t,), {})
    assert forward(model, (t, t)) == ((t, t), {})
    assert forward(model, {"input_ids": t}) == ((), {"input_ids": t})
    # encode_batch on the model, or on the wrapped model (DataParallel / DDP keep it at .module)
    clf = LengthClassifier()
    expected = clf(torch.tensor([[1.0], [4.0]]))
    assert torch.equal(forward(clf, ["a", "dddd"]), expected)
    wrapper = nn.Module()
    wrapper.module = clf
    wrapper.forward = clf.forward
    assert torch.equal(forward(wrapper, ["a", "dddd"], device="cpu"), expected)


def test_evaluator_task_names():
    assert EVALUATOR_TASK == {"classification": "classification", "text-classification": "classification",
                              "segmentation": "segmentation"}


# --------------------------------------------------------------------------- evaluate
def test_evaluate_classification_equals_the_evaluator_by_hand():
    model, x, y = classification_data()
    names = ["a", "b", "c"]
    model.train()
    report = evaluate(model, TensorDataset(x, y), num_classes=3, class_names=names, batch_size=8, progress=False)
    assert report_to_json(report) == report_to_json(by_hand("classification", model, x, y, 3, class_names=names).compute())
    assert report["num_samples"] == 37 and report["class_names"] == names
    assert model.training  # the train/eval mode is restored
    # class names (and so num_classes) come from the dataset; the fast path gives the same report
    data = SliceDataset(x, y, class_names=names)
    again, evaluator = evaluate_with_evaluator(model.eval(), data, batch_size=5, progress=False)
    assert report_to_json(again) == report_to_json(report) and not model.training
    assert isinstance(evaluator, Evaluator) and evaluator.compute()["confusion_matrix"] == report["confusion_matrix"]
    assert len(data.calls) == 8 and all(augment is False for _, augment, _ in data.calls)


def test_evaluate_on_indices_with_loss():
    model, x, y = classification_data(seed=1)
    subset = torch.tensor([3, 0, 10, 11, 30, 2])
    loss_fn = nn.CrossEntropyLoss()
    report = evaluate(model, TensorDataset(x, y), num_classes=3, indices=subset, loss_fn=loss_fn, batch_size=4,
                      progress=True)
    expected = by_hand("classification", model, x[subset], y[subset], 3).compute()
    with torch.no_grad():
        expected["loss"] = float(loss_fn(model(x[subset]), y[subset]))
    assert report.pop("loss") == pytest.approx(expected.pop("loss"), rel=1e-6)
    assert report_to_json(report) == report_to_json(expected) and report["total"] == 6


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_evaluate_two_classes_threshold_and_kept_scores(threshold):
    model, x, y = classification_data(n=50, classes=2, seed=2)
    report, evaluator = evaluate_with_evaluator(model, TensorDataset(x, y), num_classes=2, threshold=threshold,
                                                keep_scores=True, progress=False)
    expected = by_hand("classification", model, x, y, 2, threshold=threshold, keep_scores=True)
    assert report_to_json(report) == report_to_json(expected.compute())
    assert report["average_precision"] is not None and not math.isnan(report["average_precision"])
    scores, targets = evaluator.scores()
    with torch.no_grad():
        prob = torch.softmax(model(x), dim=1)[:, 1]
    torch.testing.assert_close(scores, prob)  # softmax(x)[:, 1] == sigmoid(x1 - x0)
    assert torch.equal(targets, y)
    predicted = (prob >= threshold).long()
    assert report["confusion_matrix"][1][1] == int(((predicted == 1) & (y == 1)).sum())


def test_evaluate_segmentation_equals_the_evaluator_by_hand():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 2, 6, 7, generator=g)
    y = torch.randint(0, 3, (5, 6, 7), generator=g)
    model = nn.Conv2d(2, 3, kernel_size=3, padding=1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(model.weight.shape, generator=g))
    report = evaluate(model, TensorDataset(x, y), task="segmentation", num_classes=3, batch_size=2, progress=False)
    expected = by_hand("segmentation", model, x, y, 3).compute()
    assert report_to_json(report) == report_to_json(expected)
    assert report["task"] == "segmentation" and report["total"] == 5 * 6 * 7 and report["sample_dice"]["count"] == 10


def test_evaluate_text_classification_with_encode_batch():
    data = TextDataset(["hi", "a long review", "ok", "another long one", "abc"], [0, 1, 0, 1, 1])
    report = evaluate(LengthClassifier(), data, task="text-classification", batch_size=2, progress=False)
    # length > 2.5 -> class 1: "abc" is right, all others too
    assert report["task"] == "classification" and report["class_names"] == ["short", "long"]
    assert report["accuracy"] == 1.0 and report["confusion_matrix"] == [[2, 0], [0, 3]]


def test_evaluate_with_autocast_counts_everything():
    model, x, y = classification_data(seed=4)
    report = evaluate(model, TensorDataset(x, y), num_classes=3, autocast=True, progress=False)
    assert report["total"] == 37 and sum(report["support"]) == 37


def test_evaluate_in_a_single_process_group(tmp_path):
    import torch.distributed as dist

    model, x, y = classification_data(seed=5)
    alone = evaluate(model, TensorDataset(x, y), num_classes=3, progress=False)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        total = torch.tensor([1.5, 2.0], dtype=torch.float64)
        assert torch.equal(all_reduce_sum(total), total)
        assert report_to_json(evaluate(model, TensorDataset(x, y), num_classes=3, progress=False)) == report_to_json(alone)
    finally:
        dist.destroy_process_group()


def test_evaluate_bad_input():
    model, x, y = classification_data()
    with pytest.raises(DataError, match=r"evaluate\(\) needs num_classes \(the dataset has no class_names\)"):
        evaluate(model, TensorDataset(x, y), progress=False)
    with pytest.raises(DataError, match=r"cannot evaluate on an empty dataset"):
        evaluate(model, TensorDataset(x[:0], y[:0]), num_classes=3, progress=False)
    with pytest.raises(DataError, match=r"cannot evaluate on an empty dataset"):
        evaluate(model, TensorDataset(x, y), num_classes=3, indices=torch.tensor([], dtype=torch.long), progress=False)
    # targets the evaluator cannot count: the Evaluator's ValueError comes through
    with pytest.raises(ValueError, match=r"target holds label 7 outside \[0, 3\)"):
        evaluate(model, TensorDataset(x, torch.full_like(y, 7)), num_classes=3, progress=False)
    with pytest.raises(ValueError, match=r"target must hold integer class indices"):
        evaluate(model, TensorDataset(x, y.float()), num_classes=3, progress=False)
    # outputs for another number of classes: a DataError (a ValueError) in the reader's words (num_classes=)
    with pytest.raises(DataError, match=r"the model gives 3 class scores per item, but the data has 4 classes: build "
                                        r"it with num_classes=4"):
        evaluate(model, TensorDataset(x, y), num_classes=4, progress=False)
