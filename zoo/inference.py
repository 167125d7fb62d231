"""Whole-volume inference with models trained on patches (issue 8): the generic sliding window.

* :func:`sliding_window_inference`: a fully convolutional patch model (its output has its input's
  spatial size) over whole ``[N, C, *spatial]`` volumes, 2-D or 3-D, in windows that overlap by a
  fraction of the patch, the windows' outputs blended with constant or Gaussian weights. Window
  placement, padding and weights are those of ``monai.inferers.sliding_window_inference`` (with
  ``padding_mode="constant", cval=0``); the tests check that both agree within 1e-5.

Window placement along an axis of ``S`` voxels, for a patch of ``P <= S`` voxels and a step ``T``
(:func:`window_starts`): windows start at ``0, T, 2T, ...`` up to the first one that reaches the far
edge, which is moved back to end flush with it (start ``S - P``). Sliding windows step by
``int(P * (1 - overlap))`` voxels (at least 1), as MONAI does. An axis shorter than the patch is
padded to the patch's size, half before and half after (the odd voxel after).

An ``nn.Module`` model is put in eval mode for the call and its mode restored afterwards (as
:func:`zoo.evaluation.evaluate` does); it is not moved: ``device`` (where the model's inputs go)
defaults to where its parameters are. Everything runs under ``torch.inference_mode()``, so the results
carry no autograd history. The helpers at the end (argument checks, padding, eval mode, batches) serve
other patch-based inference too: CT patch classification and slice-by-slice segmentation are in
:mod:`zoo.luna.patches`.

    from zoo.inference import sliding_window_inference
    probs = sliding_window_inference(ct[None, None], unet3d, patch_size=(32, 96, 96), blending="gaussian")
"""

from __future__ import annotations

import itertools
import numbers
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from zoo.errors import DataError

__all__ = [
    "BLENDINGS", "window_starts", "importance_map", "sliding_window_inference",
    "describe", "per_axis", "positive_ints", "centred_padding", "pad_argument", "check_batch_size", "floating",
    "model_device", "eval_mode", "batches",
]

BLENDINGS = ("constant", "gaussian")
Model = Callable[[torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------------------------------ windows


def window_starts(size: int, patch: int, step: int) -> list[int]:
    """First voxels of the windows of ``patch`` voxels that cover an axis of ``size`` voxels with
    ``step`` between starts: ``[0, step, 2 * step, ..., size - patch]`` (the last one flush with the
    far edge). ``window_starts(96, 32, 24) == [0, 24, 48, 64]``."""
    if not 1 <= patch <= size or step < 1:
        raise DataError(f"windows need 1 <= patch <= size and step >= 1, got size {size}, patch {patch}, step {step}")
    count = 1 + -(-(size - patch) // step)  # 1 + ceil((size - patch) / step)
    return [min(k * step, size - patch) for k in range(count)]


def importance_map(patch_size: Sequence[int], *, blending: str = "constant", sigma_scale: float | Sequence[float] = 0.125,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """Blending weights ``float32 [*patch_size]`` of the voxels of one window's output.

    ``"constant"``: all ones (overlapping windows are averaged). ``"gaussian"``: the product over the
    axes of ``exp(-x**2 / (2 * sigma**2))``, ``x`` the distance in voxels from the window's centre
    (``-(P - 1) / 2 ... (P - 1) / 2``) and ``sigma = sigma_scale * P``, so a window's centre counts
    most; weights below 1e-3 are raised to 1e-3, so that the corners of a window still count where no
    other window reaches (the arithmetic of MONAI's ``compute_importance_map``).
    """
    patch_size = tuple(int(p) for p in patch_size)
    if blending == "constant":
        return torch.ones(patch_size, dtype=torch.float32, device=device)
    if blending != "gaussian":
        raise DataError(f"blending must be one of {BLENDINGS}, got {blending!r}")
    scales = per_axis(sigma_scale, len(patch_size), "sigma_scale")
    if any(s <= 0 for s in scales):
        raise DataError(f"sigma_scale must be > 0, got {sigma_scale}")
    weights = torch.ones((), dtype=torch.float32, device=device)
    for size, scale in zip(patch_size, scales):
        x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
        sigma = size * scale
        weights = weights.unsqueeze(-1) * torch.exp(x**2 / (-2 * sigma**2))
    return weights.clamp_(min=1e-3)


# ------------------------------------------------------------------------------------------ sliding windows


def sliding_window_inference(
    volume: torch.Tensor,
    model: Model,
    *,
    patch_size: int | Sequence[int],
    overlap: float | Sequence[float] = 0.25,
    blending: str = "constant",
    sigma_scale: float | Sequence[float] = 0.125,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Run a patch model over whole volumes: ``[N, C, *spatial]`` -> ``float32 [N, C_out, *spatial]``.

    ``volume``: ``[N, C, H, W]`` or ``[N, C, D, H, W]`` (integer volumes are converted to float32).
    ``model`` maps windows ``[B, C, *patch_size]`` to ``[B, C_out, *patch_size]`` (same spatial size).
    Windows overlap by ``overlap`` (a fraction of the patch in ``[0, 1)``, one for all axes or one per
    axis; see the module docstring for where they go) and go to the model ``batch_size`` at a time
    (windows of all ``N`` volumes, volume by volume). Each output voxel is the weighted mean of the
    outputs of the windows that contain it, with :func:`importance_map` weights (``blending``
    ``"constant"`` or ``"gaussian"``; ``sigma_scale`` for the latter). A volume smaller than the patch
    along an axis is padded with zeros to the patch's size (half before, half after), as MONAI does,
    and the output cropped back. The output is on ``volume``'s device; windows go to ``device``.

    Same result (within float rounding) as ``monai.inferers.sliding_window_inference(volume,
    patch_size, batch_size, model, overlap, mode=blending, sigma_scale=sigma_scale)``.
    """
    if not isinstance(volume, torch.Tensor) or volume.dim() not in (4, 5):
        raise DataError(f"sliding_window_inference needs a tensor [N, C, H, W] or [N, C, D, H, W], got {describe(volume)}")
    spatial = tuple(volume.shape[2:])
    patch = positive_ints(patch_size, len(spatial), "patch_size")
    overlaps = per_axis(overlap, len(spatial), "overlap")
    if not all(0 <= o < 1 for o in overlaps):
        raise DataError(f"overlap must be a fraction in [0, 1), got {overlap}")
    if blending not in BLENDINGS:
        raise DataError(f"blending must be one of {BLENDINGS}, got {blending!r}")
    check_batch_size(batch_size)
    volume = floating(volume, "volume")
    device = model_device(model, volume.device) if device is None else torch.device(device)

    padding = centred_padding(spatial, patch)
    if any(sum(pair) for pair in padding):
        volume = F.pad(volume, pad_argument(padding))
    size = tuple(volume.shape[2:])
    steps = [max(int(p * (1 - o)), 1) for p, o in zip(patch, overlaps)]
    corners = list(itertools.product(*(window_starts(s, p, t) for s, p, t in zip(size, patch, steps))))
    boxes = [tuple(slice(c, c + p) for c, p in zip(corner, patch)) for corner in corners]
    windows = [(n, box) for n in range(volume.shape[0]) for box in boxes]

    with torch.inference_mode(), eval_mode(model):
        weights = importance_map(patch, blending=blending, sigma_scale=sigma_scale, device=volume.device)
        coverage = torch.zeros(size, dtype=torch.float32, device=volume.device)  # sum of the weights per voxel
        for box in boxes:
            coverage[box] += weights
        output = None
        for first in batches(len(windows), batch_size, progress, "windows"):
            chunk = windows[first:first + batch_size]
            batch = torch.stack([volume[(n, slice(None), *box)] for n, box in chunk]).to(device)
            result = model(batch)
            if not isinstance(result, torch.Tensor) or result.dim() != batch.dim() or result.shape[0] != batch.shape[0] \
                    or result.shape[2:] != batch.shape[2:]:
                raise DataError(f"sliding windows need a model whose output has its input's spatial size: windows "
                                f"{list(batch.shape)} gave {describe(result)}")
            result = result.to(device=volume.device, dtype=torch.float32)
            if output is None:
                output = torch.zeros((volume.shape[0], result.shape[1], *size), dtype=torch.float32, device=volume.device)
            for (n, box), values in zip(chunk, result):
                if blending == "constant":  # weights of one
                    output[(n, slice(None), *box)].add_(values)
                else:
                    output[(n, slice(None), *box)].addcmul_(values, weights)
        output /= coverage
    if any(sum(pair) for pair in padding):
        output = output[(slice(None), slice(None), *(slice(b, b + s) for (b, _), s in zip(padding, spatial)))].contiguous()
    return output


# ------------------------------------------------------------------------------------------ helpers


def describe(value: Any) -> str:
    """``"shape [..]"`` of a tensor or array, else the type's name (for error messages)."""
    return f"shape {list(value.shape)}" if hasattr(value, "shape") else type(value).__name__


def per_axis(value: float | Sequence[float], ndim: int, name: str) -> tuple[float, ...]:
    """``value`` repeated over ``ndim`` axes, or a sequence of ``ndim`` values as floats."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * ndim
    if len(values) != ndim or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        raise DataError(f"{name} must be a number or {ndim} numbers (one per spatial axis), got {value!r}")
    return tuple(float(v) for v in values)


def positive_ints(value: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    """``value`` repeated over ``ndim`` axes, or a sequence of ``ndim`` ints; each at least 1."""
    values = tuple(value) if isinstance(value, (list, tuple, torch.Size)) else (value,) * ndim
    if len(values) != ndim or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in values):
        raise DataError(f"{name} must be a positive int or {ndim} positive ints (one per spatial axis), got {value!r}")
    return tuple(int(v) for v in values)


def centred_padding(shape: Sequence[int], patch: Sequence[int]) -> list[tuple[int, int]]:
    """Voxels ``(before, after)`` per axis that bring each axis shorter than the patch to the patch's
    size: half before, the odd voxel after (MONAI's rule)."""
    missing = [max(p - s, 0) for s, p in zip(shape, patch)]
    return [(m // 2, m - m // 2) for m in missing]


def pad_argument(padding: list[tuple[int, int]]) -> list[int]:
    """``padding`` in ``F.pad``'s order: last axis first."""
    return [n for pair in reversed(padding) for n in pair]


def check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"batch_size must be an int >= 1, got {batch_size!r}")


def floating(volume: torch.Tensor, name: str) -> torch.Tensor:
    """``volume`` as floating point (integers become float32); an error if it holds NaN or infinity."""
    if volume.numel() == 0:
        raise DataError(f"{name} is empty: shape {list(volume.shape)}")
    if not volume.is_floating_point():
        return volume.float()
    low, high = torch.aminmax(volume)  # NaN propagates to both; one pass, unlike isfinite(volume).all()
    if not bool(torch.isfinite(low) & torch.isfinite(high)):
        raise DataError(f"{name} holds non-finite values (NaN or infinity)")
    return volume


def model_device(model: Model, fallback: torch.device) -> torch.device:
    """Where ``model``'s parameters (or buffers) are; ``fallback`` for a model without any."""
    if isinstance(model, torch.nn.Module):
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            return tensor.device
    return fallback


@contextmanager
def eval_mode(model: Model) -> Iterator[None]:
    """An ``nn.Module`` in eval mode for the block, its own mode restored afterwards."""
    if not isinstance(model, torch.nn.Module):
        yield
        return
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def batches(total: int, batch_size: int, progress: bool, unit: str) -> Iterator[int]:
    """First item of each batch, with a progress bar over the items when ``progress``."""
    from zoo.progress import progress as progress_bar

    with progress_bar(total=total, unit=unit.rstrip("s"), desc="inference", disable=not progress, leave=False) as bar:
        for first in range(0, total, batch_size):
            yield first
            bar.update(min(batch_size, total - first))
