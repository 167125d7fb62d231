"""``zoo list``, ``zoo datasets``, ``zoo info`` and ``zoo plugins``: what is registered.

Light: listing imports neither torch nor numpy (``zoo info`` builds the model, so it does).
Tables fit the terminal (``shutil.get_terminal_size``, 80 columns when not a terminal): the weights
and the description are cut with an ellipsis; ``--json`` prints everything.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict
from typing import Any, Sequence

from zoo.cli.options import EXIT_OK, add_json, add_model_kwargs
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

    p = sub.add_parser("info", help="describe a model", description="Describe a model: shapes, weights, parameters, recipe.")
    p.add_argument("name")
    add_model_kwargs(p)
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("plugins", help="list plugins and their errors", description="List loaded plugins, what each registered, and load errors.")
    add_json(p, help="machine-readable output")
    p.set_defaults(run=cmd_plugins)


def cmd_list(args: argparse.Namespace) -> int:
    registry = get_registry()
    names = registry.list_models(args.pattern, args.task)
    if args.json:
        print(json.dumps([{"name": n, "task": registry.models[n].task, "source": registry.models[n].source,
                           "weights": list(registry.models[n].weights)} for n in names], indent=2))
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
        print(json.dumps([{"name": n, "task": registry.datasets[n].task, "num_classes": registry.datasets[n].num_classes,
                           "source": registry.datasets[n].source} for n in names], indent=2))
        return EXIT_OK
    # num_classes None: the classes come from the user's data
    rows = [(name, registry.datasets[name].task, str(registry.datasets[name].num_classes or "any"),
             registry.datasets[name].description) for name in names]
    for line in fit_table([("dataset", "task", "classes", "description"), *rows], terminal_width()):
        print(line)
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    from zoo.api import get_model
    from zoo.models.complexity import count_macs, count_params

    spec = get_registry().model(args.name)
    model = get_model(args.name, **dict(args.model_kwargs))
    print(f"{spec.name}\n{'=' * len(spec.name)}\n{spec.summary()}\nParameters: {count_params(model):,}")
    input_shape = spec.meta.get("input_shape")
    if input_shape:
        in_channels = dict(args.model_kwargs).get("in_channels")
        shape = (in_channels, *input_shape[1:]) if in_channels else tuple(input_shape)
        print(f"Multiply-adds: {count_macs(model, shape):,} per {list(shape)} input (conv and linear layers)")
    if spec.meta.get("recipe"):
        print(f"Recipe: {spec.meta['recipe']}")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    plugins = list(get_registry().plugins.values())
    if args.json:
        print(json.dumps([{k: v for k, v in asdict(p).items() if k != "traceback"} for p in plugins], indent=2))
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
