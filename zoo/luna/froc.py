"""The LUNA16 detection rules: which detection hits which nodule, the FROC curve and the CPM score.

A detection hits a nodule when its centre lies within the nodule's radius (``diameter_mm / 2``, patient
millimetres). The FROC curve plots sensitivity against false positives per scan as the nodule
probability threshold falls; the competition's CPM score averages the sensitivity at
:data:`FROC_FP_RATES` false positives per scan.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from zoo.errors import DataError

__all__ = ["FROC_FP_RATES", "match_detections", "froc_curve", "competition_score"]

#: False positives per scan at which the LUNA16 competition averages the sensitivity (its CPM score).
FROC_FP_RATES = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def match_detections(detections: Sequence[Any], nodules: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The LUNA16 hit rule: a detection hits a nodule when its centre lies within the nodule's radius.

    ``detections``: with ``center_xyz`` (mm) and ``nodule_probability`` (:class:`zoo.luna.analysis.Detection`);
    ``nodules``: annotations with ``center_xyz`` (mm) and ``diameter_mm``. Returns ``(hit_nodule
    int64 [len(detections)]`` (the index of the nodule hit, the nearest when several, -1 for none),
    ``best_score float64 [len(nodules)]`` (the highest nodule probability among the detections hitting
    each nodule, -inf when none does)).
    """
    hit = np.full(len(detections), -1, dtype=np.int64)
    best = np.full(len(nodules), -np.inf)
    if not len(detections) or not len(nodules):
        return hit, best
    centres = np.asarray([d.center_xyz for d in detections], dtype=np.float64)
    nodule_xyz = np.asarray([n.center_xyz for n in nodules], dtype=np.float64)
    radius = np.asarray([n.diameter_mm for n in nodules], dtype=np.float64) / 2.0
    distance = np.linalg.norm(centres[:, None, :] - nodule_xyz[None, :, :], axis=2)
    inside = distance <= radius[None, :]
    for k in np.flatnonzero(inside.any(axis=1)):
        j = int(np.argmin(np.where(inside[k], distance[k], np.inf)))
        hit[k] = j
        best[j] = max(best[j], detections[k].nodule_probability)
    return hit, best


def froc_curve(best_scores: np.ndarray, false_positive_scores: np.ndarray, n_scans: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fps_per_scan, sensitivity, thresholds)``, thresholds decreasing: at threshold ``t`` a nodule is
    found when its best hitting detection scores ``>= t``, and every non-hitting detection scoring ``>= t``
    is a false positive (detections that hit an already-found nodule are neither, as in LUNA16)."""
    if n_scans < 1:
        raise DataError("a FROC curve needs at least one scan")
    best_scores = np.asarray(best_scores, dtype=np.float64)
    false_positive_scores = np.asarray(false_positive_scores, dtype=np.float64)
    thresholds = np.unique(np.concatenate([best_scores[np.isfinite(best_scores)], false_positive_scores]))[::-1]
    n_nodules = max(len(best_scores), 1)
    sensitivity = np.array([(best_scores >= t).sum() / n_nodules for t in thresholds])
    fps = np.array([(false_positive_scores >= t).sum() / n_scans for t in thresholds])
    return fps, sensitivity, thresholds


def competition_score(fps: np.ndarray, sensitivity: np.ndarray, rates: Sequence[float] = FROC_FP_RATES) -> tuple[float, list[float]]:
    """The LUNA16 CPM: the mean sensitivity at ``rates`` false positives per scan, interpolated linearly
    on the FROC curve (at each false-positive rate the curve's best sensitivity; beyond its last point
    its final sensitivity; before its first point 0)."""
    if len(fps) == 0:
        return 0.0, [0.0] * len(rates)
    xs, first = np.unique(np.asarray(fps, dtype=np.float64), return_index=True)
    ys = np.maximum.reduceat(np.asarray(sensitivity, dtype=np.float64)[np.argsort(fps, kind="stable")], first)
    at = [float(np.interp(r, xs, ys, left=0.0, right=float(ys[-1]))) for r in rates]
    return float(np.mean(at)), at
