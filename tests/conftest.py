"""Shared fixtures. The suite runs in one process: `import torch` is slow on these machines."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Matplotlib must not try to open a window; tests never touch the user's caches.
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_homes(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("zoo_home")
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.setenv("ZOO_DATA", str(home / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no test may reach the network
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.delenv("ZOO_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("ZOO_DISABLE_PLUGINS", raising=False)


@pytest.fixture
def repo() -> Path:
    return REPO


def _copy_checkout(target: Path) -> Path:
    """Copy what torch.hub needs of this checkout (hubconf.py, zoo/, weights/) to ``target``."""
    target.mkdir(parents=True)
    shutil.copy(REPO / "hubconf.py", target / "hubconf.py")
    for name in ("zoo", "weights"):
        shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def copy_checkout():
    return _copy_checkout


@pytest.fixture
def cached_hub_repo(tmp_path, monkeypatch) -> str:
    """This checkout as torch.hub's cached copy of "owner/hubzoo:main" (no network needed with
    trust_repo=True, skip_validation=True)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    _copy_checkout(tmp_path / "torch" / "hub" / "owner_hubzoo_main")
    return "owner/hubzoo:main"
