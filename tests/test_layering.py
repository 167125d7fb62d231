"""The package's layers (README, "Layout"): every ``zoo`` module imports only from its own layer or below,
there is no import cycle, and no module imports the ``zoo`` facade. Imports inside functions count: they
run too; so do strings that name a module to import later: ``importlib.import_module("zoo.x")`` and
``"zoo.x:attr"`` references. The families' registrations are the exception: their ``"module:function"``
factories are imported lazily by the registry, a layer above, so there each is checked to name a module and
an attribute that exist instead. Read from the source with ``ast``, so nothing is imported to check it."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parent.parent / "zoo"

#: Module (or package prefix) -> layer, bottom 0. The longest matching prefix wins.
LAYERS = {
    "zoo.errors": 0, "zoo.hookspecs": 0, "zoo.files": 0, "zoo.version": 0, "zoo.progress": 0, "zoo.png": 0,
    "zoo.metrics": 1, "zoo.reports": 1, "zoo.confusion": 1, "zoo.curves": 1, "zoo.inference": 1, "zoo.plots": 1, "zoo.evaluation": 1, "zoo.preprocess": 1,
    "zoo.augment": 1, "zoo.losses": 1, "zoo.distributed": 1, "zoo.splits": 1, "zoo.features": 1,
    "zoo.download": 2,
    "zoo.weights": 3, "zoo.state_dicts": 3, "zoo.bases": 3,
    "zoo.families": 4, "zoo.luna.family": 4,
    "zoo.models": 5, "zoo.datasets": 5, "zoo.luna": 5,
    "zoo.runs": 6,
    "zoo.registry": 7,
    "zoo.builder": 8,
    "zoo.plugins": 9,
    "zoo.api": 10,
    "zoo.train": 11, "zoo.hub": 11, "zoo.reverify": 11, "zoo.pin": 11, "zoo.export": 11, "zoo.predict": 11, "zoo.onnx_runtime": 11, "zoo.demo": 11,
    "zoo.luna.analysis": 11, "zoo.luna.commands": 11,
    "zoo.cli": 12, "zoo.__main__": 12, "zoo": 12,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ZOO.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ZOO.rglob("*.py"))}


def _in(module: str, key: str) -> bool:
    """``module`` is ``key`` or inside the package ``key`` (the facade ``zoo`` holds only itself)."""
    return module == key or (key != "zoo" and module.startswith(key + "."))


def layer_of(module: str) -> int:
    keys = [k for k in LAYERS if _in(module, k)]
    assert keys, f"{module} is in no layer: add it to LAYERS and the README"
    return LAYERS[max(keys, key=len)]


#: Modules whose ``"module:function"`` strings are registrations, resolved lazily by the registry (layer 7):
#: not imports of theirs; ``test_registration_strings_name_what_exists`` checks them instead.
REGISTRATIONS = ("zoo.families", "zoo.luna.family")
#: A reference to import later, as the registry and ``import_reference`` take it: ``"zoo.models.mnist:mnist_cnn"``.
REFERENCE = re.compile(r"(zoo(?:\.\w+)*):(\w+(?:\.\w+)*)")


@functools.cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _is_import_module_call(node: ast.AST) -> bool:
    """``import_module(...)``, ``importlib.import_module(...)`` or ``__import__(...)``."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id in ("import_module", "__import__")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module")


def string_references(path: Path) -> list[tuple[str, str, int]]:
    """Every ``"zoo.module:attr"`` string constant in ``path``: (module, attribute, line)."""
    return [(m[1], m[2], node.lineno) for node in ast.walk(parse(path))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (m := REFERENCE.fullmatch(node.value))]


def imported_modules(module: str, path: Path) -> set[str]:
    """The ``zoo`` modules ``module`` imports anywhere in its source (``from zoo import runs`` is ``zoo.runs``),
    including the string constants given to ``import_module`` and, outside the families' registrations,
    ``"zoo.module:attr"`` references."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(parse(path)):
        if _is_import_module_call(node):
            names = [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            anchor = next((k.value.value for k in node.keywords if k.arg == "package" and isinstance(k.value, ast.Constant)), None)
            for name in names:
                if name.startswith(".") and isinstance(anchor, str):  # import_module(".x", package="zoo")
                    level = len(name) - len(name.lstrip("."))
                    name = ".".join([*anchor.split(".")[: len(anchor.split(".")) - level + 1], name.lstrip(".")])
                found.add(name.partition(":")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    if not any(_in(module, key) for key in REGISTRATIONS):
        found.update(ref_module for ref_module, _, _ in string_references(path))
    return {m for m in found if m == "zoo" or m.startswith("zoo.")}


@functools.cache
def graph() -> dict[str, set[str]]:
    """Module -> the ``zoo`` modules it imports; built on first use, not when the tests are collected."""
    return {name: imported_modules(name, path) - {name} for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    for name in MODULES:
        assert any(_in(name, k) for k in LAYERS), f"{name} is in no layer: add it to LAYERS and the README"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down(name):
    upward = sorted(f"{m} (layer {layer_of(m)})" for m in graph()[name] if layer_of(m) > layer_of(name))
    assert not upward, f"{name} (layer {layer_of(name)}) imports from higher layers: {upward}"
    if name != "zoo":
        assert "zoo" not in graph()[name], f"{name} imports the zoo facade; import zoo.api (or the module) instead"


def test_no_import_cycle():
    """Depth-first search for a back edge; the message names the cycle."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph().get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt in graph() and state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph()):
        if state.get(name) is None:
            visit(name)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """The check would miss the cycles it exists for if it read only module-level imports."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from zoo.train import train\n    import zoo.cli\n")
    assert imported_modules("zoo.metrics", source) >= {"zoo.train", "zoo.cli"}
    assert any(layer_of(m) > layer_of("zoo.metrics") for m in imported_modules("zoo.metrics", source))


def test_the_checker_sees_string_imports(tmp_path):
    """``import_module`` strings and ``"module:attr"`` references are imports too, made later; only a family's
    registration strings are not (the registry resolves them)."""
    source = tmp_path / "mod.py"
    source.write_text("import importlib\nfrom importlib import import_module\n"
                      "def f():\n    return importlib.import_module('zoo.train'), import_module('.cli', package='zoo')\n"
                      "LOADER = 'zoo.predict:Predictor.from_name'\nNOT_A_REFERENCE = 'see zoo.hub: publishing'\n")
    assert imported_modules("zoo.metrics", source) == {"zoo.train", "zoo.cli", "zoo.predict"}
    assert imported_modules("zoo.families.mnist", source) == {"zoo.train", "zoo.cli"}
    assert string_references(source) == [("zoo.predict", "Predictor.from_name", 5)]


def _top_level_names(body: list[ast.stmt]) -> dict[str, ast.AST]:
    """The names a module (or class) body defines, also under ``if``/``try``, imports included."""
    names: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update({n.id: node for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)})
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody"):
                names.update(_top_level_names(getattr(node, block, [])))
            for handler in getattr(node, "handlers", []):
                names.update(_top_level_names(handler.body))
    return names


def missing_references(path: Path) -> list[str]:
    """The ``"module:attr"`` strings in ``path`` whose module is not in the package or does not define the attribute."""
    missing = []
    for module, attr, line in string_references(path):
        where = f"{path.name}:{line}: {module}:{attr}"
        if module not in MODULES:
            missing.append(f"{where}: no module {module}")
            continue
        scope = _top_level_names(parse(MODULES[module]).body)
        for part in attr.split("."):
            node = scope.get(part)
            if node is None:
                missing.append(f"{where}: {MODULES[module].relative_to(ZOO.parent)} defines no {part}")
                break
            scope = _top_level_names(node.body) if isinstance(node, ast.ClassDef) else {}
            if not scope:
                break  # an attribute of a function or a value: as far as reading the source can tell
    return missing


@pytest.mark.parametrize("name", sorted(n for n in MODULES if any(_in(n, key) for key in REGISTRATIONS)))
def test_registration_strings_name_what_exists(name):
    """A family registers ``"module:function"`` strings that nothing imports until a model is built: a typo would
    surface only then. Read the target's source (without importing it) and check the name is defined there."""
    assert not missing_references(MODULES[name]), missing_references(MODULES[name])


def test_the_reference_check_names_a_missing_module_and_attribute(tmp_path):
    source = tmp_path / "family.py"
    source.write_text("A = 'zoo.models.mnist:mnist_cnn'\nB = 'zoo.models.nosuch:x'\nC = 'zoo.models.mnist:no_such_builder'\n"
                      "D = 'zoo.registry:ModelSpec.resolve_factory'\nE = 'zoo.registry:ModelSpec.nothing'\n")
    assert missing_references(source) == [
        "family.py:2: zoo.models.nosuch:x: no module zoo.models.nosuch",
        "family.py:3: zoo.models.mnist:no_such_builder: zoo/models/mnist.py defines no no_such_builder",
        "family.py:5: zoo.registry:ModelSpec.nothing: zoo/registry.py defines no nothing",
    ]


def test_no_module_over_500_lines_and_no_function_over_100():
    long_modules = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 500}
    long_functions = []
    for name, path in MODULES.items():
        for node in ast.walk(parse(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 100:
                    long_functions.append(f"{name}.{node.name}: {length} lines")
    assert not long_modules, f"modules over 500 lines: {long_modules}"
    assert not long_functions, f"functions over 100 lines: {long_functions}"
