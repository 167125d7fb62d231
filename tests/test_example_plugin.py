"""The installable example plugin, end to end: `pip install -e plugins/zoo-example-plugin`, then its
model and dataset appear in `zoo list`, `zoo info`, `zoo plugins`, torch.hub (cached checkout and local
directory), train with `zoo train`, evaluate with `zoo eval` and publish with `zoo publish --dry-run`.
The plugin is uninstalled again at the end."""

from __future__ import annotations

import importlib
import json
import runpy
import site
import struct
import subprocess
import sys
import sysconfig

import pytest
import torch

from zoo.cli import main
from zoo.plugins import reset_registry

PLUGIN = "zoo-example-plugin"


@pytest.fixture(scope="module")
def installed(request):
    repo = request.config.rootpath
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "--editable", str(repo / "plugins" / PLUGIN)],
                   check=True, capture_output=True, text=True)
    site.addsitedir(sysconfig.get_paths()["purelib"])  # run the new .pth file in this process
    importlib.invalidate_caches()
    reset_registry()
    yield repo / "plugins" / PLUGIN
    subprocess.run([*pip, "uninstall", "--yes", PLUGIN], check=True, capture_output=True)
    reset_registry()


def _write_kmnist(root, n_train=96, n_test=32):
    """A tiny Kuzushiji-MNIST in its real IDX layout (torchvision's): class c is a bright bar at row 2c."""
    raw = root / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = torch.arange(n, dtype=torch.uint8) % 10
        images = torch.randint(0, 40, (n, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))
        for i, c in enumerate(labels.tolist()):
            images[i, 2 * c + 2 : 2 * c + 5, 4:24] = 255
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.numpy().tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.numpy().tobytes())
    return root


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_plugin_appears_everywhere(installed, capsys, cached_hub_repo, repo):
    assert "resnet18_cifar" in run(capsys, "list")
    plugins = {p["name"]: p for p in json.loads(run(capsys, "plugins", "--json"))}
    assert plugins["example"]["version"] == "0.1.0" and plugins["example"]["error"] is None
    assert plugins["example"]["models"] == ["resnet18_cifar"] and plugins["example"]["datasets"] == ["kmnist"]
    assert plugins["example"]["hooks"] == ["register_models", "register_datasets"]
    assert "Parameters: 11,173,962" in run(capsys, "info", "resnet18_cifar")

    assert "resnet18_cifar" in torch.hub.list(cached_hub_repo, trust_repo=True, skip_validation=True, verbose=False)
    model = torch.hub.load(str(repo), "resnet18_cifar", source="local", num_classes=4)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 4)
    runpy.run_path(str(installed / "tests" / "test_plugin_in_process.py"))["test_registers_its_model_and_dataset"]()


@pytest.mark.slow
def test_the_plugin_trains_evaluates_and_publishes(installed, capsys, tmp_path):
    root = str(_write_kmnist(tmp_path / "data"))
    out_dir = tmp_path / "run"
    run(capsys, "train", "resnet18_cifar", "--data", "kmnist", "--root", root, "-k", "in_channels=1",
        "--epochs", "1", "--batch-size", "32", "--out", str(out_dir), "--quiet")
    report = json.loads((out_dir / "report.json").read_text())
    assert report["model"] == "resnet18_cifar" and report["metrics"]["num_samples"] == 32
    evaluated = json.loads(run(capsys, "eval", "resnet18_cifar", "--data", "kmnist", "--root", root,
                               "--weights", str(out_dir / "model.safetensors"), "--json"))
    assert evaluated["confusion_matrix"] == report["metrics"]["confusion_matrix"]
    staged = tmp_path / "staged"
    run(capsys, "publish", "resnet18_cifar", "--weights", str(out_dir / "model.safetensors"), "--repo-id", "me/resnet", "--dry-run", str(staged),
        "--root", root)
    assert json.loads((staged / "config.json").read_text())["in_channels"] == 1
