"""The plugin contract: the hooks a hubzoo plugin may implement.

A plugin is a module or object with functions decorated by ``zoo.hookimpl`` and is found through
the entry-point group ``zoo``::

    [project.entry-points.zoo]
    myplugin = "my_module"

Each hook receives a ``register`` callback. The host validates every call, records which plugin made
it, and keeps a plugin's registrations only if its hook returns without raising.
"""

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_models(register):
    """Register models: ``register(name, factory, *, task, description="", weights=None, tags=(), meta=None)``."""


@hookspec
def register_datasets(register):
    """Register datasets: ``register(name, factory, *, task, num_classes, description="", class_names=None)``
    (``num_classes=None``: the classes come from the data, as the dataset's ``class_names``)."""


@hookspec
def register_commands(subparsers, options):
    """Add ``zoo`` sub-commands: ``subparsers.add_parser(...)`` (argparse), ``set_defaults(run=handler)``.

    ``options`` (optional to name) holds the shared option helpers and exit statuses (``zoo/cli/options.py``:
    ``options.add_device(p)``, ``options.EXIT_OK``). The handler receives the parsed ``argparse.Namespace``
    and returns the exit status. Import heavy modules inside the handler, so that ``zoo --help`` stays fast."""
