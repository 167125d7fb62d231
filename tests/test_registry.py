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
        ("ok_name", {"task": "classification", "colour": "red"}, "unknown field 'colour'"),
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


def test_listing_does_not_import_the_lazy_factory(tmp_path, monkeypatch):
    (tmp_path / "zoo_lazy_module.py").write_text("import zoo_package_never_installed\n\ndef build():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class LazyPlugin:
        __name__ = "lazy-plugin"

        @hookimpl
        def register_models(self, register):
            register("lazy_net", "zoo_lazy_module:build", task="text-classification", extra="text")

    registry = build_registry(extra_plugins=[LazyPlugin()], use_entry_points=False)
    assert registry.list_models("lazy*", task="text-classification") == ["lazy_net"]
    assert "zoo_lazy_module" not in sys.modules  # checked at registration by reading its source, not imported
    with pytest.raises(ZooError, match=r"model 'lazy_net' cannot be built: No module named 'zoo_package_never_installed'.*hubzoo\[text\]"):
        registry.model("lazy_net").resolve_factory()


@pytest.mark.parametrize("reference, message", [
    ("zoo_no_such_module:build", "names module 'zoo_no_such_module', which cannot be found"),
    ("zoo.models.mnist:no_such_builder", "module 'zoo.models.mnist' .* defines no 'no_such_builder'"),
    ("zoo.models.mnist", "must be a callable or a 'module:function' string"),
    ("zoo.models.mnist:not-a-name", "must be a callable or a 'module:function' string"),
])
def test_module_function_references_are_checked_when_registered(reference, message):
    from zoo.errors import RegistrationError
    from zoo.registry import make_model_spec

    with pytest.raises(RegistrationError, match=message):
        make_model_spec("checked", reference, task="classification")
    with pytest.raises(RegistrationError, match="loss: .*" + message):
        make_model_spec("checked", "zoo.models.mnist:mnist_cnn", task="classification", loss=reference)


def test_declared_fields_are_typed_and_unknown_keys_refused():
    from zoo.errors import RegistrationError
    from zoo.registry import make_model_spec

    spec = make_model_spec("typed", "zoo.models.mnist:mnist_cnn", task="classification", head="fc2", input_shape=[1, 28, 28],
                           dynamic_dims={2: "height"}, not_exportable={"pt2": "why"})
    assert spec.head == ("fc2",) and spec.input_shape == (1, 28, 28) and spec.dynamic_dims == {2: "height"}
    for bad, message in [({"input_shape": (1, 0)}, "input_shape must be a tuple of positive ints"),
                         ({"output_kind": "probabilities"}, "output_kind must be 'logits' or 'log_probabilities'"),
                         ({"dynamic_dims": {"2": "h"}}, "dynamic_dims must map"),
                         ({"not_exportable": {"tflite": "no"}}, "not_exportable must be"),
                         ({"head": 3}, "head must be a name"),
                         ({"recipe": ["zoo", "train"]}, "recipe must be text"),
                         ({"colour": "red"}, "unknown field 'colour'")]:
        with pytest.raises(RegistrationError, match=message):
            make_model_spec("typed", "zoo.models.mnist:mnist_cnn", task="classification", source="my-plugin", **bad)


def test_old_style_meta_works_for_one_release_with_a_deprecation_warning():
    from zoo.errors import RegistrationError
    from zoo.registry import make_dataset_spec, make_model_spec

    with pytest.warns(FutureWarning, match=r"model 'old' \(registered by old-plugin\): meta=\{...\} is deprecated"):
        spec = make_model_spec("old", "zoo.models.mnist:mnist_cnn", task="classification", source="old-plugin",
                               meta={"head": "fc2", "input_shape": (1, 28, 28), "recipe": "zoo train old --data digits"})
    assert (spec.head, spec.input_shape, spec.recipe) == (("fc2",), (1, 28, 28), "zoo train old --data digits")
    with pytest.raises(RegistrationError, match=r"model 'old' \(registered by old-plugin\): unknown meta key 'colour'"):
        make_model_spec("old", "zoo.models.mnist:mnist_cnn", task="classification", source="old-plugin", meta={"colour": 1})
    with pytest.warns(FutureWarning):
        data = make_dataset_spec("old_data", "zoo.datasets.mnist:digits", task="classification", num_classes=10,
                                 meta={"flips": False, "splits": ["train", "val", "test"]})
    assert data.splits == ("train", "val", "test") and data.flips is False


def test_a_dataset_may_take_its_classes_from_the_data():
    from zoo.errors import RegistrationError
    from zoo.registry import make_dataset_spec

    spec = make_dataset_spec("mine", "zoo.datasets.imagefolder:imagefolder", task="classification", num_classes=None)
    assert spec.num_classes is None and spec.class_names is None
    with pytest.raises(RegistrationError, match="num_classes=None .* with fixed class_names"):
        make_dataset_spec("mine", "zoo.datasets.imagefolder:imagefolder", task="classification", num_classes=None, class_names=("a", "b"))
    with pytest.raises(RegistrationError, match="num_classes must be a positive int"):
        make_dataset_spec("mine", "zoo.datasets.imagefolder:imagefolder", task="classification", num_classes=0)
