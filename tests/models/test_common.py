"""``zoo/models/common.py``: the input-shape check every image model calls (one error naming the expected shape,
``*`` for any size) and the usual CNN initialisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zoo.errors import DataError
from zoo.models.common import check_input_shape, init_cnn_weights


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 3, 32, 32), (0, 3, 32, 32)])
def test_a_batch_of_the_expected_shape_passes(shape):
    check_input_shape(torch.zeros(shape), (3, 32, 32), "net")


def test_none_matches_any_size_and_shows_as_a_star():
    check_input_shape(torch.zeros(2, 3, 7, 50), (3, None, None), "net")
    with pytest.raises(DataError, match=r"^net expects input of shape \[N, 3, \*, \*\], got \[2, 1, 7, 50\]$"):
        check_input_shape(torch.zeros(2, 1, 7, 50), (3, None, None), "net")


@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 3, 32, 31), (2, 1, 3, 32, 32), (2, 4, 32, 32)])
def test_another_shape_names_the_model_the_expected_and_the_given_shape(shape):
    with pytest.raises(DataError) as caught:
        check_input_shape(torch.zeros(shape), (3, 32, 32), "vgg16_cifar")
    assert str(caught.value) == f"vgg16_cifar expects input of shape [N, 3, 32, 32], got {list(shape)}"


def test_init_cnn_weights_kaiming_convolutions_identity_batch_norm_small_linear_layers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(16, 256, 3), nn.BatchNorm2d(256), nn.Flatten(), nn.Linear(400, 300))
    with torch.no_grad():
        model[1].weight.fill_(3.0)
        model[1].bias.fill_(1.0)
    init_cnn_weights(model)
    fan_out = 256 * 3 * 3  # kaiming_normal_(mode="fan_out", nonlinearity="relu"): std sqrt(2 / fan_out)
    assert float(model[0].weight.detach().std()) == pytest.approx(math.sqrt(2 / fan_out), rel=0.05)
    assert torch.equal(model[1].weight, torch.ones(256)) and torch.equal(model[1].bias, torch.zeros(256))
    assert float(model[3].weight.detach().std()) == pytest.approx(0.01, rel=0.05) and torch.equal(model[3].bias, torch.zeros(300))
    assert abs(float(model[3].weight.detach().mean())) < 1e-3
