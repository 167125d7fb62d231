"""Evaluation plots (PNG). matplotlib is imported lazily inside each function, so ``import zoo.plots``
is cheap. Figures are built with ``matplotlib.figure.Figure`` and rendered by the Agg canvas: no pyplot,
no global backend switch, no open-figure bookkeeping.

Every writer writes atomically (a temporary file in the target directory, then ``os.replace``) and
returns the path as a ``str``.
"""

from __future__ import annotations

import io
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from zoo.files import atomic_write_bytes

__all__ = [
    "plot_confusion_matrix",
    "plot_precision_recall",
    "plot_segmentation_overlays",
    "plot_training_curves",
]

TARGET_COLOR = "#2ca02c"  # green
PRED_COLOR = "#d62728"  # red
_ANNOTATE_MAX_CLASSES = 12


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _save(fig: Any, path: Any, dpi: int = 120) -> str:
    """Render ``fig`` as PNG to ``path`` atomically (``zoo.files.atomic_write_bytes``)."""
    path = os.fspath(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


# --------------------------------------------------------------------------- confusion matrix
def plot_confusion_matrix(
    report_or_matrix: Mapping | Any,
    path: Any,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
) -> str:
    """Row-normalised confusion matrix (rows = true class, so the diagonal is recall).

    ``report_or_matrix`` is a report from :meth:`zoo.metrics.Evaluator.compute` (its
    ``confusion_matrix`` and ``class_names`` are used) or a ``C x C`` count matrix. Cells show the row
    fraction and, for C <= 12, the raw count.
    """
    if isinstance(report_or_matrix, Mapping):
        matrix = report_or_matrix["confusion_matrix"]
        class_names = class_names or report_or_matrix.get("class_names")
    else:
        matrix = report_or_matrix
    M = _to_numpy(matrix).astype(np.int64)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"confusion matrix must be square C x C, got shape {M.shape}")
    C = M.shape[0]
    names = [str(n) for n in class_names] if class_names is not None else [str(c) for c in range(C)]
    if len(names) != C:
        raise ValueError(f"class_names has {len(names)} names but the matrix is {C} x {C}")
    rows = M.sum(1, keepdims=True)
    norm = np.divide(M, rows, out=np.zeros(M.shape, float), where=rows > 0)

    side = min(12.0, 2.5 + 0.6 * C)
    fig = _figure(side + 1.2, side)
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(C), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right" if max(map(len, names)) > 3 else "center")
    ax.set_yticks(range(C), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(M.sum())
    ax.set_title(title or f"Confusion matrix (row-normalised, n={total:,})")
    if C <= _ANNOTATE_MAX_CLASSES:
        fs = 10 if C <= 6 else 8
        for i in range(C):
            for j in range(C):
                color = "white" if norm[i, j] > 0.55 else "black"
                text = f"{norm[i, j]:.2f}\n({M[i, j]:,})" if rows[i, 0] else "—"
                ax.text(j, i, text, ha="center", va="center", color=color, fontsize=fs)
    return _save(fig, path)


# --------------------------------------------------------------------------- precision-recall
def plot_precision_recall(
    scores: Any,
    target: Any,
    path: Any,
    target_recall: float | None = None,
    title: str | None = None,
) -> str:
    """Precision-recall curve (step-wise, as integrated by average precision) with AP in the legend.

    If ``target_recall`` is given, the point picked by
    :func:`zoo.curves.threshold_for_recall` is marked with its threshold.
    """
    from zoo.curves import average_precision, precision_recall_curve, threshold_for_recall  # imports torch

    s, t = _to_numpy(scores).reshape(-1), _to_numpy(target).reshape(-1)
    precision, recall, _ = precision_recall_curve(s, t)
    ap = average_precision(s, t)
    prevalence = float(np.mean(t == 1))

    fig = _figure(5.6, 4.6)
    ax = fig.subplots()
    ax.step(recall, precision, where="post", color="#1f77b4", lw=2, label=f"PR curve (AP = {ap:.3f})")
    ax.axhline(prevalence, color="gray", ls="--", lw=1, label=f"chance (prevalence {prevalence:.3f})")
    if target_recall is not None:
        thr = threshold_for_recall(s, t, target_recall)
        pred = s >= thr
        r_at = float(np.sum(pred & (t == 1)) / max(1, np.sum(t == 1)))
        p_at = float(np.sum(pred & (t == 1)) / max(1, np.sum(pred)))
        ax.plot([r_at], [p_at], "o", color=PRED_COLOR, ms=7,
                label=f"recall ≥ {target_recall:g}: thr {thr:.3g} (P {p_at:.2f}, R {r_at:.2f})")
    ax.set_xlim(0.0, 1.02)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title or f"Precision-recall (n={s.size:,}, positives={int(np.sum(t == 1)):,})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------- segmentation overlays
def _pred_indices(preds: np.ndarray, target_ndim: int) -> np.ndarray:
    if np.issubdtype(preds.dtype, np.floating):
        if preds.ndim == target_ndim + 1:
            if preds.shape[1] == 1:
                return (preds[:, 0] >= 0.5).astype(np.int64)
            return preds.argmax(1)
        return (preds >= 0.5).astype(np.int64)
    return preds.astype(np.int64)


def plot_segmentation_overlays(
    images: Any,
    targets: Any,
    preds: Any,
    path: Any,
    max_items: int = 4,
    ignore_index: int | None = None,
    title: str | None = None,
) -> str:
    """Input slice in gray with target (green) and prediction (red) outlines of each foreground class.

    ``images`` ``[N, H, W]`` / ``[N, D, H, W]`` (a channel dim of size 1 at dim 1 is dropped; for more
    channels the first is shown); ``targets`` class indices of the same spatial shape; ``preds``
    class indices, ``[N, C, ...]`` scores (argmax) or a positive-class probability map (>= 0.5).
    For 3D volumes the slice (along the first spatial axis) with the most target foreground is shown,
    or the middle slice if the target is empty.
    """
    tgt = _to_numpy(targets).astype(np.int64)
    img = _to_numpy(images).astype(np.float64)
    prd = _pred_indices(_to_numpy(preds), tgt.ndim)
    if img.ndim == tgt.ndim + 1:
        img = img[:, 0]
    if tgt.ndim not in (3, 4) or img.shape != tgt.shape or prd.shape != tgt.shape:
        raise ValueError(
            f"expected images/targets/preds [N, H, W] or [N, D, H, W] of one shape, got images {img.shape}, "
            f"targets {tgt.shape}, preds {prd.shape}"
        )
    if max_items < 1:
        raise ValueError(f"max_items must be >= 1, got {max_items}")
    k = min(tgt.shape[0], max_items)
    if k == 0:
        raise ValueError("no items to plot (N == 0)")
    classes = sorted((set(np.unique(tgt[:k]).tolist()) | set(np.unique(prd[:k]).tolist())) - {0, ignore_index})

    from matplotlib.lines import Line2D

    fig = _figure(3.2 * k, 3.6)
    axes = np.atleast_1d(fig.subplots(1, k))
    for i in range(k):
        im, t, p = img[i], tgt[i], prd[i]
        label = f"#{i}"
        if t.ndim == 3:
            fg = ((t > 0) & (t != ignore_index)).reshape(t.shape[0], -1).sum(1)
            z = int(fg.argmax()) if fg.max() > 0 else t.shape[0] // 2
            im, t, p = im[z], t[z], p[z]
            label += f" slice {z}"
        ax = axes[i]
        lo, hi = np.percentile(im, [1, 99]) if im.size else (0, 1)
        ax.imshow(im, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        valid = t != ignore_index if ignore_index is not None else np.ones(t.shape, bool)
        inter = den = 0
        for c in classes:
            for mask, color, ls in ((t == c, TARGET_COLOR, "-"), ((p == c) & valid, PRED_COLOR, "--")):
                if mask.any() and not mask.all():
                    ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=1.6, linestyles=ls)
            inter += int(np.sum((t == c) & (p == c) & valid))
            den += int(np.sum((t == c) & valid) + np.sum((p == c) & valid))
        dice = 1.0 if den == 0 else 2 * inter / den
        ax.set_title(f"{label}  dice {dice:.2f}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Line2D([], [], color=TARGET_COLOR, lw=2, label="target"),
               Line2D([], [], color=PRED_COLOR, lw=2, ls="--", label="prediction")]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


# --------------------------------------------------------------------------- training curves
def _series(records: Sequence[Mapping], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, rec in enumerate(records):
        v = rec.get(key)
        if v is None:
            continue
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            e = rec.get("epoch")
            xs.append(float(e) if e is not None else float(i + 1))
            ys.append(v)
    return xs, ys


def plot_training_curves(records: Sequence[Mapping], path: Any, title: str | None = None) -> str:
    """Two panels (loss, accuracy) of per-epoch records with keys ``epoch``, ``train_loss``,
    ``val_loss``, ``train_accuracy``, ``val_accuracy``; any may be missing or None (skipped).
    A missing ``epoch`` is taken as the 1-based record position. Best epochs are marked."""
    from matplotlib.ticker import MaxNLocator

    records = list(records)
    fig = _figure(10.0, 4.0)
    axes = fig.subplots(1, 2)
    for ax, (metric, best_fn) in zip(axes, (("loss", min), ("accuracy", max))):
        drawn = False
        epochs: set[float] = set()
        for split, color in (("train", "#1f77b4"), ("val", "#ff7f0e")):
            xs, ys = _series(records, f"{split}_{metric}")
            if not xs:
                continue
            drawn = True
            epochs.update(xs)
            ax.plot(xs, ys, "-o", color=color, ms=3, lw=1.6, label=f"{split} {metric}")
            if split == "val":
                b = ys.index(best_fn(ys))
                ax.plot([xs[b]], [ys[b]], "*", color=color, ms=12, label=f"best val: {ys[b]:.4g} (epoch {xs[b]:g})")
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=9)
            if len(epochs) == 1:  # a single epoch: give the point some room
                (e,) = epochs
                ax.set_xlim(e - 1, e + 1)
            if all(float(e).is_integer() for e in epochs):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            ax.text(0.5, 0.5, f"no {metric} recorded", ha="center", va="center", transform=ax.transAxes, color="gray")
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return _save(fig, path)


# ------------------------------------------------------------------------------------ LUNA16 analysis


def plot_froc(fps_per_scan: Sequence[float], sensitivity: Sequence[float], path: Any, *,
              points: Mapping[float, float] | None = None, title: str = "") -> str:
    """A FROC curve (sensitivity against false positives per scan, log x axis) as a PNG; ``points``
    marks the LUNA16 operating points ``{fp_rate: sensitivity}``."""
    fig = _figure(6, 4.5)
    ax = fig.add_subplot()
    ax.plot(np.maximum(_to_numpy(fps_per_scan), 1e-3), _to_numpy(sensitivity), drawstyle="steps-post", label="FROC")
    if points:
        ax.scatter(list(points), list(points.values()), color="C3", zorder=3, label="competition points (1/8 ... 8)")
    ax.set_xscale("log")
    ax.set_xlim(1 / 16, 16)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positives per scan")
    ax.set_ylabel("sensitivity (nodules found)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_detection(volume: Any, mask: Any, center_irc: Sequence[float], path: Any, *, title: str = "", half_size: int = 24,
                   spacing_irc: Sequence[float] = (1.0, 1.0, 1.0)) -> str:
    """Three slices (axial, coronal, sagittal) through ``center_irc`` of ``volume`` ``[D, H, W]`` HU, with
    the outline of ``mask`` ``[D, H, W]`` (the segmentation), as a PNG; ``spacing_irc`` (mm) keeps the
    slices' proportions true."""
    volume, mask = _to_numpy(volume), _to_numpy(mask).astype(bool)
    c = [int(round(v)) for v in center_irc]
    fig = _figure(9, 3.4)
    axes = fig.subplots(1, 3)
    si, sr, sc = (float(v) for v in spacing_irc)
    views = [("axial (row, column)", volume[c[0]], mask[c[0]], (c[1], c[2]), sr / sc),
             ("coronal (index, column)", volume[:, c[1]], mask[:, c[1]], (c[0], c[2]), si / sc),
             ("sagittal (index, row)", volume[:, :, c[2]], mask[:, :, c[2]], (c[0], c[1]), si / sr)]
    for ax, (name, image, outline, (r, q), aspect) in zip(axes, views):
        r0, q0 = max(r - half_size, 0), max(q - half_size, 0)
        ax.imshow(image[r0 : r + half_size, q0 : q + half_size], cmap="gray", vmin=-1000, vmax=400, interpolation="nearest",
                  aspect=aspect)
        if outline[r0 : r + half_size, q0 : q + half_size].any():
            ax.contour(outline[r0 : r + half_size, q0 : q + half_size], levels=[0.5], colors="C1", linewidths=1)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
