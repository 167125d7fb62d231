"""Shared fixtures. The suite runs in one process: `import torch` is slow on these machines."""

from __future__ import annotations

import hashlib
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


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An offline Hub cache holding a staged mnist_cnn folder as repo me/mnist-cnn at COMMIT (tag v1)."""
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    from zoo.hub import stage

    staged = stage("mnist_cnn", "digits", tmp_path / "staged", repo_id="me/mnist-cnn")
    repo = cache / "models--me--mnist-cnn"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "refs" / "v1").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for item in staged.iterdir():
        digest = hashlib.sha256(item.read_bytes()).hexdigest()  # LFS blobs are named by their sha256
        shutil.copy(item, repo / "blobs" / digest)
        (snapshot / item.name).symlink_to(f"../../blobs/{digest}")
    return repo
