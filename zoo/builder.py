"""Building a registered model and loading its weights (the registry only describes models).

:func:`build_model` calls a spec's builder with the keyword arguments the weights need, then loads the
weights through ``zoo.weights`` (hash checked, strict state dict) and the model's side files.
"""

from __future__ import annotations

import inspect
import json
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


def _call_factory(spec: ModelSpec, kwargs: dict[str, Any]) -> Any:
    """Call the builder; a failure is reported as one error naming the model and its plugin."""
    factory = spec.resolve_factory()
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
