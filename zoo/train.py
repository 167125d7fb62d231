"""The trainer every family reuses: ``zoo train NAME --data DATASET``.

A run folder (``--out``, default ``runs/NAME-DATASET``) holds:

* ``config.json``: the :class:`TrainConfig` (a resumed run must match it);
* ``checkpoint.pt``: model, optimizer and progress after each epoch, written atomically;
* ``best.safetensors``: the weights with the lowest validation loss so far;
* ``metrics.jsonl``: one JSON line per epoch; ``curves.png``: loss and accuracy curves;
* after the last epoch, ``model.safetensors`` (the best weights) and ``report.json``: the shared
  evaluator's report on the test split, the command that reproduces the run, and its sha256.

Runs are reproducible: the model is built under ``torch.manual_seed(seed)``, the validation split
and each epoch's shuffle come from seeded generators, and the global RNG is re-seeded at the start
of each epoch, so a run resumed after a crash ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import importlib
import json
import os
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

import zoo
from zoo.errors import DataError, ZooError
from zoo.evaluation import all_reduce_sum, evaluate, forward, iterate_batches
from zoo.plugins import get_registry
from zoo.weights import WeightsSpec, current_umask, atomic_write_bytes, save_state_dict, sha256_file, write_manifest_entry

#: Config fields that may differ between a run and its resumption (they do not change the result).
_RESUMABLE_CHANGES = {"epochs", "resume", "progress", "device", "workers", "nproc"}


@dataclass
class TrainConfig:
    """Everything that defines a training run; ``command()`` gives the CLI line that reproduces it.

    ``batch_size`` is the global batch: with ``nproc`` processes each takes ``batch_size / nproc``.
    """

    model: str
    data: str
    root: str | None = None
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"  # "adam" or "sgd"
    lr: float = 1e-3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    schedule: str = "none"  # "none", "cosine" (to 0 over `epochs`) or "step" (x gamma every step_size epochs)
    step_size: int = 30
    gamma: float = 0.1
    label_smoothing: float = 0.0
    augment: bool = True  # use the training split's batch augmentation, when the dataset has one
    amp: bool = False  # autocast to bfloat16 (GPUs, and CPUs with native bf16)
    channels_last: bool = False
    val_fraction: float = 0.1  # of the train split, held out when the dataset has no val split (or val_from_train)
    val_from_train: bool = False  # validate on val_fraction of the train split even when the dataset has a val split
    patience: int = 5  # epochs without a better validation loss before stopping; 0 never stops early
    seed: int = 0
    device: str = "cpu"
    out: str | None = None
    resume: bool = False
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data_kwargs: dict[str, Any] = field(default_factory=dict)
    workers: int = 0
    nproc: int = 1
    download: bool = False
    progress: bool = True

    @property
    def run_dir(self) -> Path:
        return Path(self.out or f"runs/{self.model}-{self.data}")

    def command(self) -> str:
        """``zoo train ...`` with every setting that changes the result and differs from the defaults."""
        defaults = TrainConfig(self.model, self.data)
        parts = ["zoo", "train", self.model, "--data", self.data]
        for name in ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "step_size",
                     "gamma", "label_smoothing", "val_fraction", "patience", "seed"):
            value = getattr(self, name)
            if value != getattr(defaults, name):
                parts += [f"--{name.replace('_', '-')}", str(value)]
        parts += [flag for flag, on in (("--no-augment", not self.augment), ("--amp", self.amp), ("--channels-last", self.channels_last),
                                        ("--val-from-train", self.val_from_train)) if on]
        parts += [arg for k, v in self.model_kwargs.items() for arg in ("-k", f"{k}={v}")]
        parts += [arg for k, v in self.data_kwargs.items() for arg in ("-d", f"{k}={v}")]
        return shlex.join(parts)


@dataclass
class TrainResult:
    run_dir: Path
    weights: Path
    history: list[dict[str, Any]]
    best_epoch: int
    test_report: dict[str, Any]


def resolve_device(name: str) -> torch.device:
    if not name.startswith(("cpu", "cuda")):
        raise ZooError(f"unknown device {name!r}; expected cpu or cuda[:N]")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ZooError(f"--device {name} was asked for, but CUDA is not available here; use --device cpu")
    return torch.device(name)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded ``(train, validation)`` split of ``range(n)``."""
    if not 0 < val_fraction < 1:
        raise ZooError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(n * val_fraction))
    if n - n_val < 1:
        raise DataError(f"the training split has {n} items, too few to hold out a validation set")
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def _make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        # The fused kernel updates all parameters in one call: fewer, larger ops per step on CPU and GPU.
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    raise ZooError(f"unknown optimizer {config.optimizer!r}; expected adam or sgd")


def _make_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler | None:
    if config.schedule == "none":
        return None
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    raise ZooError(f"unknown schedule {config.schedule!r}; expected none, cosine or step")


def _make_loss(config: TrainConfig, spec: Any, model: nn.Module | None = None) -> nn.Module:
    """The model's own loss: ``model.make_loss()`` when the model has it (a loss chosen by builder
    arguments, e.g. ``luna_unet -k loss=bce_dice``), else the factory its metadata names
    (``meta["loss"]``), else cross-entropy on logits."""
    if model is not None and hasattr(model, "make_loss"):
        return model.make_loss()
    factory = spec.meta.get("loss")
    if factory is None:
        return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
    return factory()


def _write_json(path: Path, data: Any) -> None:
    from zoo.metrics import jsonable  # NaN metrics (absent classes) become null, keeping the JSON strict

    atomic_write_bytes(path, (json.dumps(jsonable(data), indent=2, default=str, allow_nan=False) + "\n").encode())


def _check_resumable(config: TrainConfig, run_dir: Path) -> None:
    saved = json.loads((run_dir / "config.json").read_text())
    now = json.loads(json.dumps(asdict(config), default=str))
    defaults = json.loads(json.dumps(asdict(TrainConfig(config.model, config.data)), default=str))  # keys older runs lack
    changed = sorted(k for k in now if k not in _RESUMABLE_CHANGES and saved.get(k, defaults[k]) != now[k])
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed)
        raise ZooError(f"cannot resume {run_dir}: its run was started with other settings ({details})")


# ------------------------------------------------------------------------------ distributed


def _check_nproc(config: TrainConfig) -> None:
    resolve_device(config.device)
    if config.nproc < 1:
        raise ZooError(f"--nproc must be at least 1, got {config.nproc}")
    available = torch.cuda.device_count() if config.device.startswith("cuda") else (os.cpu_count() or 1)
    unit = "GPUs" if config.device.startswith("cuda") else "CPU cores"
    if config.nproc > available:
        raise ZooError(f"--nproc {config.nproc} is more than the {available} {unit} this machine has")
    if config.batch_size % config.nproc:
        raise ZooError(f"--batch-size {config.batch_size} (the global batch) must be divisible by --nproc {config.nproc}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawned_worker(rank: int, config: TrainConfig, world: int, port: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    train(config)


def _join_process_group(config: TrainConfig) -> tuple[int, int, int]:
    """Join the process group ``torchrun`` or ``--nproc`` described in the environment:
    ``(rank, local_rank, world_size)``; ``(0, 0, 1)`` for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 0, 1
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        backend = "nccl" if config.device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(backend, rank=rank, world_size=world)
    return rank, local_rank, world


CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}  # tensor rank -> channels-last layout


def to_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Store 4D weights (2D convolutions) channels-last and 5D weights (3D convolutions) channels-last-3d,
    in place; CPU and GPU convolution kernels are faster with that layout, most of all under bf16 autocast."""
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.dim() in CHANNELS_LAST:
            tensor.data = tensor.data.contiguous(memory_format=CHANNELS_LAST[tensor.dim()])
    return model


def train(config: TrainConfig, *, on_epoch_end: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train ``config.model`` on ``config.data`` and return where the weights and report went.

    With ``config.nproc > 1`` (and not already under ``torchrun``) this spawns that many processes that
    train one model with ``DistributedDataParallel`` (gloo on CPU, nccl on GPU). ``on_epoch_end(record)``
    is called after each epoch's checkpoint is written (tests use it to interrupt a run).
    """
    _check_nproc(config)
    if config.nproc > 1 and "WORLD_SIZE" not in os.environ:
        import torch.multiprocessing as mp

        mp.start_processes(_spawned_worker, args=(config, config.nproc, _free_port()), nprocs=config.nproc, start_method="spawn")
        return _result_from_run_dir(config.run_dir)
    joined_here = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    rank, local_rank, world = _join_process_group(config)
    try:
        return _train(config, rank, local_rank, world, on_epoch_end)
    finally:
        if world > 1 and joined_here:
            torch.distributed.destroy_process_group()


def _result_from_run_dir(run_dir: Path) -> TrainResult:
    report = json.loads((run_dir / "report.json").read_text())
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return TrainResult(run_dir, run_dir / "model.safetensors", history, report["best_epoch"], report["metrics"])


def _train(config: TrainConfig, rank: int, local_rank: int, world: int, on_epoch_end: Any) -> TrainResult:
    from tqdm.auto import tqdm

    device = resolve_device(f"cuda:{local_rank}" if config.device.startswith("cuda") and world > 1 else config.device)
    lead = rank == 0  # only rank 0 logs, writes files and shows progress
    run_dir = config.run_dir
    checkpoint_path = run_dir / "checkpoint.pt"
    spec = get_registry().model(config.model)
    data_spec = get_registry().dataset(config.data)
    if spec.task != data_spec.task:
        raise ZooError(f"model {spec.name!r} is for {spec.task}, but dataset {data_spec.name!r} is for {data_spec.task}")
    resuming = config.resume and checkpoint_path.exists()
    if resuming:
        _check_resumable(config, run_dir)
    elif checkpoint_path.exists():
        raise ZooError(f"{run_dir} already holds a run; pass --resume to continue it or --out to start another")

    load = dict(root=config.root, download=config.download, **config.data_kwargs)
    train_set = zoo.get_dataset(config.data, split="train", **load)
    test_set = zoo.get_dataset(config.data, split="test", **load)
    if "val" in (data_spec.meta.get("splits") or ()) and not config.val_from_train:
        # The dataset's own validation split (LUNA16: other scans), so nothing seen in training is validated on.
        val_set = zoo.get_dataset(config.data, split="val", **load)
        train_idx, val_idx = torch.arange(len(train_set)), torch.arange(len(val_set))
        validation = f"the {config.data} val split ({len(val_set)} samples)"
    else:
        val_set = train_set
        train_idx, val_idx = split_indices(len(train_set), config.val_fraction, config.seed)
        validation = f"{config.val_fraction:g} of the {config.data} train split ({len(val_idx)} samples, seed {config.seed})"
    class_names = list(getattr(train_set, "class_names", None) or data_spec.class_names or []) or None

    torch.manual_seed(config.seed)
    model = zoo.get_model(config.model, **config.model_kwargs)
    if resuming and hasattr(model, "load_assets"):
        model.load_assets(run_dir)
    elif hasattr(model, "fit_preprocessing"):  # e.g. a vocabulary from the training texts
        model.fit_preprocessing(torch.utils.data.Subset(train_set, train_idx.tolist()))
    model.to(device)
    if config.channels_last:
        to_channels_last(model)
    optimizer = _make_optimizer(config, model)
    schedule = _make_schedule(config, optimizer)
    loss_fn = _make_loss(config, spec, model)
    state = {"epoch": 0, "best_val_loss": float("inf"), "best_epoch": 0, "bad_epochs": 0, "history": []}
    if resuming:
        saved = torch.load(checkpoint_path, map_location=device, weights_only=True)
        model.load_state_dict(saved.pop("model"))
        optimizer.load_state_dict(saved.pop("optimizer"))
        if schedule is not None:
            schedule.load_state_dict(saved.pop("schedule"))
        saved.pop("schedule", None)
        state = saved
    if lead:
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / "config.json", asdict(config))
        if hasattr(model, "save_assets"):
            model.save_assets(run_dir)
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if world > 1 else model

    evaluate_kwargs = dict(task=spec.task, num_classes=data_spec.num_classes, class_names=class_names, autocast=config.amp,
                           batch_size=max(256, config.batch_size), device=device, progress=False)
    per_rank = config.batch_size // world
    while state["epoch"] < config.epochs and not (config.patience and state["bad_epochs"] >= config.patience):
        epoch = state["epoch"] + 1
        seed = config.seed * 100_003 + epoch
        torch.manual_seed(seed)  # dropout & augmentation: the same stream after a resume
        order = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))]
        # Every rank takes its contiguous share of each global batch, so N processes see the same
        # global batches as one (a DistributedSampler shards the whole epoch instead).
        order = order[: len(order) - len(order) % world]
        mine = _rank_share(order, config.batch_size, rank, world)
        net.train()
        start, totals = time.perf_counter(), torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
        bar = tqdm(total=len(mine), desc=f"epoch {epoch}/{config.epochs}", unit="sample", disable=not (config.progress and lead), leave=False)
        for inputs, targets in iterate_batches(train_set, mine, batch_size=per_rank, workers=config.workers,
                                               augment=config.augment, device=device):
            targets = targets.to(device, non_blocking=True)
            if config.channels_last and isinstance(inputs, torch.Tensor) and inputs.dim() in CHANNELS_LAST:
                inputs = inputs.contiguous(memory_format=CHANNELS_LAST[inputs.dim()])
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp):
                outputs = forward(net, inputs, device)
                loss = loss_fn(outputs.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            totals[0] += loss.item() * len(targets)
            if outputs.dim() == 2 and outputs.shape[1] > 1:
                totals[1] += int((outputs.argmax(1) == targets).sum())
            totals[2] += len(targets)
            bar.update(len(targets))
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        bar.close()
        if world > 1:
            totals = all_reduce_sum(totals)
        seconds = time.perf_counter() - start
        lr = optimizer.param_groups[0]["lr"]
        if schedule is not None:
            schedule.step()
        val = evaluate(model, val_set, indices=val_idx, loss_fn=loss_fn, **evaluate_kwargs)
        record = {
            "epoch": epoch,
            "train_loss": float(totals[0] / totals[2]),
            "train_accuracy": float(totals[1] / totals[2]) if totals[1] else None,
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "val_f1": val["f1"],
            "lr": lr,
            "seconds": seconds,
            "samples_per_s": float(totals[2]) / seconds,
        }
        state["history"].append(record)
        state["epoch"] = epoch
        improved = record["val_loss"] < state["best_val_loss"]
        if improved:
            state.update(best_val_loss=record["val_loss"], best_epoch=epoch, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        if lead:
            if improved:
                save_state_dict(model, run_dir / "best.safetensors", metadata=_weights_metadata(config))
            _save_checkpoint(checkpoint_path, model, optimizer, schedule, state)
            _write_epoch_logs(run_dir, state["history"])
            if config.progress:
                print(f"epoch {epoch}: train loss {record['train_loss']:.4f} | val loss {record['val_loss']:.4f} "
                      f"acc {record['val_accuracy']:.4f} | {record['samples_per_s']:.0f} samples/s")
        if world > 1:
            torch.distributed.barrier()  # rank 0 has written the checkpoint and best weights
        if on_epoch_end is not None:
            on_epoch_end(record)
    if state["epoch"] < config.epochs and config.progress and lead:
        print(f"early stop after epoch {state['epoch']}: no better validation loss for {config.patience} epochs")

    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(run_dir / "best.safetensors"), device=str(device)))
    test_report = evaluate(model, test_set, **{**evaluate_kwargs, "progress": config.progress and lead})
    weights_path = run_dir / "model.safetensors"
    if lead:
        sha256 = save_state_dict(model, weights_path, metadata=_weights_metadata(config))
        _write_json(run_dir / "report.json", {
            "model": config.model, "dataset": config.data, "split": "test", "validation": validation, "command": config.command(),
            "model_kwargs": config.model_kwargs, "class_names": class_names, "best_epoch": state["best_epoch"],
            "epochs_run": state["epoch"], "sha256": sha256, "metrics": test_report,
            "versions": {"hubzoo": zoo.__version__, "torch": torch.__version__},
        })
    return TrainResult(run_dir, weights_path, state["history"], state["best_epoch"], test_report)


def _rank_share(order: torch.Tensor, batch_size: int, rank: int, world: int) -> torch.Tensor:
    """This rank's items: the ``rank``-th contiguous slice of every global batch of ``order``."""
    if world == 1:
        return order
    shares = [batch[rank * len(batch) // world : (rank + 1) * len(batch) // world] for batch in order.split(batch_size)]
    return torch.cat(shares)


def _weights_metadata(config: TrainConfig) -> dict[str, str]:
    """What a local .safetensors file needs to be loaded without the manifest (see ``build_model``)."""
    return {"arch": config.model, "dataset": config.data, "model_kwargs": json.dumps(config.model_kwargs)}


def _save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Any, state: dict[str, Any]) -> None:
    import io

    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict() if schedule is not None else None, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _write_epoch_logs(run_dir: Path, history: list[dict[str, Any]]) -> None:
    atomic_write_bytes(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history).encode())
    from zoo.plots import plot_training_curves

    plot_training_curves(history, run_dir / "curves.png")


#: The evaluator's headline numbers copied into a manifest entry.
MANIFEST_METRICS = ("accuracy", "precision", "recall", "f1", "miou", "dice")


def export_run(run_dir: str | Path, *, tag: str, manifest: str | Path, default: bool = False) -> WeightsSpec:
    """Publish a finished run's weights into a weights manifest (``zoo export``).

    Copies ``model.safetensors`` beside the manifest as ``ARCH.TAG.safetensors`` and writes the entry:
    sha256, parameter count, data set, the evaluator's test metrics and the training command. A model
    with side files (``save_assets``: the LSTM's ``tokenizer.json``) gets them in ``ARCH.TAG.assets/``,
    each pinned by its sha256 in the entry.
    """
    import shutil
    import tempfile

    run_dir, manifest = Path(run_dir), Path(manifest)
    try:
        report = json.loads((run_dir / "report.json").read_text())
    except FileNotFoundError:
        raise ZooError(f"{run_dir} has no report.json: it is not a finished training run") from None
    weights_file = run_dir / "model.safetensors"
    if sha256_file(weights_file) != report["sha256"]:
        raise ZooError(f"{weights_file} does not match the sha256 in {run_dir / 'report.json'}")
    model = zoo.get_model(report["model"], weights=str(weights_file))  # also reads and checks the run's side files
    metrics = {"split": report["split"], **{k: report["metrics"][k] for k in MANIFEST_METRICS}}
    init_only = get_registry().model(report["model"]).meta.get("init_only_kwargs", ())  # e.g. init_from: not needed to load
    manifest.parent.mkdir(parents=True, exist_ok=True)
    name = f"{report['model']}.{tag}"
    assets: dict[str, str] = {}
    if hasattr(model, "save_assets"):
        staged = Path(tempfile.mkdtemp(prefix=f".{name}.assets.", dir=manifest.parent))
        staged.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; a published folder is not
        model.save_assets(staged)
        assets = {f.name: sha256_file(f) for f in sorted(staged.iterdir())}
        target = manifest.parent / f"{name}.assets"
        if target.exists():
            shutil.rmtree(target)
        staged.replace(target)
    spec = WeightsSpec(
        arch=report["model"], tag=tag, file=f"{name}.safetensors", sha256=report["sha256"],
        num_params=sum(p.numel() for p in model.parameters()), dataset=report["dataset"], metrics=metrics,
        training={"command": report["command"], "epochs_run": report["epochs_run"], "best_epoch": report["best_epoch"],
                  **report["versions"]},
        model_kwargs={k: v for k, v in report["model_kwargs"].items() if k not in init_only},
        class_names=tuple(report["class_names"] or ()) or None, default=default, assets=assets, base_dir=str(manifest.parent),
    )
    tmp = spec.path.with_name(f".{spec.path.name}.tmp")
    shutil.copyfile(weights_file, tmp)
    tmp.replace(spec.path)
    write_manifest_entry(manifest, spec)
    return spec
