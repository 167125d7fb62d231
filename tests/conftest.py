"""Shared fixtures. The suite runs in one process: `import torch` is slow on these machines."""

from __future__ import annotations

import os
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
