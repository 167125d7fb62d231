"""torch.hub entries for hubzoo: one per registered model, installed plugins' models included.

    torch.hub.list("owner/hubzoo:main")
    model = torch.hub.load("owner/hubzoo:main", "mnist_cnn", weights="digits")
    model = torch.hub.load("/path/to/checkout", "mnist_cnn", source="local", pretrained=True)

Every entry is ``entry(*, weights=None, pretrained=False, progress=True, **kwargs)``; see
``torch.hub.help(repo, name)`` for shapes and the weights each model has. Helper names here start
with ``_`` so that ``torch.hub.list`` shows models only.
"""

dependencies = ["torch", "pluggy", "safetensors"]

import inspect as _inspect

from zoo.api import get_model as _get_model
from zoo.errors import ZooError as _ZooError
from zoo.plugins import get_registry as _get_registry

_ENTRY_ARGS = """

Args:
    weights: a weights tag of this model, True for its default, a local .safetensors path, or
        hf://org/repo/file.safetensors@revision. The sha256 of registered weights is checked at load.
    pretrained: True loads the default weights (same as weights=True).
    progress: show a progress bar when weights are downloaded.
    **kwargs: builder arguments{signature}.

Returns:
    torch.nn.Module
"""


def _make_entry(spec):
    def entry(*, weights=None, pretrained=False, progress=True, **kwargs):
        return _get_model(spec.name, weights=weights, pretrained=pretrained, progress=progress, **kwargs)

    try:  # torch is loaded already here, so importing the builder's module to show its arguments is cheap
        signature = f" {_inspect.signature(spec.resolve_factory())}"
    except _ZooError:  # its extra is not installed: the entry says so when called
        signature = ""
    entry.__name__ = entry.__qualname__ = spec.name
    entry.__module__ = __name__
    entry.__doc__ = spec.summary() + _ENTRY_ARGS.format(signature=signature)
    return entry


for _name, _spec in _get_registry().models.items():
    if _name == "dependencies":
        continue  # would shadow torch.hub's dependency list
    globals()[_name] = _make_entry(_spec)
