"""Shared evaluator for classification and segmentation: one confusion matrix, many metrics.

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
excluded). Empty-target rule: an
empty target with an empty prediction scores 1, an empty target with a non-empty prediction scores 0
(this follows from the formula; the 0/0 case is defined as 1). ``sample_dice.mean`` is the mean over
all (sample, class) pairs. Each value is rounded to a multiple of ``2**-32`` before it is added to an
int64 accumulator (error <= 1.2e-10 per value), so the result is exact integer arithmetic and does
not depend on batch split, update order, :meth:`Evaluator.merge` or ``all_reduce``.

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

Inputs
======
``target`` holds class indices (integer or bool dtype): ``[N]`` for classification,
``[N, *spatial]`` (any number of spatial dims: 1D, 2D, 3D, ...) for segmentation.
``preds`` is decided by dtype, never by value:

* integer/bool dtype -> class indices, same shape as ``target``;
* floating dtype with a class dimension -> ``[N, C]`` / ``[N, C, *spatial]`` scores, logits or
  probabilities; the predicted class is the argmax over dim 1 (first maximum on ties, like
  ``torch.argmax``); ``threshold`` is not used;
* floating dtype without class dimension, only for ``num_classes == 2`` -> one positive-class map
  ``[N, *spatial]`` (same shape as ``target``) or ``[N, 1, *spatial]``. Class 1 is predicted where
  ``probability >= threshold``. ``threshold`` is *always a probability*. With
  ``scores="probability"`` (default) values must lie in ``[0, 1]`` (else ``ValueError``); with
  ``scores="logit"`` the values are logits and the test is ``sigmoid(x) >= threshold``, evaluated
  as ``x >= log(threshold / (1 - threshold))``. ``>=`` matches the threshold convention of
  :func:`precision_recall_curve` / :func:`threshold_for_recall`.

State
=====
``Evaluator.confusion`` (int64 ``[C, C]``) and ``Evaluator.sample_state`` (int64 ``[3]``: number of
samples, fixed-point sum of per-sample Dice, number of per-sample Dice terms). Memory is O(C^2) and
independent of the data size, and results are bit-identical for any batch split or update order.
Data-parallel workers combine state with :meth:`Evaluator.merge` or by ``all_reduce``-ing
:meth:`Evaluator.state_tensors` (see :meth:`Evaluator.all_reduce`).

The only state that grows is the optional score store (``keep_scores=True``, two-class tasks with
floating preds): it keeps every counted element's positive-class probability (float32) and target
(uint8), 5 bytes per sample/pixel, for :func:`precision_recall_curve` and :func:`average_precision`.
It is merged by :meth:`Evaluator.merge` but not by :meth:`Evaluator.all_reduce`.
"""

from __future__ import annotations

import json
import math
from typing import Any, Sequence

import numpy as np
import torch

__all__ = [
    "Evaluator",
    "precision_recall_curve",
    "average_precision",
    "threshold_for_recall",
    "format_report",
    "report_to_json",
    "jsonable",
]

TASKS = ("classification", "segmentation")
SCORE_KINDS = ("probability", "logit")
DICE_FIXED_POINT = 2**32  # per-sample Dice is accumulated as round(dice * 2**32) in int64
_MANUAL_ARGMAX_MAX_CLASSES = 32  # unrolled argmax beats torch.max(dim=1) up to about here

_EMPTY_RULE = "empty target & empty prediction -> 1; empty target & non-empty prediction -> 0"


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")" if t.dim() != 1 else f"({t.shape[0]},)"


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    try:
        return torch.as_tensor(np.asarray(x))
    except Exception as exc:  # pragma: no cover - message only
        raise ValueError(f"{name} must be a tensor or array-like, got {type(x).__name__}") from exc


def _argmax_dim1(preds: torch.Tensor) -> torch.Tensor:
    """Argmax over dim 1 (first maximum on ties). NaNs must have been rejected before.

    ``torch.argmax(dim=1)`` on CPU is very slow for ``[N, C, *spatial]`` layouts (a strided
    reduction); for small C an unrolled running maximum over the C class slices is ~10x faster.
    The running index only grows (class c > every earlier index), so ``maximum(idx, c * (x_c > best))``
    is the exact "strictly greater" update, i.e. the first maximum wins like torch.argmax.
    """
    num = preds.shape[1]
    if num > _MANUAL_ARGMAX_MAX_CLASSES:
        return torch.max(preds, dim=1).indices
    best = preds[:, 0]
    idx = None
    for c in range(1, num):
        xc = preds[:, c]
        gt = torch.gt(xc, best).view(torch.uint8)  # bool -> uint8 reinterpretation, no copy
        idx = gt if idx is None else torch.maximum(idx, gt.mul_(c))
        if c < num - 1:
            best = torch.maximum(best, xc)
    return idx  # uint8


def _index_dtype(nbins: int) -> torch.dtype:
    """Narrowest integer dtype that bincount accepts and that holds 0 .. nbins-1."""
    for dt in (torch.uint8, torch.int16, torch.int32):
        if nbins - 1 <= torch.iinfo(dt).max:
            return dt
    return torch.int64


def _logit(p: float) -> float:
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p / (1.0 - p))


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    v = values[~np.isnan(values)]
    return float(v.mean()) if v.size else math.nan


class Evaluator:
    """Accumulate a confusion matrix over batches and report classification/segmentation metrics.

    Args:
        task: ``"classification"`` (target ``[N]``) or ``"segmentation"`` (target ``[N, *spatial]``).
        num_classes: number of classes C >= 2; class 0 is the background for segmentation.
        ignore_index: target value whose elements are not counted (may be inside or outside
            ``[0, C)``, e.g. 255 or -100); ``None`` counts everything.
        threshold: probability threshold for two-class single positive-class maps (see module doc).
        scores: ``"probability"`` or ``"logit"``: what a floating single map holds, and how the
            positive-class score is derived for ``keep_scores`` (softmax over the class dim for
            ``"logit"``). Argmax over a class dimension does not depend on it.
        class_names: optional C names used in the report and :func:`format_report`.
        keep_scores: two-class only: keep every counted positive-class probability and target
            (memory grows by 5 bytes per element) so that ``compute()`` reports
            ``average_precision`` and :meth:`precision_recall_curve` works. Requires floating preds.
    """

    def __init__(
        self,
        task: str,
        num_classes: int,
        ignore_index: int | None = None,
        threshold: float = 0.5,
        *,
        scores: str = "probability",
        class_names: Sequence[str] | None = None,
        keep_scores: bool = False,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if ignore_index is not None and (
            isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))
        ):
            raise ValueError(f"ignore_index must be an int or None, got {ignore_index!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a probability in [0, 1], got {threshold!r}")
        if scores not in SCORE_KINDS:
            raise ValueError(f"scores must be one of {SCORE_KINDS}, got {scores!r}")
        if class_names is not None:
            class_names = [str(n) for n in class_names]
            if len(class_names) != num_classes:
                raise ValueError(
                    f"class_names has {len(class_names)} names but num_classes is {num_classes}"
                )
        if keep_scores and num_classes != 2:
            raise ValueError(f"keep_scores=True needs num_classes == 2, got num_classes={num_classes}")
        self.task = task
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.threshold = float(threshold)
        self.scores_kind = scores
        self.class_names = class_names
        self.keep_scores = bool(keep_scores)
        with torch.inference_mode(False):  # normal tensors: updatable inside and outside inference mode
            self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)
            # [num_samples, per-sample-dice fixed-point sum, per-sample-dice count]
            self.sample_state = torch.zeros(3, dtype=torch.int64)
        self._scores: list[torch.Tensor] = []
        self._score_targets: list[torch.Tensor] = []

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self.confusion.zero_()
        self.sample_state.zero_()
        self._scores.clear()
        self._score_targets.clear()

    def state_tensors(self) -> list[torch.Tensor]:
        """The int64 tensors holding the whole (non-score) state; sum them across workers."""
        return [self.confusion, self.sample_state]

    def _config(self) -> tuple:
        return (self.task, self.num_classes, self.ignore_index, self.threshold, self.scores_kind, self.keep_scores)

    def merge(self, other: "Evaluator") -> "Evaluator":
        """Add ``other``'s state into this evaluator (in place) and return ``self``."""
        if not isinstance(other, Evaluator):
            raise ValueError(f"can only merge another Evaluator, got {type(other).__name__}")
        if other._config() != self._config():
            raise ValueError(
                "cannot merge evaluators with different settings: "
                f"(task, num_classes, ignore_index, threshold, scores, keep_scores) {self._config()} vs {other._config()}"
            )
        self.confusion += other.confusion
        self.sample_state += other.sample_state
        self._scores.extend(other._scores)
        self._score_targets.extend(other._score_targets)
        return self

    def all_reduce(self, group: Any = None) -> "Evaluator":
        """Sum :meth:`state_tensors` over a ``torch.distributed`` group, in place (kept scores are not)."""
        import torch.distributed as dist

        device = torch.device("cpu")
        if dist.get_backend(group) == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
        for t in self.state_tensors():
            buf = t.to(device)
            dist.all_reduce(buf, op=dist.ReduceOp.SUM, group=group)
            t.copy_(buf.cpu())
        return self

    # ----------------------------------------------------------------- update
    def _expected(self) -> str:
        if self.task == "classification":
            return "expected preds [N, C] scores or [N] (indices, or a binary positive-class map) matching target [N]"
        return "expected preds [N, C, *spatial] or [N, *spatial] matching target [N, *spatial]"

    @torch.no_grad()
    def update(self, preds: Any, target: Any) -> None:
        """Count one batch. See the module docstring for accepted shapes and dtypes."""
        preds = _as_tensor(preds, "preds")
        target = _as_tensor(target, "target")
        C = self.num_classes
        seg = self.task == "segmentation"

        # ---- target: dtype and rank
        if target.dtype == torch.bool:
            target = target.view(torch.uint8)
        if target.is_floating_point() or target.is_complex():
            raise ValueError(f"target must hold integer class indices, got dtype {target.dtype}")
        if seg and target.dim() < 2:
            raise ValueError(
                f"target has shape {_shape(target)} but segmentation expects target [N, *spatial] "
                "(at least 2 dims)"
            )
        if not seg and target.dim() != 1:
            raise ValueError(f"target has shape {_shape(target)} but classification expects target [N]")

        # ---- preds: decide the input kind from dtype and shape
        if preds.is_complex():
            raise ValueError(f"preds must be real, got dtype {preds.dtype}")
        if preds.dtype == torch.bool:
            preds = preds.view(torch.uint8)
        if not preds.is_floating_point():
            kind = "index"
            if preds.shape != target.shape:
                raise ValueError(
                    f"preds has shape {_shape(preds)} but target has shape {_shape(target)}; integer preds are "
                    f"class indices and must have the target's shape; {self._expected()}"
                )
        elif preds.dim() == target.dim() + 1:
            if preds.shape[0] != target.shape[0] or preds.shape[2:] != target.shape[1:]:
                raise ValueError(
                    f"preds has shape {_shape(preds)} but target has shape {_shape(target)}; {self._expected()}"
                )
            if preds.shape[1] == C:
                kind = "classdim"
            elif preds.shape[1] == 1 and C == 2:
                kind = "single"
                preds = preds.squeeze(1)
            else:
                raise ValueError(
                    f"preds has shape {_shape(preds)} with class dimension (dim 1) of size {preds.shape[1]} but "
                    f"num_classes is {C}; expected size {C}" + (" (or 1 for a positive-class map)" if C == 2 else "")
                )
        elif preds.shape == target.shape:
            if C != 2:
                raise ValueError(
                    f"preds has shape {_shape(preds)} and floating dtype {preds.dtype} but no class dimension; "
                    f"a single score map is only allowed for num_classes == 2 (got {C}); pass scores "
                    f"[N, {C}{', *spatial' if seg else ''}] or integer class indices"
                )
            kind = "single"
        else:
            raise ValueError(
                f"preds has shape {_shape(preds)} but target has shape {_shape(target)}; {self._expected()}"
            )
        if self.keep_scores and kind == "index":
            raise ValueError(
                "keep_scores=True needs floating scores/probabilities in preds, got integer class indices "
                f"(dtype {preds.dtype})"
            )

        N = target.shape[0]
        if target.numel() == 0:
            self.sample_state[0] += N
            if seg and N:
                self._add_sample_dice(torch.zeros(N, C, C, dtype=torch.int64))
            return

        # ---- target range check: one aminmax pass decides the fast path
        lo, hi = (int(v) for v in torch.aminmax(target))
        ign = self.ignore_index
        mode = "plain"  # plain | clamp (ignored elements pushed to sentinel bins) | mask
        ign_mask = None
        if lo < 0 or hi >= C:
            bad = [v for v in (lo, hi) if (v < 0 or v >= C) and v != ign]
            if bad or (lo < 0 and hi >= C):
                v = bad[0] if bad else lo
                raise ValueError(
                    f"target holds label {v} outside [0, {C})"
                    + (f" (ignore_index={ign})" if ign is not None else " (ignore_index=None)")
                )
            # exactly one extreme is out of range and equals ignore_index; make sure no other
            # out-of-range value hides between: count(out of range) must equal count(== ignore)
            out_of_range = (target >= C) if ign >= C else (target < 0)
            n_out = int(out_of_range.sum())
            n_ign = int((target == ign).sum())
            if n_out != n_ign:
                vals = torch.unique(target[out_of_range & (target != ign)])[:5].tolist()
                raise ValueError(f"target holds labels {vals} outside [0, {C}) (ignore_index={ign})")
            mode = "clamp"
        elif ign is not None and lo <= ign <= hi:  # ignore_index inside [0, C) and possibly present
            ign_mask = target == ign
            if bool(ign_mask.any()):
                mode = "mask"
            else:
                ign_mask = None

        # ---- predicted class indices p (uint8 / bool-as-uint8 / integer)
        pos_scores = None
        if kind == "index":
            p = preds
            plo, phi = (int(v) for v in torch.aminmax(p))
            if plo < 0 or phi >= C:
                # out-of-range predictions are tolerated only where the target is ignored
                tmask = ign_mask if mode == "mask" else (target == ign if mode == "clamp" else None)
                bad_p = (p < 0) | (p >= C)
                if tmask is not None:
                    bad_p &= ~tmask
                if bool(bad_p.any()):
                    v = int(p[bad_p][0])
                    raise ValueError(f"preds holds class index {v} outside [0, {C})")
                p = p.masked_fill(tmask, 0)
        elif kind == "classdim":
            s = preds.sum()
            if torch.isnan(s) and bool(torch.isnan(preds).any()):
                raise ValueError(f"preds (shape {_shape(preds)}) contains NaN")
            p = _argmax_dim1(preds)
            if self.keep_scores:
                if self.scores_kind == "logit":
                    pos_scores = torch.softmax(preds.float(), dim=1)[:, 1]
                else:
                    pos_scores = preds[:, 1]
                    self._check_probability(pos_scores, "preds[:, 1]")
        else:  # single positive-class map, num_classes == 2
            if self.scores_kind == "probability":
                self._check_probability(preds, "preds")
                p = torch.ge(preds, self.threshold)
            else:
                mn, mx = torch.aminmax(preds)
                if torch.isnan(mn) or torch.isnan(mx):
                    raise ValueError(f"preds (shape {_shape(preds)}) contains NaN")
                p = torch.ge(preds, _logit(self.threshold))
            p = p.view(torch.uint8)
            if self.keep_scores:
                pos_scores = torch.sigmoid(preds.float()) if self.scores_kind == "logit" else preds

        # ---- one bincount over (sample, target, pred)
        CC = C * C
        block = CC + 2  # per-sample bins: [neg. sentinel, C*C confusion counts, pos. sentinel]
        nbins = N * block if seg else (CC if mode == "plain" else block)
        if mode == "plain":
            # every index is valid: compute p + C*t directly in the narrowest dtype holding all bins;
            # the passes are memory-bound, so uint8 indices make add/offset/bincount cheap. Both
            # operands are cast first: a mixed-dtype add takes torch's slow dynamic-casting path.
            idx_dtype = _index_dtype(nbins)
        else:
            # raw values can be far out of range (C * 255, -100 * C): >= int32, then clamp/mask
            idx_dtype = torch.promote_types(torch.promote_types(p.dtype, target.dtype), torch.int32)
            idx_dtype = torch.promote_types(idx_dtype, _index_dtype(nbins))
        idx = torch.add(p.to(idx_dtype), target.to(idx_dtype), alpha=C).contiguous()  # no-op unless strided
        if mode == "clamp":
            idx.clamp_(-1, CC)  # every ignored element -> -1 (negative ignore) or C*C (ignore >= C)
        elif mode == "mask":
            idx.masked_fill_(ign_mask, CC)
        if seg:
            # one bincount with a per-sample offset: sample n owns bins [n*block, (n+1)*block)
            # (a single call: many small parallel ops suffer badly when cores are shared)
            first = 1 if mode != "plain" else 0
            off = torch.arange(first, N * block, block, dtype=idx_dtype, device=idx.device).view(N, 1)
            if N > 1 or first:
                idx.view(N, -1).add_(off)
            counts = torch.bincount(idx.view(-1), minlength=nbins).view(N, block)[:, first : first + CC]
            per_sample = counts.reshape(N, C, C).to("cpu", torch.int64)
            self.confusion += per_sample.sum(0)
            self._add_sample_dice(per_sample)
        else:
            if mode == "plain":
                counts = torch.bincount(idx, minlength=CC)
            else:
                counts = torch.bincount(idx.add_(1), minlength=block)[1 : CC + 1]
            self.confusion += counts.view(C, C).to("cpu", torch.int64)
        self.sample_state[0] += N

        if pos_scores is not None:
            keep_t = target
            if mode != "plain":
                keep = (target != ign) if ign_mask is None else ~ign_mask
                pos_scores, keep_t = pos_scores[keep], target[keep]
            self._scores.append(pos_scores.reshape(-1).to("cpu", torch.float32))
            self._score_targets.append(keep_t.reshape(-1).to("cpu", torch.uint8))

    @staticmethod
    def _check_probability(x: torch.Tensor, name: str) -> None:
        mn, mx = (float(v) for v in torch.aminmax(x))
        if math.isnan(mn) or math.isnan(mx):
            raise ValueError(f"{name} (shape {_shape(x)}) contains NaN")
        if mn < 0.0 or mx > 1.0:
            raise ValueError(
                f"{name} holds values in [{mn:.4g}, {mx:.4g}], outside [0, 1], but scores='probability'; "
                "pass scores='logit' for logits"
            )

    def _add_sample_dice(self, per_sample: torch.Tensor) -> None:
        """per_sample: int64 [N, C, C] confusion per sample -> fixed-point Dice of classes 1..C-1."""
        tp = per_sample.diagonal(dim1=1, dim2=2)[:, 1:].double()
        den = (per_sample.sum(2) + per_sample.sum(1))[:, 1:].double()  # 2TP + FP + FN
        dice = torch.where(den > 0, 2.0 * tp / den.clamp_min(1.0), torch.ones_like(den))
        q = torch.round(dice * DICE_FIXED_POINT).to(torch.int64)
        self.sample_state[1] += q.sum()
        self.sample_state[2] += q.numel()

    # ----------------------------------------------------------------- scores
    def scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Kept positive-class probabilities (float32) and targets (int64), in update order."""
        if not self.keep_scores:
            raise ValueError("no scores kept: create the Evaluator with keep_scores=True")
        if not self._scores:
            return torch.zeros(0), torch.zeros(0, dtype=torch.int64)
        return torch.cat(self._scores), torch.cat(self._score_targets).long()

    def precision_recall_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return precision_recall_curve(*self.scores())

    # ---------------------------------------------------------------- compute
    def compute(self) -> dict:
        """Return the report dict (plain Python types; NaN marks undefined values)."""
        C = self.num_classes
        M = self.confusion.numpy().astype(np.int64)
        tp = np.diag(M).astype(np.float64)
        row = M.sum(1).astype(np.float64)  # support (true count)
        col = M.sum(0).astype(np.float64)  # predicted count
        fp, fn = col - tp, row - tp
        total = int(M.sum())
        precision = _div(tp, tp + fp)
        recall = _div(tp, tp + fn)
        f1 = _div(2 * tp, 2 * tp + fp + fn)
        iou = _div(tp, tp + fp + fn)
        dice_classes = list(range(1, C)) if self.task == "segmentation" else list(range(C))
        per_class = {
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "iou": iou.tolist(),
            "dice": f1.tolist(),
        }
        report: dict[str, Any] = {
            "task": self.task,
            "num_classes": C,
            "class_names": list(self.class_names) if self.class_names is not None else None,
            "ignore_index": self.ignore_index,
            "num_samples": int(self.sample_state[0]),
            "total": total,
            "accuracy": float(np.trace(M) / total) if total else math.nan,
            "precision": _nanmean(precision),
            "recall": _nanmean(recall),
            "f1": _nanmean(f1),
            "miou": _nanmean(iou),
            "dice": _nanmean(f1[dice_classes]),
            "dice_classes": dice_classes,
            "per_class": per_class,
            "support": [int(v) for v in M.sum(1)],
            "absent_classes": [c for c in range(C) if row[c] == 0],
            "confusion_matrix": M.tolist(),
            "positive": None,
            "sample_dice": None,
            "average_precision": None,
        }
        if C == 2:
            report["positive"] = {
                "class": 1,
                "precision": float(precision[1]),
                "recall": float(recall[1]),
                "f1": float(f1[1]),
                "iou": float(iou[1]),
                "dice": float(f1[1]),
            }
        if self.task == "segmentation":
            qsum, count = int(self.sample_state[1]), int(self.sample_state[2])
            report["sample_dice"] = {
                "mean": qsum / DICE_FIXED_POINT / count if count else math.nan,
                "count": count,
                "classes": list(range(1, C)),
                "empty_rule": _EMPTY_RULE,
            }
        if self.keep_scores:
            s, t = self.scores()
            report["average_precision"] = average_precision(s, t) if s.numel() else math.nan
        return report


# --------------------------------------------------------------------------- PR curve / AP
def _binary_inputs(scores: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
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


# --------------------------------------------------------------------------- report helpers
def jsonable(obj: Any) -> Any:
    """Copy of a report with NaN/inf floats replaced by None (JSON null)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def report_to_json(report: dict, indent: int | None = None) -> str:
    """Strict JSON text of a report (NaN -> null)."""
    return json.dumps(jsonable(report), indent=indent, allow_nan=False)


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
