"""Binary-score curves: the precision-recall curve, average precision, the threshold for a recall.

Pure computation on a positive-class score per element and a 0/1 target (any shape, flattened;
numpy arrays, torch tensors or sequences). Class 1 is predicted where ``score >= threshold``, the
convention :class:`zoo.metrics.Evaluator` uses for a two-class probability map. The numbers follow
scikit-learn's ``precision_recall_curve`` and ``average_precision_score``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["precision_recall_curve", "average_precision", "threshold_for_recall"]


def _binary_inputs(scores: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flattened float64 ``(scores, target)``; ``ValueError`` on a length mismatch, empty input, NaN
    or non-real scores, or a target that is not 0/1."""
    s = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores)
    t = np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target)
    s, t = s.reshape(-1), t.reshape(-1)
    if s.shape != t.shape:
        raise ValueError(f"scores has {s.size} elements but target has {t.size}; expected equal lengths")
    if s.size == 0:
        raise ValueError("scores and target are empty")
    if not np.issubdtype(s.dtype, np.number) or np.issubdtype(s.dtype, np.complexfloating):
        raise ValueError(f"scores must be real numbers, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if np.isnan(s).any():
        raise ValueError("scores contains NaN")
    if t.dtype == bool:
        t = t.astype(np.int64)
    if not np.isin(t, (0, 1)).all():
        raise ValueError(f"target must hold binary labels 0/1, got values {np.unique(t)[:5].tolist()}")
    return s, t.astype(np.float64)


def _curve_desc(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tps, fps, thresholds) at each distinct score, thresholds decreasing; predicted = score >= thr."""
    order = np.argsort(s, kind="mergesort")[::-1]
    s, t = s[order], t[order]
    last = np.r_[np.where(np.diff(s))[0], s.size - 1]
    tps = np.cumsum(t)[last]
    fps = 1 + last - tps
    return tps, fps, s[last]


def precision_recall_curve(scores: Any, target: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall pairs at every distinct score threshold (scikit-learn's conventions).

    Class 1 is predicted where ``score >= threshold``. Returns ``(precision, recall, thresholds)``
    as float64 arrays: thresholds increasing; precision/recall have one more element, ending with
    precision 1 and recall 0. With no positive target recall is set to 1 (as scikit-learn does).
    """
    s, t = _binary_inputs(scores, target)
    tps, fps, thr = _curve_desc(s, t)
    precision = tps / (tps + fps)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps)
    return (
        np.concatenate([precision[::-1], [1.0]]),
        np.concatenate([recall[::-1], [0.0]]),
        thr[::-1].copy(),
    )


def average_precision(scores: Any, target: Any) -> float:
    """Step-wise average precision ``sum_n (R_n - R_{n-1}) P_n`` (scikit-learn's definition,
    no interpolation). NaN when the target has no positive (recall undefined)."""
    s, t = _binary_inputs(scores, target)
    if not t.any():
        return math.nan
    precision, recall, _ = precision_recall_curve(s, t)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def threshold_for_recall(scores: Any, target: Any, target_recall: float) -> float:
    """Highest score threshold ``t`` with ``recall(score >= t) >= target_recall``.

    For recall-first use ("find every poster, some false alarms allowed"). ``target_recall`` in
    ``(0, 1]``; raises ``ValueError`` when the target has no positive.
    """
    if isinstance(target_recall, bool) or not isinstance(target_recall, (int, float)) or not 0.0 < target_recall <= 1.0:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall!r}")
    s, t = _binary_inputs(scores, target)
    tps, _, thr = _curve_desc(s, t)
    if tps[-1] == 0:
        raise ValueError("target has no positive sample; recall is undefined")
    recall = tps / tps[-1]
    i = int(np.argmax(recall >= target_recall))  # recall reaches 1 at the last threshold
    return float(thr[i])
