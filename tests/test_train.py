"""The trainer: a resumed run ends with the same weights as an uninterrupted one; logs, plots and
the report are written; DDP matches one process; bad settings are clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from zoo.errors import ZooError
from zoo.train import TrainConfig, train


class Interrupt(Exception):
    pass


def _config(out, **overrides):
    fields = dict(model="mnist_cnn", data="digits", epochs=3, batch_size=128, patience=0, seed=7, out=str(out), progress=False)
    return TrainConfig(**{**fields, **overrides})


@pytest.mark.slow
def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(tmp_path):
    whole = train(_config(tmp_path / "whole"))

    def crash_after_first_epoch(record):
        if record["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_config(tmp_path / "resumed"), on_epoch_end=crash_after_first_epoch)
    with pytest.raises(ZooError, match="already holds a run; pass --resume"):
        train(_config(tmp_path / "resumed"))
    with pytest.raises(ZooError, match="other settings.*lr"):
        train(_config(tmp_path / "resumed", resume=True, lr=0.5))
    resumed = train(_config(tmp_path / "resumed", resume=True))

    a, b = load_file(str(whole.weights)), load_file(str(resumed.weights))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["val_loss"] for r in whole.history] == [r["val_loss"] for r in resumed.history]
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    assert (tmp_path / "resumed" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_early_stopping_stops_when_validation_loss_stops_improving(tmp_path):
    result = train(_config(tmp_path / "run", epochs=30, patience=1, lr=0.5, optimizer="sgd", momentum=0.0))
    assert len(result.history) < 30
    best = min(range(len(result.history)), key=lambda i: result.history[i]["val_loss"])
    assert result.best_epoch == best + 1


def test_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(ZooError, match="CUDA is not available"):
        train(_config(tmp_path / "a", device="cuda")) if not torch.cuda.is_available() else pytest.skip("has CUDA")
    with pytest.raises(ZooError, match="unknown optimizer"):
        train(_config(tmp_path / "b", optimizer="lion"))


@pytest.mark.slow
def test_two_processes_match_one_on_the_same_global_batch(tmp_path):
    """DDP on 2 CPU processes (gloo) ends where one process ends with the same global batches."""
    common = dict(epochs=2, batch_size=64, val_fraction=0.2, lr=0.01, optimizer="sgd")
    single = train(_config(tmp_path / "one", **common))
    double = train(_config(tmp_path / "two", nproc=2, **common))
    a, b = load_file(str(single.weights)), load_file(str(double.weights))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    assert double.test_report["confusion_matrix"] == single.test_report["confusion_matrix"]
    assert [r["epoch"] for r in double.history] == [1, 2]


def test_nproc_beyond_the_machine_is_refused(tmp_path):
    with pytest.raises(ZooError, match="--nproc 4096 is more than the"):
        train(_config(tmp_path / "x", nproc=4096))
    with pytest.raises(ZooError, match="must be divisible by --nproc 2"):
        train(_config(tmp_path / "x", nproc=2, batch_size=63))


@pytest.mark.slow
def test_schedules_label_smoothing_and_channels_last_run(tmp_path):
    result = train(_config(tmp_path / "s", epochs=2, schedule="cosine", label_smoothing=0.1, channels_last=True, amp=True))
    assert result.history[0]["lr"] == 1e-3 and result.history[1]["lr"] == pytest.approx(5e-4)
    saved = json.loads((tmp_path / "s" / "report.json").read_text())
    command = saved["command"]
    assert "--schedule cosine --label-smoothing 0.1 --amp --channels-last" in command
    assert saved["validation"].startswith("0.1 of the digits train split")  # digits has no val split
    with pytest.raises(ZooError, match="unknown schedule"):
        train(_config(tmp_path / "t", schedule="linear"))


@pytest.mark.slow
def test_the_same_command_gives_a_byte_identical_weights_file(tmp_path):
    """safetensors writes its metadata in a per-process order; hubzoo sorts it, so the sha256 in report.json
    can be reproduced by anyone who runs the recorded command."""
    from zoo.files import sha256_file
    from zoo.state_dicts import canonical_safetensors

    first = train(_config(tmp_path / "a", model="mnist_mlp", epochs=1))
    second = train(_config(tmp_path / "b", model="mnist_mlp", epochs=1))
    assert sha256_file(first.weights) == sha256_file(second.weights)
    data = first.weights.read_bytes()
    assert canonical_safetensors(data) == data  # already canonical
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    assert list(header["__metadata__"]) == sorted(header["__metadata__"])


@pytest.mark.slow
def test_tensorboard_events_continue_after_a_resume_and_the_report_names_the_device(tmp_path):
    """The run folder holds TensorBoard events, read back with TensorBoard's own reader: every epoch once,
    also when the run was interrupted and resumed."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def crash_after_second_epoch(record):
        if record["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_config(tmp_path / "run"), on_epoch_end=crash_after_second_epoch)
    result = train(_config(tmp_path / "run", resume=True))
    events = EventAccumulator(str(tmp_path / "run"))
    events.Reload()
    assert {"loss/train", "loss/val", "accuracy/val", "f1/val", "lr"} <= set(events.Tags()["scalars"])
    steps = [e.step for e in events.Scalars("loss/val")]
    assert sorted(steps) == [1, 2, 3]
    assert [e.value for e in sorted(events.Scalars("loss/val"), key=lambda e: e.step)] == pytest.approx(
        [r["val_loss"] for r in result.history])
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["device"] == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.slow
def test_without_tensorboard_the_trainer_says_so_once(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    train(_config(tmp_path / "run", epochs=2, progress=True))
    err = capsys.readouterr().err
    assert err.count("tensorboard is not installed") == 1
    assert not list((tmp_path / "run").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("augment, loss", [pytest.param("light", "cross_entropy", marks=pytest.mark.slow),
                                           pytest.param("strong", "mse", marks=pytest.mark.slow), ("none", "auto")])
def test_augmentation_presets_and_losses_train_and_are_in_the_command(tmp_path, augment, loss):
    result = train(_config(tmp_path / "run", epochs=1, augment=augment, loss=loss))
    command = json.loads((tmp_path / "run" / "report.json").read_text())["command"]
    assert (f"--augment {augment}" in command) and ((f"--loss {loss}" in command) == (loss != "auto"))
    assert 0 <= result.test_report["accuracy"] <= 1 and result.history[0]["train_loss"] > 0


@pytest.mark.slow
def test_a_resumed_run_with_strong_augmentation_ends_bit_equal(tmp_path):
    """The presets draw from the global generator, re-seeded at each epoch: resuming repeats the same draws."""
    options = dict(augment="strong", epochs=2)
    whole = train(_config(tmp_path / "whole", **options))

    def crash_after_first_epoch(record):
        if record["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_config(tmp_path / "resumed", **options), on_epoch_end=crash_after_first_epoch)
    resumed = train(_config(tmp_path / "resumed", resume=True, **options))
    a, b = load_file(str(whole.weights)), load_file(str(resumed.weights))
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = train(_config(tmp_path / "plain", augment="none", epochs=2))
    assert any(not torch.equal(a[k], v) for k, v in load_file(str(plain.weights)).items())  # the preset did change training
