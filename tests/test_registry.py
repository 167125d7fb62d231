"""The registry (zoo/registry.py): what a registration may say, lookup with suggestions, lazy factories."""

from __future__ import annotations

import sys

import pytest
from torch import nn

from zoo import hookimpl
from zoo.api import get_dataset, get_model
from zoo.errors import UnknownNameError, ZooError
from zoo.plugins import build_registry


def _tiny(*, width: int = 3) -> nn.Module:
    return nn.Linear(4, width)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("Bad-Name", {"task": "classification"}, "not valid"),
        ("ok_name", {"task": "astrology"}, "unknown task"),
        ("ok_name", {"task": "classification", "colour": "red"}, "bad arguments"),
    ],
)
def test_invalid_registrations_are_plugin_errors(name, options, message):
    class Bad:
        __name__ = "bad-plugin"

        @hookimpl
        def register_models(self, register):
            register(name, _tiny, **options)

    registry = build_registry(extra_plugins=[Bad()], use_entry_points=False)
    assert message in registry.plugins["bad-plugin"].error


def test_unknown_names_suggest_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean: mnist_cnn"):
        get_model("mnist_cnm")
    with pytest.raises(UnknownNameError, match="unknown dataset 'digit'.*Did you mean: digits"):
        get_dataset("digit")


def test_listing_does_not_import_the_lazy_factory():
    class LazyPlugin:
        __name__ = "lazy-plugin"

        @hookimpl
        def register_models(self, register):
            register("lazy_net", "zoo_module_never_imported:build", task="text-classification", meta={"extra": "text"})

    registry = build_registry(extra_plugins=[LazyPlugin()], use_entry_points=False)
    assert registry.list_models("lazy*", task="text-classification") == ["lazy_net"]
    assert "zoo_module_never_imported" not in sys.modules
    with pytest.raises(ZooError, match=r"hubzoo\[text\]"):
        registry.model("lazy_net").resolve_factory()


def test_a_dataset_may_take_its_classes_from_the_data():
    from zoo.errors import RegistrationError
    from zoo.registry import make_dataset_spec

    spec = make_dataset_spec("mine", "pkg.mod:factory", task="classification", num_classes=None)
    assert spec.num_classes is None and spec.class_names is None
    with pytest.raises(RegistrationError, match="num_classes=None .* with fixed class_names"):
        make_dataset_spec("mine", "pkg.mod:factory", task="classification", num_classes=None, class_names=("a", "b"))
    with pytest.raises(RegistrationError, match="num_classes must be a positive int"):
        make_dataset_spec("mine", "pkg.mod:factory", task="classification", num_classes=0)
