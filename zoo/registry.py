"""Model and dataset specs, lookup and listing.

A :class:`Registry` holds what the plugins registered (see ``zoo/plugins.py`` for how it is filled).
Names are lower-case Python identifiers, so every model can be a ``torch.hub`` entry; a model's
weights are addressed as ``arch.tag`` (``mnist_cnn.digits``), as in timm.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import importlib
import importlib.machinery
import re
import sys
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from zoo.errors import RegistrationError, UnknownNameError, ZooError
from zoo.weights import Weights, default_weights, read_manifest

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
    """One registered model architecture: how to build it and what it takes and returns.

    ``factory(**kwargs) -> nn.Module`` builds it without weights; it may be given as a ``"module:function"``
    string so that listing models never imports the module. The declared fields below are what the rest of
    hubzoo reads (``zoo info``, the trainer, export, predict, the hub card); a registration that passes a
    key not among them is refused.
    """

    name: str
    factory: Callable[..., Any] | str
    task: str
    description: str = ""
    weights: Mapping[str, Weights] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    source: str = ""
    #: What the model takes, in words with shapes (``"float32 [N, 1, 28, 28], normalised ..."``).
    input: str = ""
    #: What it returns, in words with shapes (``"logits [N, 10]"``).
    output: str = ""
    #: One input without the batch dimension (``(1, 28, 28)``): the example for export and multiply-add counts.
    input_shape: tuple[int, ...] | None = None
    #: One output without the batch dimension (``(10,)``).
    output_shape: tuple[int, ...] | None = None
    #: Models that take no fixed-shape tensor say how to make an example call (``model.example_input(n)``).
    example_input: str = ""
    #: ``"logits"`` or ``"log_probabilities"``: what the classification losses are applied to (``--loss nll``
    #: needs log-probabilities; ``cross_entropy`` and ``mse`` take logits).
    output_kind: str = "logits"
    #: A ``"module:function"`` (or callable) returning the training loss when the task's default is wrong.
    loss: Callable[..., Any] | str | None = None
    #: The module names of the classifier head (``--freeze backbone`` trains only them).
    head: tuple[str, ...] = ()
    #: The input without weights, as ``zoo.preprocess.Preprocessing.to_dict()`` (weights carry their own).
    preprocessing: Mapping[str, Any] | None = None
    #: Why the model has no image preprocessing, for models that take something else (CT scans).
    preprocessing_note: str = ""
    #: The class names of the model's default output, when no weights or data set says them.
    class_names: tuple[str, ...] | None = None
    #: Input dimensions that may change size in an exported graph (``{2: "height", 3: "width"}``; batch always).
    dynamic_dims: Mapping[int, str] = field(default_factory=dict)
    #: Why the model cannot be exported: one reason for every format, or a reason per format (``{"pt2": ...}``);
    #: empty when it can.
    not_exportable: str | Mapping[str, str] = ""
    #: The pip extra its imports need (``"text"``), named in the error when they are missing.
    extra: str | None = None
    #: A ``"module:function"`` that ``zoo predict`` calls on the raw inputs instead of reading images or texts.
    predict_inputs: Callable[..., Any] | str | None = None
    #: The command that trains weights for it (shown when someone asks for weights it lacks).
    recipe: str = ""
    #: Builder arguments that only initialise parameters before training: weights never need them to load.
    init_only_kwargs: tuple[str, ...] = ()

    def resolve_factory(self) -> Callable[..., Any]:
        """The factory callable, importing it first when it was registered as ``"module:function"``."""
        return import_reference(self.factory, f"model {self.name!r}", self.extra)

    def resolve_loss(self) -> Callable[..., Any] | None:
        return None if self.loss is None else import_reference(self.loss, f"the loss of model {self.name!r}", self.extra)

    def resolve_predict_inputs(self) -> Callable[..., Any] | None:
        if self.predict_inputs is None:
            return None
        return import_reference(self.predict_inputs, f"the input pipeline of model {self.name!r}", self.extra)

    def input_shape_for(self, model_kwargs: Mapping[str, Any],
                        preprocessing: Mapping[str, Any] | None = None) -> tuple[int, ...] | None:
        """:attr:`input_shape` as weights and builder arguments change it: an image's channels and size from the
        weights' ``preprocessing``, the channels from ``in_channels`` (timm's ``in_chans``) when given
        (``efficientnet_lite0.fashion``: ``(1, 28, 28)``, not the registered ``(3, 224, 224)``)."""
        shape = tuple(self.input_shape) if self.input_shape else None
        if shape and preprocessing and len(shape) == 3:
            shape = (preprocessing["channels"], *preprocessing["size"])
        channels = model_kwargs.get("in_channels", model_kwargs.get("in_chans"))
        return (channels, *shape[1:]) if shape and channels else shape

    @property
    def default_weights(self) -> Weights | None:
        """The weights used for ``pretrained=True``."""
        return default_weights(self.weights)

    def summary(self) -> str:
        """A docstring-style description: what it is, shapes, weights (used by hubzoo's hub entries and ``zoo info``)."""
        lines = [self.description or self.name, ""]
        if self.input:
            lines.append(f"Input: {self.input}")
        if self.output:
            lines.append(f"Output: {self.output}")
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
    #: The splits it has; with ``"val"`` among them the trainer validates on it (no hold-out from train).
    splits: tuple[str, ...] = ("train", "test")
    #: Whether a mirrored sample is still of its class (``--augment`` flips only then; not digits).
    flips: bool = False
    #: The pip extra its imports need.
    extra: str | None = None
    #: One sample's input, in words.
    input: str = ""
    #: One sample's input shape, when fixed.
    input_shape: tuple[int, ...] | None = None

    def resolve_factory(self) -> Callable[..., Any]:
        return import_reference(self.factory, f"dataset {self.name!r}", self.extra)


# ------------------------------------------------------------------------------ "module:function"


def import_reference(reference: Callable[..., Any] | str, what: str, extra: str | None = None) -> Callable[..., Any]:
    """``reference``, importing it first when it is a ``"module:function"`` string: the one importer of
    registered references, with one error that names what needed it and the extra to install."""
    if callable(reference):
        return reference
    module_name, _, attr = reference.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        hint = f" (install the extra: pip install 'hubzoo[{extra}]')" if extra else ""
        raise ZooError(f"{what} cannot be built: {exc}{hint}") from exc


def _module_file(module_name: str) -> str | None:
    """The source file of ``module_name``, found without importing it (parent packages already imported
    are used as they are; others are looked up on disk). ``None`` when it cannot be found."""
    parts = module_name.split(".")
    search: list[str] | None = None
    for i, part in enumerate(parts):
        loaded = sys.modules.get(".".join(parts[: i + 1]))
        if loaded is not None:
            origin, search = getattr(loaded, "__file__", None), list(getattr(loaded, "__path__", []) or [])
        else:
            spec = importlib.machinery.PathFinder.find_spec(part, search)
            if spec is None:
                return None
            origin, search = spec.origin, list(spec.submodule_search_locations or [])
    return origin


@functools.lru_cache(maxsize=None)
def _source(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _defines(source: str, name: str) -> bool:
    """Whether module ``source`` defines or imports ``name`` at its top level (a line-start ``def``/``class``/
    assignment, or an import naming it). Read as text, not parsed: registering many models stays cheap."""
    word = re.escape(name)
    pattern = (rf"^(?:async\s+def|def|class)\s+{word}\b|^{word}\s*(?::|=(?!=))|"
               rf"^(?:from\s+\S+\s+)?import\b[^\n]*\b{word}\b")
    return re.search(pattern, source, re.MULTILINE) is not None


def check_reference(reference: Any, what: str) -> None:
    """Refuse a ``"module:function"`` reference whose module or function does not exist, without importing
    the module (so that registering stays light); a callable passes."""
    if callable(reference):
        return
    module_name, colon, attr = reference.partition(":") if isinstance(reference, str) else ("", "", "")
    if not colon or not attr.isidentifier() or not all(p.isidentifier() for p in module_name.split(".")):
        raise RegistrationError(f"{what}: {reference!r} must be a callable or a 'module:function' string")
    path = _module_file(module_name)
    if path is None:
        raise RegistrationError(f"{what}: {reference!r} names module {module_name!r}, which cannot be found")
    source = _source(path) if path.endswith(".py") else None
    if source is not None and not _defines(source, attr):
        raise RegistrationError(f"{what}: {reference!r}: module {module_name!r} ({path}) defines no {attr!r}")


# ------------------------------------------------------------------------------------ registration

#: The declared fields a registration may set (besides name, factory, task, description, weights, tags).
MODEL_FIELDS = frozenset(f.name for f in fields(ModelSpec)) - {"name", "factory", "task", "description", "weights", "tags", "source"}
DATASET_FIELDS = frozenset(f.name for f in fields(DatasetSpec)) - {"name", "factory", "task", "num_classes", "description",
                                                                   "class_names", "source"}
#: Keys of the old free ``meta`` dict that meant nothing to hubzoo; accepted (and dropped) for one release.
_IGNORED_META = frozenset({"data", "synthetic_default", "masks"})


def _declared(kind: str, name: str, source: str, meta: Mapping[str, Any] | None, declared: dict[str, Any],
              allowed: frozenset[str]) -> dict[str, Any]:
    """The declared fields of a registration: ``declared`` keywords, plus an old-style ``meta`` dict (deprecated: a
    ``FutureWarning``, which Python shows to users by default, unlike ``DeprecationWarning``)."""
    who = f"{kind} {name!r} (registered by {source or 'an unnamed plugin'})"
    unknown = sorted(set(declared) - allowed)
    if unknown:
        raise RegistrationError(f"{who}: unknown field {', '.join(map(repr, unknown))}; declared fields: {', '.join(sorted(allowed))}")
    if not meta:
        return declared
    if not isinstance(meta, Mapping):
        raise RegistrationError(f"{who}: meta must be a dict, got {type(meta).__name__}")
    unknown = sorted(set(meta) - allowed - _IGNORED_META)
    if unknown:
        raise RegistrationError(f"{who}: unknown meta key {', '.join(map(repr, unknown))}; declared fields: {', '.join(sorted(allowed))}")
    warnings.warn(f"{who}: meta={{...}} is deprecated and will be removed in the next release; pass its keys as "
                  f"keyword arguments of register() ({', '.join(sorted(meta))})", FutureWarning, stacklevel=4)
    return {**{k: v for k, v in meta.items() if k not in _IGNORED_META}, **declared}


def _as_names(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, (str, list, tuple, type(None))):
        raise RegistrationError(f"{what} must be a name or a list of names, got {value!r}")
    value = (value,) if isinstance(value, str) else tuple(value or ())
    if not all(isinstance(v, str) and v for v in value):
        raise RegistrationError(f"{what} must be a name or a list of names, got {value!r}")
    return value


def _as_shape(value: Any, what: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    shape = tuple(value) if isinstance(value, (tuple, list)) else None
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise RegistrationError(f"{what} must be a tuple of positive ints, got {value!r}")
    return shape


def _typed_model_fields(who: str, values: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise the declared model fields (types, ``"module:function"`` references)."""
    out = dict(values)
    for key in ("head", "init_only_kwargs"):
        if key in out:
            out[key] = _as_names(out[key], f"{who}: {key}")
    if "class_names" in out and out["class_names"] is not None:
        out["class_names"] = _as_names(out["class_names"], f"{who}: class_names")
    for key in ("input_shape", "output_shape"):
        if key in out:
            out[key] = _as_shape(out[key], f"{who}: {key}")
    if out.get("output_kind", "logits") not in ("logits", "log_probabilities"):
        raise RegistrationError(f"{who}: output_kind must be 'logits' or 'log_probabilities', got {out['output_kind']!r}")
    dims = out.get("dynamic_dims") or {}
    if not isinstance(dims, Mapping) or not all(isinstance(k, int) and k > 0 and isinstance(v, str) for k, v in dims.items()):
        raise RegistrationError(f"{who}: dynamic_dims must map input dimensions (int > 0) to names, got {dims!r}")
    if "dynamic_dims" in out:
        out["dynamic_dims"] = dict(dims)
    why_not = out.get("not_exportable", "")
    if not (isinstance(why_not, str) or isinstance(why_not, Mapping) and all(
            k in ("onnx", "pt2") and isinstance(v, str) for k, v in why_not.items())):
        raise RegistrationError(f"{who}: not_exportable must be a reason (text) or a dict format -> reason, got {why_not!r}")
    for key in ("input", "output", "example_input", "preprocessing_note", "recipe"):
        if not isinstance(out.get(key, ""), str):
            raise RegistrationError(f"{who}: {key} must be text, got {type(out[key]).__name__}")
    if not isinstance(out.get("preprocessing") or {}, Mapping):
        raise RegistrationError(f"{who}: preprocessing must be a dict (Preprocessing(...).to_dict()) or None")
    for key in ("loss", "predict_inputs"):
        if out.get(key) is not None:
            check_reference(out[key], f"{who}: {key}")
    return out


def _check_common(kind: str, name: str, factory: Any, task: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistrationError(
            f"{kind} name {name!r} is not valid: use lower-case letters, digits and '_', starting with a letter "
            "(it becomes a torch.hub entry and a Python function name)"
        )
    check_reference(factory, f"{kind} {name!r}: factory")
    if task not in TASKS:
        raise RegistrationError(f"{kind} {name!r}: unknown task {task!r}; known tasks: {sorted(TASKS)}")


def make_model_spec(
    name: str,
    factory: Callable[..., Any] | str,
    *,
    task: str,
    description: str = "",
    weights: Mapping[str, Weights] | list[Weights] | str | None = None,
    tags: tuple[str, ...] | list[str] = (),
    meta: Mapping[str, Any] | None = None,
    source: str = "",
    **declared: Any,
) -> ModelSpec:
    """Validate the arguments of a model ``register(...)`` call and build its :class:`ModelSpec`.

    ``weights`` may be a mapping ``tag -> Weights``, a list of ``Weights``, or the path of a weights
    manifest (JSON), from which the entries whose ``arch`` is ``name`` are taken. The other keywords are the
    declared fields of :class:`ModelSpec` (``input=``, ``head=``, ...); an unknown one is an error. ``meta``
    (a dict of the same keys) is the old form, accepted with a deprecation warning for one release.
    """
    _check_common("model", name, factory, task)
    values = _typed_model_fields(f"model {name!r}", _declared("model", name, source, meta, declared, MODEL_FIELDS))
    if weights is None:
        by_tag: dict[str, Weights] = {}
    elif isinstance(weights, str):
        by_tag = {w.tag: w for w in read_manifest(weights).values() if w.arch == name}
    elif isinstance(weights, Mapping):
        by_tag = dict(weights)
    else:
        by_tag = {w.tag: w for w in weights}
    for tag, w in by_tag.items():
        if not isinstance(w, Weights) or w.arch != name:
            raise RegistrationError(f"model {name!r}: weights {tag!r} must be a zoo.weights.Weights for arch {name!r}")
    return ModelSpec(name, factory, task, description, by_tag, tuple(tags), source, **values)


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
    **declared: Any,
) -> DatasetSpec:
    """Validate the arguments of a dataset ``register(...)`` call and build its :class:`DatasetSpec`."""
    _check_common("dataset", name, factory, task)
    values = _declared("dataset", name, source, meta, declared, DATASET_FIELDS)
    if num_classes is None and class_names is not None:
        raise RegistrationError(f"dataset {name!r}: num_classes=None (classes from the data) with fixed class_names")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise RegistrationError(f"dataset {name!r}: num_classes must be a positive int (or None: from the data), got {num_classes!r}")
    if class_names is not None and len(class_names) != num_classes:
        raise RegistrationError(f"dataset {name!r}: {len(class_names)} class_names for {num_classes} classes")
    if "splits" in values:
        values["splits"] = _as_names(values["splits"], f"dataset {name!r}: splits")
    if "input_shape" in values:
        values["input_shape"] = _as_shape(values["input_shape"], f"dataset {name!r}: input_shape")
    if not isinstance(values.get("flips", False), bool):
        raise RegistrationError(f"dataset {name!r}: flips must be True or False")
    names = tuple(class_names) if class_names is not None else None
    return DatasetSpec(name, factory, task, num_classes, description, names, source, **values)


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
