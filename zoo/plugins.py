"""Finding and loading plugins, and isolating their failures.

Plugins come from three places, in this order: the built-in families (modules of this package that
implement the same public hooks), installed packages with an entry point in the group ``zoo``, and
objects passed in-process (tests, notebooks). Each plugin's hooks are called on their own, so one
that fails to import, fails pluggy's validation or raises inside a hook is recorded with its error
and left out, while every other plugin keeps working. Environment variables:

* ``ZOO_DISABLE_PLUGINS=a,b``: skip these plugins (by entry-point or module name) without importing them;
* ``ZOO_STRICT_PLUGINS=1``: raise on the first plugin failure instead (for plugin authors).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import sys
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Iterable, Iterator

import pluggy

from zoo import hookspecs
from zoo.errors import RegistrationError, ZooError
from zoo.registry import Registry, make_dataset_spec, make_model_spec
from zoo.weights import read_manifest, user_manifest_path

ENTRY_POINT_GROUP = "zoo"

#: The built-in families, registered through the same hooks as third-party plugins.
BUILTIN_PLUGINS = (
    "zoo.families.mnist",  # mnist_cnn, mnist_mlp; digits, mnist
    "zoo.families.cifar",  # vgg16_cifar, dsconv_net, cifar_net; cifar10
    "zoo.families.imagenet",  # vgg16 (torchvision's, ImageNet weights downloaded once)
    "zoo.families.text",  # lstm_sentiment, bert/bart classifiers; text datasets
    "zoo.families.user",  # the user's own data: imagefolder, text_csv
    "zoo.luna.family",  # LUNA16 models and datasets
    "zoo.luna.commands",  # `zoo luna ...`, `zoo cache luna`, `zoo data synth-luna`
)


class PluginError(ZooError):
    """A plugin failed while ``ZOO_STRICT_PLUGINS=1``."""


@dataclass
class PluginInfo:
    """What ``zoo plugins`` shows about one plugin."""

    name: str
    origin: str  # "builtin", "entry point" or "in-process"
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    disabled: bool = False


class LoadedRegistry(Registry):
    """A registry plus the record of the plugins that filled it."""

    def __init__(self) -> None:
        super().__init__()
        self.plugins: dict[str, PluginInfo] = {}
        self.manager: pluggy.PluginManager | None = None  # kept for hooks called later (register_commands)
        self.order: list[str] = []  # the plugins registered with the manager, in loading order


@contextlib.contextmanager
def _plugin_code() -> Iterator[None]:
    """Run a plugin's import or hook with its prints sent to stderr, so that they never mix into the
    JSON that ``zoo list --json`` and friends write on stdout."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _env_list(name: str) -> set[str]:
    return {p.strip() for p in os.environ.get(name, "").split(",") if p.strip()}


def _strict(strict: bool | None) -> bool:
    return strict if strict is not None else os.environ.get("ZOO_STRICT_PLUGINS", "") not in ("", "0")


def build_registry(
    *, extra_plugins: Iterable[Any] = (), use_entry_points: bool = True, strict: bool | None = None
) -> LoadedRegistry:
    """Load every plugin and return the registry they fill.

    ``extra_plugins`` are objects or modules with ``@zoo.hookimpl`` functions, registered after the
    installed ones; ``strict`` defaults to ``ZOO_STRICT_PLUGINS``.
    """
    strict = _strict(strict)
    disabled = _env_list("ZOO_DISABLE_PLUGINS")
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    registry = LoadedRegistry()
    order: list[str] = []

    def fail(info: PluginInfo, exc: BaseException) -> None:
        info.error = f"{type(exc).__name__}: {exc}"
        if strict:
            raise PluginError(f"plugin {info.name!r} failed: {info.error}") from exc

    def add(info: PluginInfo, load: Any) -> None:
        registry.plugins[info.name] = info
        if info.name in disabled:
            info.disabled = True
            return
        try:
            with _plugin_code():
                manager.register(load(), name=info.name)
            order.append(info.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit at import included: a plugin never ends the host
            fail(info, exc)

    for module_name in BUILTIN_PLUGINS:
        add(PluginInfo(module_name, "builtin"), lambda m=module_name: importlib.import_module(m))
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            version = ep.dist.version if ep.dist is not None else None
            add(PluginInfo(ep.name, "entry point", version), ep.load)
    for i, plugin in enumerate(extra_plugins):
        name = getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{i}"
        add(PluginInfo(name, "in-process"), lambda p=plugin: p)

    for hook_name, make_spec, kind in (
        ("register_models", make_model_spec, "models"),
        ("register_datasets", make_dataset_spec, "datasets"),
    ):
        impls = {impl.plugin_name: impl for impl in getattr(manager.hook, hook_name).get_hookimpls()}
        for plugin_name in order:
            info = registry.plugins[plugin_name]
            if plugin_name not in impls or info.error:
                continue
            info.hooks.append(hook_name)
            _call_one_hook(registry, info, impls[plugin_name].function, make_spec, kind, fail)
    for plugin_name in order:  # listed in `zoo plugins`; called when the CLI builds its parser
        if plugin_name in {impl.plugin_name for impl in manager.hook.register_commands.get_hookimpls()}:
            registry.plugins[plugin_name].hooks.append("register_commands")
    registry.manager, registry.order = manager, order
    _add_user_weights(registry)
    return registry


def add_plugin_commands(registry: LoadedRegistry, subparsers: Any, options: Any = None) -> None:
    """Let every plugin that implements ``register_commands`` add its sub-commands to ``subparsers``; a hook that
    also names ``options`` receives that (the CLI passes its shared option helpers, ``zoo/cli/options.py``).

    A plugin whose hook raises (or adds a command name another already took) is recorded as broken in
    ``zoo plugins`` and its commands left out; the other plugins' commands stay.
    """
    if registry.manager is None:
        return
    impls = {impl.plugin_name: impl for impl in registry.manager.hook.register_commands.get_hookimpls()}
    strict = _strict(None)
    for plugin_name in registry.order:
        info = registry.plugins[plugin_name]
        if plugin_name not in impls or info.error:
            continue
        before, listed = dict(subparsers.choices), len(subparsers._choices_actions)
        try:
            with _plugin_code():
                hook_args = {"subparsers": subparsers, "options": options}
                impls[plugin_name].function(**{name: hook_args[name] for name in impls[plugin_name].argnames})
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            # Take back what it added before failing (argparse keeps the parsers and their --help lines).
            subparsers.choices.clear()
            subparsers.choices.update(before)
            del subparsers._choices_actions[listed:]
            info.error, info.traceback = f"{type(exc).__name__}: {exc}", traceback.format_exc()
            if strict:
                raise PluginError(f"plugin {plugin_name!r} failed to add its commands: {info.error}") from exc


def _add_user_weights(registry: LoadedRegistry) -> None:
    """Attach the weights ``zoo unbundle`` imported (``$ZOO_HOME/weights/manifest.json``) to their models."""
    path = user_manifest_path()
    if not path.is_file():
        return
    for spec in read_manifest(path).values():
        model = registry.models.get(spec.arch)
        if model is not None and spec.tag not in model.weights:
            registry.models[spec.arch] = dataclasses.replace(model, weights={**model.weights, spec.tag: dataclasses.replace(spec, default=False)})


def _call_one_hook(registry: LoadedRegistry, info: PluginInfo, hook: Any, make_spec: Any, kind: str, fail: Any) -> None:
    """Call one plugin's hook with a ``register`` callback; keep its registrations only if it succeeds."""
    staged: list = []

    def register(name: str, factory: Any, **options: Any) -> None:
        try:
            spec = make_spec(name, factory, source=info.name, **options)
        except TypeError as exc:  # wrong keyword arguments to register()
            raise RegistrationError(f"{info.name}: register({name!r}, ...) got bad arguments: {exc}") from None
        registry.check_unique(spec, pending=staged)
        staged.append(spec)

    try:
        with _plugin_code():
            hook(register=register)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        info.traceback = traceback.format_exc()
        fail(info, exc)
        return
    for spec in staged:
        registry.add(spec)
        getattr(info, kind).append(spec.name)


_REGISTRY: LoadedRegistry | None = None


def get_registry() -> LoadedRegistry:
    """The process-wide registry, built on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the process-wide registry, so the next use finds plugins anew (after ``pip install``)."""
    global _REGISTRY
    _REGISTRY = None
