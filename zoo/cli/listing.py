"""``zoo list``, ``zoo datasets``, ``zoo info`` and ``zoo plugins``: what is registered.

Light: listing imports neither torch nor numpy (``zoo info`` builds the model, so it does).
Tables fit the terminal (``shutil.get_terminal_size``, 80 columns when not a terminal): the weights
and the description are cut with an ellipsis; ``--json`` prints everything.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import asdict
from typing import Any, Sequence

from zoo.cli.options import EXIT_OK, add_json, add_model_kwargs, print_json
from zoo.plugins import get_registry

#: The widest the weights column of ``zoo list`` gets; more tags are cut with ``…`` and counted.
WEIGHTS_WIDTH = 24
#: The description keeps at least this many columns; the weights column narrows first (to 8).
MIN_DESCRIPTION = 20
#: Columns between two table columns.
GAP = "  "


def add_commands(sub: Any) -> None:
    """``list``, ``datasets``, ``info`` and ``plugins``."""
    for name, what, run in (("list", "models", cmd_list), ("datasets", "datasets", cmd_datasets)):
        p = sub.add_parser(name, help=f"list {what}", description=f"List registered {what} (built-in and from plugins).")
        p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'mnist*'")
        p.add_argument("--task", help=f"only {what} for this task")
        add_json(p, help="machine-readable output: every field, nothing cut")
        p.set_defaults(run=run)

    p = sub.add_parser("info", help="describe a model or one set of its weights",
                       description="Describe a model: shapes, weights, parameters, multiply-adds, preprocessing, recipe. "
                                   "NAME shows the builder default beside the model's default weights; NAME.TAG (or a "
                                   "run's .safetensors, or hf://...) describes those weights: their parameters, "
                                   "preprocessing, classes, metrics and the command that trained them.")
    p.add_argument("name", help="a model (mnist_cnn), ARCH.TAG (mnist_cnn.fashion), a .safetensors path or hf://...")
    add_model_kwargs(p)
    add_json(p, help="print the description as JSON")
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("plugins", help="list plugins and their errors", description="List loaded plugins, what each registered, and load errors.")
    add_json(p, help="machine-readable output")
    p.set_defaults(run=cmd_plugins)


def cmd_list(args: argparse.Namespace) -> int:
    registry = get_registry()
    names = registry.list_models(args.pattern, args.task)
    if args.json:
        print_json([{"name": n, "task": registry.models[n].task, "source": registry.models[n].source,
                     "weights": list(registry.models[n].weights)} for n in names])
        return EXIT_OK
    width = terminal_width()
    header = ("model", "task", "weights", "description")
    fixed = sum(max(len(c) for c in column) for column in zip(header[:2], *((n, registry.models[n].task) for n in names)))
    weights_width = max(8, min(WEIGHTS_WIDTH, width - fixed - 3 * len(GAP) - MIN_DESCRIPTION))
    rows = [(name, registry.models[name].task, fit_items(list(registry.models[name].weights), weights_width),
             registry.models[name].description) for name in names]
    for line in fit_table([header, *rows], width):
        print(line)
    return EXIT_OK


def cmd_datasets(args: argparse.Namespace) -> int:
    registry = get_registry()
    names = registry.list_datasets(args.pattern, args.task)
    if args.json:
        print_json([{"name": n, "task": registry.datasets[n].task, "num_classes": registry.datasets[n].num_classes,
                     "source": registry.datasets[n].source} for n in names])
        return EXIT_OK
    # num_classes None: the classes come from the user's data
    rows = [(name, registry.datasets[name].task, str(registry.datasets[name].num_classes or "any"),
             registry.datasets[name].description) for name in names]
    for line in fit_table([("dataset", "task", "classes", "description"), *rows], terminal_width()):
        print(line)
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    """``zoo info NAME``: the model, its builder default and its default weights side by side;
    ``zoo info NAME.TAG`` (or a run's ``.safetensors``, or ``hf://...``): those weights."""
    from zoo.api import get_model, get_weights
    from zoo.weights import is_file_ref, split_ref

    registry, kwargs = get_registry(), dict(args.model_kwargs)
    names_weights = is_file_ref(args.name) or args.name.startswith("hf://") or split_ref(args.name)[1] is not None
    weights = get_weights(args.name) if names_weights else None
    spec = registry.model(weights.arch if weights is not None else args.name)
    if weights is None and spec.default_weights is not None:
        weights = get_weights(spec.name)
    built = get_model(spec.name, **kwargs)  # the builder default (with -k)
    described = {"model": spec.name, "builder_default": _figures(spec, built, kwargs, spec.preprocessing),
                 "weights": None}
    if weights is not None:
        # The architecture the weights need, without reading their tensors (which may first need a download).
        needed = {k: v for k, v in weights.model_kwargs.items() if k not in spec.init_only_kwargs}
        model = get_model(spec.name, **{**needed, **kwargs})
        described["weights"] = {**_figures(spec, model, {**weights.model_kwargs, **kwargs}, weights.preprocessing),
                                "name": weights.name, "default": weights.default, "dataset": weights.dataset,
                                "class_names": list(weights.class_names or []) or None, "metrics": dict(weights.metrics),
                                "command": weights.command, "sha256": weights.sha256}
    if args.json:
        print_json(described)
        return EXIT_OK
    print(f"{spec.name}\n{'=' * len(spec.name)}\n{spec.summary()}")
    default = described["builder_default"]
    print(f"Builder default{_kwargs_text(kwargs)}: {_figures_text(default)}")
    if weights is not None:
        print(_weights_text(described["weights"], chosen=names_weights))
    if spec.recipe:
        print(f"Recipe: {spec.recipe}")
    return EXIT_OK


def _figures(spec: Any, model: Any, kwargs: dict[str, Any], preprocessing: Any) -> dict[str, Any]:
    """Parameters, multiply-adds (for a declared ``input_shape``) and preprocessing of one built model."""
    from zoo.models.complexity import count_macs, count_params

    figures: dict[str, Any] = {"model_kwargs": kwargs, "parameters": count_params(model), "multiply_adds": None,
                               "input_shape": None, "preprocessing": dict(preprocessing) if preprocessing else None}
    shape = spec.input_shape_for(kwargs, preprocessing)  # efficientnet_lite0.fashion: 1x28x28, not 3x224x224
    if shape:
        figures.update(multiply_adds=count_macs(model, shape), input_shape=list(shape))
    return figures


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return f" ({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})" if kwargs else ""


def _figures_text(figures: dict[str, Any]) -> str:
    text = f"Parameters: {figures['parameters']:,}"
    if figures["multiply_adds"] is not None:
        text += f"; Multiply-adds: {figures['multiply_adds']:,} per {figures['input_shape']} input (conv and linear layers)"
    prep = figures["preprocessing"]
    if prep:
        from zoo.preprocess import Preprocessing  # here: `zoo list` and `--help` never import torch

        text += f"; preprocessing: {Preprocessing.from_dict(prep).describe()}, mean {prep['mean']}, std {prep['std']}"
    return text


def _weights_text(weights: dict[str, Any], *, chosen: bool) -> str:
    """The lines ``zoo info`` prints for one set of weights."""
    role = "Weights" if chosen else "Default weights"
    lines = [f"{role} {weights['name']}{_kwargs_text(weights['model_kwargs'])}: {_figures_text(weights)}"]
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in weights["metrics"].items() if isinstance(v, float))
    lines.append(f"  trained on {weights['dataset'] or '?'}" + (f"; {weights['metrics'].get('split', '?')} split: {metrics}" if metrics else ""))
    if weights["class_names"]:
        names = weights["class_names"]
        lines.append(f"  classes ({len(names)}): {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}")
    if weights["command"]:
        lines.append(f"  trained with: {weights['command']}")
    lines.append(f"  sha256: {weights['sha256']}")
    return "\n".join(lines)


def cmd_plugins(args: argparse.Namespace) -> int:
    plugins = list(get_registry().plugins.values())
    if args.json:
        print_json([{k: v for k, v in asdict(p).items() if k != "traceback"} for p in plugins])
        return EXIT_OK
    for p in plugins:
        status = "disabled" if p.disabled else (f"BROKEN: {p.error}" if p.error else "ok")
        print(f"{p.name:<22} {p.origin:<12} {p.version or '':<8} {status}")
        if p.models or p.datasets:
            print(f"{'':<22} models: {', '.join(p.models) or '-'}; datasets: {', '.join(p.datasets) or '-'}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------- tables


def terminal_width() -> int:
    """The terminal's columns (``$COLUMNS`` first; 80 when stdout is not a terminal)."""
    return shutil.get_terminal_size((80, 24)).columns


def fit(text: str, width: int) -> str:
    """``text`` on one line of at most ``width`` characters, cut with ``…`` when longer."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def fit_items(items: Sequence[str], width: int) -> str:
    """``a,b,c`` in at most ``width`` characters: the items that fit, then ``…+N`` for the N left out; ``-`` for none."""
    if not items:
        return "-"
    shown, text = len(items), ",".join(items)
    while len(text) > width and shown > 0:
        shown -= 1
        text = ",".join([*items[:shown], f"…+{len(items) - shown}"])
    return text


def fit_table(rows: Sequence[Sequence[str]], width: int) -> list[str]:
    """``rows`` (the first a header) as aligned columns in ``width`` characters: every column as wide as its
    widest cell, the last one (a description) cut with ``…`` to what is left, at least 10 characters."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    left = max(width - sum(widths) - len(GAP) * len(widths), 10)
    return [GAP.join([*(cell.ljust(w) for cell, w in zip(row, widths)), fit(row[-1], left)]).rstrip() for row in rows]
