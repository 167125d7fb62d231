"""Running a model over a dataset: batching (with the in-memory fast path) and ``evaluate``."""

from __future__ import annotations

from typing import Any, Iterator

import torch

from zoo.errors import DataError


def iterate_batches(
    dataset: Any, indices: torch.Tensor, *, batch_size: int, workers: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(inputs, targets)`` batches of ``dataset`` in the order of ``indices``.

    Datasets with a ``batch(indices)`` method (``zoo.datasets.ImageTensorDataset``) are sliced as whole
    tensors; any other ``Dataset`` goes through a ``DataLoader`` with ``workers`` processes.
    """
    if hasattr(dataset, "batch"):
        for start in range(0, len(indices), batch_size):
            yield dataset.batch(indices[start : start + batch_size])
        return
    subset = torch.utils.data.Subset(dataset, indices.tolist())
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=workers)
    yield from loader


def evaluate(
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
) -> dict:
    """Run ``model`` over every item of ``dataset`` and return the shared evaluator's report
    (``zoo.metrics.Evaluator``): accuracy, per-class and macro precision, recall, F1, IoU and Dice.

    ``num_classes`` and ``class_names`` default to the dataset's ``class_names``. ``indices`` restricts
    the run to those items (a validation subset); with ``loss_fn`` the report also holds the mean ``loss``.
    """
    from tqdm.auto import tqdm

    from zoo.metrics import Evaluator

    class_names = class_names or list(getattr(dataset, "class_names", []) or []) or None
    num_classes = num_classes or (len(class_names) if class_names else None)
    if not num_classes:
        raise DataError("evaluate() needs num_classes (the dataset has no class_names)")
    order = torch.arange(len(dataset)) if indices is None else indices
    if len(order) == 0:
        raise DataError("cannot evaluate on an empty dataset")
    evaluator = Evaluator(task, num_classes, threshold=threshold, class_names=class_names, keep_scores=keep_scores)
    was_training = model.training
    model.eval().to(device)
    loss_sum = 0.0
    with torch.inference_mode(), tqdm(total=len(order), desc="evaluate", unit="sample", disable=not progress, leave=False) as bar:
        for inputs, targets in iterate_batches(dataset, order, batch_size=batch_size):
            outputs, targets = model(inputs.to(device)), targets.to(device)
            evaluator.update(outputs, targets)
            if loss_fn is not None:
                loss_sum += float(loss_fn(outputs, targets)) * len(targets)
            bar.update(len(targets))
    model.train(was_training)
    report = evaluator.compute()
    if loss_fn is not None:
        report["loss"] = loss_sum / len(order)
    return report
