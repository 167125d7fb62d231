"""``zoo/models/cifar_net.py``: the course's CIFAR-10 baseline ``cifar_net`` and its improved ``cifar_net_bn``:
logits, the input shape they refuse, the stage shapes, dropout, and parameter and multiply-add counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.errors import DataError
from zoo.models.cifar_net import cifar_net, cifar_net_bn
from zoo.models.complexity import count_macs, count_params

BUILDERS = {"cifar_net": cifar_net, "cifar_net_bn": cifar_net_bn}


@pytest.mark.parametrize("name", BUILDERS)
def test_maps_32x32_images_to_logits(name):
    model = BUILDERS[name]().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert BUILDERS[name](num_classes=7, in_channels=1)(torch.randn(2, 1, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("shape", [(2, 1, 32, 32), (2, 3, 28, 28), (2, 3, 64, 64), (3, 32, 32)])
def test_other_input_shapes_name_the_expected_one(name, shape):
    with pytest.raises(DataError, match=rf"{name} expects input of shape \[N, 3, 32, 32\], got \[{', '.join(map(str, shape))}\]"):
        BUILDERS[name]()(torch.zeros(shape))


def test_cifar_net_counts_match_arithmetic():
    model = cifar_net()
    assert count_params(model) == (3 * 6 * 25 + 6) + (6 * 16 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10) == 62_006
    assert count_macs(model, (3, 32, 32)) == 28 * 28 * 6 * 75 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10


def test_cifar_net_bn_halves_the_size_per_stage_and_its_dropout_is_a_setting():
    model = cifar_net_bn(dropout=0.5).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        stages = [model.features[:7](x)]
        stages += [model.features[7:14](stages[0]), model.features[14:](model.features[7:14](stages[0]))]
    assert [tuple(s.shape) for s in stages] == [(2, 32, 16, 16), (2, 64, 8, 8), (2, 128, 4, 4)]
    assert [m.p for m in model.classifier if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 and all(c.kernel_size == (3, 3) and c.bias is None for c in convs)
    assert count_params(cifar_net_bn()) == 814_570  # as its docstring says
    with torch.no_grad():
        assert torch.equal(model(x), model(x))  # eval: dropout off
        model.train()
        torch.manual_seed(0)
        assert not torch.equal(model(x), model(x))  # train: dropout on
