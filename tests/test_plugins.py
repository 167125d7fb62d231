"""The plugin host (zoo/plugins.py): built-in, in-process and entry-point plugins, broken plugins isolated,
duplicates, strict mode, and the commands plugins add (``register_commands``)."""

from __future__ import annotations

import sys
import textwrap

import pytest
from torch import nn

from zoo import hookimpl
from zoo.errors import RegistrationError
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
    assert registry.models["mnist_cnn"].source == "zoo.families.mnist"
    assert registry.plugins["zoo.families.mnist"].hooks == ["register_models", "register_datasets"]
    assert registry.plugins["zoo.luna.commands"].hooks == ["register_commands"]


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
    assert "'mnist_cnn' is registered twice" in error and "zoo.families.mnist" in error and "duplicate-plugin" in error
    assert registry.models["mnist_cnn"].source == "zoo.families.mnist"
    with pytest.raises(RegistrationError, match="registered twice: by 'zoo.families.mnist' and by 'again'"):
        registry.add(registry.models["mnist_cnn"].__class__("mnist_cnn", _tiny, "classification", source="again"))


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


class CommandPlugin:
    """Adds ``zoo hello NAME`` through the ``register_commands`` hook."""

    __name__ = "command-plugin"

    @hookimpl
    def register_commands(self, subparsers):
        p = subparsers.add_parser("hello", help="say hello")
        p.add_argument("who")
        p.set_defaults(run=lambda args: print(f"hello {args.who}") or 0)


class BrokenCommandPlugin:
    __name__ = "broken-command-plugin"

    @hookimpl
    def register_commands(self, subparsers):
        subparsers.add_parser("half_added")
        raise RuntimeError("no commands today")


def _parser_with(plugins):
    import argparse

    from zoo.cli import options
    from zoo.plugins import add_plugin_commands

    registry = build_registry(extra_plugins=plugins, use_entry_points=False)
    parser = argparse.ArgumentParser(prog="zoo")
    sub = parser.add_subparsers(dest="command", required=True)
    add_plugin_commands(registry, sub, options=options)
    return registry, parser, sub


def test_plugins_add_commands_and_a_failing_one_is_left_out(capsys):
    registry, parser, sub = _parser_with([BrokenCommandPlugin(), CommandPlugin()])
    args = parser.parse_args(["hello", "world"])
    assert args.run(args) == 0 and capsys.readouterr().out == "hello world\n"
    assert "hello" in sub.choices and "half_added" not in sub.choices  # the broken plugin's partial work is taken back
    assert "half_added" not in parser.format_help()
    assert "no commands today" in registry.plugins["broken-command-plugin"].error
    assert registry.plugins["command-plugin"].hooks == ["register_commands"]
    assert {"luna", "cache", "data"} <= set(sub.choices)  # the built-in LUNA16 family adds its commands the same way


def test_the_cli_shows_plugin_commands(monkeypatch, capsys):
    from zoo import plugins
    from zoo.cli import main

    monkeypatch.setattr(plugins, "_REGISTRY", build_registry(extra_plugins=[CommandPlugin()], use_entry_points=False))
    assert main(["hello", "plugin"]) == 0
    assert capsys.readouterr().out == "hello plugin\n"


def test_listing_and_help_import_neither_torch_nor_numpy(tmp_path):
    """`zoo --help`, `zoo list`, `zoo datasets`, `zoo plugins` stay fast: the built-in families register
    "module:function" strings from light modules (a new process, since this one has torch already)."""
    import os
    import subprocess

    code = (
        "import sys, contextlib, io\n"
        "from zoo.cli import main\n"
        "for argv in (['list'], ['datasets'], ['plugins'], ['list', '--json'], ['--help'], ['train', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "print(sorted(m for m in ('torch', 'numpy', 'scipy', 'transformers', 'SimpleITK') if m in sys.modules))\n"
    )
    env = {**os.environ, "ZOO_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_a_plugin_that_exits_or_prints_at_import_cannot_take_the_host_down(site, capsys, monkeypatch):
    """SystemExit while a plugin is imported is isolated like an exception; what a plugin prints goes to
    stderr, so `zoo list --json` stays valid JSON."""
    import json

    from zoo import plugins
    from zoo.cli import main

    _write_distribution(site, "exiting-plugin", "zoo_testplugin_exit", "import sys\nsys.exit(3)\n")
    _write_distribution(site, "chatty-plugin", "zoo_testplugin_chatty", """
        print("hello from a plugin")
        from zoo import hookimpl

        def build():
            raise NotImplementedError

        @hookimpl
        def register_models(register):
            print("registering!")
            register("chatty_net", "zoo_testplugin_chatty:build", task="classification")
    """)
    monkeypatch.setattr(plugins, "_REGISTRY", None)
    assert main(["list", "--json"]) == 0
    out, err = capsys.readouterr()
    names = [m["name"] for m in json.loads(out)]
    assert "chatty_net" in names and "mnist_cnn" in names
    assert "hello from a plugin" in err and "registering!" in err
    assert main(["plugins", "--json"]) == 0
    info = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert info["exiting-plugin"]["error"] == "SystemExit: 3"
