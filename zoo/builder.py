"""Building a registered model and loading its weights (the registry only describes models).

:func:`build_model` calls a spec's builder with the keyword arguments the weights need, then loads the
weights through ``zoo.weights`` (hash checked, strict state dict) and the model's side files.

Fine-tuning (``zoo train --init W --freeze backbone``) starts here too: :func:`open_weights` resolves
weights without loading them, :func:`start_from` loads the tensors that match by name and shape,
:func:`freeze_backbone` leaves only the head (``ModelSpec.head``) trainable.
"""

from __future__ import annotations

import inspect
import types
import typing
import warnings
from dataclasses import dataclass
from typing import Any

from zoo.errors import WeightsError, ZooError
from zoo.registry import ModelSpec
from zoo.bases import apply_difference, locate_base
from zoo.state_dicts import apply_state_dict, in_modules, load_matching, load_state_dict
from zoo.weights import Weights, check_assets, resolve_weights


_SIMPLE_TYPES = (bool, int, float, str, type(None))
_UNSET = object()


def check_kwargs(factory: Any, kwargs: dict[str, Any], *, what: str, fixed: tuple[str, ...] = ()) -> None:
    """Raise a :class:`ZooError` unless ``factory`` accepts every key of ``kwargs`` (the message lists the
    keys it accepts) with a value of its annotated type, where that type is a plain ``int``/``float``/
    ``bool``/``str`` (or a union of them with ``None``). ``fixed`` are arguments the caller always passes
    (a dataset's ``split``, ``root``, ``download``), left out of the list."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return
    kwargs = {k: v for k, v in kwargs.items() if k not in fixed}
    named = {n: p for n, p in parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n not in fixed}
    if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(kwargs) - set(named))
        if unknown:
            accepted = ", ".join(f"{n}={p.default!r}" if p.default is not p.empty else n for n, p in named.items())
            raise ZooError(f"{what} has no argument {', '.join(map(repr, unknown))}; it accepts: {accepted or 'none'}")
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # an annotation that does not evaluate here: no type check
        hints = {}
    for key, value in kwargs.items():
        expected = _simple_types(hints.get(key))
        if expected and not _fits(value, expected):
            names = " or ".join("None" if t is type(None) else t.__name__ for t in expected)
            raise ZooError(f"{what}: {key}={value!r} is a {type(value).__name__}, expected {names}")


def _simple_types(annotation: Any) -> tuple[type, ...]:
    """The plain types ``annotation`` allows, or ``()`` when it is anything else (then nothing is checked)."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union else (annotation,)
    return tuple(options) if options and all(t in _SIMPLE_TYPES for t in options) else ()


def _fits(value: Any, expected: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # True is an int to Python, not to a user who typed -k width=true
        return bool in expected
    if isinstance(value, int) and float in expected:
        return True
    return isinstance(value, expected)


def _with_every_tensor_filled(spec: ModelSpec, kwargs: dict[str, Any], model: Any) -> Any:
    """``model``, unless a builder argument of 0 (or a width too small) gave it a parameter with no elements
    (``-k n_feature=0``: a conv with no filters), which no forward pass can run: then one error naming it."""
    named = model.named_parameters() if hasattr(model, "named_parameters") else ()
    empty = next(((name, list(p.shape)) for name, p in named if p.numel() == 0), None)
    if empty is not None:
        raise ZooError(f"model {spec.name!r} built with {kwargs} has a parameter with no elements ({empty[0]} of shape "
                       f"{empty[1]}): a size argument is 0 or too small")
    return model


def _call_factory(spec: ModelSpec, kwargs: dict[str, Any]) -> Any:
    """Call the builder; a failure is reported as one error naming the model and its plugin."""
    factory = spec.resolve_factory()
    check_kwargs(factory, kwargs, what=f"model {spec.name!r}")
    try:
        return _with_every_tensor_filled(spec, kwargs, factory(**kwargs))
    except ZooError:
        raise
    except TypeError as exc:
        try:
            accepted = str(inspect.signature(factory))
        except (TypeError, ValueError):
            accepted = "(see its docstring)"
        raise ZooError(f"model {spec.name!r} cannot be built with {kwargs}: {exc}; its builder takes {accepted}") from exc
    except Exception as exc:
        raise ZooError(f"model {spec.name!r} (registered by {spec.source!r}) failed to build: {type(exc).__name__}: {exc}") from exc


def build_model(
    spec: ModelSpec,
    *,
    weights: Any = None,
    pretrained: bool = False,
    progress: bool = True,
    allow_pickle: bool = False,
    **kwargs: Any,
) -> Any:
    """Build the model ``spec`` describes and load ``weights`` into it (see ``zoo.weights`` for what
    ``weights`` may be). Weights that need particular builder arguments bring them along.

    Passing another value for one of those (``num_classes=3`` with 10-class weights) loads every tensor
    whose name and shape still match and leaves the rest as the builder initialised them, with a
    ``UserWarning`` that lists them; that is allowed only when the rest lies in the model's head
    (``ModelSpec.head``), else it is a :class:`WeightsError` (``zoo train --init`` starts from a partial match).
    """
    if weights is None and pretrained:
        weights = True
    if weights is None or weights is False:
        return _call_factory(spec, kwargs)
    opened = open_weights(spec, weights, progress=progress, allow_pickle=allow_pickle)
    if opened.arch not in (None, spec.name):
        raise WeightsError(f"weights file {opened.label} was saved for model {opened.arch!r}, not {spec.name!r}")
    changed = {k: v for k, v in kwargs.items() if opened.model_kwargs.get(k, _UNSET) != v}  # unrecorded: the default
    model = _call_factory(spec, {**opened.model_kwargs, **kwargs})
    state = opened.state_dict(progress=progress)
    if not changed and opened.weights.base is not None:
        apply_difference(model, state, source=opened.label)
    elif not changed:
        apply_state_dict(model, state, source=opened.label)
    else:
        _load_with_new_head(spec, model, state, opened, changed)
    opened.load_assets(model)
    return model


# ---------------------------------------------------------------------------------- fine-tuning


@dataclass(frozen=True)
class OpenedWeights:
    """:class:`~zoo.weights.Weights` resolved for model ``spec`` without loading their tensors, with the builder
    arguments they need to load (their ``model_kwargs`` less the model's ``init_only_kwargs``)."""

    weights: Weights
    model_kwargs: dict[str, Any]

    @property
    def label(self) -> str:
        return self.weights.name

    @property
    def arch(self) -> str | None:
        return self.weights.arch

    def state_dict(self, *, progress: bool = True) -> dict[str, Any]:
        return load_state_dict(self.weights, progress=progress)

    def load_assets(self, model: Any) -> None:
        """Give ``model`` the side files that come with these weights (the LSTM's ``tokenizer.json``)."""
        if not hasattr(model, "load_assets"):
            return
        if self.weights.tag is None:
            model.load_assets(self.weights.path.parent)  # a run's side files, saved beside its weights
        elif self.weights.assets:
            model.load_assets(check_assets(self.weights))  # pinned side files, checked like the weights


def open_weights(spec: ModelSpec, weights: Any, *, progress: bool = True, allow_pickle: bool = False) -> OpenedWeights:
    """Resolve ``weights`` (a :class:`~zoo.weights.Weights`, a tag of ``spec``'s weights, ``True``, a local path
    or ``hf://``) without loading its tensors."""
    resolved = resolve_weights(spec.name, spec.weights, weights, recipe=spec.recipe or None, allow_pickle=allow_pickle,
                               progress=progress)
    # Builder arguments that only initialise parameters before training (luna_malignancy's init_from: a
    # file on the trainer's machine) are overwritten by the weights, so loading weights never needs them.
    init_only = spec.init_only_kwargs if resolved.arch in (None, spec.name) else ()
    model_kwargs = {k: v for k, v in resolved.model_kwargs.items() if k not in init_only}
    if resolved.base is not None:  # the file holds the difference to a pinned base: build from the base first
        model_kwargs[resolved.base["argument"]] = str(locate_base(resolved.base, for_weights=resolved.name))
    return OpenedWeights(resolved, model_kwargs)


def head_of(spec: ModelSpec) -> tuple[str, ...]:
    """The module names of the model's head (``ModelSpec.head``), ``()`` if undeclared."""
    return spec.head


def require_head(spec: ModelSpec) -> tuple[str, ...]:
    """:func:`head_of`, or the error ``--freeze backbone`` gives for a model that declares no head."""
    if not spec.head:
        raise ZooError(f"--freeze backbone: model {spec.name!r} declares no head (register(..., head=...)), so hubzoo "
                       "cannot tell which layers to train; train it whole (--freeze none)")
    return spec.head


def _load_with_new_head(spec: ModelSpec, model: Any, state: dict[str, Any], opened: OpenedWeights, changed: dict[str, Any]) -> None:
    """``get_model(weights=W, num_classes=3)``: load what matches; only the head may be left re-initialised."""
    head = head_of(spec)
    state = with_base(spec, model, opened, state)
    loaded, fresh = load_matching(model, state)
    unused = [k for k in state if k not in loaded]  # in the file, not in this model (or of another shape)
    beyond = [k for k in dict.fromkeys(fresh + unused) if not in_modules(k, head)]
    asked = ", ".join(f"{k}={v!r}" for k, v in changed.items())
    if beyond:
        was = ", ".join(f"{k}={opened.model_kwargs[k]!r}" for k in changed if k in opened.model_kwargs)
        where = f"outside its head {list(head)}" if head else "and the model declares no head"
        raise WeightsError(f"weights {opened.label} were trained with {was or 'other builder arguments'}, but {asked} was "
                           f"passed: {len(beyond)} tensors differ {where}, e.g. {beyond[:4]}. Only the head may differ "
                           f"when loading weights; to start training from the tensors that match, use: zoo train "
                           f"{spec.name} --init {opened.label}")
    if fresh:
        warnings.warn(f"{spec.name} built with {asked}: loaded {len(loaded)} tensors of {opened.label}; re-initialised "
                      f"{', '.join(fresh)} (left as the builder initialised them: train them)", UserWarning, stacklevel=4)


def with_base(spec: ModelSpec, model: Any, opened: OpenedWeights, state: dict[str, Any]) -> dict[str, Any]:
    """The whole state of weights stored as the difference to a pinned base: ``model`` was built from that base
    (``opened.model_kwargs`` name its folder), so it holds the base's tensors; those outside the head, then the
    difference ``state`` on top. Other weights: ``state`` as it is."""
    if opened.weights.base is None:
        return state
    head = head_of(spec)
    return {**{k: v for k, v in model.state_dict().items() if not in_modules(k, head)}, **state}


def start_from(spec: ModelSpec, model: Any, opened: OpenedWeights, *, progress: bool = True) -> dict[str, Any]:
    """``zoo train --init``: load into ``model`` every tensor of ``opened`` whose name and shape match, and the
    side files that come with it (the LSTM's vocabulary: its embedding rows belong to it). Returns what was
    done, for the run's report: ``{"weights", "arch", "loaded", "reinitialised"}``.

    Weights of the same model (or a file that does not name its model) may match in part, but at least one
    weight matrix or kernel (two or more dimensions) outside the head must match. Weights of another model
    are used only when they hold this model's whole backbone (``luna_classifier`` -> ``luna_malignancy``),
    and never give it their head: its classes are the other model's. Anything else is a :class:`WeightsError`.
    """
    head = head_of(spec)
    other = opened.arch not in (None, spec.name)
    state = with_base(spec, model, opened, opened.state_dict(progress=progress))
    loaded, fresh = load_matching(model, state, skip=head if other else ())
    backbone_fresh = [k for k in fresh if not in_modules(k, head)]
    if other and backbone_fresh:
        raise WeightsError(f"--init {opened.label} holds weights of model {opened.arch!r}, not {spec.name!r}; another model's "
                           f"weights are used only when they hold all of {spec.name}'s backbone, but {len(backbone_fresh)} "
                           f"tensors do not match, e.g. {backbone_fresh[:4]}")
    if not any(state[k].dim() >= 2 for k in loaded if not in_modules(k, head)):  # biases and counters match by chance
        raise WeightsError(f"--init {opened.label}: no weight matrix or kernel outside the head of {spec.name} matches these "
                           f"weights by name and shape (weights of another architecture, or other builder arguments?); "
                           f"the model has {list(model.state_dict())[:4]}..., the file {list(state)[:4]}...")
    opened.load_assets(model)
    return {"weights": opened.label, "arch": opened.arch, "loaded": len(loaded), "reinitialised": fresh}


def freeze_backbone(spec: ModelSpec, model: Any) -> list[Any]:
    """Train only the head (``ModelSpec.head``): every other parameter gets ``requires_grad=False``. Returns the
    frozen modules that hold parameters or buffers (BatchNorm among them), which the trainer keeps in eval
    mode so that their running statistics stay fixed."""
    head = require_head(spec)
    modules = dict(model.named_modules())
    if not any(h in modules for h in head):
        raise ZooError(f"--freeze backbone: the head {list(head)} that model {spec.name!r} declares is not a module of "
                       f"{type(model).__name__}")
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(in_modules(name, head))
    around_head = {name for name in modules for h in head if name == "" or in_modules(h, [name])}  # eval() would reach the head
    return [m for name, m in modules.items() if not in_modules(name, head) and name not in around_head
            and (next(m.parameters(recurse=False), None) is not None or next(m.buffers(recurse=False), None) is not None)]
