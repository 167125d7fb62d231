"""Bad input around the checks and the output (README, "What hubzoo guarantees"), one table per promise:

* ``zoo verify --metrics`` skips an entry only when its data is absent (and says how to get it); data that is
  damaged or a record that is wrong (a split, dataset or metric that does not exist) fails it, exit status 3;
* ``--json`` output is strict JSON: NaN and infinities are ``null``;
* a reader that stops early (``zoo list | head -1``) ends the command quietly;
* a message at the command line gives command-line advice (``--download``), the Python API its own (``download=True``);
* a damaged archive is one line.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from tests.test_bad_input import assert_one_error_line, run_cli
from zoo.cli import main
from zoo.cli.options import EXIT_BROKEN_PIPE, EXIT_CHECK_FAILED, EXIT_OK
from zoo.errors import ZooError
from zoo.weights import read_manifest, shipped_manifest_path, user_manifest_path, write_manifest_entry

# ------------------------------------------------------------------------ zoo verify --metrics: skip or fail


def _pin_copy(monkeypatch, base: str, **changes) -> str:
    """A user manifest entry ``ARCH.check``: a copy of shipped ``base`` with ``changes``; the registry reloads."""
    shipped = read_manifest(shipped_manifest_path())[base]
    folder = user_manifest_path().parent
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(shipped.path, folder / f"{shipped.arch}.check.safetensors")
    write_manifest_entry(user_manifest_path(), dataclasses.replace(
        shipped, tag="check", file=f"{shipped.arch}.check.safetensors", base_dir=str(folder), default=False, **changes))
    monkeypatch.setattr("zoo.plugins._REGISTRY", None)
    return f"{shipped.arch}.check"


def _metrics(**changes) -> dict:
    return {**read_manifest(shipped_manifest_path())["mnist_mlp.digits"].metrics, **changes}


_IDX_IMAGES = struct.pack(">4B3I", 0, 0, 8, 3, 10000, 28, 28)  # the header of Fashion-MNIST's test images
_IDX_LABELS = struct.pack(">4BI", 0, 0, 8, 1, 10000) + bytes(10000)


def _fashion_files(data: Path, images: bytes, name: str = "t10k-images-idx3-ubyte") -> None:
    folder = data / "fashion-mnist"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(images)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_IDX_LABELS)


def _garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(0).bytes(3000))
    return path


# (entry: shipped entry to check, changes: to its record (pinned as ARCH.check), damage: done to $ZOO_DATA, message)
RECORD_OR_DATA_WRONG = [
    ("mnist_mlp.digits", {"metrics": _metrics(split="validation")}, None, "has no split 'validation'"),
    ("mnist_mlp.digits", {"dataset": "digitz"}, None, "unknown dataset 'digitz'"),
    ("mnist_mlp.digits", {"metrics": _metrics(acuracy=0.9)}, None, "unknown metric 'acuracy'"),
    ("mnist_mlp.digits", {"metrics": _metrics(accuracy="high")}, None, "accuracy 'high' is not a number"),
    # a dataset that exists but is not one the model runs on (was the evaluator's ValueError: exit 1, no entry checked)
    ("mnist_mlp.digits", {"dataset": "reviews"}, None, "dataset 'reviews' holds text-classification data, but mnist_mlp is "
                                                       "a classification model: the entry's dataset is wrong"),
    ("mnist_mlp.digits", {"class_names": ("odd", "even")}, None, "the entry names 2 classes, but dataset 'digits' has 10"),
    ("mnist_mlp.fashion", {}, lambda data: _fashion_files(data, _IDX_IMAGES + bytes(5000)), "truncated or damaged"),
    ("mnist_mlp.fashion", {}, lambda data: _fashion_files(data, gzip.compress(_IDX_IMAGES + bytes(784 * 10000))[:300],
                                                          "t10k-images-idx3-ubyte.gz"), "is not a readable gzip file"),
    ("lstm_sentiment.movies", {}, lambda data: _garbage(data / "vaderSentiment-3.3.2.tar.gz"), "is not a readable tar archive"),
]


@pytest.mark.parametrize("entry, changes, damage, message", RECORD_OR_DATA_WRONG,
                         ids=["split", "dataset", "metric-name", "metric-value", "text-dataset", "class-count", "truncated-idx",
                              "truncated-gz", "garbage-sdist"])
def test_verify_fails_a_wrong_record_or_damaged_data(capsys, monkeypatch, entry, changes, damage, message):
    if changes:
        entry = _pin_copy(monkeypatch, entry, **changes)
    if damage:
        damage(Path(os.environ["ZOO_DATA"]))
    code, out, err = run_cli(capsys, "verify", "--metrics", entry, "mnist_mlp.digits")
    assert code == EXIT_CHECK_FAILED, (out, err)
    assert err.count("\n") == 1 and err.startswith(f"zoo: error: {entry}: ") and message in err, err
    assert "SKIPPED" not in out and re.search(r"mnist_mlp\.digits\s+accuracy .* ok$", out, re.M), out  # the others go on


@pytest.mark.parametrize("dataset, how_to_get", [
    ("mnist", "--download"),
    ("cifar10", "--download"),
    ("sentiment_snippets", "pip download"),
])
def test_verify_skips_absent_data_and_says_how_to_get_it(capsys, monkeypatch, dataset, how_to_get):
    entry = _pin_copy(monkeypatch, "mnist_mlp.digits", dataset=dataset)
    code, out, err = run_cli(capsys, "verify", "--metrics", entry, "--json")
    [row] = json.loads(out)
    assert code == EXIT_OK and err == "" and row["status"] == "skipped" and not row["checks"], (out, err)
    assert row["reason"].startswith("not available here: ")


def test_verify_skips_a_dataset_whose_package_is_not_installed(capsys, monkeypatch):
    from zoo.plugins import get_registry
    from zoo.registry import DatasetSpec

    entry = _pin_copy(monkeypatch, "mnist_mlp.digits", dataset="handwriting")
    monkeypatch.setitem(get_registry().datasets, "handwriting",
                        DatasetSpec("handwriting", "zoo_no_such_package:load", "classification", 10, extra="handwriting"))
    code, out, err = run_cli(capsys, "verify", "--metrics", entry, "--json")
    [row] = json.loads(out)
    assert code == EXIT_OK and row["status"] == "skipped" and "pip install 'hubzoo[handwriting]'" in row["reason"], row and how_to_get in row["reason"] and "=True" not in row["reason"]


# ------------------------------------------------------------------------------------- strict JSON output


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


@pytest.fixture
def nan_weights(tmp_path) -> Path:
    """mnist_mlp's digits weights with a NaN output bias, as a run's weights file: every probability is NaN."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    shipped = read_manifest(shipped_manifest_path())["mnist_mlp.digits"]
    tensors = load_file(shipped.path)
    tensors["network.4.bias"][:] = float("nan")
    with safe_open(str(shipped.path), framework="pt") as f:
        metadata = f.metadata()
    (tmp_path / "run").mkdir()
    save_file(tensors, tmp_path / "run" / "model.safetensors", metadata=metadata)
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "blank.png")
    return tmp_path / "run" / "model.safetensors"


@pytest.mark.parametrize("argv", [
    ["predict", "mnist_mlp", "--weights", "{nan}", "--json", "{png}", "--top-k", "2"],
    ["info", "{nan}", "--json"],
    ["list", "--json"],
    ["datasets", "--json"],
    ["plugins", "--json"],
], ids=lambda argv: argv[0])
def test_json_output_is_strict_json(capsys, nan_weights, argv):
    argv = [a.format(nan=nan_weights, png=nan_weights.parent.parent / "blank.png") for a in argv]
    code, out, err = run_cli(capsys, *argv)
    parsed = json.loads(out, parse_constant=_refuse_constant)
    if argv[0] == "predict":  # NaN weights give no label: an error record, exit 2
        assert code == 2 and parsed[0]["label"] is None and parsed[0]["probability"] is None
        assert "output is NaN or infinite" in parsed[0]["error"] and err.count("zoo: error:") == 1, err
    else:
        assert code == EXIT_OK, err


def test_the_command_line_prints_json_through_one_helper(repo):
    for path in sorted((repo / "zoo" / "cli").glob("*.py")):
        assert "json.dumps" not in path.read_text(), f"{path.name}: print --json output with options.print_json"


# ------------------------------------------------------------------------------------ a closed pipe


class _ClosedPipe(io.TextIOBase):
    """A stdout whose reader has gone (``zoo list | head -1`` after head's first line)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("argv", [["list"], ["datasets", "--json"], ["info", "mnist_mlp"], ["verify", "mnist_mlp"]],
                         ids=" ".join)
def test_a_reader_that_stops_early_ends_the_command_quietly(capsys, monkeypatch, argv):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    code = main(argv)
    assert code == EXIT_BROKEN_PIPE == 141 and capsys.readouterr().err == ""


def test_zoo_list_piped_into_head_is_quiet(repo):
    zoo_command = f"{shlex.quote(sys.executable)} -m zoo"
    done = subprocess.run(f"{zoo_command} list | head -1", shell=True, cwd=repo, capture_output=True, text=True, timeout=300)
    assert done.stdout.startswith("model ") and done.stdout.count("\n") == 1 and done.stderr == ""
    # a reader that closes before the first line: the command always meets the closed pipe
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "list"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=300) == EXIT_BROKEN_PIPE and err == b""


# ------------------------------------------------------------------- command-line advice, Python advice

_PYTHON_ADVICE = re.compile(r"\b\w+=(True|False)\b|\.decode\(|\broot=")


def _pickle(folder: Path) -> Path:
    import torch

    torch.save(zoo.get_model("mnist_mlp").state_dict(), folder / "model.pt")
    return folder / "model.pt"


def _empty_folder(folder: Path) -> Path:
    (folder / "empty").mkdir()
    return folder / "empty"


# (what to make in tmp_path, the command (FILE: what was made), the Python call, command-line words, Python words)
ADVICE = [
    (_pickle, ["eval", "mnist_mlp", "--data", "digits", "--weights", "FILE"],
     lambda f: zoo.get_model("mnist_mlp", weights=str(f)), "convert it to safetensors first", "allow_pickle=True"),
    (_pickle, ["info", "FILE"], lambda f: zoo.get_weights(str(f)), "convert it to safetensors first", "allow_pickle=True"),
    (_empty_folder, ["eval", "mnist_mlp", "--data", "mnist", "--root", "FILE"],
     lambda f: zoo.get_dataset("mnist", split="test", root=str(f)), "--download", "download=True"),
    (_empty_folder, ["eval", "mnist_mlp", "--data", "fashion_mnist", "--root", "FILE"],
     lambda f: zoo.get_dataset("fashion_mnist", split="test", root=str(f)), "--download", "download=True"),
    (_empty_folder, ["eval", "mnist_mlp", "--data", "cifar10", "--root", "FILE"],
     lambda f: zoo.get_dataset("cifar10", split="test", root=str(f)), "--download", "download=True"),
    (_empty_folder, ["eval", "lstm_sentiment", "--weights", "movies", "--data", "sentiment_snippets", "--root", "FILE"],
     lambda f: zoo.get_dataset("sentiment_snippets", split="test", root=str(f)), "--root", "root="),
]


@pytest.mark.parametrize("make, argv, call, cli_words, python_words", ADVICE,
                         ids=["pickle-eval", "pickle-info", "mnist", "fashion", "cifar", "snippets"])
def test_advice_names_the_command_line_way_there_and_the_python_way_in_python(capsys, tmp_path, make, argv, call,
                                                                              cli_words, python_words):
    made = make(tmp_path)
    code, _, err = run_cli(capsys, *[str(made) if a == "FILE" else a for a in argv])
    assert_one_error_line(code, err, cli_words)
    assert not _PYTHON_ADVICE.search(err), err
    with pytest.raises(ZooError) as raised:
        call(made)
    assert python_words in str(raised.value)


# ------------------------------------------------------------------------------- damaged archives


@pytest.mark.parametrize("argv, message", [
    (["unbundle", "g.tar"], "bundle {tmp}/g.tar is not a readable tar archive (ReadError: "),
    (["unbundle", "g.tar.gz"], "bundle {tmp}/g.tar.gz is not a readable tar archive (ReadError: "),
    (["eval", "lstm_sentiment", "--weights", "movies", "--data", "sentiment_snippets", "--root", "g.tar.gz"],
     "sentiment_snippets: {tmp}/g.tar.gz is not a readable tar archive"),
])
def test_a_garbage_archive_is_one_line(capsys, tmp_path, argv, message):
    for name in ("g.tar", "g.tar.gz"):
        _garbage(tmp_path / name)
    code, _, err = run_cli(capsys, *[str(tmp_path / a) if a.startswith("g.tar") else a for a in argv])
    assert_one_error_line(code, err, message.format(tmp=tmp_path))
    assert err.count("\n") == 1, err


def test_a_message_of_several_lines_is_printed_as_one(capsys, monkeypatch):
    """The last guard: a library's message that spans lines still ends as one ``zoo: error:`` line."""
    def several_lines(names):
        raise ZooError("first\n- second\n\n- third")

    monkeypatch.setattr("zoo.reverify.verify_hashes", several_lines)
    code, _, err = run_cli(capsys, "verify")
    assert code == 2 and err == "zoo: error: first; - second; - third\n"


def test_evaluating_weights_that_hold_nan_is_one_line(capsys, nan_weights):
    code, _, err = run_cli(capsys, "eval", "mnist_mlp", "--data", "digits", "--weights", nan_weights)
    assert_one_error_line(code, err, "the model's outputs hold NaN or infinity")
