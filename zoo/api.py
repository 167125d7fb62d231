"""The Python API: list, build and evaluate what the plugins registered.

``zoo/__init__.py`` re-exports these functions; modules inside the package import them from here (never
from the ``zoo`` facade), so the layers stay one-way.
"""

from __future__ import annotations

from typing import Any

from zoo.builder import build_model, check_kwargs
from zoo.plugins import get_registry


def list_models(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Names of the registered models, filtered by a shell-style ``pattern`` and a ``task``."""
    return get_registry().list_models(pattern, task)


def get_model(name: str, weights: Any = None, *, pretrained: bool = False, progress: bool = True, **kwargs: Any):
    """Build model ``name`` (``nn.Module``), with ``weights`` loaded and their sha256 checked.

    ``weights``: a tag of the model's weights (``"digits"``), ``True`` for the default, a local
    ``.safetensors`` path, or ``hf://org/repo/file.safetensors@rev``. ``name`` may also be
    ``arch.tag`` (``"mnist_cnn.digits"``). Other keyword arguments go to the model's builder.
    """
    registry = get_registry()
    arch, _, tag = name.partition(".") if isinstance(name, str) else (name, "", "")  # a non-string fails in .model()
    if tag and name not in registry.models and weights is None:
        name, weights = arch, tag
    return build_model(registry.model(name), weights=weights, pretrained=pretrained, progress=progress, **kwargs)


def list_datasets(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Names of the registered datasets."""
    return get_registry().list_datasets(pattern, task)


def get_dataset(name: str, split: str = "train", root: str | None = None, **kwargs: Any):
    """Build dataset ``name`` for ``split``: a ``torch.utils.data.Dataset`` of ``(input, target)`` pairs."""
    spec = get_registry().dataset(name)
    factory = spec.resolve_factory()
    check_kwargs(factory, kwargs, what=f"dataset {name!r}", fixed=("split", "root", "download"))
    return factory(split=split, root=root, **kwargs)


def evaluate(model: Any, dataset: Any, **kwargs: Any) -> dict:
    """Run ``model`` over ``dataset`` and return the shared evaluator's report (see ``zoo.evaluation``)."""
    from zoo.evaluation import evaluate as run_evaluation

    return run_evaluation(model, dataset, **kwargs)
