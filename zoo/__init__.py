"""hubzoo: a plugin-based PyTorch model zoo.

Python API (all names also work as ``torch.hub`` entries, see ``hubconf.py``)::

    import zoo
    zoo.list_models("mnist*")                      # ['mnist_cnn', 'mnist_mlp']
    model = zoo.get_model("mnist_cnn", weights="digits")
    data = zoo.get_dataset("digits", split="test")
    prep = zoo.get_preprocess("mnist_cnn.digits")   # any image -> the float32 [1, 28, 28] tensor it was trained on
    weights = zoo.get_weights("mnist_cnn.fashion")  # typed: .num_params, .class_names, .metrics, .command, .transforms()
    model = zoo.get_model(weights)

Plugin authors: ``from zoo import hookimpl`` and see ``zoo/hookspecs.py`` and ``docs/plugins.md``.
Importing this package is cheap (no torch): plugins are loaded on the first call that needs them.
"""

from __future__ import annotations

from zoo.api import evaluate, get_dataset, get_model, get_preprocess, get_weights, list_datasets, list_models
from zoo.errors import ZooError
from zoo.hookspecs import hookimpl
from zoo.version import __version__

__all__ = ["__version__", "hookimpl", "ZooError", "list_models", "get_model", "list_datasets", "get_dataset", "evaluate",
           "get_preprocess", "get_weights"]
