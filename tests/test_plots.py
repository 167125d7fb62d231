"""Tests for zoo.plots: files exist, are valid PNGs, writes are atomic, no temp file is left behind."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from zoo import plots
from zoo.metrics import Evaluator


def assert_png(path, directory, min_size=(200, 150)):
    assert os.path.isfile(path)
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1]
        im.verify()
    leftovers = [f for f in os.listdir(directory) if f.endswith(".tmp") or f.startswith(".")]
    assert leftovers == []


def test_import_is_lazy():
    code = "import sys, zoo.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_confusion_matrix_from_report_and_matrix(tmp_path):
    ev = Evaluator("segmentation", 3, class_names=["background", "liver", "tumor"])
    g = torch.Generator().manual_seed(0)
    ev.update(torch.randint(0, 3, (2, 8, 8), generator=g), torch.randint(0, 3, (2, 8, 8), generator=g))
    p = plots.plot_confusion_matrix(ev.compute(), tmp_path / "cm.png")
    assert p == str(tmp_path / "cm.png")
    assert_png(p, tmp_path)
    # plain matrix, a class with no support (all-zero row), many classes (no annotations)
    m = np.arange(16).reshape(4, 4)
    m[2] = 0
    assert_png(plots.plot_confusion_matrix(m, tmp_path / "m.png", class_names=list("abcd")), tmp_path)
    assert_png(plots.plot_confusion_matrix(torch.eye(20, dtype=torch.long) * 5, tmp_path / "big.png"), tmp_path)
    with pytest.raises(ValueError, match=r"class_names has 2 names but the matrix is 3 x 3"):
        plots.plot_confusion_matrix(np.eye(3), tmp_path / "bad.png", class_names=["a", "b"])
    with pytest.raises(ValueError, match=r"confusion matrix must be square C x C, got shape \(2, 3\)"):
        plots.plot_confusion_matrix(np.ones((2, 3)), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_precision_recall(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(int)
    s = np.clip(0.4 * y + 0.6 * rng.random(300), 0, 1)
    assert_png(plots.plot_precision_recall(torch.from_numpy(s), torch.from_numpy(y), tmp_path / "pr.png"), tmp_path)
    assert_png(plots.plot_precision_recall(s, y, tmp_path / "pr2.png", target_recall=0.9), tmp_path)


def test_segmentation_overlays_2d_3d_and_scores(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    tgt = np.stack([((yy - 12 - i) ** 2 + (xx - 15) ** 2 < 49).astype(np.int64) for i in range(6)])
    tgt[:, 25:28, 25:28] = 2
    prd = np.roll(tgt, 2, axis=2)
    img = tgt + rng.normal(0, 0.4, tgt.shape)
    p = plots.plot_segmentation_overlays(img, tgt, prd, tmp_path / "seg.png", max_items=3)
    assert_png(p, tmp_path)
    # 3D volumes with channel dim, score predictions [N, C, D, H, W], an empty volume, ignore_index
    vol_t = np.zeros((2, 5, 32, 32), np.int64)
    vol_t[0, 3] = tgt[0]
    vol_t[0, 0, :2] = 255
    scores = torch.from_numpy(np.stack([1 - vol_t.clip(0, 1), vol_t.clip(0, 1)], 1)).float()
    vol_i = torch.randn(2, 1, 5, 32, 32)
    p = plots.plot_segmentation_overlays(vol_i, torch.from_numpy(vol_t), scores, tmp_path / "vol.png", ignore_index=255)
    assert_png(p, tmp_path)
    with pytest.raises(ValueError, match=r"expected images/targets/preds \[N, H, W\] or \[N, D, H, W\] of one shape"):
        plots.plot_segmentation_overlays(img, tgt[:, :30], prd, tmp_path / "bad.png")


def test_training_curves_with_missing_values(tmp_path):
    recs = [
        {"epoch": 1, "train_loss": 1.0, "val_loss": None, "train_accuracy": 0.5},
        {"epoch": 2, "train_loss": 0.7, "val_loss": 0.9, "train_accuracy": 0.6, "val_accuracy": 0.55},
        {"epoch": 3, "train_loss": 0.5, "val_loss": 0.8, "train_accuracy": None, "val_accuracy": 0.6},
    ]
    assert_png(plots.plot_training_curves(recs, tmp_path / "curves.png"), tmp_path)
    assert_png(plots.plot_training_curves([{"train_loss": 1.0}], tmp_path / "one.png"), tmp_path)
    assert_png(plots.plot_training_curves([], tmp_path / "empty.png"), tmp_path)


def test_write_is_atomic_on_failure_and_overwrite(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    target = tmp_path / "sub" / "curves.png"
    plots.plot_training_curves([{"epoch": 1, "train_loss": 1.0}], target)  # creates the directory
    before = target.read_bytes()

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.plot_training_curves([{"epoch": 1, "train_loss": 2.0}], target)
    assert target.read_bytes() == before  # old file untouched
    assert os.listdir(target.parent) == ["curves.png"]  # temp file removed
    monkeypatch.undo()
    plots.plot_training_curves([{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.0}], target)
    assert target.read_bytes() != before
    assert_png(str(target), target.parent)
