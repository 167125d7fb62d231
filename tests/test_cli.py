"""The `zoo` command, called in-process: output, --json, exit codes and one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest

from zoo.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_and_datasets(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and "mnist_cnn" in out and "digits" in out
    code, out, _ = run(capsys, "list", "mnist_c*", "--json")
    assert [m["name"] for m in json.loads(out)] == ["mnist_cnn"]
    code, out, _ = run(capsys, "datasets", "--json")
    assert {"digits", "mnist"} <= {d["name"] for d in json.loads(out)}


def test_info_shows_shapes_weights_and_parameters(capsys):
    code, out, _ = run(capsys, "info", "mnist_cnn", "-k", "n_feature=32")
    assert code == 0 and "Input: float32 [N, 1, 28, 28]" in out and "Parameters: 52,624" in out
    assert "Multiply-adds: 2,125,300 per [1, 28, 28] input" in out
    assert "digits [default]: trained on digits; test split: accuracy=0.98" in out


def test_plugins_json(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    plugins = {p["name"]: p for p in json.loads(out)}
    assert plugins["zoo.families.mnist"]["models"] == ["mnist_cnn", "mnist_mlp"] and plugins["zoo.families.mnist"]["error"] is None


def test_eval_json_with_shipped_weights(capsys, tmp_path):
    code, out, err = run(capsys, "eval", "mnist_cnn", "--data", "digits", "--weights", "digits", "--json", "--plot", str(tmp_path))
    report = json.loads(out)
    assert code == 0 and report["num_samples"] == 359 and report["accuracy"] >= 0.97
    assert (tmp_path / "mnist_cnn-digits-test-confusion.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["info", "vgg17"], "unknown model 'vgg17'"),
        (["eval", "mnist_cnn", "--data", "digitz"], "unknown dataset 'digitz'.*Did you mean: digits"),
        (["eval", "mnist_cnn", "--data", "digits", "--weights", "imagenet"], "has no weights 'imagenet'"),
        (["eval", "mnist_cnn", "--data", "mnist", "--root", "/nonexistent"], "MNIST not found under /nonexistent"),
        (["train", "mnist_cnn", "--data", "digits", "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_errors_are_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and err.startswith("zoo: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert __import__("re").search(message, err), err


def test_bad_arguments_exit_2_in_one_line(capsys):
    code, out, err = run(capsys, "train", "mnist_cnn", "--data", "digits", "-k", "not-a-pair")
    assert code == 2 and err.startswith("zoo: error: ") and err.count("\n") == 1 and "expected KEY=VALUE" in err


def test_verify_catches_a_corrupted_shipped_file(capsys, tmp_path, monkeypatch, repo):
    copy = tmp_path / "weights"
    shutil.copytree(repo / "weights", copy)
    code, out, _ = run(capsys, "verify")
    assert code == 0 and "ok      mnist_cnn.digits" in out
    data = (copy / "mnist_cnn.digits.safetensors").read_bytes()
    (copy / "mnist_cnn.digits.safetensors").write_bytes(data[:-100])
    monkeypatch.setattr("zoo.families.mnist.shipped_manifest_path", lambda: copy / "manifest.json")
    monkeypatch.setattr("zoo.plugins._REGISTRY", None)
    code, out, _ = run(capsys, "verify", "mnist_cnn")
    assert code == 1 and "FAILED  mnist_cnn.digits" in out and "corrupt, truncated or was replaced" in out


@pytest.mark.slow
def test_eval_of_a_two_class_model_plots_the_precision_recall_curve(capsys, tmp_path, monkeypatch):
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
    code, out, _ = run(capsys, "eval", "score_logistic", "--data", "noisy_scores", "--plot", str(tmp_path), "--target-recall", "0.9")
    assert code == 0 and "threshold reaching recall 0.9" in out
    assert (tmp_path / "score_logistic-noisy_scores-test-precision-recall.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = run(capsys, "eval", "score_logistic", "--data", "noisy_scores", "--json")
    report = json.loads(out)
    assert set(report["positive"]) >= {"precision", "recall", "f1", "iou", "dice"} and report["average_precision"] is not None
