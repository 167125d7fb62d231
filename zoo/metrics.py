"""Shared evaluator for classification and segmentation: one confusion matrix, many metrics.

The numbers and the report are defined in :mod:`zoo.reports`.

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
  :mod:`zoo.curves` (:func:`~zoo.curves.precision_recall_curve`, :func:`~zoo.curves.threshold_for_recall`).

State
=====
``Evaluator.confusion`` (int64 ``[C, C]``) and ``Evaluator.sample_state`` (int64 ``[3]``: number of
samples, fixed-point sum of per-sample Dice, number of per-sample Dice terms). Memory is O(C^2) and
independent of the data size, and results are bit-identical for any batch split or update order.
Data-parallel workers combine state with :meth:`Evaluator.merge` or by ``all_reduce``-ing
:meth:`Evaluator.state_tensors` (see :meth:`Evaluator.all_reduce`).

The only state that grows is the optional score store (``keep_scores=True``, two-class tasks with
floating preds): it keeps every counted element's positive-class probability (float32) and target
(uint8), 5 bytes per sample/pixel, for :mod:`zoo.curves` (the precision-recall curve, average precision).
It is merged by :meth:`Evaluator.merge` but not by :meth:`Evaluator.all_reduce`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from zoo.confusion import argmax_dim1, confusion_counts
from zoo.curves import average_precision, precision_recall_curve
from zoo.reports import EMPTY_RULE, report_from_confusion

__all__ = ["Evaluator"]

TASKS = ("classification", "segmentation")
SCORE_KINDS = ("probability", "logit")
DICE_FIXED_POINT = 2**32  # per-sample Dice is accumulated as round(dice * 2**32) in int64

def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")" if t.dim() != 1 else f"({t.shape[0]},)"


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    try:
        return torch.as_tensor(np.asarray(x))
    except Exception as exc:  # pragma: no cover - message only
        raise ValueError(f"{name} must be a tensor or array-like, got {type(x).__name__}") from exc


def _logit(p: float) -> float:
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p / (1.0 - p))


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
                raise ValueError(f"class_names has {len(class_names)} names but num_classes is {num_classes}")
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
        """Count one batch. See the module docstring for accepted shapes and dtypes.

        Steps: check the target, detect the prediction kind, check the target's range (which picks
        how ignored elements are dropped), the predicted classes, one fused bincount (per sample for
        segmentation, which feeds the per-sample Dice), then the kept scores.
        """
        preds = _as_tensor(preds, "preds")
        target = self._check_target(_as_tensor(target, "target"))
        preds, kind = self._prediction_kind(preds, target)
        N = target.shape[0]
        if target.numel() == 0:
            self.sample_state[0] += N
            if self.task == "segmentation" and N:
                self._add_sample_dice(torch.zeros(N, self.num_classes, self.num_classes, dtype=torch.int64))
            return
        mode, ign_mask = self._ignore_mode(target)
        if kind == "index":
            p, pos_scores = self._classes_from_indices(preds, target, mode, ign_mask), None
        elif kind == "classdim":
            p, pos_scores = self._classes_from_class_scores(preds)
        else:
            p, pos_scores = self._classes_from_positive_map(preds)
        if self.task == "segmentation":
            per_sample = confusion_counts(p, target, self.num_classes, mode, ign_mask, per_sample=True)
            self.confusion += per_sample.sum(0)
            self._add_sample_dice(per_sample)
        else:
            self.confusion += confusion_counts(p, target, self.num_classes, mode, ign_mask)
        self.sample_state[0] += N
        if pos_scores is not None:
            self._store_scores(pos_scores, target, mode, ign_mask)

    def _check_target(self, target: torch.Tensor) -> torch.Tensor:
        """Integer class indices of rank 1 (classification) or >= 2 (segmentation); bool -> uint8."""
        if target.dtype == torch.bool:
            target = target.view(torch.uint8)
        if target.is_floating_point() or target.is_complex():
            raise ValueError(f"target must hold integer class indices, got dtype {target.dtype}")
        if self.task == "segmentation" and target.dim() < 2:
            raise ValueError(
                f"target has shape {_shape(target)} but segmentation expects target [N, *spatial] "
                "(at least 2 dims)"
            )
        if self.task == "classification" and target.dim() != 1:
            raise ValueError(f"target has shape {_shape(target)} but classification expects target [N]")
        return target

    def _prediction_kind(self, preds: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, str]:
        """Decide from dtype and shape what ``preds`` holds: ``"index"`` (class indices, bool -> uint8),
        ``"classdim"`` (``[N, C, ...]`` scores) or ``"single"`` (a positive-class map, ``[N, 1, ...]``
        squeezed to the target's shape). Returns ``(preds, kind)``."""
        C = self.num_classes
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
        elif preds.dim() >= 2 and preds.shape[:1] + preds.shape[2:] == target.shape:  # [N, K, *spatial]
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
                    f"[N, {C}{', *spatial' if self.task == 'segmentation' else ''}] or integer class indices"
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
        return preds, kind

    def _ignore_mode(self, target: torch.Tensor) -> tuple[str, torch.Tensor | None]:
        """Check the target's labels with one aminmax pass and pick how ignored elements are dropped.

        Returns ``(mode, ign_mask)``: ``"plain"`` (nothing to ignore), ``"clamp"`` (``ignore_index``
        outside ``[0, C)``: ignored elements are pushed to sentinel bins) or ``"mask"``
        (``ignore_index`` inside ``[0, C)`` and present; ``ign_mask`` marks those elements).
        """
        C = self.num_classes
        lo, hi = (int(v) for v in torch.aminmax(target))
        ign = self.ignore_index
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
            return "clamp", None
        if ign is not None and lo <= ign <= hi:  # ignore_index inside [0, C) and possibly present
            ign_mask = target == ign
            if bool(ign_mask.any()):
                return "mask", ign_mask
        return "plain", None

    def _classes_from_indices(
        self, p: torch.Tensor, target: torch.Tensor, mode: str, ign_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Integer preds: check they lie in ``[0, C)``, except where the target is ignored (set to 0 there)."""
        C = self.num_classes
        plo, phi = (int(v) for v in torch.aminmax(p))
        if plo < 0 or phi >= C:
            # out-of-range predictions are tolerated only where the target is ignored
            tmask = ign_mask if mode == "mask" else (target == self.ignore_index if mode == "clamp" else None)
            bad_p = (p < 0) | (p >= C)
            if tmask is not None:
                bad_p &= ~tmask
            if bool(bad_p.any()):
                v = int(p[bad_p][0])
                raise ValueError(f"preds holds class index {v} outside [0, {C})")
            p = p.masked_fill(tmask, 0)
        return p

    def _classes_from_class_scores(self, preds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``[N, C, ...]`` scores: argmax over dim 1, and the positive-class probability when kept."""
        s = preds.sum()
        if torch.isnan(s) and bool(torch.isnan(preds).any()):
            raise ValueError(f"preds (shape {_shape(preds)}) contains NaN")
        pos_scores = None
        if self.keep_scores:
            if self.scores_kind == "logit":
                pos_scores = torch.softmax(preds.float(), dim=1)[:, 1]
            else:
                pos_scores = preds[:, 1]
                self._check_probability(pos_scores, "preds[:, 1]")
        return argmax_dim1(preds), pos_scores

    def _classes_from_positive_map(self, preds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Two-class positive-class map: class 1 where the probability is >= ``threshold`` (uint8)."""
        if self.scores_kind == "probability":
            self._check_probability(preds, "preds")
            p = torch.ge(preds, self.threshold)
        else:
            mn, mx = torch.aminmax(preds)
            if torch.isnan(mn) or torch.isnan(mx):
                raise ValueError(f"preds (shape {_shape(preds)}) contains NaN")
            p = torch.ge(preds, _logit(self.threshold))
        pos_scores = None
        if self.keep_scores:
            pos_scores = torch.sigmoid(preds.float()) if self.scores_kind == "logit" else preds
        return p.view(torch.uint8), pos_scores

    def _store_scores(
        self, pos_scores: torch.Tensor, target: torch.Tensor, mode: str, ign_mask: torch.Tensor | None
    ) -> None:
        """Store the counted elements' positive-class probabilities (float32) and targets (uint8)."""
        keep_t = target
        if mode != "plain":
            keep = (target != self.ignore_index) if ign_mask is None else ~ign_mask
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
        report = report_from_confusion(self.confusion.numpy(), task=self.task, class_names=self.class_names,
                                       ignore_index=self.ignore_index, num_samples=int(self.sample_state[0]))
        if self.task == "segmentation":
            qsum, count = int(self.sample_state[1]), int(self.sample_state[2])
            report["sample_dice"] = {
                "mean": qsum / DICE_FIXED_POINT / count if count else math.nan,
                "count": count,
                "classes": list(range(1, C)),
                "empty_rule": EMPTY_RULE,
            }
        if self.keep_scores:
            s, t = self.scores()
            report["average_precision"] = average_precision(s, t) if s.numel() else math.nan
        return report
