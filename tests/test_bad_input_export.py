"""What hubzoo guarantees (README) for exporting and for training that goes wrong part-way: a bad --opset, a full
disk, a diverging run, a broken TensorBoard, --resume with no run to resume. Each ends as one ``zoo: error:``
line with exit status 2 (or, for TensorBoard, one warning and a finished run), names the user's path and never
a temporary's, and leaves nothing half-written; temporaries that a killed export left are removed at the next."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

from tests.test_bad_input import TRAIN, assert_one_error_line, run_cli, tree
from zoo import files, runs

EXPORT = ["export", "mnist_mlp", "--weights", "digits"]


def full_disk_from(monkeypatch, when=lambda folder: True):
    """Make the atomic writer's temporaries in a folder where ``when(folder)`` holds behave as on a full
    disk: they are created, and writing to them fails with ENOSPC from the kernel (``/dev/full``)."""
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        fd, name = real(*args, dir=dir, **kwargs)
        if kwargs.get("suffix") == ".tmp" and dir is not None and when(Path(dir)):  # zoo.files's, no other
            os.close(fd)
            fd = os.open("/dev/full", os.O_WRONLY)
        return fd, name

    monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)


# --- zoo export ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--opset", "999"], "--opset 999 is not valid: expected 7 to "),
    (["--opset", "1"], "--opset 1 is not valid: expected 7 to "),
    (["--format", "pt2", "--opset", "18"], "--opset is for --format onnx"),
])
def test_an_opset_out_of_range_is_refused_before_any_work(capsys, tmp_path, argv, message):
    fmt = "pt2" if "pt2" in argv else "onnx"
    code, _, err = run_cli(capsys, *EXPORT, "--out", tmp_path / f"m.{fmt}", *argv)
    assert_one_error_line(code, err, message)
    assert tree(tmp_path) == set()


@pytest.mark.parametrize("out, message", [
    ("file/m.onnx", "--out {tmp}/file/m.onnx: {tmp}/file is a file, not a folder"),  # was "the folder ... does not exist"
    ("folder", "--out {tmp}/folder is a folder; give the path of the .onnx file to write"),
])
def test_an_out_path_that_cannot_be_the_file_is_refused_before_any_work(capsys, tmp_path, out, message):
    (tmp_path / "file").write_text("mine")
    (tmp_path / "folder").mkdir()
    code, _, err = run_cli(capsys, *EXPORT, "--out", tmp_path / out)
    assert_one_error_line(code, err, message.format(tmp=tmp_path))
    assert tree(tmp_path) == {"file", "folder"}


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_a_model_built_for_other_channels_is_exported_on_its_own_input(capsys, tmp_path, fmt):
    """The example input follows -k in_channels (and weights' preprocessing: efficientnet_lite0.fashion's 1x28x28),
    not the registered [1, 28, 28]: was refused as "cannot export this model" (mnist_cnn expects [N, 3, 28, 28])."""
    code, out, err = run_cli(capsys, "export", "mnist_cnn", "-k", "in_channels=3", "--format", fmt, "--out", tmp_path / f"m.{fmt}")
    assert code == 0, err
    assert "checked against PyTorch on x [3, 3, 28, 28]" in out


@pytest.mark.parametrize("opset", [17, 18, 21])
def test_the_file_has_the_opset_asked_for(capsys, tmp_path, opset):
    import onnx

    code, _, err = run_cli(capsys, *EXPORT, "--out", tmp_path / "m.onnx", "--opset", opset)
    assert code == 0 and err == "", err  # nor the exporter's own warnings
    imports = {i.domain: i.version for i in onnx.load(str(tmp_path / "m.onnx")).opset_import}
    assert imports[""] == opset


def test_an_opset_the_converter_cannot_reach_is_refused(capsys, tmp_path):
    """The exporter writes opset 18; onnx's converter cannot take a Shape node below opset 15."""
    code, _, err = run_cli(capsys, "export", "mnist_cnn", "--out", tmp_path / "m.onnx", "--opset", 13)
    assert_one_error_line(code, err, "mnist_cnn cannot be exported at --opset 13: ")
    assert "No Adapter From Version $15 for Shape" in err and "--opset 18 to " in err
    assert tree(tmp_path) == set()


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_a_full_disk_is_one_line_naming_the_file(capsys, tmp_path, monkeypatch, fmt):
    full_disk_from(monkeypatch)
    target = tmp_path / f"m.{fmt}"
    code, _, err = run_cli(capsys, *EXPORT, "--format", fmt, "--out", target)
    assert_one_error_line(code, err, f"No space left on device: {target}")
    assert ".tmp" not in err
    assert tree(tmp_path) == set()


def test_nothing_is_on_disk_while_the_model_is_traced_and_checked(tmp_path, monkeypatch):
    """The seconds of tracing and checking are when a kill is likely: no temporary exists then to be left."""
    import zoo.export

    seen = []
    check = zoo.export._run_pt2
    monkeypatch.setattr(zoo.export, "_run_pt2", lambda *a: (seen.append(tree(tmp_path)), check(*a))[1])
    zoo.export.export_model("mnist_mlp", format="pt2", out=tmp_path / "m.pt2")
    assert seen == [set()] and tree(tmp_path) == {"m.pt2"}


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_temporaries_of_a_killed_export_are_removed_at_the_next(capsys, tmp_path, fmt):
    """A SIGKILL runs no cleanup: what it leaves is found by name and age, as for every atomic write. Also the
    names earlier versions of `zoo export` gave their temporaries (``.m.XXXX.tmp.pt2``)."""
    stale = [tmp_path / f".m.{fmt}.k1ll3d.tmp", tmp_path / f".m.k1ll3d.tmp.{fmt}"]
    live = tmp_path / f".m.{fmt}.wr1t1ng.tmp"  # a writer at work now
    for path in (*stale, live):
        path.write_bytes(b"\0" * 1000)
    long_ago = time.time() - 2 * files.STALE_AFTER_S
    for path in stale:
        os.utime(path, (long_ago, long_ago))
    code, _, err = run_cli(capsys, *EXPORT, "--format", fmt, "--out", tmp_path / f"m.{fmt}")
    assert code == 0, err
    assert tree(tmp_path) == {f"m.{fmt}", live.name}


# --- zoo train -----------------------------------------------------------------------------------------------

def test_a_diverging_run_names_the_epoch_and_the_option(capsys, tmp_path):
    code, _, err = run_cli(capsys, *TRAIN, "--lr", "1e30", "--epochs", 2, "--out", tmp_path / "run")
    assert_one_error_line(code, err, "training diverged in epoch 1 (")
    assert "lower --lr (now 1e+30)" in err
    assert not (tmp_path / "run").exists()  # no epoch finished: nothing to keep


@pytest.mark.parametrize("when, what", [("before", "the training loss is nan"),
                                         ("after", "the weights hold nan or inf")])
def test_a_run_that_diverges_later_keeps_its_last_good_checkpoint(capsys, tmp_path, monkeypatch, when, what):
    """NaN weights from the start of epoch 3 (a NaN loss), or from its last step (the loss was finite, the
    evaluation would be NaN): either way the error comes before evaluating, and epoch 2's checkpoint stays."""
    import zoo.train

    one_epoch = zoo.train._train_one_epoch

    def poisoned(config, net, fit, data, epoch, *args):
        if epoch == 3 and when == "before":
            _fill_nan(fit.model)
        record = one_epoch(config, net, fit, data, epoch, *args)
        if epoch == 3 and when == "after":
            _fill_nan(fit.model)
        return record

    monkeypatch.setattr(zoo.train, "_train_one_epoch", poisoned)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *TRAIN, "--epochs", 4, "--out", run)
    assert_one_error_line(code, err, f"training diverged in epoch 3 ({what}); lower --lr (now 0.001)")
    assert f"the checkpoint of epoch 2 stays in {run}" in err and "--resume cannot change --lr" in err
    assert runs.load_checkpoint(run / runs.CHECKPOINT, "cpu")["epoch"] == 2
    assert len((run / runs.METRICS_LOG).read_text().splitlines()) == 2
    assert not (run / runs.WEIGHTS).exists() and not (run / runs.REPORT).exists()


def _fill_nan(model):
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))


def test_a_full_disk_mid_run_names_the_folder_and_resume_continues(capsys, tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        full_disk_from(patch, when=lambda folder: (run / runs.CHECKPOINT).exists())  # full after epoch 1's checkpoint
        code, _, err = run_cli(capsys, *TRAIN, "--epochs", 2, "--out", run)
    assert_one_error_line(code, err, f"No space left on device: {run}")
    assert f"once space is freed, --resume continues {run} from its last checkpoint" in err
    assert ".tmp" not in err and not [p for p in tree(run) if ".tmp" in p]
    code, _, err = run_cli(capsys, *TRAIN, "--epochs", 2, "--out", run, "--resume")
    assert code == 0, err
    assert [r["epoch"] for r in runs.read_history(run)] == [1, 2]


class _BrokenTensorBoard(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """An installed tensorboard whose import fails with ``error`` (not an ImportError): protobuf or numpy
    versions it was not built for."""

    def __init__(self, error):
        self.error = error

    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name == "torch.utils.tensorboard" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise self.error


@pytest.mark.parametrize("error", [TypeError("Descriptors cannot be created directly."),
                                   AttributeError("module 'numpy' has no attribute 'object'")])
def test_a_broken_tensorboard_is_one_warning_and_training_goes_on(capsys, tmp_path, monkeypatch, error):
    monkeypatch.delitem(sys.modules, "torch.utils.tensorboard", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenTensorBoard(error), *sys.meta_path])
    code, _, err = run_cli(capsys, "train", "mnist_mlp", "--data", "digits", "--epochs", 1, "--out", tmp_path / "run")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "tensorboard" in line.lower()]
    assert len(warnings) == 1 and type(error).__name__ in warnings[0] and "Traceback" not in err, err
    assert warnings[0].startswith("zoo: warning: ") and (tmp_path / "run" / runs.WEIGHTS).is_file()


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_resume_with_no_run_there_is_refused(capsys, tmp_path, make):
    run = tmp_path / "run"
    if make == "empty":
        run.mkdir()
    code, _, err = run_cli(capsys, *TRAIN, "--out", run, "--resume")
    assert_one_error_line(code, err, f"there is no run in {run} to resume")
    assert tree(tmp_path) == ({"run"} if make == "empty" else set())


def test_the_atomic_writer_names_its_target_not_its_temporary(tmp_path, monkeypatch):
    full_disk_from(monkeypatch)
    with pytest.raises(OSError) as error:
        files.atomic_write_bytes(tmp_path / "x.bin", b"data" * 10_000)
    assert error.value.errno == 28 and error.value.filename == str(tmp_path / "x.bin")
    assert tree(tmp_path) == set()
