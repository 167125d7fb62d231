"""Counting one batch into a confusion matrix, fast on CPU: the two hot loops of the evaluator.

* :func:`argmax_dim1`: the predicted class of ``[N, C, *spatial]`` scores (first maximum on ties);
* :func:`confusion_counts`: one ``torch.bincount`` over ``(sample, target, pred)`` gives the int64
  confusion matrix ``M[true, pred]``, ``[C, C]``, or one per sample, ``[N, C, C]``.

The inputs are checked by :class:`zoo.metrics.Evaluator` before they get here. Timed against
torchmetrics and a bare bincount in ``benchmarks/bench_metrics.py``.
"""

from __future__ import annotations

import torch

__all__ = ["argmax_dim1", "confusion_counts", "index_dtype"]

MANUAL_ARGMAX_MAX_CLASSES = 32  # unrolled argmax beats torch.max(dim=1) up to about here


def argmax_dim1(preds: torch.Tensor) -> torch.Tensor:
    """Argmax over dim 1 (first maximum on ties). NaNs must have been rejected before.

    ``torch.argmax(dim=1)`` on CPU is very slow for ``[N, C, *spatial]`` layouts (a strided
    reduction); for small C an unrolled running maximum over the C class slices is ~10x faster.
    The running index only grows (class c > every earlier index), so ``maximum(idx, c * (x_c > best))``
    is the exact "strictly greater" update, i.e. the first maximum wins like torch.argmax.
    """
    num = preds.shape[1]
    if num > MANUAL_ARGMAX_MAX_CLASSES:
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


def index_dtype(nbins: int) -> torch.dtype:
    """Narrowest integer dtype that bincount accepts and that holds 0 .. nbins-1."""
    for dt in (torch.uint8, torch.int16, torch.int32):
        if nbins - 1 <= torch.iinfo(dt).max:
            return dt
    return torch.int64


def confusion_counts(
    p: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    mode: str,
    ignore_mask: torch.Tensor | None = None,
    *,
    per_sample: bool = False,
) -> torch.Tensor:
    """Count ``(target, p)`` pairs with one bincount: int64 ``[C, C]``, or ``[N, C, C]`` with ``per_sample``.

    ``p`` and ``target`` hold class indices of one shape ``[N, ...]``. ``mode`` says how elements with
    an ignored target are left out: ``"plain"`` (none; every value lies in ``[0, C)``), ``"clamp"``
    (the ignored label lies outside ``[0, C)`` and every out-of-range target is that label) or
    ``"mask"`` (``ignore_mask`` marks them). The counts are returned on the CPU.
    """
    C, N = num_classes, target.shape[0]
    CC = C * C
    block = CC + 2  # per-sample bins: [neg. sentinel, C*C confusion counts, pos. sentinel]
    nbins = N * block if per_sample else (CC if mode == "plain" else block)
    if mode == "plain":
        # every index is valid: compute p + C*t directly in the narrowest dtype holding all bins;
        # the passes are memory-bound, so uint8 indices make add/offset/bincount cheap. Both
        # operands are cast first: a mixed-dtype add takes torch's slow dynamic-casting path.
        idx_dtype = index_dtype(nbins)
    else:
        # raw values can be far out of range (C * 255, -100 * C): >= int32, then clamp/mask
        idx_dtype = torch.promote_types(torch.promote_types(p.dtype, target.dtype), torch.int32)
        idx_dtype = torch.promote_types(idx_dtype, index_dtype(nbins))
    idx = torch.add(p.to(idx_dtype), target.to(idx_dtype), alpha=C).contiguous()  # no-op unless strided
    if mode == "clamp":
        idx.clamp_(-1, CC)  # every ignored element -> -1 (negative ignore) or C*C (ignore >= C)
    elif mode == "mask":
        idx.masked_fill_(ignore_mask, CC)
    if per_sample:
        # one bincount with a per-sample offset: sample n owns bins [n*block, (n+1)*block)
        # (a single call: many small parallel ops suffer badly when cores are shared)
        first = 1 if mode != "plain" else 0
        off = torch.arange(first, N * block, block, dtype=idx_dtype, device=idx.device).view(N, 1)
        if N > 1 or first:
            idx.view(N, -1).add_(off)
        counts = torch.bincount(idx.view(-1), minlength=nbins).view(N, block)[:, first : first + CC]
        return counts.reshape(N, C, C).to("cpu", torch.int64)
    if mode == "plain":
        counts = torch.bincount(idx, minlength=CC)
    else:
        counts = torch.bincount(idx.add_(1), minlength=block)[1 : CC + 1]
    return counts.view(C, C).to("cpu", torch.int64)
