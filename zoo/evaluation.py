"""Running a model over a dataset: batching (with the in-memory fast path), the model-side
protocol the trainer and evaluator share, and ``evaluate``.

The protocol, all optional, so any ``nn.Module`` works:

* ``dataset.batch(indices, augment=False, device=None) -> (inputs, targets)``: whole-batch fast path
  (``zoo.datasets.ImageTensorDataset``); otherwise a ``DataLoader`` is used, with ``dataset.collate_fn``
  when the dataset has one;
* ``model.encode_batch(raw_inputs)``: turns a batch of raw inputs (for example a list of strings)
  into tensors, called before every forward;
* ``model(x)`` for a tensor, ``model(*x)`` for a tuple, ``model(**x)`` for a dict of inputs.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import torch

from zoo.errors import DataError, ZooError, advice
from zoo.metrics import Evaluator
from zoo.progress import progress as progress_bar

#: The evaluator's task for each model task (text classifiers are scored like any classifier).
EVALUATOR_TASK = {"classification": "classification", "text-classification": "classification", "segmentation": "segmentation"}


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` or ``cuda:N`` as a ``torch.device``; an
    error naming what is available otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    match = re.fullmatch(r"cpu|cuda(?::(\d+))?", str(name))
    if match is None:
        raise ZooError(f"unknown device {name!r}; expected auto, cpu, cuda or cuda:N")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ZooError(f"--device {name} was asked for, but CUDA is not available here; use --device cpu")
        if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
            raise ZooError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return torch.device(name)


def iterate_batches(
    dataset: Any,
    indices: torch.Tensor,
    *,
    batch_size: int,
    workers: int = 0,
    augment: bool = False,
    device: torch.device | str | None = None,
) -> Iterator[tuple[Any, torch.Tensor]]:
    """Yield ``(inputs, targets)`` batches of ``dataset`` in the order of ``indices``.

    Datasets with a ``batch`` method are sliced as whole tensors (on ``device``, augmented when
    ``augment``); any other ``Dataset`` goes through a ``DataLoader`` with ``workers`` processes.
    """
    if hasattr(dataset, "batch"):
        for start in range(0, len(indices), batch_size):
            yield dataset.batch(indices[start : start + batch_size], augment=augment, device=device)
        return
    subset = torch.utils.data.Subset(dataset, indices.tolist())
    loader = torch.utils.data.DataLoader(
        subset, batch_size=batch_size, shuffle=False, num_workers=workers,
        collate_fn=getattr(dataset, "collate_fn", None), persistent_workers=False,
        pin_memory=device is not None and torch.device(device).type == "cuda",
    )
    for inputs, targets in loader:
        yield to_device(inputs, device), targets.to(device) if device is not None else targets


def to_device(inputs: Any, device: torch.device | str | None) -> Any:
    """Move a tensor, or the tensors in a tuple/list/dict, to ``device``; anything else is left alone."""
    if device is None:
        return inputs
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device, non_blocking=True)
    if isinstance(inputs, dict):
        return {k: to_device(v, device) for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)) and inputs and isinstance(inputs[0], torch.Tensor):
        return type(inputs)(to_device(v, device) for v in inputs)
    return inputs


def forward(model: torch.nn.Module, inputs: Any, device: torch.device | str | None = None) -> torch.Tensor:
    """Run ``model`` on a batch as the protocol says: encode raw inputs first, then call with a
    tensor, a tuple (``*x``) or a dict (``**x``)."""
    encoder = getattr(model, "encode_batch", None) or getattr(getattr(model, "module", None), "encode_batch", None)
    if encoder is not None:
        inputs = to_device(encoder(inputs), device)
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple):
        return model(*inputs)
    return model(inputs)


def _distributed() -> tuple[int, int]:
    """``(rank, world_size)`` when a process group is running, else ``(0, 1)``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over the process group (through the GPU when the backend is nccl)."""
    dist = torch.distributed
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else tensor.device
    buffer = tensor.to(device)
    dist.all_reduce(buffer)
    return buffer.to(tensor.device)


def evaluate_with_evaluator(
    model: torch.nn.Module,
    dataset: Any,
    *,
    task: str = "classification",
    num_classes: int | None = None,
    class_names: list[str] | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    progress: bool = True,
    threshold: float = 0.5,
    keep_scores: bool = False,
    indices: torch.Tensor | None = None,
    loss_fn: Any = None,
    autocast: bool = False,
) -> tuple[dict, Evaluator]:
    """Run ``model`` over every item of ``dataset`` and return the shared evaluator's report
    (``zoo.metrics.Evaluator``: accuracy, per-class and macro precision, recall, F1, IoU and Dice) and the
    evaluator itself, for plots that need its kept scores (``keep_scores=True``: the precision-recall
    curve). :func:`evaluate` returns the report only.

    Two-class models predict class 1 where its softmax probability is at least ``threshold`` (0.5:
    the argmax, up to exact ties); pick a threshold on validation data, e.g. with
    ``zoo.curves.threshold_for_recall``, never on the test data.

    ``num_classes`` and ``class_names`` default to the dataset's ``class_names``. ``indices`` restricts
    the run to those items (a validation subset); with ``loss_fn`` the report also holds the mean
    ``loss``. Inside a ``torch.distributed`` process group each rank scores its share of the items
    and the evaluators' confusion matrices are summed across ranks, so every rank gets the full report.
    """
    class_names = class_names or list(getattr(dataset, "class_names", []) or []) or None
    num_classes = num_classes or (len(class_names) if class_names else None)
    if not num_classes:
        raise DataError("evaluate() needs num_classes (the dataset has no class_names)")
    order = torch.arange(len(dataset)) if indices is None else indices
    if len(order) == 0:
        raise DataError("cannot evaluate on an empty dataset")
    rank, world = _distributed()
    order = order[rank::world]
    evaluator = Evaluator(EVALUATOR_TASK.get(task, task), num_classes, threshold=threshold, class_names=class_names,
                          keep_scores=keep_scores, scores="logit")
    was_training = model.training
    model.eval().to(device)
    device_type = torch.device(device).type
    totals = torch.zeros(2, dtype=torch.float64)  # loss sum, item count
    with torch.inference_mode(), progress_bar(total=len(order), desc="evaluate", unit="sample", disable=not progress or rank != 0, leave=False) as bar:
        for inputs, targets in iterate_batches(dataset, order, batch_size=batch_size, device=device):
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast):
                outputs = forward(model, inputs, device)
            outputs = outputs.float()
            if not bool(torch.isfinite(outputs).all()):  # NaN weights or inputs: the evaluator would refuse them
                raise DataError(f"the model's outputs hold NaN or infinity (on a batch of {len(targets)} samples): its "
                                "weights or these inputs hold NaN or infinity; check the weights (zoo verify) or the data")
            _check_class_scores(outputs, targets, num_classes)
            if num_classes == 2 and outputs.dim() >= 2 and outputs.shape[1] == 2:
                # two classes: softmax(x)[:, 1] = sigmoid(x1 - x0), so ``threshold`` applies to that probability
                scores = outputs[:, 1] - outputs[:, 0]
            else:
                scores = outputs
            evaluator.update(scores, targets)
            if loss_fn is not None:
                totals[0] += float(loss_fn(outputs, targets)) * len(targets)
            totals[1] += len(targets)
            bar.update(len(targets))
    model.train(was_training)
    if world > 1:
        evaluator.all_reduce()
        totals = all_reduce_sum(totals)
    report = evaluator.compute()
    if loss_fn is not None:
        report["loss"] = float(totals[0] / totals[1])
    return report, evaluator


def _check_class_scores(outputs: torch.Tensor, targets: torch.Tensor, num_classes: int) -> None:
    """Outputs with a class dimension (``[N, C, ...]`` for targets ``[N, ...]``) must have one score per class of the
    data (or one, for two classes): a model built for another number of classes is a one-line error saying so."""
    if outputs.dim() != targets.dim() + 1 or outputs.shape[1] == num_classes or (num_classes == 2 and outputs.shape[1] == 1):
        return
    raise DataError(f"the model gives {outputs.shape[1]} class scores per item, but the data has {num_classes} classes: "
                    + advice(f"build it with num_classes={num_classes} (num_labels for the transformers)",
                             f"build it with -k num_classes={num_classes} (-k num_labels for the transformers)"))


def evaluate(model: torch.nn.Module, dataset: Any, **options: Any) -> dict:
    """Run ``model`` over every item of ``dataset`` and return the shared evaluator's report: accuracy,
    per-class and macro precision, recall, F1, IoU and Dice. ``options`` (``task``, ``num_classes``,
    ``batch_size``, ``device``, ``threshold``, ...) are those of :func:`evaluate_with_evaluator`."""
    report, _ = evaluate_with_evaluator(model, dataset, **options)
    return report


def plot_evaluation(report: dict, evaluator: Evaluator, stem: str, *, model: torch.nn.Module | None = None,
                    dataset: Any = None, device: str | torch.device = "cpu", threshold: float = 0.5,
                    target_recall: float | None = None, title: str = "") -> list[Any]:
    """PNG plots of one evaluation, named ``{stem}-confusion.png`` and so on; returns their paths.

    The confusion matrix (normalised per row); for two-class scored runs (``keep_scores=True``) the
    precision-recall curve, marking ``target_recall``; for segmentation (``model`` and ``dataset`` given)
    overlays of up to four samples spread evenly over ``dataset``: the input's middle channel, the target
    and the prediction at ``threshold``.
    """
    from zoo.plots import plot_confusion_matrix, plot_precision_recall

    paths = [plot_confusion_matrix(report, f"{stem}-confusion.png")]
    if evaluator.keep_scores and len(evaluator.scores()[0]):
        paths.append(plot_precision_recall(*evaluator.scores(), f"{stem}-precision-recall.png", target_recall=target_recall))
    if report["task"] == "segmentation" and model is not None and dataset is not None:
        paths.append(_plot_segmentation_samples(model, dataset, f"{stem}-overlays.png", device=device,
                                                threshold=threshold, title=title))
    return paths


def _plot_segmentation_samples(model: torch.nn.Module, dataset: Any, path: str, *, device: str | torch.device,
                               threshold: float, title: str) -> Any:
    """Overlays of up to four samples of ``dataset``: input [N, H, W] (a volume's middle channel), target, prediction."""
    from zoo.plots import plot_segmentation_overlays

    picks = torch.linspace(0, len(dataset) - 1, min(4, len(dataset))).round().long()
    inputs, targets = next(iterate_batches(dataset, picks, batch_size=len(picks), device=device))
    was_training = model.training
    model.eval().to(device)
    with torch.inference_mode():
        logits = forward(model, inputs, device).float()
    model.train(was_training)
    preds = logits.argmax(1) if logits.shape[1] > 1 else (torch.sigmoid(logits[:, 0]) >= threshold).long()
    images = inputs[:, inputs.shape[1] // 2] if inputs.dim() == targets.dim() + 1 else inputs
    note = getattr(dataset, "target_note", None)
    title = f"{title}, samples {picks.tolist()}" + (f"\ntarget: {note}" if note else "")
    return plot_segmentation_overlays(images, targets, preds, path, max_items=len(picks), title=title)
