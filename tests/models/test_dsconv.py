"""``zoo/models/dsconv.py``: the depthwise-separable block, ``dsconv_net`` (any image size, a width multiplier),
the course exercise comparing a separable with a plain convolution, and the counts against hand arithmetic."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.errors import DataError
from zoo.models.complexity import count_macs, count_params
from zoo.models.dsconv import DSCONV_BLOCKS, DepthwiseSeparableConv2d, compare_with_plain_conv, dsconv_net


def test_dsconv_net_takes_mnist_sized_images_and_a_width_multiplier():
    model = zoo.get_model("dsconv_net", in_channels=1)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    half = zoo.get_model("dsconv_net", width_multiplier=0.5)
    assert half.features[0].out_channels == 16 and half.classifier.in_features == 512
    assert half(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(zoo.ZooError, match="width_multiplier must be positive"):
        zoo.get_model("dsconv_net", width_multiplier=0)


def test_dsconv_net_names_the_expected_channels():
    with pytest.raises(DataError, match=r"dsconv_net expects input of shape \[N, 3, \*, \*\], got \[2, 1, 28, 28\]"):
        dsconv_net().eval()(torch.zeros(2, 1, 28, 28))


def test_course_exercise_separable_vs_plain_conv():
    """3-channel 128x128 input, 10 output channels, 3x3 kernels, padding 1 (128x128 output), no bias."""
    cost = compare_with_plain_conv()
    pixels = 128 * 128
    assert cost.separable_params == 3 * 9 + 2 * 3 + 3 * 10 + 2 * 10 == 83
    assert cost.plain_params == 3 * 9 * 10 + 2 * 10 == 290
    assert cost.separable_macs == pixels * (3 * 9 + 3 * 10) == 933_888
    assert cost.plain_macs == pixels * 3 * 9 * 10 == 4_423_680
    assert cost.macs_ratio == pytest.approx(1 / 10 + 1 / 9)
    assert "| depthwise-separable block | 83 | 933,888 |" in cost.table()
    block = DepthwiseSeparableConv2d(3, 10, 3)
    assert block.depthwise.groups == 3 and block.pointwise.kernel_size == (1, 1)
    assert block(torch.rand(1, 3, 128, 128)).shape == (1, 10, 128, 128)
    assert DepthwiseSeparableConv2d(8, 16, 3, stride=2)(torch.rand(1, 8, 15, 15)).shape == (1, 16, 8, 8)


@pytest.mark.parametrize("in_channels, image_size", [(3, 32), (1, 28)])
def test_dsconv_net_counts_match_arithmetic(in_channels, image_size):
    size, channels = image_size, 32
    macs, params = size * size * 32 * in_channels * 9, in_channels * 32 * 9 + 2 * 32  # stem conv + BN
    for out, stride in DSCONV_BLOCKS:
        size = -(-size // stride)  # padding 1: ceil(size / stride)
        macs += size * size * channels * (9 + out)  # depthwise 3x3 + pointwise 1x1
        params += channels * 9 + 2 * channels + channels * out + 2 * out
        channels = out
    model = dsconv_net(in_channels=in_channels)
    assert count_macs(model, (in_channels, image_size, image_size)) == macs + 1024 * 10
    assert count_params(model) == params + 1024 * 10 + 10
