"""The training losses of ``zoo train --loss`` (``zoo.losses``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from zoo.errors import ZooError
from zoo.losses import SoftmaxMSELoss, make_loss
from zoo.plugins import get_registry


def test_mse_is_on_softmax_probabilities_against_one_hot():
    logits, target = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]), torch.tensor([0, 2])
    p = logits.softmax(1)
    expected = ((p - torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])) ** 2).mean()
    assert torch.allclose(SoftmaxMSELoss()(logits, target), expected)


def test_each_choice_builds_its_loss():
    spec = get_registry().model("mnist_cnn")
    logits, target = torch.randn(4, 10), torch.tensor([1, 2, 3, 4])
    assert isinstance(make_loss("auto", spec), torch.nn.CrossEntropyLoss)
    smoothed = make_loss("cross_entropy", spec, label_smoothing=0.1)
    assert torch.allclose(smoothed(logits, target), F.cross_entropy(logits, target, label_smoothing=0.1))
    assert isinstance(make_loss("mse", spec), SoftmaxMSELoss)


def test_nll_needs_log_probabilities_and_model_needs_a_declared_loss():
    spec = get_registry().model("mnist_cnn")
    with pytest.raises(ZooError, match="--loss nll needs a model that returns log-probabilities"):
        make_loss("nll", spec)
    with pytest.raises(ZooError, match="declares no loss of its own"):
        make_loss("model", spec)
    unet = get_registry().model("luna_unet")
    model = unet.resolve_factory()()
    assert type(make_loss("model", unet, model)) is type(make_loss("auto", unet, model)) is type(model.make_loss())
    with pytest.raises(ZooError, match="--loss mse is for classification models"):
        make_loss("mse", unet, model)
