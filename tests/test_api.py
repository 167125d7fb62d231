"""The Python API (zoo/api.py, re-exported by the ``zoo`` facade)."""

from __future__ import annotations

import zoo
from zoo import api


def test_the_facade_exports_the_api():
    for name in ("list_models", "get_model", "list_datasets", "get_dataset", "evaluate"):
        assert getattr(zoo, name) is getattr(api, name)


def test_public_api_lists_and_builds():
    assert "mnist_cnn" in zoo.list_models()
    assert zoo.list_models("mnist_*", task="segmentation") == []
    assert "digits" in zoo.list_datasets()
    model = zoo.get_model("mnist_cnn", n_feature=8)
    assert model.conv1.out_channels == 8


def test_arch_dot_tag_names_load_registered_weights():
    model = zoo.get_model("mnist_cnn.digits")
    assert model.conv1.out_channels == 32  # the digits weights bring their builder argument n_feature=32
