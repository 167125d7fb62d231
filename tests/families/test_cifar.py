"""The CIFAR-10 family's registrations (``zoo/families/cifar.py``): every vision model built by name, and what
each registers. The models are tested in tests/models/ (test_vgg.py, test_dsconv.py, test_cifar_net.py), the
CIFAR-10 reader and its augmentation in tests/datasets/test_cifar.py."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.families.cifar import CIFAR10_CLASSES

VISION = ["vgg16_cifar", "dsconv_net", "cifar_net"]


@pytest.fixture(scope="module")
def models():
    return {name: zoo.get_model(name).eval() for name in VISION}


@pytest.mark.parametrize("name", VISION)
def test_every_vision_model_maps_32x32_images_to_logits(models, name):
    with torch.no_grad():
        assert models[name](torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert zoo.get_model(name, num_classes=7)(torch.randn(2, 3, 32, 32)).shape == (2, 7)  # train mode, BN over 2


def test_registration_metadata():
    from zoo.plugins import get_registry

    registry = get_registry()
    assert set(VISION) <= set(zoo.list_models(task="classification"))
    for name in VISION:
        spec = registry.model(name)
        assert spec.input_shape == (3, 32, 32) and spec.output == "logits [N, 10]"
        assert "[N, 3, 32, 32]" in spec.input and spec.recipe.startswith(f"zoo train {name} --data cifar10")
        assert spec.class_names == CIFAR10_CLASSES and "cifar10" in spec.tags
    data = registry.dataset("cifar10")
    assert data.num_classes == 10 and data.class_names == CIFAR10_CLASSES
