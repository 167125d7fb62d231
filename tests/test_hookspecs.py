"""Meta-test, as datasette does: every hook in zoo/hookspecs.py is documented in docs/plugins.md
and exercised by a test. Adding a hook without both fails here."""

from __future__ import annotations

import inspect

import pytest

from zoo import hookspecs

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "zoo_spec")]


def test_there_are_hooks():
    assert HOOKS == ["register_commands", "register_datasets", "register_models"]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook, repo):
    assert f"### {hook}" in (repo / "docs" / "plugins.md").read_text(), f"document {hook} in docs/plugins.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_tested(hook, repo):
    tests = [p for p in (repo / "tests").rglob("test_*.py") if p.name != "test_hookspecs.py"]
    assert any(f"def {hook}(" in p.read_text() for p in tests), f"implement {hook} in a test plugin"
