"""The registry and the plugin host: in-process plugins, entry points, broken plugins, duplicates."""

from __future__ import annotations

import sys
import textwrap

import pytest
from torch import nn

import zoo
from zoo import hookimpl
from zoo.errors import RegistrationError, UnknownNameError
from zoo.plugins import PluginError, build_registry


def _tiny(*, width: int = 3) -> nn.Module:
    return nn.Linear(4, width)


class TinyPlugin:
    __name__ = "tiny-plugin"

    @hookimpl
    def register_models(self, register):
        register("tiny_linear", _tiny, task="classification", description="a 4 -> width linear layer", tags=("toy",))

    @hookimpl
    def register_datasets(self, register):
        register("tiny_data", lambda split="train", root=None, download=False: [(1, 0)], task="classification", num_classes=2)


class RaisingPlugin:
    __name__ = "raising-plugin"

    @hookimpl
    def register_models(self, register):
        register("half_registered", _tiny, task="classification")
        raise RuntimeError("boom inside the hook")


class DuplicatePlugin:
    __name__ = "duplicate-plugin"

    @hookimpl
    def register_models(self, register):
        register("mnist_cnn", _tiny, task="classification")


def test_builtins_register_through_the_public_hooks():
    registry = build_registry(use_entry_points=False)
    assert {"mnist_cnn", "mnist_mlp"} <= set(registry.models)
    assert {"digits", "mnist"} <= set(registry.datasets)
    assert registry.models["mnist_cnn"].source == "zoo.models.mnist"
    assert registry.plugins["zoo.models.mnist"].hooks == ["register_models"]


def test_in_process_plugin_is_listed_and_builds():
    registry = build_registry(extra_plugins=[TinyPlugin()], use_entry_points=False)
    assert registry.list_models("tiny*") == ["tiny_linear"]
    assert registry.list_models(task="classification")[:1] != []
    spec = registry.model("tiny_linear")
    assert spec.source == "tiny-plugin" and spec.tags == ("toy",)
    assert isinstance(spec.resolve_factory()(width=5), nn.Linear)
    assert registry.plugins["tiny-plugin"].datasets == ["tiny_data"]


def test_a_raising_plugin_is_recorded_and_the_others_keep_working():
    registry = build_registry(extra_plugins=[RaisingPlugin(), TinyPlugin()], use_entry_points=False)
    info = registry.plugins["raising-plugin"]
    assert "boom inside the hook" in info.error
    assert "half_registered" not in registry.models  # a failed hook's registrations are dropped
    assert "tiny_linear" in registry.models and "mnist_cnn" in registry.models


def test_strict_mode_raises_for_plugin_authors(monkeypatch):
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="raising-plugin.*boom"):
        build_registry(extra_plugins=[RaisingPlugin()], use_entry_points=False)


def test_duplicate_names_fail_naming_both_sources():
    registry = build_registry(extra_plugins=[DuplicatePlugin()], use_entry_points=False)
    error = registry.plugins["duplicate-plugin"].error
    assert "'mnist_cnn' is registered twice" in error and "zoo.models.mnist" in error and "duplicate-plugin" in error
    assert registry.models["mnist_cnn"].source == "zoo.models.mnist"
    with pytest.raises(RegistrationError, match="registered twice: by 'zoo.models.mnist' and by 'again'"):
        registry.add(registry.models["mnist_cnn"].__class__("mnist_cnn", _tiny, "classification", source="again"))


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


def _write_distribution(site, dist_name: str, module_name: str, module_source: str) -> None:
    """A minimal installed distribution (dist-info + module) with an entry point in group 'zoo'."""
    (site / f"{module_name}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{dist_name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{dist_name} = {module_name}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("zoo_testplugin")]:
        del sys.modules[name]


def test_entry_point_plugins_are_discovered(site):
    _write_distribution(site, "good-plugin", "zoo_testplugin_good", """
        from torch import nn
        from zoo import hookimpl

        @hookimpl
        def register_models(register):
            register("entry_point_net", "zoo_testplugin_good:build", task="classification")

        def build(**kwargs):
            return nn.Identity()
    """)
    registry = build_registry()
    assert registry.plugins["good-plugin"].version == "1.2.3"
    assert registry.model("entry_point_net").source == "good-plugin"
    assert isinstance(registry.model("entry_point_net").resolve_factory()(), nn.Identity)


def test_broken_import_does_not_break_the_host_and_disabled_plugins_are_not_imported(site, monkeypatch):
    _write_distribution(site, "broken-plugin", "zoo_testplugin_broken", "import a_module_that_does_not_exist\n")
    _write_distribution(site, "skipped-plugin", "zoo_testplugin_skipped", "raise SystemExit('imported!')\n")
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", "skipped-plugin, other")
    registry = build_registry()
    assert "ModuleNotFoundError" in registry.plugins["broken-plugin"].error
    assert registry.plugins["skipped-plugin"].disabled and registry.plugins["skipped-plugin"].error is None
    assert "zoo_testplugin_skipped" not in sys.modules
    assert "mnist_cnn" in registry.models


def test_unknown_names_suggest_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean: mnist_cnn"):
        zoo.get_model("mnist_cnm")
    with pytest.raises(UnknownNameError, match="unknown dataset 'digit'.*Did you mean: digits"):
        zoo.get_dataset("digit")


def test_listing_does_not_import_the_lazy_factory():
    class LazyPlugin:
        __name__ = "lazy-plugin"

        @hookimpl
        def register_models(self, register):
            register("lazy_net", "zoo_module_never_imported:build", task="text-classification", meta={"extra": "text"})

    registry = build_registry(extra_plugins=[LazyPlugin()], use_entry_points=False)
    assert registry.list_models("lazy*", task="text-classification") == ["lazy_net"]
    assert "zoo_module_never_imported" not in sys.modules
    with pytest.raises(zoo.ZooError, match=r"hubzoo\[text\]"):
        registry.model("lazy_net").resolve_factory()


def test_public_api_lists_and_builds():
    assert "mnist_cnn" in zoo.list_models()
    assert zoo.list_models("mnist_*", task="segmentation") == []
    assert "digits" in zoo.list_datasets()
    model = zoo.get_model("mnist_cnn", n_feature=8)
    assert model.conv1.out_channels == 8


def test_a_factory_that_fails_is_one_clear_error_and_the_rest_keeps_working():
    def broken_builder():
        raise RuntimeError("weights folder vanished")

    class FailingFactory:
        __name__ = "failing-factory"

        @hookimpl
        def register_models(self, register):
            register("fragile_net", broken_builder, task="classification")

    from zoo.registry import build_model

    registry = build_registry(extra_plugins=[FailingFactory()], use_entry_points=False)
    with pytest.raises(zoo.ZooError, match="'fragile_net' \\(registered by 'failing-factory'\\) failed to build: RuntimeError"):
        build_model(registry.model("fragile_net"))
    with pytest.raises(zoo.ZooError, match="cannot be built with \\{'colour': 1\\}.*builder takes \\(\\*, n_feature"):
        build_model(registry.model("mnist_cnn"), colour=1)
    assert isinstance(build_model(registry.model("mnist_cnn")), nn.Module)
