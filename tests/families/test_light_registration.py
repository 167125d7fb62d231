"""The built-in families register from light modules (``zoo/families/*.py``): importing them and calling
their hooks imports no torch, numpy or transformers, and every factory is a ``"module:function"`` string
that resolves to a builder in ``zoo.models`` or ``zoo.datasets``."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from zoo.plugins import get_registry

FAMILIES = ("zoo.families.mnist", "zoo.families.cifar", "zoo.families.text", "zoo.families.user")
HEAVY = ("torch", "numpy", "transformers", "tokenizers", "PIL")

# Imports the families and calls their hooks with a recording `register`, then reports what was
# registered and which heavy modules got imported along the way.
_PROBE = """
import importlib, json, sys
registered = []
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    for hook in ("register_models", "register_datasets"):
        if hasattr(module, hook):  # a family may register only datasets (zoo.families.user)
            getattr(module, hook)(register=lambda n, factory, **options: registered.append([name, hook, n, factory]))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print(json.dumps({{"registered": registered, "heavy": heavy}}))
""".format(heavy=HEAVY)


@pytest.fixture(scope="module")
def probe() -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE, *FAMILIES], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_importing_the_families_and_calling_their_hooks_imports_no_heavy_module(probe):
    assert probe["heavy"] == []
    assert {family for family, *_ in probe["registered"]} == set(FAMILIES)  # each family registers something


def test_every_factory_is_a_module_function_string_that_resolves(probe):
    for family, hook, name, factory in probe["registered"]:
        assert isinstance(factory, str), f"{family} registers {name!r} with a callable: listing would import it"
        module_name, _, attr = factory.partition(":")
        package = "zoo.models." if hook == "register_models" else "zoo.datasets."
        assert module_name.startswith(package) and attr, (name, factory)
        assert callable(getattr(importlib.import_module(module_name), attr)), (name, factory)


def test_the_registry_records_the_family_as_the_source(probe):
    registry = get_registry()
    for family, hook, name, _ in probe["registered"]:
        table = registry.models if hook == "register_models" else registry.datasets
        assert table[name].source == family
