"""The evaluator's report: what each number means, how it is computed from the confusion matrix, and
how it is written (strict JSON, a text table). :class:`zoo.metrics.Evaluator` counts; this module defines.

Definitions
===========
All numbers come from one ``C x C`` confusion matrix ``M[true, pred]`` of int64 counts over every
counted element -- samples for ``task="classification"``, pixels/voxels for ``task="segmentation"``.
Elements whose target equals ``ignore_index`` are not counted (neither their target nor their
prediction). For each class ``c``::

    TP_c = M[c, c]       FP_c = (column sum of c) - TP_c       FN_c = (row sum of c) - TP_c

    precision_c = TP / (TP + FP)
    recall_c    = TP / (TP + FN)
    f1_c = dice_c = 2 TP / (2 TP + FP + FN)
    iou_c       = TP / (TP + FP + FN)
    accuracy    = trace(M) / total

A per-class value whose denominator is zero is ``NaN`` (``null`` in :func:`report_to_json`) and is
left out of the macro mean; a macro mean over no defined class is ``NaN``. Macro means:

* ``precision``, ``recall``, ``f1``, ``miou``: mean over all classes (background included);
* ``dice``: segmentation -- mean over the non-background classes ``1..C-1`` (class 0 is the
  background); classification -- mean over all classes (then equal to ``f1``).

``absent_classes`` lists the classes with no target element (support 0): their recall is NaN,
their precision is 0 if they were predicted and NaN otherwise.

Per-sample Dice (segmentation only; the medical-imaging convention): for every sample ``n`` and
every non-background class ``c >= 1`` (for a two-class task that is just the positive class 1),
``dice_{n,c} = 2 TP / (2 TP + FP + FN)`` counted inside sample ``n`` only (ignored elements
excluded). Empty-target rule: an empty target with an empty prediction scores 1, an empty target
with a non-empty prediction scores 0 (this follows from the formula; the 0/0 case is defined as 1).
``sample_dice.mean`` is the mean over all (sample, class) pairs. Each value is rounded to a multiple
of ``2**-32`` before it is added to an int64 accumulator (error <= 1.2e-10 per value), so the result
is exact integer arithmetic and does not depend on batch split, update order, :meth:`Evaluator.merge`
or ``all_reduce``.

Report (``Evaluator.compute()``; every key always present, ``None`` = not applicable)
==========================================================================================
``task, num_classes, class_names, ignore_index`` -- the settings;
``num_samples`` (samples/volumes seen) and ``total`` (elements counted after ignore);
``accuracy, precision, recall, f1, miou, dice`` -- macro means as above; ``dice_classes`` -- the
classes averaged into ``dice``; ``per_class: {precision, recall, f1, iou, dice}`` -- lists of C;
``support`` -- target count per class; ``absent_classes``; ``confusion_matrix`` -- ``M`` as list of
lists; ``positive`` -- two-class tasks only: ``{class: 1, precision, recall, f1, iou, dice}``;
``sample_dice`` -- segmentation only: ``{mean, count, classes, empty_rule}``;
``average_precision`` -- only with ``keep_scores=True`` (NaN when no positive target was seen).
:func:`report_to_json` gives strict JSON (NaN -> null); :func:`format_report` a text table.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from zoo.files import to_json

__all__ = ["EMPTY_RULE", "report_from_confusion", "report_to_json", "format_report"]

#: The per-sample Dice rule for empty targets, as the report states it.
EMPTY_RULE = "empty target & empty prediction -> 1; empty target & non-empty prediction -> 0"


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    v = values[~np.isnan(values)]
    return float(v.mean()) if v.size else math.nan


def report_from_confusion(confusion: np.ndarray, *, task: str, class_names: Sequence[str] | None,
                          ignore_index: int | None, num_samples: int) -> dict[str, Any]:
    """The report of a ``C x C`` int64 confusion matrix ``M[true, pred]`` (every key; ``sample_dice`` and
    ``average_precision`` are ``None`` here: the evaluator adds them from its other state)."""
    M = np.asarray(confusion).astype(np.int64)
    C = M.shape[0]
    tp = np.diag(M).astype(np.float64)
    row = M.sum(1).astype(np.float64)  # support (true count)
    col = M.sum(0).astype(np.float64)  # predicted count
    fp, fn = col - tp, row - tp
    total = int(M.sum())
    precision = _div(tp, tp + fp)
    recall = _div(tp, tp + fn)
    f1 = _div(2 * tp, 2 * tp + fp + fn)
    iou = _div(tp, tp + fp + fn)
    dice_classes = list(range(1, C)) if task == "segmentation" else list(range(C))
    by_class = {"precision": precision, "recall": recall, "f1": f1, "iou": iou, "dice": f1}
    report: dict[str, Any] = {
        "task": task,
        "num_classes": C,
        "class_names": list(class_names) if class_names is not None else None,
        "ignore_index": ignore_index,
        "num_samples": num_samples,
        "total": total,
        "accuracy": float(np.trace(M) / total) if total else math.nan,
        "precision": _nanmean(precision),
        "recall": _nanmean(recall),
        "f1": _nanmean(f1),
        "miou": _nanmean(iou),
        "dice": _nanmean(f1[dice_classes]),
        "dice_classes": dice_classes,
        "per_class": {key: values.tolist() for key, values in by_class.items()},
        "support": [int(v) for v in M.sum(1)],
        "absent_classes": [c for c in range(C) if row[c] == 0],
        "confusion_matrix": M.tolist(),
        "positive": None,
        "sample_dice": None,
        "average_precision": None,
    }
    if C == 2:
        report["positive"] = {"class": 1, **{key: float(values[1]) for key, values in by_class.items()}}
    return report


def report_to_json(report: dict, indent: int | None = None) -> str:
    """Strict JSON text of a report (NaN -> null)."""
    return to_json(report, indent=indent)


def _fmt(v: Any, width: int = 8) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-".rjust(width)
    return f"{v:.4f}".rjust(width)


def format_report(report: dict) -> str:
    """Short text table: summary line(s), then one row per class (name, P, R, F1, IoU, support)."""
    C = report["num_classes"]
    names = report.get("class_names") or [str(c) for c in range(C)]
    lines = [
        f"{report['task']}: {report['num_samples']} samples, {report['total']} counted"
        + ("" if report["task"] == "classification" else " elements")
        + (f", ignore_index={report['ignore_index']}" if report.get("ignore_index") is not None else ""),
        f"accuracy {_fmt(report['accuracy'], 0)}  precision {_fmt(report['precision'], 0)}  "
        f"recall {_fmt(report['recall'], 0)}  f1 {_fmt(report['f1'], 0)}  "
        f"mIoU {_fmt(report['miou'], 0)}  dice {_fmt(report['dice'], 0)}",
    ]
    extra = []
    if report.get("sample_dice"):
        extra.append(f"per-sample dice {_fmt(report['sample_dice']['mean'], 0)} (n={report['sample_dice']['count']})")
    if report.get("average_precision") is not None:
        extra.append(f"AP {_fmt(report['average_precision'], 0)}")
    if extra:
        lines.append("  ".join(extra))
    w = max(5, *(len(n) for n in names))
    lines.append(f"{'class'.ljust(w)} {'prec':>8} {'recall':>8} {'f1':>8} {'iou':>8} {'support':>10}")
    pc = report["per_class"]
    for c in range(C):
        lines.append(
            f"{names[c].ljust(w)} {_fmt(pc['precision'][c])} {_fmt(pc['recall'][c])} {_fmt(pc['f1'][c])} "
            f"{_fmt(pc['iou'][c])} {report['support'][c]:>10d}"
        )
    absent = report.get("absent_classes") or []
    if absent:
        lines.append("absent from target (recall undefined, left out of macro means where undefined): "
                     + ", ".join(names[c] for c in absent))
    lines.append("'-' = undefined (zero denominator)")
    return "\n".join(lines)
