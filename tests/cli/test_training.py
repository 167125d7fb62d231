"""``zoo train`` and ``zoo eval`` (zoo/cli/training.py)."""

from __future__ import annotations

import json

import pytest


def test_eval_json_with_shipped_weights(cli, tmp_path):
    code, out, err = cli("eval", "mnist_cnn", "--data", "digits", "--weights", "digits", "--json", "--plot", tmp_path)
    report = json.loads(out)
    assert code == 0 and report["num_samples"] == 359 and report["accuracy"] >= 0.97
    assert (tmp_path / "mnist_cnn-digits-test-confusion.png").exists()


@pytest.mark.slow
def test_eval_of_a_two_class_model_plots_the_precision_recall_curve(cli, tmp_path, monkeypatch):
    """A plugin's binary model and dataset, evaluated with --plot and --target-recall."""
    import torch
    from torch import nn

    from zoo import hookimpl
    from zoo.plugins import build_registry

    class Scores(torch.utils.data.Dataset):
        class_names = ("negative", "positive")

        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.y = torch.randint(0, 2, (200,), generator=g)
            self.x = (self.y.float() + torch.randn(200, generator=g) * 0.8).unsqueeze(1)

        def __len__(self):
            return 200

        def __getitem__(self, i):
            return self.x[i], int(self.y[i])

    class BinaryPlugin:
        __name__ = "binary-plugin"

        @hookimpl
        def register_models(self, register):
            register("score_logistic", lambda: nn.Sequential(nn.Linear(1, 2)), task="classification")

        @hookimpl
        def register_datasets(self, register):
            register("noisy_scores", lambda split="train", root=None, download=False: Scores(), task="classification", num_classes=2)

    monkeypatch.setattr("zoo.plugins._REGISTRY", build_registry(extra_plugins=[BinaryPlugin()], use_entry_points=False))
    code, out, _ = cli("eval", "score_logistic", "--data", "noisy_scores", "--plot", tmp_path, "--target-recall", "0.9")
    assert code == 0 and "threshold reaching recall 0.9" in out
    assert (tmp_path / "score_logistic-noisy_scores-test-precision-recall.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = cli("eval", "score_logistic", "--data", "noisy_scores", "--json")
    report = json.loads(out)
    assert set(report["positive"]) >= {"precision", "recall", "f1", "iou", "dice"} and report["average_precision"] is not None
