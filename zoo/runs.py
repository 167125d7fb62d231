"""The run folder: what ``zoo train`` writes, what ``--resume`` reads, and a run -> manifest entry.

A run folder (``runs/MODEL-DATASET`` unless ``--out`` says otherwise) holds::

    config.json         the TrainConfig that started the run (checked by --resume)
    checkpoint.pt       model, optimizer, schedule and loop state after the last epoch (tensors only), and the
                        data's class names (--resume refuses data with other ones)
    metrics.jsonl       one JSON record per epoch; curves.png plots them
    best.safetensors    the weights with the best validation loss so far
    model.safetensors   the final weights (the best ones), with arch/dataset/model_kwargs metadata
    report.json         the evaluator's test report, the command, the versions and the weights' sha256

:class:`TrainConfig` is the one place the training settings and their defaults are written: the
``zoo train`` options are derived from its fields (``metadata["help"]``). This module knows the
layout, not the registry: the trainer (``zoo.train``), publishing (``zoo.hub``) and pinning
(``zoo.pin``) build on it.
"""

from __future__ import annotations

import errno
import json
import shlex
import sys
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator

from zoo.errors import ZooError, first_line
from zoo.files import atomic_write_bytes, read_json_object, sha256_file, write_json
from zoo.weights import REPORT_NAME, read_run_report

CONFIG = "config.json"
REPORT = REPORT_NAME
CHECKPOINT = "checkpoint.pt"
METRICS_LOG = "metrics.jsonl"
CURVES = "curves.png"
BEST_WEIGHTS = "best.safetensors"
WEIGHTS = "model.safetensors"
LOCK = ".lock"  # held (flock) by the process training into the folder

#: ``--loss`` choices (``zoo.losses.make_loss``) and ``--augment`` presets (``zoo.augment.make_augment``), kept
#: here as data so that the ``zoo train`` parser is built without importing torch.
LOSSES = ("auto", "cross_entropy", "nll", "mse", "model")
AUGMENT_PRESETS = ("default", "none", "light", "strong")

#: Config fields that may differ between a run and its resumption (they do not change the result).
#: ``--lr`` when it is not given: training a whole model, or only its head (``--freeze backbone``).
DEFAULT_LR, HEAD_ONLY_LR = 1e-3, 1e-2
RESUMABLE_CHANGES = frozenset({"epochs", "resume", "progress", "device", "workers", "nproc"})


def _option(default: Any, help: str, **cli: Any) -> Any:
    """A config field with its ``zoo train`` help text; ``cli`` may hold ``choices``, ``flag`` (the option's
    name when it is not ``--field-name``, e.g. ``--quiet`` for a switch that turns a default off),
    ``metavar``, and ``recorded=False`` for an option that :meth:`TrainConfig.command` leaves out because it
    says where the run goes or what it shows, not what it computes."""
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"help": help, **cli})
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    """Everything that defines a training run; ``command()`` gives the CLI line that reproduces it.

    ``batch_size`` is the global batch: with ``nproc`` processes each takes ``batch_size / nproc``.
    """

    model: str = field(metadata={"help": "registered model name"})
    data: str = field(metadata={"help": "registered dataset name (see `zoo datasets`)", "flag": "--data", "metavar": "DATASET"})
    root: str | None = _option(None, "data folder (default $ZOO_DATA or ~/.cache/zoo/data)")
    epochs: int = _option(10, "maximum epochs")
    batch_size: int = _option(64, "global batch size")
    optimizer: str = _option("adam", "optimizer", choices=("adam", "sgd"))
    lr: float | None = _option(None, "learning rate (default 1e-3; 1e-2 with --freeze backbone, where only the head "
                               "learns: a linear head on fixed features needs the larger steps)", type=float)
    momentum: float = _option(0.9, "SGD momentum")
    weight_decay: float = _option(0.0, "weight decay (L2) of the optimizer")
    schedule: str = _option("none", "learning-rate schedule per epoch: cosine to 0 over --epochs, or step "
                            "(x --gamma every --step-size epochs)", choices=("none", "cosine", "step"))
    step_size: int = _option(30, "epochs between steps of the step schedule")
    gamma: float = _option(0.1, "factor of the step schedule")
    label_smoothing: float = _option(0.0, "label smoothing of the cross-entropy loss")
    loss: str = _option("auto", "training loss: cross_entropy (with --label-smoothing), nll (models returning "
                        "log-probabilities), mse (softmax against one-hot), model (the model's own, e.g. the U-Net's Dice); "
                        "auto: the model's own where it declares one, else cross_entropy", choices=LOSSES)
    augment: str = _option("default", "batch augmentation of image training data: none, light (random crop with padding, "
                           "flips where the dataset allows), strong (random resized crop, rotation, brightness/contrast "
                           "jitter, flips where allowed); default: the dataset's own (CIFAR-10 crop+flip, Fashion-MNIST flip)",
                           choices=AUGMENT_PRESETS)
    amp: bool = _option(False, "autocast to bfloat16: on GPUs, and on CPUs with native bf16 (with --channels-last it "
                        "trained vgg16_cifar 1.8x faster here; see BENCHMARKS.md)")
    channels_last: bool = _option(False, "channels-last memory format for 4D image models")
    val_fraction: float = _option(0.1, "share of the train split held out for validation, for datasets without a val split")
    val_from_train: bool = _option(False, "hold out --val-fraction of the train split even when the dataset has a val "
                                   "split (LUNA16: the held-out samples then come from training scans)")
    patience: int = _option(5, "early stopping: epochs without a better validation loss (0: off)")
    seed: int = _option(0, "seed of the split, the initialisation, the batch order and the augmentation")
    device: str = _option("auto", "auto (CUDA when available, else the CPU), cpu or cuda[:N]")
    out: str | None = _option(None, "run folder (default runs/MODEL-DATASET)", recorded=False)
    resume: bool = _option(False, "continue the run in --out from its last checkpoint", recorded=False)
    init: str | None = _option(None, "fine-tune: start from these weights (a tag, ARCH.TAG, a .safetensors path or hf://...): "
                               "every tensor whose name and shape match is loaded, the rest (the head, with another "
                               "-k num_classes) keeps its fresh initialisation; their builder arguments become the defaults",
                               metavar="WEIGHTS")
    freeze: str = _option("none", "backbone: train only the model's head (its meta['head']); frozen BatchNorm layers keep "
                          "their running statistics", choices=("none", "backbone"))
    feature_cache: bool = _option(True, "with --freeze backbone: run the whole model every epoch instead of computing the "
                                  "backbone's output once and training the head on it (the default when augmentation is "
                                  "off and nothing below the head is random; zoo/features.py)", flag="--no-feature-cache")
    model_kwargs: dict[str, Any] = _option({}, "builder argument for the model, e.g. -k n_feature=32 (repeatable)",
                                          flag="-k/--model-arg", metavar="KEY=VALUE")
    data_kwargs: dict[str, Any] = _option({}, "dataset argument, e.g. -d permute_pixels=0 (repeatable)",
                                         flag="-d/--data-arg", metavar="KEY=VALUE")
    workers: int = _option(0, "DataLoader workers for datasets without a tensor fast path")
    nproc: int = _option(1, "data-parallel processes on this machine (DDP: gloo on CPU, nccl on GPU); --batch-size "
                         "is the global batch. Across nodes, launch with torchrun instead")
    download: bool = _option(False, "download the dataset if it is missing (needs network)")
    progress: bool = _option(True, "no progress bars or per-epoch lines", flag="--quiet", recorded=False)

    def with_lr(self) -> "TrainConfig":
        """This config with ``lr`` decided: 1e-3, or 1e-2 with ``--freeze backbone`` (only the head learns)."""
        return self if self.lr is not None else replace(self, lr=HEAD_ONLY_LR if self.freeze == "backbone" else DEFAULT_LR)

    @property
    def run_dir(self) -> Path:
        return Path(self.out or f"runs/{self.model}-{self.data}")

    def command(self) -> str:
        """The ``zoo train`` line that reproduces the run, each word quoted with ``shlex.quote``: the model,
        ``--data``, and every field whose value differs from its default, under the option ``zoo train`` derives
        from that field (``--root DIR``, ``--lr 0.01``, ``--amp``; one ``-k``/``-d`` per argument,
        its value as JSON unless it is a string that does not parse as JSON). The fields marked ``recorded=False``
        (``--out``, ``--resume``, ``--quiet``) are left out: run as written (with another ``--out`` where the default
        folder holds a run), it gives the same ``model.safetensors`` bytes. The device is that of the run (``auto``
        is resolved before training)."""
        parts = ["zoo", "train", self.model]
        for f in fields(self):
            value, default = getattr(self, f.name), default_of(f.name)
            if f.name == "lr" and value == replace(self, lr=None).with_lr().lr:
                continue  # the learning rate left out is decided again the same way
            if f.name == "model" or not f.metadata.get("recorded", True) or value == default:
                continue
            flag = (f.metadata.get("flag") or f"--{f.name.replace('_', '-')}").split("/")[0]
            if isinstance(default, dict):
                parts += [word for key, item in value.items() for word in (flag, f"{key}={_as_cli_value(item)}")]
            elif isinstance(default, bool):
                parts.append(flag)
            else:
                parts += [flag, str(value)]
        return shlex.join(parts)


def _as_cli_value(value: Any) -> str:
    """A ``-k``/``-d`` value as ``zoo train`` reads it back (JSON when it parses, else the text itself)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value  # plain text: read back as written
    return json.dumps(value, default=str)


def default_of(name: str) -> Any:
    """The default of the :class:`TrainConfig` field ``name`` (``{}`` for the keyword-argument dicts)."""
    for f in fields(TrainConfig):
        if f.name == name:
            return f.default_factory() if f.default_factory is not MISSING else f.default
    raise KeyError(name)


@dataclass
class TrainResult:
    run_dir: Path
    weights: Path
    history: list[dict[str, Any]]
    best_epoch: int
    test_report: dict[str, Any]


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir`` (created if missing) for this process, or refuse when another process holds it.

    An ``flock`` on ``run_dir/.lock``: the kernel releases it when the process ends, however it ends, so a
    killed run leaves no stale lock behind. A no-op where ``fcntl`` is missing (Windows).
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ZooError(f"{run_dir} is in use by another `zoo train` still running; wait for it or pass another --out") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_config(config: TrainConfig) -> None:
    write_json(config.run_dir / CONFIG, asdict(config))


def check_resumable(config: TrainConfig) -> None:
    """Raise unless ``config`` differs from the one that started its run only in :data:`RESUMABLE_CHANGES`."""
    saved = read_json_object(config.run_dir / CONFIG, "the run's settings")
    now = json.loads(json.dumps(asdict(config), default=str))
    changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and saved.get(k, default_of(k)) != now[k])  # older runs lack keys
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed)
        raise ZooError(f"cannot resume {config.run_dir}: its run was started with other settings ({details})")


def check_run_to_resume(config: TrainConfig) -> None:
    """With ``--resume``, refuse (before anything is written) a folder that holds no checkpoint to continue from."""
    if config.resume and not (config.run_dir / CHECKPOINT).is_file():
        raise ZooError(f"there is no run in {config.run_dir} to resume (no {CHECKPOINT}: no epoch of a run finished "
                       "there); leave out --resume to start one")


def diverged(config: TrainConfig, epoch: int, why: str) -> ZooError:
    """The error of a run whose ``epoch`` left its loss or weights NaN or infinite (``why``): the option to change,
    and what is kept (the checkpoint of the epoch before, which ``--resume`` cannot continue with another ``--lr``)."""
    kept = (f"; the checkpoint of epoch {epoch - 1} stays in {config.run_dir}, but --resume cannot change --lr: start "
            "again with another --out" if epoch > 1 else "")
    return ZooError(f"training diverged in epoch {epoch} ({why}); lower --lr (now {config.lr:g}), or look for nan or "
                    f"inf in the data{kept}")


def raise_if_disk_full(exc: BaseException, run_dir: Path, *, kept: bool) -> None:
    """When ``exc`` says the disk is full (or the quota spent), raise the error that names the file and the run
    folder, and says that ``--resume`` continues from the last checkpoint where there is one (``kept``)."""
    if not (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))):
        return
    then = (f"once space is freed, --resume continues {run_dir} from its last checkpoint" if kept
            else "no epoch finished, so nothing was kept: free some space and run it again")
    raise ZooError(f"{exc.strerror}: {exc.filename or run_dir}; {then}") from None


def check_same_classes(run_dir: Path, saved: list[str] | None, now: list[str] | None) -> None:
    """Raise unless the data's class names ``now`` are those the checkpoint was trained with (``saved``): label
    ``i`` must keep its meaning. Checkpoints written before they held the class names are not checked."""
    if saved is not None and list(saved) != list(now or []):
        raise ZooError(f"cannot resume {run_dir}: its checkpoint was trained with the classes {list(saved)}, but the data "
                       f"now has {list(now or [])}; give it the data it was trained on, or start a new run with another --out")


def weights_metadata(config: TrainConfig, *, preprocessing: dict[str, Any] | None = None,
                     class_names: list[str] | None = None) -> dict[str, str]:
    """What a local .safetensors file needs to be loaded without the manifest (see ``zoo.builder``), and to
    be used on raw inputs (``zoo predict``, ``zoo.get_preprocess``): the train set's ``preprocessing``
    (``Preprocessing.to_dict()``) and ``class_names``, as JSON, when known."""
    metadata = {"arch": config.model, "dataset": config.data, "model_kwargs": json.dumps(config.model_kwargs)}
    if preprocessing is not None:
        metadata["preprocessing"] = json.dumps(preprocessing)
    if class_names:
        metadata["class_names"] = json.dumps(list(class_names))
    return metadata


def save_checkpoint(path: Path, model: Any, optimizer: Any, schedule: Any, state: dict[str, Any]) -> None:
    """Write model, optimizer, schedule and loop ``state`` to ``path`` atomically (``torch.save``, tensors only)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict() if schedule is not None else None, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, device: Any) -> dict[str, Any]:
    """The dict :func:`save_checkpoint` wrote, tensors on ``device``; never unpickles anything but tensors."""
    import torch

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # truncated, overwritten or not a checkpoint: pickle and zip errors of many kinds
        raise ZooError(f"{path} cannot be read ({type(exc).__name__}); the run cannot be resumed: "
                       "start it again with another --out") from None


def write_epoch_logs(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """``metrics.jsonl`` and ``curves.png`` for the epochs so far."""
    from zoo.plots import plot_training_curves

    atomic_write_bytes(run_dir / METRICS_LOG, "".join(json.dumps(r) + "\n" for r in history).encode())
    plot_training_curves(history, run_dir / CURVES)


#: TensorBoard tag of each epoch-record field (``zoo train``'s events; grouped so train and val share a chart).
EVENT_TAGS = {"train_loss": "loss/train", "val_loss": "loss/val", "train_accuracy": "accuracy/train",
              "val_accuracy": "accuracy/val", "val_f1": "f1/val", "lr": "lr", "samples_per_s": "speed/samples_per_s"}


class EventLog:
    """The run's TensorBoard events: one ``events.out.tfevents.*`` file per process in the run folder (the
    ``SummaryWriter`` layout, so ``tensorboard --logdir runs`` shows every run), one point per epoch and tag of
    :data:`EVENT_TAGS`. A resumed run starts at ``first_epoch`` and purges anything a killed process wrote for
    that epoch or later, so every epoch appears once. Without the ``tensorboard`` package it says so once and
    does nothing (the curves still go to ``curves.png`` and ``metrics.jsonl``); so it does, with a warning, where
    an installed one fails to import (protobuf or numpy versions it was not built for)."""

    def __init__(self, run_dir: Path, *, first_epoch: int, progress: bool) -> None:
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            if progress:
                print("note: tensorboard is not installed (pip install 'hubzoo[tensorboard]'); the curves go to "
                      f"{CURVES} and {METRICS_LOG} only", file=sys.stderr)
            return
        except Exception as exc:  # a broken install must not cost the run
            print(f"zoo: warning: tensorboard cannot be imported ({type(exc).__name__}: {first_line(exc)}); training "
                  f"goes on without its events, the curves go to {CURVES} and {METRICS_LOG}", file=sys.stderr)
            return
        self.writer = SummaryWriter(str(run_dir), purge_step=first_epoch if first_epoch > 1 else None)

    def add(self, record: dict[str, Any]) -> None:
        """The epoch record's numbers (``None`` values, e.g. no train accuracy for segmentation, are skipped)."""
        if self.writer is None:
            return
        for key, tag in EVENT_TAGS.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, float(record[key]), record["epoch"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / METRICS_LOG).read_text().splitlines()]


def write_report(run_dir: Path, report: dict[str, Any]) -> None:
    write_json(run_dir / REPORT, report)


def read_report(run_dir: str | Path) -> dict[str, Any]:
    """A finished run's ``report.json`` (read by ``zoo.weights``, the one reader of reports)."""
    return read_run_report(run_dir)


def result_from_run_dir(run_dir: Path) -> TrainResult:
    """The :class:`TrainResult` of a finished run, read back from its folder (after ``--nproc`` workers)."""
    report = read_report(run_dir)
    return TrainResult(run_dir, run_dir / WEIGHTS, read_history(run_dir), report["best_epoch"], report["metrics"])


def checked_weights(run_dir: str | Path, report: dict[str, Any]) -> Path:
    """The run's ``model.safetensors``, after checking it is the file its report pinned."""
    weights = Path(run_dir) / WEIGHTS
    if not weights.is_file() or sha256_file(weights) != report["sha256"]:
        raise ZooError(f"{weights} is missing or does not match the sha256 in {Path(run_dir) / REPORT}")
    return weights
