"""Model size and cost: :func:`count_params` and :func:`count_macs` (multiply-adds), as ``zoo info`` prints them.

Multiply-adds are counted for the layers that hold nearly all of a CNN's arithmetic: ``nn.Conv1d/2d/3d``,
``nn.ConvTranspose1d/2d/3d`` and ``nn.Linear``, through forward hooks on one run of a zero batch
(``N=1``). One multiply-add is one multiplication plus one addition; bias additions, batch norm,
activations, pooling, attention's matrix products, recurrent cells and functional ``F.conv2d`` calls
are not counted. For a convolution with ``groups=g`` every output value needs
``in_channels / g * prod(kernel_size)`` multiply-adds, so a depthwise convolution costs ``1/in_channels``
of a plain one.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["count_params", "count_macs", "layer_macs"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameter values (batch-norm running statistics are buffers, not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_macs(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    """Multiply-adds of one Conv/ConvTranspose/Linear call for the whole batch (0 for other layers)."""
    if isinstance(module, _CONV):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return output.numel() * per_output
    if isinstance(module, _CONV_TRANSPOSE):  # every input value is scattered over out/groups * kernel outputs
        return inputs.numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_macs(model: nn.Module, input_shape: Sequence[int], *, dtype: torch.dtype = torch.float32) -> int:
    """Multiply-adds of one forward pass of a single sample.

    ``input_shape`` is one sample's shape without the batch dimension (``(3, 32, 32)``, as in the models'
    declared ``input_shape``); a zero batch ``[1, *input_shape]`` of ``dtype`` (``torch.long`` for token ids)
    is run through ``model`` in eval mode without gradients, on the device of its parameters. The model's
    training mode is restored afterwards. A layer called twice is counted twice.
    """
    total = 0

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += layer_macs(module, args[0], output)

    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (*_CONV, *_CONV_TRANSPOSE, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total
