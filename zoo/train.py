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

Fine-tuning: ``--init W`` loads the tensors of ``W`` that match the model by name and shape (and its side
files, such as the LSTM's vocabulary) and adds ``W``'s builder arguments to the run's ``-k``;
``--freeze backbone`` trains only the head the model declares (``zoo.builder.start_from``,
``zoo.builder.freeze_backbone``).
"""

from __future__ import annotations

import gc
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from zoo import runs
from zoo.augment import make_augment
from zoo.api import dataset_preprocessing, get_dataset, get_model
from zoo.builder import check_kwargs, freeze_backbone, open_weights, require_head, start_from
from zoo.distributed import free_port, join_process_group, rank_share
from zoo.errors import ZooError
from zoo.losses import check_loss, divergence, make_loss
from zoo.evaluation import all_reduce_sum, evaluate, forward, iterate_batches, resolve_device
from zoo.features import for_training
from zoo.plugins import get_registry
from zoo.runs import TrainConfig, TrainResult
from zoo.splits import split_indices
from zoo.state_dicts import save_state_dict
from zoo.weights import is_file_ref, split_ref

__all__ = ["TrainConfig", "TrainResult", "train", "resolve_device", "to_channels_last"]


def _make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    trainable = [p for p in model.parameters() if p.requires_grad]  # frozen layers (--freeze backbone) are not updated
    if config.optimizer == "adam":
        # The fused kernel updates all parameters in one call: fewer, larger ops per step on CPU and GPU.
        return torch.optim.Adam(trainable, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    if config.optimizer == "sgd":
        return torch.optim.SGD(trainable, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    raise ZooError(f"unknown optimizer {config.optimizer!r}; expected adam or sgd")


def _make_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler | None:
    if config.schedule == "none":
        return None
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    raise ZooError(f"unknown schedule {config.schedule!r}; expected none, cosine or step")


# ------------------------------------------------------------------------------ distributed


def check_config(config: TrainConfig) -> None:
    """Refuse a config that cannot train, before any file is written: numbers out of range, an unknown
    device, a model/dataset pair of different tasks, builder or dataset arguments they do not take."""
    rules = [
        ("epochs", config.epochs >= 1, "at least 1"), ("batch_size", config.batch_size >= 1, "at least 1"),
        ("lr", math.isfinite(config.lr) and config.lr > 0, "a positive finite number"),
        ("momentum", 0 <= config.momentum < 1, "in [0, 1)"), ("weight_decay", 0 <= config.weight_decay < math.inf, "finite, at least 0"),
        ("label_smoothing", 0 <= config.label_smoothing < 1, "in [0, 1)"), ("step_size", config.step_size >= 1, "at least 1"),
        ("gamma", math.isfinite(config.gamma) and config.gamma > 0, "a positive finite number"),
        ("patience", config.patience >= 0, "at least 0 (0: no early stopping)"), ("workers", config.workers >= 0, "at least 0"),
        ("freeze", config.freeze in ("none", "backbone"), "none or backbone"),
        ("seed", 0 <= config.seed < 2**32, "from 0 to 4294967295"),  # numpy takes none below 0, torch none over 64 bits
    ]
    for name, ok, expected in rules:
        if not ok:
            raise ZooError(f"--{name.replace('_', '-')} {getattr(config, name)} is not valid: expected {expected}")
    if config.run_dir.exists() and not config.run_dir.is_dir():
        raise ZooError(f"--out {config.run_dir} is a file; give a folder for the run")
    spec, data_spec = get_registry().model(config.model), get_registry().dataset(config.data)
    if spec.task != data_spec.task:
        raise ZooError(f"model {spec.name!r} is for {spec.task}, but dataset {data_spec.name!r} is for {data_spec.task}")
    check_kwargs(spec.resolve_factory(), config.model_kwargs, what=f"model {spec.name!r}")
    check_loss(config.loss, spec)
    if config.freeze == "backbone":
        require_head(spec)
    check_kwargs(data_spec.resolve_factory(), config.data_kwargs, what=f"dataset {data_spec.name!r}", fixed=("split", "root", "download"))
    _check_nproc(config)


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


def _open_init(config: TrainConfig) -> Any:
    """The ``--init`` weights, resolved but not loaded; ``ARCH.TAG`` may name another registered model's weights."""
    registry = get_registry()
    spec = registry.model(config.model)
    arch, tag = split_ref(config.init) if not is_file_ref(config.init) else ("", None)
    if tag is not None and arch != spec.name and arch in registry.models:
        spec = registry.model(arch)
    return open_weights(spec, config.init, progress=config.progress)


def _with_init_kwargs(config: TrainConfig) -> TrainConfig:
    """``config`` with the builder arguments the ``--init`` weights were trained with added to its ``-k`` (those
    the model takes and the user did not set), so that the run's command, config and weights say what was built."""
    if config.init is None:
        return config
    import inspect

    opened = _open_init(config)
    accepted = inspect.signature(get_registry().model(config.model).resolve_factory()).parameters
    inherited = {k: v for k, v in opened.model_kwargs.items() if k in accepted and k not in config.model_kwargs}
    return replace(config, model_kwargs={**inherited, **config.model_kwargs}) if inherited else config


def _spawn(config: TrainConfig) -> None:
    """Train in ``config.nproc`` spawned processes; a worker's :class:`ZooError` comes back as the same one line."""
    import logging

    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    # When one worker fails, torch warns that it terminates the others; the failure itself is the message.
    spawn_log = logging.getLogger("torch.multiprocessing.spawn")
    level = spawn_log.level
    spawn_log.setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="zoo-workers-") as errors:
        try:
            mp.start_processes(_spawned_worker, args=(config, config.nproc, free_port(), errors), nprocs=config.nproc,
                               start_method="spawn")
        except ProcessException:
            reported = sorted(Path(errors).glob("rank*.txt"))
            if reported:
                raise ZooError(reported[0].read_text()) from None
            raise
        finally:
            spawn_log.setLevel(level)


def _spawned_worker(rank: int, config: TrainConfig, world: int, port: int, errors: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    try:
        _train_in_group(config, None)
    except ZooError as exc:  # for the parent to raise as it is, instead of a wrapped traceback
        Path(errors, f"rank{rank}.txt").write_text(str(exc))
        raise SystemExit(2) from None


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

    The config is checked before anything is written; the run folder is locked while the run lasts (a
    second ``train`` into it is refused; the lock goes with the process, so a killed run never blocks
    ``--resume``); a run that fails before its first checkpoint leaves no folder behind.
    """
    config = _with_init_kwargs(config).with_lr()  # the run records the learning rate it used
    if config.device == "auto":  # CUDA when there is one; the report says which device ran
        config = replace(config, device=resolve_device("auto").type)
    check_config(config)
    runs.check_run_to_resume(config)
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun's other ranks: rank 0 holds the run folder
        return _train_in_group(config, on_epoch_end)
    created = not config.run_dir.exists()
    with runs.run_lock(config.run_dir):
        try:
            if config.nproc > 1 and "WORLD_SIZE" not in os.environ:
                _spawn(config)
                return runs.result_from_run_dir(config.run_dir)
            return _train_in_group(config, on_epoch_end)
        except BaseException as exc:
            kept = (config.run_dir / runs.CHECKPOINT).exists()
            if created and not kept:  # failed before its first epoch
                shutil.rmtree(config.run_dir, ignore_errors=True)
            runs.raise_if_disk_full(exc, config.run_dir, kept=kept)
            raise


def _train_in_group(config: TrainConfig, on_epoch_end: Any) -> TrainResult:
    """Join the process group (if any), train this process's share, leave the group."""
    joined_here = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    rank, local_rank, world = join_process_group(config.device)
    try:
        result = _train(config, rank, local_rank, world, on_epoch_end)
        if world > 1 and joined_here:  # DDP's reducer sits in reference cycles: free it and its gloo work now, not
            gc.collect()  # at interpreter exit, where freeing them aborts the worker (pytorch/pytorch#190489)
            torch.distributed.barrier()  # every rank done with its collectives before any tears the group down
        return result
    finally:
        if world > 1 and joined_here:
            torch.distributed.destroy_process_group()


@dataclass
class _Data:
    """The splits of one run: training items ``train_idx`` of ``train_set``, validation items ``val_idx``
    of ``val_set`` (the dataset's own val split, or a held-out share of the train split), the test set."""

    train_set: Any
    val_set: Any
    test_set: Any
    train_idx: torch.Tensor
    val_idx: torch.Tensor
    validation: str  # what the run validated on, in words for report.json
    class_names: list[str] | None


@dataclass
class _Fit:
    """The model being trained and what updates it; ``state`` is the loop's progress, saved in checkpoints."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Any
    loss_fn: nn.Module
    state: dict[str, Any]
    frozen: list[nn.Module] = field(default_factory=list)  # --freeze backbone: kept in eval mode (BatchNorm statistics fixed)
    events: runs.EventLog | None = None  # rank 0's TensorBoard events


def _train(config: TrainConfig, rank: int, local_rank: int, world: int, on_epoch_end: Any) -> TrainResult:
    """One process's share of a run: data, model, resume, the epoch loop, the final test."""
    device = resolve_device(f"cuda:{local_rank}" if config.device.startswith("cuda") and world > 1 else config.device)
    lead = rank == 0  # only rank 0 logs, writes files and shows progress
    spec, data_spec = get_registry().model(config.model), get_registry().dataset(config.data)
    resuming = _resuming(config)
    data = _load_data(config, data_spec)
    fit = _build_fit(config, spec, data, device, resuming)
    if lead:
        config.run_dir.mkdir(parents=True, exist_ok=True)
        runs.write_config(config)
        if hasattr(fit.model, "save_assets"):
            fit.model.save_assets(config.run_dir)
        fit.events = runs.EventLog(config.run_dir, first_epoch=fit.state["epoch"] + 1, progress=config.progress)
    net = fit.model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(fit.model, device_ids=[device.index] if device.type == "cuda" else None)
    evaluate_kwargs = dict(task=spec.task, num_classes=data_spec.num_classes, class_names=data.class_names, autocast=config.amp,
                           batch_size=max(256, config.batch_size), device=device, progress=False)
    state, cached = fit.state, for_training(config, spec.head, fit.model, fit.frozen, data.train_set, data.val_set, device,
                                            world=world, lead=lead)  # --freeze backbone: the backbone's output once
    on, net, judged = (data, net, fit.model) if cached is None else (replace(data, train_set=cached.train_set,
                                                                            val_set=cached.val_set), cached.head, cached.head)
    while state["epoch"] < config.epochs and not (config.patience and state["bad_epochs"] >= config.patience):
        epoch = state["epoch"] + 1
        record = _train_one_epoch(config, net, fit, on, epoch, device, rank, world)
        why = divergence(record["train_loss"], fit.model)  # before evaluating, which NaN predictions would fail
        if why:
            raise runs.diverged(config, epoch, why)
        val = evaluate(judged, on.val_set, indices=data.val_idx, loss_fn=fit.loss_fn, **evaluate_kwargs)
        record.update(val_loss=val["loss"], val_accuracy=val["accuracy"], val_f1=val["f1"])
        _end_epoch(config, fit, record, lead)
        if world > 1:
            torch.distributed.barrier()  # rank 0 has written the checkpoint and best weights
        if on_epoch_end is not None:
            on_epoch_end(record)
    if fit.events is not None:
        fit.events.close()
    if state["epoch"] < config.epochs and config.progress and lead:
        print(f"early stop after epoch {state['epoch']}: no better validation loss for {config.patience} epochs")
    return _final_test(config, fit, data, device, lead, evaluate_kwargs)


def _resuming(config: TrainConfig) -> bool:
    """Whether this run continues the one in its folder; an error when the folder holds another run."""
    checkpoint = config.run_dir / runs.CHECKPOINT
    if config.resume and checkpoint.exists():
        runs.check_resumable(config)
        return True
    if checkpoint.exists():
        raise ZooError(f"{config.run_dir} already holds a run; pass --resume to continue it or --out to start another")
    return False


def _load_data(config: TrainConfig, data_spec: Any) -> _Data:
    load = dict(root=config.root, download=config.download, **config.data_kwargs)
    if "preprocessing" not in load:  # the user's own images: made what the model (or its --init weights) takes
        prep = dataset_preprocessing(config.data, config.model, config.init if config.init is not None else False)
        load.update({"preprocessing": prep} if prep is not None else {})
    train_set = get_dataset(config.data, split="train", **load)
    test_set = get_dataset(config.data, split="test", **load)
    if "val" in data_spec.splits and not config.val_from_train:
        # The dataset's own validation split (LUNA16: other scans), so nothing seen in training is validated on.
        val_set = get_dataset(config.data, split="val", **load)
        train_idx, val_idx = torch.arange(len(train_set)), torch.arange(len(val_set))
        validation = f"the {config.data} val split ({len(val_set)} samples)"
    else:
        val_set = train_set
        if not 0 < config.val_fraction < 1:
            raise ZooError(f"--val-fraction must lie in (0, 1), got {config.val_fraction}")
        held_out = split_indices(len(train_set), val_fraction=config.val_fraction, seed=config.seed,
                                 what=f"the {config.data} train split")
        train_idx, val_idx = torch.from_numpy(held_out.train), torch.from_numpy(held_out.val)
        validation = f"{config.val_fraction:g} of the {config.data} train split ({len(val_idx)} samples, seed {config.seed})"
    _choose_augment(config, data_spec, train_set)
    class_names = list(getattr(train_set, "class_names", None) or data_spec.class_names or []) or None
    _check_num_classes(config, data_spec, class_names)
    return _Data(train_set, val_set, test_set, train_idx, val_idx, validation, class_names)


def _choose_augment(config: TrainConfig, data_spec: Any, train_set: Any) -> None:
    """``--augment light|strong``: the preset replaces the training split's own augmentation; image data sets
    only (those with a batch ``augment``), flips only where the data set's registration allows them (``flips``)."""
    if config.augment in ("default", "none"):
        return
    images = getattr(train_set, "images", None)
    if not hasattr(train_set, "augment") or not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ZooError(f"--augment {config.augment} is for image data sets; {data_spec.name!r} is not one "
                       "(use --augment default or none)")
    train_set.augment = make_augment(config.augment, flips=data_spec.flips, size=min(images.shape[-2:]))


def _check_num_classes(config: TrainConfig, data_spec: Any, class_names: list[str] | None) -> None:
    """The data decides the classes (``imagefolder``, ``text_csv``: their folders, labels); refuse a classifier built
    for another number of them (labels out of range), before anything is written, with the ``-k`` that fixes it."""
    import inspect

    if data_spec.task not in ("classification", "text-classification") or not class_names:
        return
    parameters = inspect.signature(get_registry().model(config.model).resolve_factory()).parameters
    for key in ("num_classes", "num_labels"):
        built = config.model_kwargs.get(key, parameters[key].default) if key in parameters else len(class_names)
        if built != len(class_names):
            shown = ", ".join(class_names[:6]) + (", ..." if len(class_names) > 6 else "")
            raise ZooError(f"the {config.data} data has {len(class_names)} classes ({shown}), but {config.model} is "
                           f"built with {key}={built}: pass -k {key}={len(class_names)}")


def _build_fit(config: TrainConfig, spec: Any, data: _Data, device: torch.device, resuming: bool) -> _Fit:
    """The model (seeded), optimizer, schedule and loss, restored from the checkpoint when resuming."""
    torch.manual_seed(config.seed)
    model = get_model(config.model, **config.model_kwargs)
    init = None
    if resuming and hasattr(model, "load_assets"):
        model.load_assets(config.run_dir)
    elif config.init is not None and not resuming:  # the tensors that match, and the init's side files (its vocabulary)
        init = start_from(spec, model, _open_init(config), progress=config.progress)
        if config.progress and int(os.environ.get("RANK", "0")) == 0:
            print(f"--init {init['weights']}: loaded {init['loaded']} tensors; re-initialised {len(init['reinitialised'])}"
                  f"{': ' + ', '.join(init['reinitialised']) if init['reinitialised'] else ''}")
    elif hasattr(model, "fit_preprocessing"):  # e.g. a vocabulary from the training texts
        model.fit_preprocessing(torch.utils.data.Subset(data.train_set, data.train_idx.tolist()))
    model.to(device)
    if config.channels_last:
        to_channels_last(model)
    frozen = freeze_backbone(spec, model) if config.freeze == "backbone" else []
    optimizer = _make_optimizer(config, model)
    schedule = _make_schedule(config, optimizer)
    state = {"epoch": 0, "best_val_loss": float("inf"), "best_epoch": 0, "bad_epochs": 0, "history": [], "init": init,
             "class_names": data.class_names}  # a resume on data with other classes is refused
    if resuming:
        saved = runs.load_checkpoint(config.run_dir / runs.CHECKPOINT, device)
        runs.check_same_classes(config.run_dir, saved.get("class_names"), data.class_names)
        model.load_state_dict(saved.pop("model"))
        optimizer.load_state_dict(saved.pop("optimizer"))
        if schedule is not None:
            schedule.load_state_dict(saved.pop("schedule"))
        saved.pop("schedule", None)
        state = saved
    return _Fit(model, optimizer, schedule, make_loss(config.loss, spec, model, label_smoothing=config.label_smoothing), state, frozen)


def _train_one_epoch(config: TrainConfig, net: nn.Module, fit: _Fit, data: _Data, epoch: int, device: torch.device,
                     rank: int, world: int) -> dict[str, Any]:
    """One pass over this rank's share of the shuffled training items; the epoch's training record."""
    from zoo.progress import progress

    seed = config.seed * 100_003 + epoch
    torch.manual_seed(seed)  # dropout & augmentation: the same stream after a resume
    order = data.train_idx[torch.randperm(len(data.train_idx), generator=torch.Generator().manual_seed(seed))]
    # Every rank takes its contiguous share of each global batch, so N processes see the same
    # global batches as one (a DistributedSampler shards the whole epoch instead).
    order = order[: len(order) - len(order) % world]
    mine = rank_share(order, config.batch_size, rank, world)
    net.train()
    for module in fit.frozen:  # --freeze backbone: frozen BatchNorm layers keep the init's running statistics
        module.eval()
    start, totals = time.perf_counter(), torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
    bar = progress(total=len(mine), desc=f"epoch {epoch}/{config.epochs}", unit="sample", disable=not (config.progress and rank == 0), leave=False)
    for inputs, targets in iterate_batches(data.train_set, mine, batch_size=config.batch_size // world, workers=config.workers,
                                           augment=config.augment != "none", device=device):
        targets = targets.to(device, non_blocking=True)
        if config.channels_last and isinstance(inputs, torch.Tensor) and inputs.dim() in CHANNELS_LAST:
            inputs = inputs.contiguous(memory_format=CHANNELS_LAST[inputs.dim()])
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp):
            outputs = forward(net, inputs, device)
            loss = fit.loss_fn(outputs.float(), targets)
        fit.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        fit.optimizer.step()
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
    lr = fit.optimizer.param_groups[0]["lr"]
    if fit.schedule is not None:
        fit.schedule.step()
    return {"epoch": epoch, "train_loss": float(totals[0] / totals[2]),
            "train_accuracy": float(totals[1] / totals[2]) if totals[1] else None,
            "lr": lr, "seconds": seconds, "samples_per_s": float(totals[2]) / seconds}


def _end_epoch(config: TrainConfig, fit: _Fit, record: dict[str, Any], lead: bool) -> None:
    """Record the epoch, track the best validation loss, and (rank 0) write the best weights, checkpoint and logs."""
    record = {k: record[k] for k in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_f1",
                                     "lr", "seconds", "samples_per_s")}
    state = fit.state
    state["history"].append(record)
    state["epoch"] = record["epoch"]
    improved = record["val_loss"] < state["best_val_loss"]
    if improved:
        state.update(best_val_loss=record["val_loss"], best_epoch=record["epoch"], bad_epochs=0)
    else:
        state["bad_epochs"] += 1
    if not lead:
        return
    run_dir = config.run_dir
    if fit.events is not None:  # before the checkpoint: a resume purges what a killed process wrote after it
        fit.events.add(record)
    if improved:
        save_state_dict(fit.model, run_dir / runs.BEST_WEIGHTS, metadata=runs.weights_metadata(config))
    runs.save_checkpoint(run_dir / runs.CHECKPOINT, fit.model, fit.optimizer, fit.schedule, state)
    runs.write_epoch_logs(run_dir, state["history"])
    if config.progress:
        print(f"epoch {record['epoch']}: train loss {record['train_loss']:.4f} | val loss {record['val_loss']:.4f} "
              f"acc {record['val_accuracy']:.4f} | {record['samples_per_s']:.0f} samples/s")


def _final_test(config: TrainConfig, fit: _Fit, data: _Data, device: torch.device, lead: bool,
                evaluate_kwargs: dict[str, Any]) -> TrainResult:
    """Evaluate the best weights on the test split; rank 0 writes ``model.safetensors`` and ``report.json``."""
    from safetensors.torch import load_file

    from zoo.version import __version__

    run_dir, state = config.run_dir, fit.state
    fit.model.load_state_dict(load_file(str(run_dir / runs.BEST_WEIGHTS), device=str(device)))
    test_report = evaluate(fit.model, data.test_set, **{**evaluate_kwargs, "progress": config.progress and lead})
    weights_path = run_dir / runs.WEIGHTS
    if lead:
        prep = getattr(data.train_set, "preprocessing", None)  # image data sets say what their images went through
        prep = prep.to_dict() if prep is not None else None
        sha256 = save_state_dict(fit.model, weights_path,
                                 metadata=runs.weights_metadata(config, preprocessing=prep, class_names=data.class_names))
        runs.write_report(run_dir, {
            "model": config.model, "dataset": config.data, "split": "test", "validation": data.validation,
            "command": config.command(), "model_kwargs": config.model_kwargs, "class_names": data.class_names,
            "preprocessing": prep, "device": str(device),
            "best_epoch": state["best_epoch"], "epochs_run": state["epoch"], "sha256": sha256, "metrics": test_report,
            "init": state.get("init"),
            "versions": {"hubzoo": __version__, "torch": torch.__version__},
        })
    return TrainResult(run_dir, weights_path, state["history"], state["best_epoch"], test_report)
