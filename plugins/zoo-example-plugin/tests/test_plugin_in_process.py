"""How to test a plugin without installing it: hand the module to build_registry()."""

import torch

import zoo_example_plugin
from zoo.plugins import build_registry


def test_registers_its_model_and_dataset():
    registry = build_registry(extra_plugins=[zoo_example_plugin], use_entry_points=False)
    assert registry.plugins["zoo_example_plugin"].error is None
    model = registry.model("resnet18_cifar").resolve_factory()(num_classes=10)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert registry.dataset("kmnist").class_names[-1] == "wo"
