"""What hubzoo guarantees on bad input (README, "What hubzoo guarantees"): every failure a user can cause
ends as exactly one ``zoo: error:`` line on stderr with exit status 2, no traceback, and nothing left
half-written. One case per cause; the plugin, lock, archive and reproducibility guarantees follow."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo import runs
from zoo.cli import main
from zoo.errors import ZooError
from zoo.runs import TrainConfig


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code, err, message):
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("zoo: error: ")]
    assert code == 2, err
    assert len(errors) == 1 and "Traceback" not in err, err
    assert message in errors[0], errors[0]


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


TRAIN = ["train", "mnist_mlp", "--data", "digits", "--quiet"]


@pytest.mark.parametrize("extra, message", [
    (["-d", "colour=1"], "dataset 'digits' has no argument 'colour'; it accepts: permute_pixels=None"),
    (["-k", "n_feature=32"], "model 'mnist_mlp' has no argument 'n_feature'; it accepts: n_hidden=8, num_classes=10"),
    (["-k", "n_hidden=abc"], "n_hidden='abc' is a str, expected int"),
    (["-k", "not-a-pair"], "expected KEY=VALUE"),
    (["--epochs", "0"], "--epochs 0 is not valid: expected at least 1"),
    (["--batch-size", "0"], "--batch-size 0 is not valid"),
    (["--batch-size", "-5"], "--batch-size -5 is not valid"),
    (["--lr", "-1"], "--lr -1.0 is not valid: expected a positive finite number"),
    (["--lr", "nan"], "--lr nan is not valid"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--nproc", "4096"], "--nproc 4096 is more than the"),
    (["--epochs", "x"], "argument --epochs: invalid int value: 'x'"),
    (["--loss", "nll"], "--loss nll needs a model that returns log-probabilities; 'mnist_mlp' returns logits"),
    (["--loss", "model"], "--loss model: 'mnist_mlp' declares no loss of its own"),
    (["--loss", "hinge"], "argument --loss: invalid choice: 'hinge'"),
    (["--augment", "heavy"], "argument --augment: invalid choice: 'heavy'"),
    # seeds numpy's and torch's generators refuse (were a ValueError and an OverflowError: exit 1)
    (["--seed", "-1"], "--seed -1 is not valid: expected from 0 to 4294967295"),
    (["--seed", str(2**80)], f"--seed {2**80} is not valid: expected from 0 to 4294967295"),
    # a classifier for another number of classes than a registered data set's (was an IndexError mid-epoch)
    (["-k", "num_classes=3"], "the digits data has 10 classes (0, 1, 2, 3, 4, 5, ...), but mnist_mlp is built with "
                              "num_classes=3: pass -k num_classes=10"),
    (["-k", "num_classes=12"], "but mnist_mlp is built with num_classes=12: pass -k num_classes=10"),
    # a size of 0 builds a layer with no weights, which no forward pass runs (was a RuntimeError)
    (["-k", "n_hidden=0"], "model 'mnist_mlp' built with {'n_hidden': 0} has a parameter with no elements "
                           "(network.0.weight of shape [0, 784]): a size argument is 0 or too small"),
    *([(["--device", "cuda"], "CUDA is not available here")] if not torch.cuda.is_available() else []),
])
def test_bad_train_options_write_nothing(capsys, tmp_path, extra, message):
    code, _, err = run_cli(capsys, *TRAIN, "--out", tmp_path / "run", *extra)
    assert_one_error_line(code, err, message)
    assert tree(tmp_path) == set()


def test_out_naming_a_file(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, *TRAIN, "--out", tmp_path / "file")
    assert_one_error_line(code, err, "is a file; give a folder for the run")


def test_a_run_that_fails_before_its_first_epoch_leaves_no_folder(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "mnist_cnn", "--data", "mnist", "--root", tmp_path / "none", "--out", tmp_path / "run")
    assert_one_error_line(code, err, "MNIST not found")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra, message", [
    (["--init", "mnist_mlp.digits"], "--init mnist_mlp.digits holds weights of model 'mnist_mlp', not 'mnist_cnn'"),
    (["--init", "mnist_cnn.digits", "-k", "n_feature=6"], "no weight matrix or kernel outside the head of mnist_cnn matches"),
    (["--init", "mnist_cnn.nothing"], "model 'mnist_cnn' has no weights 'mnist_cnn.nothing'. Available weights: digits"),
    (["--freeze", "all"], "argument --freeze: invalid choice: 'all'"),
])
def test_fine_tuning_from_weights_that_do_not_fit(capsys, tmp_path, extra, message):
    code, _, err = run_cli(capsys, "train", "mnist_cnn", "--data", "digits", "--quiet", "--out", tmp_path / "run", *extra)
    assert_one_error_line(code, err, message)
    assert tree(tmp_path) == set()


def test_freeze_backbone_on_a_model_without_a_declared_head(capsys, tmp_path, monkeypatch):
    from zoo.plugins import get_registry

    from dataclasses import replace

    registry = get_registry()
    monkeypatch.setitem(registry.models, "mnist_mlp", replace(registry.model("mnist_mlp"), head=()))  # as a plugin's model that declares none
    code, _, err = run_cli(capsys, *TRAIN, "--out", tmp_path / "run", "--freeze", "backbone")
    assert_one_error_line(code, err, "--freeze backbone: model 'mnist_mlp' declares no head (register(..., head=...))")
    assert tree(tmp_path) == set()


def _images(folder: Path, layout: dict[str, bytes | None]) -> Path:
    """``folder/<name>``: a 6x6 gray PNG for ``None``, these bytes otherwise, an empty folder for a name ending in ``/``."""
    from PIL import Image

    for name, content in layout.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            (folder / name).mkdir(exist_ok=True)
        elif content is None:
            Image.new("L", (6, 6), 99).save(folder / name)
        else:
            (folder / name).write_bytes(content)
    return folder


_TWO_CLASSES = {f"{c}/{i}.png": None for c in "ab" for i in range(3)}


@pytest.mark.parametrize("layout, model_args, message", [
    ({"a/1.png": None, "a/2.png": None}, ["-k", "num_classes=2"], "has one class folder ('a'): a classifier needs at least two"),
    ({**_TWO_CLASSES, "c/": None}, ["-k", "num_classes=3"], "holds no images: add some or remove the folder"),
    ({**_TWO_CLASSES, "b/notes.txt": b"x"}, ["-k", "num_classes=2"], "b/notes.txt is not an image (images end in .png"),
    ({**_TWO_CLASSES, "b/3.png": b"GIF89a broken"}, ["-k", "num_classes=2"], "b/3.png: not an image file PIL can read"),
    (_TWO_CLASSES, [], "the imagefolder data has 2 classes (a, b), but mnist_cnn is built with num_classes=10: pass -k num_classes=2"),
])
def test_bad_image_folders_write_nothing(capsys, tmp_path, layout, model_args, message):
    root = _images(tmp_path / "images", layout)
    code, _, err = run_cli(capsys, "train", "mnist_cnn", "--data", "imagefolder", "--root", root, *model_args,
                           "--out", tmp_path / "run", "--quiet")
    assert_one_error_line(code, err, message)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("split, link, to", [("", "self", "."), ("train/", "up", "..")], ids=["root", "split-folder"])
def test_a_class_folder_linked_to_the_image_folder_itself_is_refused(capsys, tmp_path, split, link, to):
    """A loop: the link's class would hold every other class's images again (was silently trained on)."""
    root = _images(tmp_path / "images", {f"{split}{name}": None for name in _TWO_CLASSES})
    (root / split / link).symlink_to(to, target_is_directory=True)
    code, _, err = run_cli(capsys, "train", "mnist_cnn", "--data", "imagefolder", "--root", root, "-k", "num_classes=3",
                           "--out", tmp_path / "run", "--quiet")
    assert_one_error_line(code, err, f"class folder {root / split / link} is a link to {root.resolve()}, which holds the "
                                     "image folder itself")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content, data_args, message", [
    ("message,category\nhi,ham\nho,spam\n", [], "has no column 'text' (its columns: 'message', 'category'); name the right one with -d text_column=NAME"),
    ("message,category\nhi,ham\nho,spam\n", ["-d", "text_column=message"], "has no column 'label' (its columns: 'message', 'category')"),
    ("text,label\nhi,ham\nho,ham\n", [], "has one label ('ham'): a classifier needs at least two classes"),
    ("text,label\nhi,ham\nho,spam\n", ["-d", "text_colum=message"], "dataset 'text_csv' has no argument 'text_colum'"),
    ("text,label\nhi,ham\nho,spam\n", ["-d", "split_seed=-1"], "the split seed -1 is not valid: expected an integer of at "
                                                               "least 0"),  # was numpy's ValueError: exit 1
])
def test_bad_text_files_write_nothing(capsys, tmp_path, content, data_args, message):
    (tmp_path / "texts.csv").write_text(content)
    code, _, err = run_cli(capsys, "train", "lstm_sentiment", "--data", "text_csv", "--root", tmp_path / "texts.csv",
                           "--out", tmp_path / "run", "--quiet", *data_args)
    assert_one_error_line(code, err, message)
    assert not (tmp_path / "run").exists()
    code, _, err = run_cli(capsys, "eval", "lstm_sentiment", "--data", "text_csv", "--root", tmp_path / "texts.csv", *data_args)
    assert_one_error_line(code, err, message)


@pytest.mark.parametrize("damage, message", [
    ({"config.json": b"{not json"}, "config.json is not valid JSON"),
    ({"config.json": b"[1, 2]"}, "is not the run's settings"),
    ({"checkpoint.pt": b"\x00" * 100}, "cannot be read"),
])
def test_resume_from_a_damaged_run_folder(capsys, tmp_path, damage, message):
    run = tmp_path / "run"
    config = TrainConfig("mnist_mlp", "digits", out=str(run), progress=False).with_lr()  # as train() writes it
    runs.write_config(config)
    (run / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    for name, data in damage.items():
        (run / name).write_bytes(data)
    before = {p: p.read_bytes() for p in run.iterdir()}
    code, _, err = run_cli(capsys, *TRAIN, "--out", run, "--resume")
    assert_one_error_line(code, err, message)
    assert {p: p.read_bytes() for p in run.iterdir() if p.name != ".lock"} == before  # nothing changed


def test_a_second_train_into_a_folder_in_use_is_refused(capsys, tmp_path):
    with runs.run_lock(tmp_path / "run"):  # as a running `zoo train` holds it
        code, _, err = run_cli(capsys, *TRAIN, "--out", tmp_path / "run")
    assert_one_error_line(code, err, "is in use by another `zoo train`")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock"]


@pytest.mark.slow
def test_the_lock_of_a_killed_run_does_not_block(capsys, tmp_path):
    """The lock is an flock: the kernel drops it with the process. A `zoo train` killed with SIGKILL (no
    cleanup runs) while it holds its folder leaves its lock file behind, and that file blocks nothing."""
    import fcntl
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "zoo", *TRAIN, "--out", str(run), "--epochs", "100000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (run / runs.CHECKPOINT).exists():  # its first epoch is done: it is training, the folder held
            assert child.poll() is None, f"zoo train ended early: {child.stderr.read()}"
            assert time.monotonic() < deadline, "zoo train wrote no checkpoint in 300 s"
            time.sleep(0.05)
        with open(run / runs.LOCK, "a+b") as handle, pytest.raises(BlockingIOError):
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the child holds the lock...
        code, _, err = run_cli(capsys, *TRAIN, "--out", run, "--resume")
        assert_one_error_line(code, err, "is in use by another `zoo train`")  # ...so a second run is refused
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    assert (run / runs.LOCK).exists() and not (run / "model.safetensors").exists()  # killed mid-run, nothing cleaned up
    done = len((run / "metrics.jsonl").read_text().splitlines())
    code, _, err = run_cli(capsys, *TRAIN, "--out", run, "--resume", "--epochs", done + 1)
    assert code == 0, err
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == done + 1
    assert (run / "model.safetensors").is_file() and (run / "report.json").is_file()


EVAL = ["eval", "mnist_cnn", "--data", "digits", "--weights", "digits"]


@pytest.mark.parametrize("argv, message", [
    ([*EVAL, "--device", "tpu"], "unknown device 'tpu'"),
    ([*EVAL, "--device", "cpux"], "unknown device 'cpux'"),
    ([*EVAL, "--batch-size", "0"], "--batch-size 0 is not valid"),
    # outputs for another number of classes than the data's (was the evaluator's ValueError, exit 1)
    ([*EVAL, "-k", "num_classes=3"], "the model gives 3 class scores per item, but the data has 10 classes: build it "
                                     "with -k num_classes=10"),
    (["info", "mnist_cnn", "-k", "n_feature=0"], "has a parameter with no elements (conv1.weight of shape [0, 1, 5, 5])"),
    (["eval", "mnist_cnn", "--data", "digits", "--weights", "s3://bucket/w.safetensors"], "unknown weights scheme 's3'"),
    (["eval", "mnist_cnn", "--data", "digits", "--weights", "/nonexistent/w.safetensors"], "does not exist"),
    (["pull", "mnist_cnn", "--weights", "hf://org/../x.safetensors"], "ORG and REPO may hold"),
    (["pull", "mnist_cnn", "--weights", "hf://org/repo/a/../x.safetensors"], "may not contain '.', '..'"),
])
def test_bad_weights_devices_and_uris(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert_one_error_line(code, err, message)


@pytest.mark.parametrize("argv, shape", [
    # weights whose input is not the registration's: efficientnet_lite0.fashion takes 1x28x28 (in_chans=1), not 3x224x224
    (["info", "efficientnet_lite0.fashion"], [1, 28, 28]),  # was a RuntimeError (exit 1) on a registered entry
    (["info", "efficientnet_lite0", "-k", "in_chans=1"], [1, 224, 224]),  # timm's name for in_channels
    (["info", "dsconv_net.fashion"], [1, 28, 28]),  # was counted on [1, 32, 32]
], ids=["efficientnet-fashion", "in_chans", "dsconv-fashion"])
def test_info_counts_multiply_adds_on_the_input_the_weights_take(capsys, argv, shape):
    if argv[1].startswith("efficientnet"):
        pytest.importorskip("zoo_timm.models", reason="`make` installs plugins/zoo-timm")
    code, out, err = run_cli(capsys, *argv, "--json")
    assert code == 0, err
    assert json.loads(out)["weights"]["input_shape"] == shape


@pytest.mark.parametrize("argv", [
    ["eval", "efficientnet_lite0", "--data", "digits", "-k", "num_classes=10"],
    ["train", "efficientnet_lite0", "--data", "digits", "-k", "num_classes=10", "--init", "imagenet", "--freeze", "backbone"],
], ids=["eval", "train-frozen"])
def test_a_plugin_model_given_images_of_other_channels_says_so(capsys, tmp_path, argv):
    """efficientnet_lite0 takes 3 channels (without -k in_chans=1), digits has 1: was a conv's RuntimeError (exit 1)."""
    pytest.importorskip("zoo_timm.models", reason="`make` installs plugins/zoo-timm")
    out = ["--out", tmp_path / "run", "--quiet"] if argv[0] == "train" else []
    code, _, err = run_cli(capsys, *argv, *out)
    assert_one_error_line(code, err, "efficientnet_lite0 expects input of shape [N, 3, *, *], got [")
    assert tree(tmp_path) == set()


def test_the_hub_clients_retry_warnings_are_off_while_it_fetches(capsys, monkeypatch):
    """Offline (without HF_HUB_OFFLINE), huggingface_hub logs two lines per retry, five retries, before it gives up
    ("Retrying in 1s [Retry 1/5]."): the command's one error line must be all there is on stderr."""
    import logging

    hub = pytest.importorskip("huggingface_hub")

    def unreachable(*args, **kwargs):
        client = logging.getLogger("huggingface_hub.utils._http")
        assert not client.isEnabledFor(logging.WARNING), "huggingface_hub's retry warnings would be printed"
        raise hub.errors.LocalEntryNotFoundError("the Hub cannot be reached")

    monkeypatch.setattr(hub, "hf_hub_download", unreachable)
    code, _, err = run_cli(capsys, "info", "hf://org/repo/w.safetensors")
    assert_one_error_line(code, err, "it is not in the Hub cache and the Hub cannot be reached (LocalEntryNotFoundError)")


def test_plots_under_a_file(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, *EVAL, "--plot", tmp_path / "file" / "plots")
    assert_one_error_line(code, err, "Not a directory")


def test_random_weights_are_evaluated_with_a_warning(capsys):
    code, out, err = run_cli(capsys, "eval", "mnist_mlp", "--data", "digits", "--json")
    assert code == 0 and json.loads(out)["num_samples"] == 359
    assert "zoo: warning: evaluating mnist_mlp with random weights" in err


# ------------------------------------------------------------------------------------- archives


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _entry(file: str, data: bytes, **overrides) -> dict:
    import hashlib

    entry = {"arch": "mnist_cnn", "tag": "evil", "file": file, "sha256": hashlib.sha256(data).hexdigest(), "num_params": 1,
             "dataset": "digits", "metrics": {"split": "test"}, "training": {"command": "x"}}
    return {**entry, **overrides}


def _bundle_of(path: Path, **overrides) -> Path:
    """A bundle at ``path`` of one entry, ``mnist_cnn.evil``, whose fields ``overrides`` change."""
    return _tar(path, {"manifest.json": json.dumps({"mnist_cnn.evil": _entry("X.safetensors", b"w", **overrides)}).encode(),
                       "X.safetensors": b"w"})


def _random_bytes(path: Path) -> Path:
    path.write_bytes(os.urandom(3000))
    return path


def _truncated(path: Path) -> Path:
    path.write_bytes(_tar(path, {"manifest.json": b"{}" * 2000}).read_bytes()[:700])
    return path


@pytest.mark.parametrize("make, message", [
    (_random_bytes, "is not a readable tar archive"),
    (_truncated, "is not a readable tar archive"),
    (lambda p: _tar(p, {"x.txt": b"hello"}), "has no manifest.json"),
    (lambda p: _tar(p, {"manifest.json": b"[]"}), "must be a JSON object"),
    (lambda p: _tar(p, {"manifest.json": json.dumps({"mnist_cnn.evil": _entry("../X.safetensors", b"w")}).encode(),
                        "X.safetensors": b"w"}), "is not a plain name"),
    # fields of the wrong JSON type: one class per letter, or a crash of every later `zoo info`
    (lambda p: _bundle_of(p, class_names="abcdefghij"), "class_names must be a list or a tuple or null, got 'abcdefghij'"),
    (lambda p: _bundle_of(p, class_names=list(range(10))), "class_names must be a list of strings"),
    (lambda p: _bundle_of(p, model_kwargs=[1]), "model_kwargs must be a JSON object, got [1]"),
    (lambda p: _bundle_of(p, training="zoo train"), "training must be a JSON object, got 'zoo train'"),
    (lambda p: _bundle_of(p, num_params=True), "num_params must be an integer or null, got True"),
])
def test_damaged_and_hostile_bundles_import_nothing(capsys, tmp_path, make, message):
    bundle = make(tmp_path / "b.tar")
    home = Path(os.environ["ZOO_HOME"])
    before = tree(home)
    code, _, err = run_cli(capsys, "unbundle", bundle)
    assert_one_error_line(code, err, message)
    assert ".unbundle." not in err  # the bundle's own names, never the temporary folder it was extracted into
    assert tree(home) - before <= {"weights"}  # at most the (empty) cache folder


_NAMES = st.one_of(
    st.sampled_from(["../X.safetensors", "../../X.safetensors", "/tmp/X.safetensors", "a/../../X.safetensors", "..",
                     ".", "", "sub/X.safetensors", "X.safetensors", "mnist_cnn.evil.safetensors", "..X", "X\x00"]),
    st.text(alphabet="./_-aX", min_size=1, max_size=12),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=_NAMES, tag=_NAMES, member=_NAMES, asset=st.one_of(st.none(), _NAMES))
def test_no_bundle_writes_outside_the_weights_cache(monkeypatch, file, tag, member, asset):
    """Hostile manifests and members (generated): unbundle writes only inside $ZOO_HOME/weights, or nothing."""
    import hashlib

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        monkeypatch.setenv("ZOO_HOME", str(root / "home"))
        data = b"weights"
        entry = _entry(file, data, tag=tag)
        if asset is not None:
            entry["assets"] = {asset: hashlib.sha256(b"a").hexdigest()}
        members = {"manifest.json": json.dumps({f"mnist_cnn.{tag}": entry}).encode()}
        for name in {file, member}:
            if name and "\x00" not in name:
                members[name] = data
        (root / "in").mkdir()
        try:
            bundle = _tar(root / "in" / "b.tar", members)
        except (ValueError, OSError):
            return  # tarfile itself refuses the member name
        outside_before = tree(root) - {p for p in tree(root) if p.startswith("home")}
        try:
            from zoo.hub import unbundle

            unbundle(bundle)
        except ZooError:
            pass
        outside_after = tree(root) - {p for p in tree(root) if p.startswith("home")}
        assert outside_after == outside_before
        home = tree(root / "home")
        assert all(p == "weights" or p.startswith("weights/") for p in home), home


def test_a_failed_bundle_leaves_no_temporary_file(capsys, tmp_path, monkeypatch):
    def broken_add(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tarfile.TarFile, "add", broken_add)
    code, _, err = run_cli(capsys, "bundle", tmp_path / "zoo.tar", "mnist_cnn")
    assert_one_error_line(code, err, "No space left on device")
    assert tree(tmp_path) == set()


@pytest.mark.parametrize("tag", ["../../evil", "a" * 300])  # a path; a file name too long (named its temporary)
def test_pinning_refuses_a_tag_that_is_not_a_plain_name(capsys, tmp_path, tag):
    code, _, err = run_cli(capsys, "pin", tmp_path / "run", "--tag", tag, "--manifest", tmp_path / "m" / "m.json")
    assert_one_error_line(code, err, "is not a plain tag: use up to 100 letters, digits")
    assert tree(tmp_path) == set()


def test_dry_run_refuses_a_folder_that_is_not_empty(capsys, tmp_path):
    (tmp_path / "README.md").write_text("mine")
    code, _, err = run_cli(capsys, "publish", "mnist_cnn", "--weights", "digits", "--repo-id", "me/x", "--dry-run", tmp_path)
    assert_one_error_line(code, err, "is not an empty folder")
    assert (tmp_path / "README.md").read_text() == "mine"


def test_publish_offline_is_one_line(capsys):
    code, _, err = run_cli(capsys, "publish", "mnist_cnn", "--weights", "digits", "--repo-id", "me/x")
    assert_one_error_line(code, err, "nothing was published to me/x (OfflineModeIsEnabled")


def test_a_full_disk_is_one_line(capsys, tmp_path, monkeypatch):
    import zoo.files

    def full(path, chunks):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(zoo.files, "atomic_write_chunks", full)
    code, _, err = run_cli(capsys, *TRAIN, "--epochs", "1", "--out", tmp_path / "run")
    assert_one_error_line(code, err, "No space left on device")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_errors_in_worker_processes_are_the_same_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "mnist_cnn", "--data", "mnist", "--root", tmp_path / "none", "--nproc", "2",
                           "--out", tmp_path / "run", "--quiet")
    assert_one_error_line(code, err, "MNIST not found")
    assert not (tmp_path / "run").exists()


def test_a_bug_is_one_summary_line_with_the_debug_hint(capsys, monkeypatch):
    import zoo.cli.listing

    monkeypatch.setattr(zoo.cli.listing, "cmd_list", lambda args: 1 / 0)  # the parser looks it up when main() builds it
    code, _, err = run_cli(capsys, "list")
    assert code == 1 and err.count("\n") == 1 and "internal error (ZeroDivisionError" in err and "--debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "list"])


def test_an_augmentation_preset_on_text_data_writes_nothing(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "lstm_sentiment", "--data", "reviews", "--quiet", "--augment", "light",
                           "--out", tmp_path / "run")
    assert_one_error_line(code, err, "--augment light is for image data sets; 'reviews' is not one")
    assert tree(tmp_path) == set()
