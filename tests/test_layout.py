"""Tests mirror the code (README, "Layout"): every package ``zoo/<folder>/`` has a test folder ``tests/<folder>/``,
and every module ``zoo/<folder>/<module>.py`` a test module ``tests/<folder>/test_<module>.py`` (or several,
``test_<module>_<aspect>.py``). Read from the file tree, so a module or package is held to it the day it is
added; ``__init__.py`` files are tested through their package's modules and are not required to have one."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ZOO, TESTS = REPO / "zoo", REPO / "tests"

#: Modules with no test module of their own, and where they are tested instead. Keep it short: a module
#: that grows logic of its own gets a test module.
TESTED_ELSEWHERE = {
    "zoo/__main__.py": "`python -m zoo`: two lines that call zoo.cli.main, whose tests are tests/cli/",
    "zoo/errors.py": "the exception classes only; every error test raises and matches them (tests/test_bad_input.py)",
    "zoo/version.py": "one constant, recorded in every run report and manifest entry (tests/test_runs.py)",
    # Split out of a tested module; their tests are still the parent's (a module of their own ends the entry).
    "zoo/cli/demo.py": "`zoo demo`, run end to end through main() by tests/test_demo.py",
    "zoo/cli/predicting.py": "`zoo predict`, driven through main() by tests/test_predict.py",
    "zoo/distributed.py": "the trainer's process group and per-rank batches: tests/test_train.py (two processes match one)",
    "zoo/reports.py": "the evaluator's report definitions, checked against sklearn and torchmetrics by tests/test_metrics.py",
    "zoo/state_dicts.py": "safetensors reading and writing behind every load: tests/test_weights.py, tests/test_bases.py",
}

PACKAGES = sorted(p.parent.relative_to(REPO) for p in ZOO.rglob("__init__.py") if p.parent != ZOO)
MODULES = sorted(p.relative_to(REPO) for p in ZOO.rglob("*.py") if p.name != "__init__.py")


def test_modules(module: Path) -> list[Path]:
    """The test modules of ``zoo/<folder>/<module>.py``: ``tests/<folder>/test_<module>[_<aspect>].py``."""
    folder = TESTS.joinpath(*module.parent.parts[1:])
    return sorted(folder.glob(f"test_{module.stem}.py")) + sorted(folder.glob(f"test_{module.stem}_*.py"))


test_modules.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("package", PACKAGES, ids=str)
def test_every_package_has_a_test_folder(package):
    folder = TESTS.joinpath(*package.parts[1:])
    assert folder.is_dir(), f"{package}/ has no test folder: create {folder.relative_to(REPO)}/"
    # Test modules of the same name in two folders (tests/luna/test_models.py, tests/test_models.py) need packages.
    assert (folder / "__init__.py").is_file(), f"add {folder.relative_to(REPO)}/__init__.py"


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_every_module_has_a_test_module(module):
    if str(module) in TESTED_ELSEWHERE:
        return
    expected = TESTS.joinpath(*module.parent.parts[1:], f"test_{module.stem}.py").relative_to(REPO)
    assert test_modules(module), f"{module} has no test module: create {expected} (or name it in TESTED_ELSEWHERE, with why)"


def test_every_test_folder_mirrors_a_package_and_the_exceptions_are_current():
    folders = sorted(p.relative_to(TESTS) for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__")
    orphans = [f for f in folders if not (ZOO / f / "__init__.py").is_file()]
    assert not orphans, f"test folders that mirror no package of zoo/ (renamed or removed?): {orphans}"
    stale = [m for m in TESTED_ELSEWHERE if not (REPO / m).is_file() or test_modules(Path(m))]
    assert not stale, f"TESTED_ELSEWHERE names modules that are gone or now have test modules: {stale}"
