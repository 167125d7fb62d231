"""``zoo/models/vgg.py``: VGG16-BN for 32x32 images: logits, the input shape it refuses, the feature stack,
and its parameter and multiply-add counts against hand arithmetic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.errors import DataError
from zoo.models.complexity import count_macs, count_params
from zoo.models.vgg import VGG_CIFAR_CONFIGS, make_vgg_features, vgg16_cifar


@pytest.fixture(scope="module")
def vgg():
    return vgg16_cifar().eval()


def test_vgg16_cifar_maps_32x32_images_to_logits(vgg):
    with torch.no_grad():
        assert vgg(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert vgg16_cifar(num_classes=7, in_channels=1)(torch.randn(2, 1, 32, 32)).shape == (2, 7)  # train mode, BN over 2


def test_the_features_take_32x32_down_to_512_values():
    """Five 2x2 max-pools: 32 -> 1, so the classifier is one Linear(512, classes) (the course's Linear(2048, 10) bug)."""
    features = make_vgg_features(VGG_CIFAR_CONFIGS["vgg16"], 3)
    assert features(torch.zeros(1, 3, 32, 32)).shape == (1, 512, 1, 1)
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13 and all(c.bias is None and c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in features) == 5
    assert vgg16_cifar().classifier.in_features == 512


@pytest.mark.parametrize("shape", [(2, 1, 32, 32), (2, 3, 28, 28), (2, 3, 64, 64), (3, 32, 32)])
def test_other_input_shapes_name_the_expected_one(vgg, shape):
    with pytest.raises(DataError, match=rf"vgg16_cifar expects input of shape \[N, 3, 32, 32\], got \[{', '.join(map(str, shape))}\]"):
        vgg(torch.zeros(shape))


def test_vgg16_cifar_counts_match_arithmetic(vgg):
    params = macs = 0
    channels, size = 3, 32
    for item in VGG_CIFAR_CONFIGS["vgg16"]:
        if item == "M":
            size //= 2
            continue
        params += channels * item * 9 + 2 * item  # conv without bias, BN weight and bias
        macs += size * size * item * channels * 9
        channels = item
    params, macs = params + 512 * 10 + 10, macs + 512 * 10
    assert (count_params(vgg), count_macs(vgg, (3, 32, 32))) == (params, macs)
    assert (params, macs) == (14_724_042, 313_201_664)
