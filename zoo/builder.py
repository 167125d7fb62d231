"""Building a registered model and loading its weights (the registry only describes models).

:func:`build_model` calls a spec's builder with the keyword arguments the weights need, then loads the
weights through ``zoo.weights`` (hash checked, strict state dict) and the model's side files.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from typing import Any

from zoo.errors import WeightsError, ZooError
from zoo.registry import ModelSpec
from zoo.weights import (
    HfWeightsURI,
    LocalWeights,
    WeightsSpec,
    apply_state_dict,
    check_assets,
    fetch_hf,
    load_state_dict,
    read_metadata,
    resolve_weights,
)


_SIMPLE_TYPES = (bool, int, float, str, type(None))


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


def _call_factory(spec: ModelSpec, kwargs: dict[str, Any]) -> Any:
    """Call the builder; a failure is reported as one error naming the model and its plugin."""
    factory = spec.resolve_factory()
    check_kwargs(factory, kwargs, what=f"model {spec.name!r}")
    try:
        return factory(**kwargs)
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
    ``weights`` may be). Weights that need particular builder arguments bring them along; passing a
    different value for one of those is an error."""
    if weights is None and pretrained:
        weights = True
    if weights is None or weights is False:
        return _call_factory(spec, kwargs)
    resolved = resolve_weights(spec.name, spec.weights, weights, recipe=spec.meta.get("recipe"), allow_pickle=allow_pickle)
    if isinstance(resolved, HfWeightsURI):
        resolved = LocalWeights(fetch_hf(resolved, progress=progress))
    if isinstance(resolved, WeightsSpec):
        label, needed = resolved.name, dict(resolved.model_kwargs)
    else:  # a local file: hubzoo's own files name their architecture and builder arguments
        label, needed = str(resolved.path), {}
        if resolved.path.suffix == ".safetensors":
            meta = read_metadata(resolved.path)
            if meta.get("arch", spec.name) != spec.name:
                raise WeightsError(f"weights file {label} was saved for model {meta['arch']!r}, not {spec.name!r}")
            needed = json.loads(meta.get("model_kwargs", "{}"))
    # Builder arguments that only initialise parameters before training (luna_malignancy's init_from: a
    # file on the trainer's machine) are overwritten by the weights, so loading weights never needs them.
    needed = {k: v for k, v in needed.items() if k not in spec.meta.get("init_only_kwargs", ())}
    for key, value in needed.items():
        if key in kwargs and kwargs[key] != value:
            raise WeightsError(f"weights {label} were trained with {key}={value!r}, but {key}={kwargs[key]!r} was passed")
    kwargs = {**needed, **kwargs}
    model = _call_factory(spec, kwargs)
    apply_state_dict(model, load_state_dict(resolved, progress=progress), source=label)
    if isinstance(resolved, LocalWeights) and hasattr(model, "load_assets"):
        model.load_assets(resolved.path.parent)  # side files saved beside the weights, e.g. tokenizer.json
    elif isinstance(resolved, WeightsSpec) and resolved.assets and hasattr(model, "load_assets"):
        model.load_assets(check_assets(resolved))  # pinned side files, checked like the weights
    return model
