"""A frozen backbone, computed once: the input of a model's head for every item, reused across epochs and runs.

``zoo train --freeze backbone`` trains only the head a model declares. When nothing random happens below the
head (no augmentation, no dropout in the frozen part, which is in eval mode), the backbone gives every image
the same output in every epoch, so the trainer computes it once (:func:`head_inputs`) and later epochs run
only the head on the stored tensors (a :class:`FeatureSet` stands in for the data set)::

    cached = head_inputs(model, "classifier", train_set, frozen=frozen, batch_size=256, device=cpu)
    head(cached.train_set.batch(idx)[0])   # what model(images[idx]) computes, without the backbone

The tensors are also written to ``$ZOO_HOME/cache/features/<key>.safetensors``; the key is the sha256 of the
backbone's tensors (every tensor outside the head, by name), the model's class and head, and of every input
and label in item order, so another run with the same weights and images reads them instead of computing.

Whether caching is exact is checked, not assumed (:func:`why_not_cacheable`): on a probe batch, two forward
passes in the training configuration must give bit-identical head inputs, and the head applied to them must
give the model's output. Otherwise the trainer runs the whole model every epoch, and says why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from zoo.evaluation import forward, iterate_batches
from zoo.files import atomic_write_bytes, zoo_home

__all__ = ["FeatureSet", "HeadInputs", "head_module", "why_not_cacheable", "head_inputs", "cache_folder", "for_training"]


class FeatureSet(torch.utils.data.Dataset):
    """Stored head inputs ``float32 [N, *F]`` with labels ``int64 [N]``, item for item the data set's:
    ``batch(indices)`` gives ``(features[indices], labels[indices])`` as ``iterate_batches`` expects."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str] | None) -> None:
        self.features, self.labels = features, labels
        self.class_names = tuple(class_names) if class_names else None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.features[index], int(self.labels[index])

    def batch(self, indices: torch.Tensor, augment: bool = False, device: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        features, labels = self.features[indices], self.labels[indices]
        return (features, labels) if device is None else (features.to(device), labels.to(device))


@dataclass
class HeadInputs:
    """What the cached epochs use: the ``head`` module and the stored inputs of the train and val data sets."""

    head: nn.Module
    train_set: FeatureSet
    val_set: FeatureSet
    reused: bool  # read from the cache of an earlier run


def cache_folder() -> Path:
    """``$ZOO_HOME/cache/features``: one safetensors file per (backbone, data set) pair; delete it freely."""
    return zoo_home() / "cache" / "features"


def head_module(model: nn.Module, head: Sequence[str]) -> nn.Module | None:
    """The one module named by ``head`` (``ModelSpec.head``), or ``None`` when the head is several modules."""
    modules = dict(model.named_modules())
    return modules.get(head[0]) if len(head) == 1 else None


def _capture(model: nn.Module, head: nn.Module, inputs: Any, device: torch.device) -> tuple[Any, torch.Tensor]:
    """``(the head's positional inputs, the model's output)`` of one forward pass."""
    seen: list[tuple] = []
    hook = head.register_forward_hook(lambda module, args, output: seen.append(args))
    try:
        output = forward(model, inputs, device)
    finally:
        hook.remove()
    return (seen[0] if len(seen) == 1 else None), output


def _training_configuration(model: nn.Module, frozen: Sequence[nn.Module]) -> None:
    model.train()
    for module in frozen:
        module.eval()


@torch.no_grad()
def why_not_cacheable(model: nn.Module, head: Sequence[str], probe: Any, *, frozen: Sequence[nn.Module],
                      device: torch.device) -> str | None:
    """``None`` when the head's input may be computed once for ``model``; else the reason, in words.

    ``probe`` is one batch of inputs. The model runs twice in its training configuration (the frozen modules in
    eval mode): the head must be called once, on one tensor, with bit-identical inputs both times (nothing
    random below it), and ``head(input)`` must be the model's output."""
    module = head_module(model, head)
    if module is None:
        return f"the head {list(head)} is not one module"
    if not isinstance(probe, torch.Tensor):
        return "the inputs are not image tensors"
    with torch.random.fork_rng(devices=[]):  # the run's random stream is left as it was
        try:
            _training_configuration(model, frozen)
            torch.manual_seed(0)
            first, output = _capture(model, module, probe, device)
            torch.manual_seed(1)
            second, _ = _capture(model, module, probe, device)
        finally:
            model.eval()
    if first is None or len(first) != 1 or not isinstance(first[0], torch.Tensor):
        return f"the head {head[0]!r} is not called once on one tensor"
    if not torch.equal(first[0], second[0]):
        return "the frozen part is random in training (dropout before the head?)"
    again = module(first[0])
    if not isinstance(output, torch.Tensor) or again.shape != output.shape or not torch.allclose(again, output, atol=1e-5, rtol=1e-4):
        return f"the model's output is not its head {head[0]!r} applied to the head's input"
    return None


def _key(model: nn.Module, head: Sequence[str], dataset: Any, batch_size: int, device: torch.device, amp: bool) -> str:
    """The sha256 naming a cache file: backbone tensors, model class and head, every input and label in item order."""
    digest = hashlib.sha256(f"{type(model).__module__}.{type(model).__qualname__} head={list(head)} amp={amp}\n".encode())
    for name, tensor in sorted(model.state_dict().items()):
        if not any(name == h or name.startswith(h + ".") for h in head):
            digest.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}\n".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for inputs, targets in iterate_batches(dataset, torch.arange(len(dataset)), batch_size=batch_size):
        for tensor in (inputs, targets):  # tensors: why_not_cacheable refused other inputs
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


@torch.no_grad()
def _compute(model: nn.Module, head: nn.Module, dataset: Any, *, batch_size: int, device: torch.device, amp: bool,
             progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from zoo.progress import progress as progress_bar

    features, labels = [], []
    bar = progress_bar(total=len(dataset), desc="backbone features (once)", unit="sample", disable=not progress, leave=False)
    model.eval()
    for inputs, targets in iterate_batches(dataset, torch.arange(len(dataset)), batch_size=batch_size, device=device):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            args, _ = _capture(model, head, inputs, device)
        features.append(args[0].float().cpu())
        labels.append(targets.cpu().to(torch.int64))
        bar.update(len(targets))
    bar.close()
    return torch.cat(features), torch.cat(labels)


def _stored(model: nn.Module, head: Sequence[str], dataset: Any, *, batch_size: int, device: torch.device, amp: bool,
            progress: bool) -> tuple[FeatureSet, bool]:
    """The head inputs of every item of ``dataset``, from the cache or computed (and then cached)."""
    from safetensors.torch import load_file, save

    key = _key(model, head, dataset, batch_size, device, amp)
    path = cache_folder() / f"{key}.safetensors"
    names = getattr(dataset, "class_names", None)
    if path.is_file():
        try:
            stored = load_file(str(path))
            return FeatureSet(stored["features"], stored["labels"], names), True
        except Exception:  # a damaged cache file (a killed writer leaves none: it is written atomically): compute again
            pass
    features, labels = _compute(model, head_module(model, head), dataset, batch_size=batch_size, device=device, amp=amp,
                                progress=progress)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, save({"features": features, "labels": labels}))
    except OSError:  # a cache that cannot be written only costs the next run the first epoch again
        pass
    return FeatureSet(features, labels, names), False


def head_inputs(model: nn.Module, head: Sequence[str], train_set: Any, val_set: Any, *, batch_size: int,
                device: torch.device, amp: bool = False, progress: bool = True) -> HeadInputs:
    """The stored head inputs of ``train_set`` (and of ``val_set`` when it is another data set), for a model
    :func:`why_not_cacheable` accepted. ``model`` is left in eval mode."""
    train, reused = _stored(model, head, train_set, batch_size=batch_size, device=device, amp=amp, progress=progress)
    val = train
    if val_set is not train_set:
        val, reused_val = _stored(model, head, val_set, batch_size=batch_size, device=device, amp=amp, progress=progress)
        reused = reused and reused_val
    return HeadInputs(head_module(model, head), train, val, reused)


def for_training(config: Any, head: Sequence[str], model: nn.Module, frozen: Sequence[nn.Module], train_set: Any,
                 val_set: Any, device: torch.device, *, world: int, lead: bool) -> HeadInputs | None:
    """The trainer's choice: stored head inputs when ``config`` (a ``zoo.runs.TrainConfig``) trains only the head
    (``--freeze backbone``), with no augmentation, in one process, and the model passes :func:`why_not_cacheable`;
    else ``None``, after saying why on rank 0 when the run asked for a frozen backbone."""
    if config.freeze != "backbone" or not config.feature_cache:
        return None
    augmented = config.augment != "none" and getattr(train_set, "augment", None) is not None
    reason = ("the training images are augmented (--augment none turns that off)" if augmented
              else "it runs in several processes" if world > 1 else None)
    if reason is None:
        probe, _ = next(iterate_batches(train_set, torch.arange(min(8, len(train_set))), batch_size=8, device=device))
        reason = why_not_cacheable(model, head, probe, frozen=frozen, device=device)
    if reason is not None:
        if lead and config.progress:
            print(f"--freeze backbone: the whole model runs every epoch ({reason})")
        return None
    cached = head_inputs(model, head, train_set, val_set, batch_size=max(256, config.batch_size), device=device,
                         amp=config.amp, progress=config.progress and lead)
    if lead and config.progress:
        print(f"--freeze backbone: the backbone's output of {len(cached.train_set)} samples "
              f"{'read from the cache' if cached.reused else 'computed once'}; each epoch trains {head[0]!r} on it")
    return cached
