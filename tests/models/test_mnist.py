"""``zoo/models/mnist.py``: the course's MNIST CNN and MLP: logits for a batch, the course's widths, the
input shapes they refuse (one clear error naming the expected shape)."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.errors import DataError
from zoo.models.mnist import mnist_cnn, mnist_mlp


@pytest.mark.parametrize("name", ["mnist_cnn", "mnist_mlp"])
def test_models_map_a_batch_of_images_to_logits(name):
    model = zoo.get_model(name)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_course_widths():
    assert sum(p.numel() for p in zoo.get_model("mnist_cnn").parameters()) == 6 * 25 + 6 + 6 * 6 * 25 + 6 + 96 * 50 + 50 + 510
    assert zoo.get_model("mnist_mlp").network[0].out_features == 8


@pytest.mark.parametrize("shape", [(3, 28, 28), (3, 3, 28, 28), (3, 1, 32, 32)])
def test_wrong_input_shapes_name_the_expected_shape(shape):
    with pytest.raises(DataError, match=r"mnist_cnn expects input of shape \[N, 1, 28, 28\], got"):
        zoo.get_model("mnist_cnn")(torch.zeros(shape))
    if shape[-1] == 32:
        with pytest.raises(DataError, match=r"mnist_mlp expects \[N, 1, 28, 28\]"):
            zoo.get_model("mnist_mlp")(torch.zeros(shape))



def test_the_cnn_halves_twice_to_4x4_and_its_width_is_a_setting():
    model = mnist_cnn(n_feature=32, num_classes=3, in_channels=2).eval()
    x = torch.randn(4, 2, 28, 28)
    with torch.no_grad():
        first = model.conv1(x)
        second = model.conv2(torch.nn.functional.max_pool2d(first, 2))
        assert (first.shape, second.shape) == ((4, 32, 24, 24), (4, 32, 8, 8))  # 28 -> 24 -> 12 -> 8 -> 4
        assert model(x).shape == (4, 3)
    assert model.fc1.in_features == 32 * 4 * 4 and model.fc2.out_features == 3


def test_the_mlp_takes_any_shape_of_784_values_per_sample():
    model = mnist_mlp(n_hidden=16).eval()
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), model(x.view(3, 784)))  # flattened per sample
    assert [m.out_features for m in model.network if isinstance(m, torch.nn.Linear)] == [16, 16, 10]
