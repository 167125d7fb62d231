"""Model and dataset specs, lookup and listing.

A :class:`Registry` holds what the plugins registered (see ``zoo/plugins.py`` for how it is filled).
Names are lower-case Python identifiers, so every model can be a ``torch.hub`` entry; a model's
weights are addressed as ``arch.tag`` (``mnist_cnn.digits``), as in timm.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from zoo.errors import RegistrationError, UnknownNameError, WeightsError, ZooError
from zoo.weights import WeightsSpec, default_weights, read_manifest

#: Tasks a model or dataset may declare. Plugins may add one with :func:`add_task`.
TASKS: set[str] = {"classification", "segmentation", "text-classification"}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def add_task(name: str) -> None:
    """Declare a new task name (for example ``"detection"``) before registering models for it."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise RegistrationError(f"task name {name!r} must be lower-case letters, digits and '-'")
    TASKS.add(name)


@dataclass(frozen=True)
class ModelSpec:
    """One registered model architecture.

    ``factory(**kwargs) -> nn.Module`` builds it without weights; it may be given as a
    ``"module:function"`` string so that listing models never imports the module.
    """

    name: str
    factory: Callable[..., Any] | str
    task: str
    description: str = ""
    weights: Mapping[str, WeightsSpec] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def resolve_factory(self) -> Callable[..., Any]:
        """The factory callable, importing it first when it was registered as ``"module:function"``."""
        return _import_factory(self.factory, f"model {self.name!r}", self.meta.get("extra"))

    @property
    def default_weights(self) -> WeightsSpec | None:
        """The weights used for ``pretrained=True``."""
        return default_weights(self.weights)

    def summary(self) -> str:
        """A docstring-style description: what it is, shapes, weights (used by hubconf and ``zoo info``)."""
        lines = [self.description or self.name, ""]
        if self.meta.get("input"):
            lines.append(f"Input: {self.meta['input']}")
        if self.meta.get("output"):
            lines.append(f"Output: {self.meta['output']}")
        lines.append(f"Task: {self.task}.  Registered by: {self.source}.")
        if self.weights:
            lines.append("Weights (weights=TAG, pretrained=True for the default):")
            for tag, w in self.weights.items():
                default = " [default]" if w is self.default_weights else ""
                lines.append(f"  {tag}{default}: trained on {w.dataset}; {w.metrics_line()}")
        else:
            lines.append("Weights: none published; train them with `zoo train " f"{self.name} --data DATASET`.")
        lines.append("Also accepts weights='path/to/file.safetensors' or 'hf://org/repo/file.safetensors@revision'.")
        return "\n".join(lines)


@dataclass(frozen=True)
class DatasetSpec:
    """One registered dataset: ``factory(split="train", root=None, download=False, **kwargs) -> Dataset``
    of ``(input, target)`` pairs. ``num_classes`` is ``None`` when the classes come from the data (the
    user's own folders and files): the dataset object's ``class_names`` say them."""

    name: str
    factory: Callable[..., Any] | str
    task: str
    num_classes: int | None
    description: str = ""
    class_names: tuple[str, ...] | None = None
    source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def resolve_factory(self) -> Callable[..., Any]:
        return _import_factory(self.factory, f"dataset {self.name!r}", self.meta.get("extra"))


def _import_factory(factory: Callable[..., Any] | str, what: str, extra: str | None) -> Callable[..., Any]:
    """Return ``factory``, importing it first when it is a ``"module:function"`` string."""
    if callable(factory):
        return factory
    module_name, _, attr = factory.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        hint = f" (install the extra: pip install 'hubzoo[{extra}]')" if extra else ""
        raise ZooError(f"{what} cannot be built: {exc}{hint}") from exc


def _check_common(kind: str, name: str, factory: Any, task: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistrationError(
            f"{kind} name {name!r} is not valid: use lower-case letters, digits and '_', starting with a letter "
            "(it becomes a torch.hub entry and a Python function name)"
        )
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise RegistrationError(f"{kind} {name!r}: factory must be a callable or a 'module:function' string")
    if task not in TASKS:
        raise RegistrationError(f"{kind} {name!r}: unknown task {task!r}; known tasks: {sorted(TASKS)}")


def make_model_spec(
    name: str,
    factory: Callable[..., Any] | str,
    *,
    task: str,
    description: str = "",
    weights: Mapping[str, WeightsSpec] | list[WeightsSpec] | str | None = None,
    tags: tuple[str, ...] | list[str] = (),
    meta: Mapping[str, Any] | None = None,
    source: str = "",
) -> ModelSpec:
    """Validate the arguments of a model ``register(...)`` call and build its :class:`ModelSpec`.

    ``weights`` may be a mapping ``tag -> WeightsSpec``, a list of ``WeightsSpec``, or the path of a
    weights manifest (JSON), from which the entries whose ``arch`` is ``name`` are taken.
    """
    _check_common("model", name, factory, task)
    if weights is None:
        by_tag: dict[str, WeightsSpec] = {}
    elif isinstance(weights, str):
        by_tag = {w.tag: w for w in read_manifest(weights).values() if w.arch == name}
    elif isinstance(weights, Mapping):
        by_tag = dict(weights)
    else:
        by_tag = {w.tag: w for w in weights}
    for tag, w in by_tag.items():
        if not isinstance(w, WeightsSpec) or w.arch != name:
            raise RegistrationError(f"model {name!r}: weights {tag!r} must be a WeightsSpec for arch {name!r}")
    return ModelSpec(name, factory, task, description, by_tag, tuple(tags), dict(meta or {}), source)


def make_dataset_spec(
    name: str,
    factory: Callable[..., Any] | str,
    *,
    task: str,
    num_classes: int | None,
    description: str = "",
    class_names: tuple[str, ...] | list[str] | None = None,
    meta: Mapping[str, Any] | None = None,
    source: str = "",
) -> DatasetSpec:
    """Validate the arguments of a dataset ``register(...)`` call and build its :class:`DatasetSpec`."""
    _check_common("dataset", name, factory, task)
    if num_classes is None and class_names is not None:
        raise RegistrationError(f"dataset {name!r}: num_classes=None (classes from the data) with fixed class_names")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise RegistrationError(f"dataset {name!r}: num_classes must be a positive int (or None: from the data), got {num_classes!r}")
    if class_names is not None and len(class_names) != num_classes:
        raise RegistrationError(f"dataset {name!r}: {len(class_names)} class_names for {num_classes} classes")
    names = tuple(class_names) if class_names is not None else None
    return DatasetSpec(name, factory, task, num_classes, description, names, source, dict(meta or {}))


def _check_name_type(kind: str, name: Any) -> None:
    if not isinstance(name, str):
        raise UnknownNameError(f"a {kind} name is a string such as {'mnist_cnn' if kind == 'model' else 'digits'!r}, got {name!r}")


def _unknown(kind: str, name: str, known: list[str]) -> UnknownNameError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return UnknownNameError(f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known) or '(none)'}")


class Registry:
    """Models and datasets by name, and where each came from."""

    def __init__(self) -> None:
        self.models: dict[str, ModelSpec] = {}
        self.datasets: dict[str, DatasetSpec] = {}

    def check_unique(self, spec: ModelSpec | DatasetSpec, pending: list = ()) -> None:
        """Raise if ``spec.name`` is taken here or among ``pending`` specs, naming both sources."""
        table: dict = self.models if isinstance(spec, ModelSpec) else self.datasets
        earlier = table.get(spec.name) or next((p for p in pending if p.name == spec.name), None)
        if earlier is not None:
            kind = "model" if isinstance(spec, ModelSpec) else "dataset"
            raise RegistrationError(f"{kind} {spec.name!r} is registered twice: by {earlier.source!r} and by {spec.source!r}")

    def add(self, spec: ModelSpec | DatasetSpec) -> None:
        """Add a spec; a name registered twice is an error naming both sources."""
        self.check_unique(spec)
        (self.models if isinstance(spec, ModelSpec) else self.datasets)[spec.name] = spec

    def model(self, name: str) -> ModelSpec:
        _check_name_type("model", name)
        if name not in self.models:
            raise _unknown("model", name, sorted(self.models))
        return self.models[name]

    def dataset(self, name: str) -> DatasetSpec:
        _check_name_type("dataset", name)
        if name not in self.datasets:
            raise _unknown("dataset", name, sorted(self.datasets))
        return self.datasets[name]

    def list_models(self, pattern: str | None = None, task: str | None = None) -> list[str]:
        """Sorted model names, filtered by a shell-style ``pattern`` (``"mnist*"``) and ``task``."""
        return _filter(self.models, pattern, task)

    def list_datasets(self, pattern: str | None = None, task: str | None = None) -> list[str]:
        return _filter(self.datasets, pattern, task)


def _filter(table: Mapping[str, ModelSpec | DatasetSpec], pattern: str | None, task: str | None) -> list[str]:
    return sorted(
        name
        for name, spec in table.items()
        if (pattern is None or fnmatch.fnmatchcase(name, pattern)) and (task is None or spec.task == task)
    )
