"""Depthwise-separable convolutions: the block :class:`DepthwiseSeparableConv2d`, the MobileNet-v1-style
``dsconv_net``, and :func:`compare_with_plain_conv` for the course exercise.

A depthwise-separable convolution splits a ``k x k`` convolution from ``C_in`` to ``C_out`` channels into
a depthwise ``k x k`` convolution (``groups=C_in``: one filter per channel) and a pointwise ``1x1``
convolution that mixes channels. Per output pixel that is ``C_in*k*k + C_in*C_out`` multiply-adds
instead of ``C_in*k*k*C_out``: a ratio of ``1/C_out + 1/k^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo.errors import ZooError
from zoo.models.common import check_input_shape, init_cnn_weights
from zoo.models.complexity import count_macs, count_params

__all__ = ["DepthwiseSeparableConv2d", "DSConvNet", "dsconv_net", "ConvCost", "compare_with_plain_conv"]

#: MobileNet-v1's blocks as (output channels, stride), with the first stride-2 block of the ImageNet
#: network made stride 1 for 32x32 inputs: 32 -> 16 -> 8 -> 4 -> 2 (28 -> 14 -> 7 -> 4 -> 2 for MNIST).
DSCONV_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
STEM_CHANNELS = 32


class DepthwiseSeparableConv2d(nn.Sequential):
    """Depthwise ``k x k`` conv (``groups=in_channels``) -> BN -> ReLU -> pointwise 1x1 conv -> BN -> ReLU.

    ``[N, in_channels, H, W]`` -> ``[N, out_channels, ceil(H / stride), ceil(W / stride)]`` (padding ``k // 2``,
    odd ``k``). The convolutions have no bias: the batch norm that follows each supplies the shift.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride, padding=kernel_size // 2, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.in_channels, self.out_channels = in_channels, out_channels

    @property
    def depthwise(self) -> nn.Conv2d:
        return self[0]

    @property
    def pointwise(self) -> nn.Conv2d:
        return self[3]


def _scaled(channels: int, width_multiplier: float) -> int:
    """``channels * width_multiplier`` rounded to a multiple of 8 (at least 8), as torchvision's MobileNets do."""
    return max(8, int(channels * width_multiplier + 4) // 8 * 8)


class DSConvNet(nn.Module):
    """A stem conv3x3 -> BN -> ReLU, 13 depthwise-separable blocks, global average pooling, a linear classifier.

    Shapes (``width_multiplier=1``): ``[N, C, H, W]`` -> ``[N, 32, H, W]`` -> ... -> ``[N, 1024, H/16, W/16]``
    (rounded up) -> pooled ``[N, 1024]`` -> logits ``[N, num_classes]``. The global pooling makes the network
    work for any image size: 32x32 for CIFAR-10, 28x28 for MNIST.
    """

    def __init__(self, *, num_classes: int = 10, in_channels: int = 3, width_multiplier: float = 1.0) -> None:
        super().__init__()
        if not width_multiplier > 0:
            raise ZooError(f"dsconv_net: width_multiplier must be positive, got {width_multiplier!r}")
        self.in_channels = in_channels
        stem = _scaled(STEM_CHANNELS, width_multiplier)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)]
        channels = stem
        for out, stride in DSCONV_BLOCKS:
            layers.append(DepthwiseSeparableConv2d(channels, _scaled(out, width_multiplier), 3, stride))
            channels = _scaled(out, width_multiplier)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)
        init_cnn_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, (self.in_channels, None, None), "dsconv_net")
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def dsconv_net(*, num_classes: int = 10, in_channels: int = 3, width_multiplier: float = 1.0) -> DSConvNet:
    """MobileNet-v1-style depthwise-separable network for small images (3.2M parameters and 46M
    multiply-adds per 32x32 image at ``width_multiplier=1``; 0.5 gives about a quarter of both).
    ``in_channels=1`` for MNIST's ``[N, 1, 28, 28]``."""
    return DSConvNet(num_classes=num_classes, in_channels=in_channels, width_multiplier=width_multiplier)


@dataclass(frozen=True)
class ConvCost:
    """Parameters and multiply-adds of a depthwise-separable block and of a plain conv of the same shape."""

    input_shape: tuple[int, int, int]
    out_channels: int
    kernel_size: int
    separable_params: int
    separable_macs: int
    plain_params: int
    plain_macs: int

    @property
    def macs_ratio(self) -> float:
        """separable / plain multiply-adds: ``1/out_channels + 1/kernel_size^2``."""
        return self.separable_macs / self.plain_macs

    def table(self) -> str:
        """A markdown table of the comparison."""
        c, h, w = self.input_shape
        k = self.kernel_size
        return "\n".join([
            f"input [1, {c}, {h}, {w}] -> {self.out_channels} channels, {k}x{k}, stride 1, padding {k // 2}",
            "| layer | parameters | multiply-adds |", "|---|---:|---:|",
            f"| plain conv{k}x{k} + BN + ReLU | {self.plain_params:,} | {self.plain_macs:,} |",
            f"| depthwise-separable block | {self.separable_params:,} | {self.separable_macs:,} |",
            f"| ratio | {self.separable_params / self.plain_params:.3f} | {self.macs_ratio:.3f} |",
        ])


def compare_with_plain_conv(in_channels: int = 3, out_channels: int = 10, kernel_size: int = 3, size: int = 128) -> ConvCost:
    """The course exercise: a depthwise-separable convolution of a ``[1, in_channels, size, size]`` input
    to ``out_channels`` channels against a plain ``kernel_size`` conv of the same shape (both with batch
    norm, without bias, padding ``kernel_size // 2``), measured with :func:`count_params` / :func:`count_macs`.

    Defaults (3-channel 128x128, 10 outputs, 3x3): separable 83 parameters (27 depthwise + 30 pointwise
    weights, 6 + 20 BN) and 933,888 multiply-adds; plain 290 parameters (270 weights, 20 BN) and
    4,423,680 multiply-adds, 4.7x as many. The course's own code used bias and no padding: its block
    has 70 parameters (plain conv: 280), on a 126x126 output.
    """
    separable = DepthwiseSeparableConv2d(in_channels, out_channels, kernel_size)
    plain = nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
                          nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))
    shape = (in_channels, size, size)
    return ConvCost(shape, out_channels, kernel_size, count_params(separable), count_macs(separable, shape),
                    count_params(plain), count_macs(plain, shape))
