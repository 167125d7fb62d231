"""CT inference with patch models: a classifier over a grid of patches, a 2-D model over every slice.

* :func:`classify_patches`: a patch classifier (``luna_classifier``: ``[N, 1, 32, 48, 48]`` HU ->
  logits ``[N, 2]``) over a grid of overlapping patches that covers a whole CT: class probabilities
  per patch, with each patch's first voxel and centre.
* :func:`segment_slices`: a 2-D segmentation model that takes a slice and its neighbours as channels
  (the book's U-Net input, p2ch13) over every slice of a CT.

Volumes are ``[index, row, column]`` in HU (:mod:`zoo.luna.geometry`). Windows are placed as by the
generic sliding window (:func:`zoo.inference.window_starts`); models are run in eval mode under
``torch.inference_mode()`` and not moved: ``device`` defaults to where their parameters are.

    classifier = zoo.get_model("luna_classifier", weights="runs/luna_classifier-luna/model.safetensors")
    found = classify_patches(hu, classifier, patch_size=(32, 48, 48), stride=(16, 24, 24))
    found.centers[found.probabilities[:, 1] > 0.5]   # voxels (index, row, column) of likely nodules
"""

from __future__ import annotations

import itertools
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zoo.errors import DataError
from zoo.inference import (
    batches,
    centred_padding,
    check_batch_size,
    describe,
    eval_mode,
    floating,
    model_device,
    pad_argument,
    positive_ints,
    window_starts,
)

__all__ = ["PatchPredictions", "classify_patches", "segment_slices", "as_ct"]

Model = Callable[[torch.Tensor], torch.Tensor]


class PatchPredictions(NamedTuple):
    """What :func:`classify_patches` returns, on the CPU: one row per patch, index axis slowest, column fastest."""

    starts: torch.Tensor  # int64 [P, 3]: first voxel (index, row, column) of each patch
    centers: torch.Tensor  # int64 [P, 3]: starts + patch_size // 2, the voxel each patch is centred on
    probabilities: torch.Tensor  # float32 [P, num_classes]: softmax of the model's logits


def as_ct(volume: torch.Tensor | np.ndarray, caller: str) -> torch.Tensor:
    """A CT ``[index, row, column]`` (tensor or numpy array) as a finite float32 tensor."""
    if isinstance(volume, np.ndarray):
        volume = torch.from_numpy(np.ascontiguousarray(volume))
    if not isinstance(volume, torch.Tensor) or volume.dim() != 3 or volume.is_complex() or volume.dtype == torch.bool:
        raise DataError(f"{caller} needs a CT [index, row, column] of real numbers, got {describe(volume)}")
    return floating(volume, "volume").float()


def classify_patches(
    volume: torch.Tensor | np.ndarray,
    model: Model,
    *,
    patch_size: int | Sequence[int],
    stride: int | Sequence[int],
    batch_size: int = 16,
    pad_value: float = -1000.0,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> PatchPredictions:
    """Run a patch classifier over a grid of patches covering a whole CT.

    ``volume``: ``[index, row, column]`` voxels in HU (``float32``, or the ``int16`` of
    :func:`zoo.luna.geometry.read_ct`). ``model`` maps patches ``float32 [B, 1, *patch_size]`` to logits
    ``[B, num_classes]`` (``luna_classifier``: ``patch_size=(32, 48, 48)``). Patches start every
    ``stride`` voxels along each axis (one stride for all axes or one per axis), the last one of each
    axis flush with the far edge (:func:`zoo.inference.window_starts`), so every voxel is in at least
    one patch; a stride smaller than the patch makes patches overlap. An axis shorter than the patch is
    padded with ``pad_value`` (air, -1000 HU) to the patch's size, half before and half after: there,
    starts are negative (the patch overhangs both edges) and centres still lie inside the volume.
    """
    volume = as_ct(volume, "classify_patches")
    patch = positive_ints(patch_size, 3, "patch_size")
    strides = positive_ints(stride, 3, "stride")
    check_batch_size(batch_size)
    device = model_device(model, volume.device) if device is None else torch.device(device)

    padding = centred_padding(tuple(volume.shape), patch)
    if any(sum(pair) for pair in padding):
        volume = F.pad(volume, pad_argument(padding), value=pad_value)
    corners = list(itertools.product(*(window_starts(s, p, t) for s, p, t in zip(volume.shape, patch, strides))))

    probabilities = []
    with torch.inference_mode(), eval_mode(model):
        for first in batches(len(corners), batch_size, progress, "patches"):
            chunk = corners[first:first + batch_size]
            batch = torch.stack([volume[i:i + patch[0], r:r + patch[1], c:c + patch[2]] for i, r, c in chunk])
            batch = batch.unsqueeze(1).to(device)
            logits = model(batch)
            if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != batch.shape[0]:
                raise DataError(f"classify_patches needs a classifier: patches {list(batch.shape)} gave "
                                f"{describe(logits)}, not logits [{batch.shape[0]}, num_classes]")
            probabilities.append(torch.softmax(logits.float(), dim=1).cpu())
    starts = torch.tensor(corners, dtype=torch.int64).reshape(-1, 3) - torch.tensor([b for b, _ in padding])
    centers = starts + torch.tensor(patch, dtype=torch.int64) // 2
    return PatchPredictions(starts, centers, torch.cat(probabilities))


def segment_slices(
    volume: torch.Tensor | np.ndarray,
    model: Model,
    *,
    context: int = 3,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Run a 2-D segmentation model on every slice of a CT: ``[D, H, W]`` HU -> logits ``float32 [D, H, W]``.

    The model's input for slice ``d`` is slices ``d - context ... d + context`` as ``2 * context + 1``
    channels (``[B, 7, H, W]`` for the book's U-Net); a neighbour beyond the first or last slice is
    that edge slice repeated, as the book's ``Luna2dSegmentationDataset`` does. The model returns
    ``[B, 1, H, W]``. Slices go to the model ``batch_size`` at a time. ``volume`` is used as given
    (``float32`` or ``int16`` HU; :func:`zoo.luna.geometry.read_ct` already clips to [-1000, 1000], as
    the book's training data was).
    """
    volume = as_ct(volume, "segment_slices")
    if not isinstance(context, int) or context < 0:
        raise DataError(f"context must be an int >= 0 (neighbouring slices on each side), got {context!r}")
    check_batch_size(batch_size)
    device = model_device(model, volume.device) if device is None else torch.device(device)
    depth, height, width = volume.shape
    neighbours = torch.arange(-context, context + 1, device=volume.device)
    with torch.inference_mode(), eval_mode(model):
        logits = torch.empty((depth, height, width), dtype=torch.float32, device=volume.device)
        for first in batches(depth, batch_size, progress, "slices"):
            slices = torch.arange(first, min(first + batch_size, depth), device=volume.device)
            batch = volume[(slices[:, None] + neighbours).clamp_(0, depth - 1)].to(device)  # [B, 2 * context + 1, H, W]
            result = model(batch)
            if not isinstance(result, torch.Tensor) or tuple(result.shape) != (len(slices), 1, height, width):
                raise DataError(f"segment_slices needs a model from [B, {2 * context + 1}, H, W] to [B, 1, H, W]: "
                                f"slices {list(batch.shape)} gave {describe(result)}")
            logits[first:first + len(slices)] = result[:, 0].float().to(volume.device)
    return logits
