"""``zoo/models/complexity.py``: parameter counts and multiply-adds per layer kind (linear, grouped and transposed
convolutions, embeddings not counted), the model left as it was found."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.models.complexity import count_macs, count_params, layer_macs


def test_count_macs_of_a_linear_and_of_grouped_convolutions():
    assert count_macs(nn.Linear(20, 30), (20,)) == 30 * 20
    assert count_macs(nn.Linear(20, 30), (5, 20)) == 5 * 30 * 20  # a sequence of 5 vectors
    # out 16 x 10 x 10 values, each from in/groups = 2 channels x 3 x 3
    assert count_macs(nn.Conv2d(8, 16, 3, padding=1, groups=4), (8, 10, 10)) == 16 * 100 * 2 * 9
    assert count_macs(nn.Conv2d(8, 16, 3, padding=1), (8, 10, 10)) == 16 * 100 * 8 * 9
    assert count_macs(nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), (8, 10, 10)) == 8 * 25 * 9  # depthwise
    assert count_macs(nn.Conv1d(4, 6, 5), (4, 20)) == 6 * 16 * 4 * 5
    assert count_macs(nn.ConvTranspose2d(4, 6, 2, stride=2), (4, 5, 5)) == 4 * 25 * 6 * 4
    assert count_macs(nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 3)), (7,), dtype=torch.long) == 7 * 3 * 4
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    count_macs(model, (3, 8, 8))
    assert model.training and not model[0]._forward_hooks  # mode restored, hooks removed
    assert count_params(model) == 3 * 4 * 9 + 4 + 2 * 4



def test_trainable_only_leaves_out_frozen_parameters_and_buffers_never_count():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    assert count_params(model) == 4 * 3 + 3 + 2 * 3  # running mean/var are buffers
    model[0].weight.requires_grad_(False)
    assert count_params(model, trainable_only=True) == 3 + 2 * 3 and count_params(model) == 21


def test_layers_without_counted_arithmetic_cost_nothing_and_the_batch_multiplies():
    x = torch.zeros(2, 4)
    assert layer_macs(nn.ReLU(), x, x) == 0 and layer_macs(nn.BatchNorm1d(4), x, x) == 0
    linear = nn.Linear(4, 5)
    assert layer_macs(linear, x, linear(x)) == 2 * 5 * 4  # the whole batch
    with pytest.raises(RuntimeError):  # a wrong sample shape fails in the model, not silently
        count_macs(linear, (3,))
    assert not linear._forward_hooks and linear.training  # hooks removed and the mode restored even then
