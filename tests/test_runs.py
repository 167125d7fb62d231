"""The run folder (zoo/runs.py): TrainConfig's command line and defaults, resumability, the report ->
manifest conversion used by pinning and publishing."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, fields, replace

import pytest
import torch

from zoo import runs
from zoo.cli import build_parser, main
from zoo.errors import ZooError
from zoo.runs import TrainConfig
from zoo.weights import MANIFEST_METRICS, manifest_metrics, manifest_training


def test_command_names_only_what_differs_from_the_defaults():
    config = TrainConfig("mnist_cnn", "digits", epochs=30, lr=0.01, augment="none", loss="mse", model_kwargs={"n_feature": 32},
                         data_kwargs={"permute_pixels": 0}, device="cuda", progress=False)
    assert config.command() == ("zoo train mnist_cnn --data digits --epochs 30 --lr 0.01 --loss mse --augment none "
                                "--device cuda -k n_feature=32 -d permute_pixels=0")
    assert TrainConfig("a", "b").run_dir.as_posix() == "runs/a-b"


#: A value other than the default for every field the command records, so the command names each of them.
EVERY_OPTION = dict(
    root="my data/sms.csv", epochs=3, batch_size=8, optimizer="sgd", lr=0.05, momentum=0.5, weight_decay=1e-4,
    schedule="step", step_size=2, gamma=0.5, label_smoothing=0.1, loss="cross_entropy", augment="light", amp=True,
    channels_last=True, val_fraction=0.25, val_from_train=True, patience=2, seed=3, device="cpu", init="mnist_cnn.digits",
    freeze="backbone", feature_cache=False, workers=2, nproc=2, download=True,
    model_kwargs={"n_feature": 8, "name": "it's", "as_text": "32", "flag": True, "nothing": None, "sizes": [1, 2]},
    data_kwargs={"text_column": "body text", "split_seed": 1},
)


def test_the_command_reads_back_as_the_same_config():
    """Every option that differs from its default is in the command, quoted, and ``zoo train``'s parser reads it
    back as the same config: only ``--out``, ``--resume`` and ``--quiet`` (where and how, not what) are left out."""
    config = TrainConfig("mnist_cnn", "text_csv", **EVERY_OPTION, out="runs/here", resume=True, progress=False)
    unrecorded = {f.name for f in fields(TrainConfig) if not f.metadata.get("recorded", True)}
    assert unrecorded == {"out", "resume", "progress"}
    assert {f.name for f in fields(TrainConfig)} - unrecorded - set(EVERY_OPTION) == {"model", "data"}  # all covered
    command = config.command()
    assert command.startswith("zoo train mnist_cnn --data text_csv --root 'my data/sms.csv' --epochs 3 ")
    assert "--out" not in command and "--resume" not in command and "--quiet" not in command
    words = shlex.split(command)
    args = build_parser().parse_args(words[1:])
    read = TrainConfig(**{**{f.name: getattr(args, f.name) for f in fields(TrainConfig)},
                          "model_kwargs": dict(args.model_kwargs), "data_kwargs": dict(args.data_kwargs)})
    assert asdict(read) == asdict(replace(config, out=None, resume=False, progress=True))


@pytest.mark.slow
def test_the_recorded_command_retrains_the_same_bytes_and_pinning_keeps_it(tmp_path):
    """A run on the user's own images (a folder whose name needs quoting) with non-default options, data and
    builder arguments: its report's command, run as written into a fresh folder, writes the same weights."""
    from PIL import Image

    from zoo.pin import pin_run
    from zoo.weights import read_manifest

    root = tmp_path / "my images"
    noise = torch.Generator().manual_seed(0)
    for k, name in enumerate(("cat", "dog", "owl")):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = (torch.rand(20, 20, generator=noise) * 60 + 80 * k).to(torch.uint8)
            Image.fromarray(pixels.numpy(), mode="L").save(root / name / f"{i}.png")
    options = ["--epochs", "2", "--batch-size", "8", "--optimizer", "sgd", "--lr", "0.02", "--schedule", "step",
               "--step-size", "1", "--gamma", "0.5", "--label-smoothing", "0.1", "--augment", "light", "--seed", "5",
               "--patience", "0", "-k", "num_classes=3", "-k", "n_feature=4", "-d", "split_seed=2", "-d", "test_fraction=0.25"]
    first = tmp_path / "first"
    assert main(["train", "mnist_cnn", "--data", "imagefolder", "--root", str(root), *options, "--out", str(first), "--quiet"]) == 0
    command = json.loads((first / "report.json").read_text())["command"]
    words = shlex.split(command)
    assert words[:3] == ["zoo", "train", "mnist_cnn"] and "--out" not in words and "--quiet" not in words
    assert words[words.index("--root") + 1] == str(root) and f"'{root}'" in command  # quoted: the folder has a space
    assert all(option in words for option in options), command

    again = tmp_path / "again"
    assert main([*words[1:], "--out", str(again)]) == 0
    assert (again / "model.safetensors").read_bytes() == (first / "model.safetensors").read_bytes()

    pin_run(first, tag="mine", manifest=tmp_path / "weights" / "manifest.json")
    assert read_manifest(tmp_path / "weights" / "manifest.json")["mnist_cnn.mine"].training["command"] == command


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
    config = TrainConfig("mnist_cnn", "digits", out=str(tmp_path)).with_lr()  # as train() writes it: lr decided
    runs.write_config(config)
    runs.check_resumable(TrainConfig("mnist_cnn", "digits", out=str(tmp_path), epochs=20, device="cuda", resume=True).with_lr())
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
    metrics = manifest_metrics(read)
    assert metrics["split"] == "test" and metrics["accuracy"] == 0.5 and set(metrics) == {"split", *MANIFEST_METRICS}
    assert metrics["miou"] is None  # not measured for this task: said, not invented
    assert manifest_training(read) == {"command": "zoo train x --data y", "epochs_run": 3, "best_epoch": 2,
                                            "hubzoo": "0.1.0", "torch": "2"}
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(ZooError, match="not valid JSON"):
        runs.read_report(tmp_path)
    with pytest.raises(ZooError, match="no report.json"):
        runs.read_report(tmp_path / "missing")


def test_the_learning_rate_left_out_is_decided_by_what_trains():
    assert TrainConfig("mnist_cnn", "digits").with_lr().lr == runs.DEFAULT_LR == 1e-3
    assert TrainConfig("mnist_cnn", "digits", freeze="backbone").with_lr().lr == runs.HEAD_ONLY_LR == 1e-2
    assert TrainConfig("mnist_cnn", "digits", freeze="backbone", lr=0.5).with_lr().lr == 0.5
    # A decided default is left out of the command, which decides it again the same way; another value is written.
    assert "--lr" not in TrainConfig("mnist_cnn", "digits", freeze="backbone").with_lr().command()
    assert "--lr 0.001" in TrainConfig("mnist_cnn", "digits", freeze="backbone", lr=1e-3).command()
    assert "--lr 0.01" in TrainConfig("mnist_cnn", "digits", lr=1e-2).command()
