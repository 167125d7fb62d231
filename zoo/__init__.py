"""hubzoo: a plugin-based PyTorch model zoo.

Python API (all names also work as ``torch.hub`` entries, see ``hubconf.py``)::

    import zoo
    zoo.list_models("mnist*")                      # ['mnist_cnn', 'mnist_mlp']
    model = zoo.get_model("mnist_cnn", weights="digits")
    data = zoo.get_dataset("digits", split="test")

Plugin authors: ``from zoo import hookimpl`` and see ``zoo/hookspecs.py`` and ``docs/plugins.md``.
Importing this package is cheap: plugins are loaded on the first call that needs them.
"""

from __future__ import annotations

from typing import Any

from zoo.errors import ZooError
from zoo.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "ZooError", "list_models", "get_model", "list_datasets", "get_dataset", "evaluate"]


def _registry():
    from zoo.plugins import get_registry

    return get_registry()


def list_models(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Names of the registered models, filtered by a shell-style ``pattern`` and a ``task``."""
    return _registry().list_models(pattern, task)


def get_model(name: str, weights: Any = None, *, pretrained: bool = False, progress: bool = True, **kwargs: Any):
    """Build model ``name`` (``nn.Module``), with ``weights`` loaded and their sha256 checked.

    ``weights``: a tag of the model's weights (``"digits"``), ``True`` for the default, a local
    ``.safetensors`` path, or ``hf://org/repo/file.safetensors@rev``. ``name`` may also be
    ``arch.tag`` (``"mnist_cnn.digits"``). Other keyword arguments go to the model's builder.
    """
    from zoo.registry import build_model

    registry = _registry()
    arch, _, tag = name.partition(".")
    if tag and name not in registry.models and weights is None:
        name, weights = arch, tag
    return build_model(registry.model(name), weights=weights, pretrained=pretrained, progress=progress, **kwargs)


def list_datasets(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Names of the registered datasets."""
    return _registry().list_datasets(pattern, task)


def get_dataset(name: str, split: str = "train", root: str | None = None, **kwargs: Any):
    """Build dataset ``name`` for ``split``: a ``torch.utils.data.Dataset`` of ``(input, target)`` pairs."""
    return _registry().dataset(name).resolve_factory()(split=split, root=root, **kwargs)


def evaluate(model: Any, dataset: Any, **kwargs: Any) -> dict:
    """Run ``model`` over ``dataset`` and return the shared evaluator's report (see ``zoo.evaluation``)."""
    from zoo.evaluation import evaluate as _evaluate

    return _evaluate(model, dataset, **kwargs)
