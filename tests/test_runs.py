"""The run folder (zoo/runs.py): TrainConfig's command line and defaults, resumability, the report ->
manifest conversion used by pinning and publishing."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from zoo import runs
from zoo.cli import build_parser
from zoo.errors import ZooError
from zoo.runs import TrainConfig
from zoo.weights import MANIFEST_METRICS


def test_command_names_only_what_differs_from_the_defaults():
    config = TrainConfig("mnist_cnn", "digits", epochs=30, lr=0.01, augment="none", loss="mse", model_kwargs={"n_feature": 32},
                         data_kwargs={"permute_pixels": 0}, device="cuda", progress=False)
    assert config.command() == ("zoo train mnist_cnn --data digits --epochs 30 --lr 0.01 --loss mse --augment none "
                                "-k n_feature=32 -d permute_pixels=0")
    assert TrainConfig("a", "b").run_dir.as_posix() == "runs/a-b"


def test_the_train_options_come_from_the_config():
    """Every field is an option with the field's default, so the defaults live in one place."""
    args = build_parser().parse_args(["train", "mnist_cnn", "--data", "digits"])
    for f in fields(TrainConfig):
        expected = runs.default_of(f.name)
        parsed = getattr(args, f.name)
        if isinstance(expected, dict):
            assert parsed == [], f.name  # -k/-d collect KEY=VALUE pairs
        elif f.name not in ("model", "data"):
            assert parsed == expected, f.name
    args = build_parser().parse_args(["train", "m", "--data", "d", "--augment", "strong", "--quiet", "--amp", "-k", "n_feature=32",
                                      "--optimizer", "sgd", "--batch-size", "8"])
    assert (args.augment, args.progress, args.amp, args.model_kwargs, args.optimizer, args.batch_size) == (
        "strong", False, True, [("n_feature", 32)], "sgd", 8)
    with pytest.raises(ZooError, match="invalid choice: 'lion'"):
        build_parser().parse_args(["train", "m", "--data", "d", "--optimizer", "lion"])


def test_a_resumed_run_must_keep_its_settings(tmp_path):
    config = TrainConfig("mnist_cnn", "digits", out=str(tmp_path))
    runs.write_config(config)
    runs.check_resumable(TrainConfig("mnist_cnn", "digits", out=str(tmp_path), epochs=20, device="cuda", resume=True))
    with pytest.raises(ZooError, match="other settings \\(lr: 0.001 -> 0.1\\)"):
        runs.check_resumable(TrainConfig("mnist_cnn", "digits", out=str(tmp_path), lr=0.1))
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["val_from_train"]  # a run from before the option existed resumes with its default
    (tmp_path / "config.json").write_text(json.dumps(saved))
    runs.check_resumable(config)


def test_report_to_manifest_metrics_and_training(tmp_path):
    report = {"model": "x", "dataset": "y", "split": "test", "command": "zoo train x --data y", "epochs_run": 3, "best_epoch": 2, "sha256": "0" * 64,
              "versions": {"hubzoo": "0.1.0", "torch": "2"}, "metrics": {"accuracy": 0.5, "f1": 0.25, "loss": 1.0}}
    runs.write_report(tmp_path, report)
    read = runs.read_report(tmp_path)
    metrics = runs.manifest_metrics(read)
    assert metrics["split"] == "test" and metrics["accuracy"] == 0.5 and set(metrics) == {"split", *MANIFEST_METRICS}
    assert metrics["miou"] is None  # not measured for this task: said, not invented
    assert runs.manifest_training(read) == {"command": "zoo train x --data y", "epochs_run": 3, "best_epoch": 2,
                                            "hubzoo": "0.1.0", "torch": "2"}
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(ZooError, match="not valid JSON"):
        runs.read_report(tmp_path)
    with pytest.raises(ZooError, match="no report.json"):
        runs.read_report(tmp_path / "missing")
