"""The package's layers (README, "Layout"): every ``zoo`` module imports only from its own layer or below,
there is no import cycle, and no module imports the ``zoo`` facade. Imports inside functions count: they
run too. Read from the source with ``ast``, so nothing is imported to check it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parent.parent / "zoo"

#: Module (or package prefix) -> layer, bottom 0. The longest matching prefix wins.
LAYERS = {
    "zoo.errors": 0, "zoo.hookspecs": 0, "zoo.files": 0, "zoo.version": 0, "zoo.progress": 0,
    "zoo.metrics": 1, "zoo.confusion": 1, "zoo.curves": 1, "zoo.inference": 1, "zoo.plots": 1, "zoo.evaluation": 1, "zoo.preprocess": 1,
    "zoo.augment": 1, "zoo.losses": 1,
    "zoo.download": 2,
    "zoo.weights": 3,
    "zoo.families": 4, "zoo.luna.family": 4,
    "zoo.models": 5, "zoo.datasets": 5, "zoo.luna": 5,
    "zoo.runs": 6,
    "zoo.registry": 7,
    "zoo.builder": 8,
    "zoo.plugins": 9,
    "zoo.api": 10,
    "zoo.train": 11, "zoo.hub": 11, "zoo.reverify": 11, "zoo.pin": 11, "zoo.export": 11, "zoo.predict": 11, "zoo.demo": 11,
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


def imported_modules(module: str, path: Path) -> set[str]:
    """The ``zoo`` modules ``module`` imports anywhere in its source (``from zoo import runs`` is ``zoo.runs``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m == "zoo" or m.startswith("zoo.")}


GRAPH = {name: imported_modules(name, path) - {name} for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    for name in MODULES:
        assert any(_in(name, k) for k in LAYERS), f"{name} is in no layer: add it to LAYERS and the README"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down(name):
    upward = sorted(f"{m} (layer {layer_of(m)})" for m in GRAPH[name] if layer_of(m) > layer_of(name))
    assert not upward, f"{name} (layer {layer_of(name)}) imports from higher layers: {upward}"
    if name != "zoo":
        assert "zoo" not in GRAPH[name], f"{name} imports the zoo facade; import zoo.api (or the module) instead"


def test_no_import_cycle():
    """Depth-first search for a back edge; the message names the cycle."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt in GRAPH and state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if state.get(name) is None:
            visit(name)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """The check would miss the cycles it exists for if it read only module-level imports."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from zoo.train import train\n    import zoo.cli\n")
    assert imported_modules("zoo.metrics", source) >= {"zoo.train", "zoo.cli"}
    assert any(layer_of(m) > layer_of("zoo.metrics") for m in imported_modules("zoo.metrics", source))


def test_no_module_over_600_lines_and_no_function_over_100():
    long_modules = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 600}
    long_functions = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 100:
                    long_functions.append(f"{name}.{node.name}: {length} lines")
    assert not long_modules, f"modules over 600 lines: {long_modules}"
    assert not long_functions, f"functions over 100 lines: {long_functions}"
