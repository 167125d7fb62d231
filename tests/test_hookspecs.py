"""Meta-test, as datasette does: every hook in zoo/hookspecs.py is documented in docs/plugins.md and exercised
by a test: a probe plugin here implements each hook, and the host (``zoo.plugins``) must call it and keep what
it registered. Adding a hook without its documentation, a probe implementation and a host that calls it fails here."""

from __future__ import annotations

import argparse
import inspect

import pytest

from zoo import hookimpl, hookspecs
from zoo.plugins import add_plugin_commands, build_registry

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "zoo_spec")]


class Probe:
    """Implements every hook, records each call, and registers one thing through each."""

    __name__ = "hookspec-probe"

    def __init__(self) -> None:
        self.called: list[str] = []

    @hookimpl
    def register_models(self, register):
        self.called.append("register_models")
        register("hookspec_probe_net", "zoo.models.mnist:mnist_mlp", task="classification", description="a probe")

    @hookimpl
    def register_datasets(self, register):
        self.called.append("register_datasets")
        register("hookspec_probe_data", "zoo.datasets.mnist:digits", task="classification", num_classes=10)

    @hookimpl
    def register_commands(self, subparsers):
        self.called.append("register_commands")
        subparsers.add_parser("hookspec-probe", help="a probe").set_defaults(run=lambda args: 0)


def test_there_are_hooks():
    assert HOOKS == ["register_commands", "register_datasets", "register_models"]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook, repo):
    assert f"### {hook}" in (repo / "docs" / "plugins.md").read_text(), f"document {hook} in docs/plugins.md"


@pytest.fixture(scope="module")
def probed():
    """A registry built with the probe plugin, and a command-line parser the plugins added their commands to."""
    probe = Probe()
    registry = build_registry(extra_plugins=[probe], use_entry_points=False, strict=True)
    parser = argparse.ArgumentParser(prog="zoo")
    add_plugin_commands(registry, parser.add_subparsers(dest="command"))
    return probe, registry, parser


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_called_by_the_host_and_what_it_registers_is_kept(hook, probed):
    probe, registry, parser = probed
    assert hasattr(Probe, hook), f"implement {hook} in tests/test_hookspecs.py's Probe and check here what the host does with it"
    assert probe.called.count(hook) == 1, f"the host never called {hook} (or called it {probe.called.count(hook)} times)"
    info = registry.plugins["hookspec-probe"]
    assert info.error is None and hook in info.hooks, (info.error, info.hooks)
    if hook == "register_models":
        assert registry.model("hookspec_probe_net").source == "hookspec-probe" and info.models == ["hookspec_probe_net"]
    elif hook == "register_datasets":
        assert registry.dataset("hookspec_probe_data").num_classes == 10 and info.datasets == ["hookspec_probe_data"]
    elif hook == "register_commands":
        args = parser.parse_args(["hookspec-probe"])
        assert args.command == "hookspec-probe" and args.run(args) == 0
    else:
        pytest.fail(f"say here what the host does with what {hook} gives it")
