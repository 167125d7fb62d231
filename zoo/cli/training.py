"""``zoo train`` and ``zoo eval``: the trainer (``zoo.train``) and the shared evaluator (``zoo.reverify.evaluate_registered``)."""

from __future__ import annotations

import argparse
import os
from dataclasses import MISSING, fields
from typing import Any

from zoo.cli.options import (EXIT_OK, add_batch_size, add_data_kwargs, add_device, add_json, add_max_image_pixels,
                             add_model_kwargs, add_weights, image_pixel_limit, print_json, warn)

#: ``TrainConfig`` fields that are shared options: added by their helper, with the field's default and help.
SHARED = {"device": add_device, "batch_size": add_batch_size, "model_kwargs": add_model_kwargs, "data_kwargs": add_data_kwargs}


def add_commands(sub: Any) -> None:
    """``train`` and ``eval``."""
    _add_train_command(sub)
    _add_eval_command(sub)


def _add_train_command(sub: Any) -> None:
    """``zoo train``: one option per :class:`zoo.runs.TrainConfig` field, its help and default taken from there."""
    from zoo.runs import TrainConfig

    p = sub.add_parser("train", help="train a model", description="Train a model; writes checkpoints, a metrics log, "
                       "a curves plot, the best weights (safetensors) and a test report into --out.")
    for f in fields(TrainConfig):
        help_text, flag = f.metadata["help"], f.metadata.get("flag")
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if f.name == "model":
            p.add_argument("model", metavar="name", help=help_text)
            continue
        if f.name in SHARED:
            SHARED[f.name](p, help=help_text, **({} if isinstance(default, dict) else {"default": default}))
            continue
        names = flag.split("/") if flag else [f"--{f.name.replace('_', '-')}"]
        options: dict[str, Any] = {"dest": f.name, "help": help_text}
        if isinstance(default, bool):  # a switch: --amp turns on a False default, --quiet off a True one
            options.update(action="store_false" if default else "store_true")
        elif default is MISSING:  # --data
            options.update(required=True, metavar=f.metadata.get("metavar"))
        else:
            if default is not None:
                options["help"] += f" (default {default})"
            options.update(type=f.metadata.get("type") or (type(default) if default is not None else str), default=default,
                           metavar=f.metadata.get("metavar"))
            if "choices" in f.metadata:
                options["choices"] = f.metadata["choices"]
        p.add_argument(*names, **options)
    add_max_image_pixels(p)  # not a TrainConfig field: a limit on the reader, not part of what the run is
    p.set_defaults(run=cmd_train)


def _add_eval_command(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a model", description="Evaluate a model on a dataset split with the shared "
                       "evaluator (accuracy, precision, recall, F1, IoU, Dice).")
    p.add_argument("name", help="registered model name")
    p.add_argument("--data", required=True, metavar="DATASET", help="registered dataset name (see `zoo datasets`)")
    p.add_argument("--root", help="data folder (default $ZOO_DATA or ~/.cache/zoo/data)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is missing (needs network)")
    add_data_kwargs(p)
    add_device(p)
    add_model_kwargs(p)
    add_weights(p, default="none, random init")
    p.add_argument("--split", default="test", help="default test")
    add_batch_size(p, default=256)
    p.add_argument("--threshold", type=float, default=0.5, help="decision threshold (a probability) for two-class models")
    p.add_argument("--target-recall", type=float, help="two-class models: also report the highest threshold that reaches this "
                   "recall (favour recall when missing a positive costs more than a false alarm)")
    add_json(p, help="print only the JSON report")
    p.add_argument("--plot", metavar="DIR", help="write PNG plots into DIR: the confusion matrix (normalised per row), "
                   "the precision-recall curve for two-class models, and overlays (input, target, prediction) of a "
                   "few samples for segmentation models")
    add_max_image_pixels(p)
    p.set_defaults(run=cmd_eval)


def cmd_train(args: argparse.Namespace) -> int:
    from zoo.reports import format_report
    from zoo.runs import TrainConfig
    from zoo.train import train

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    config = TrainConfig(**{**values, "model_kwargs": dict(args.model_kwargs), "data_kwargs": dict(args.data_kwargs)})
    with image_pixel_limit(args.max_image_pixels):  # set before --nproc spawns its workers, which inherit it
        result = train(config)
    if os.environ.get("RANK", "0") != "0":  # under torchrun every rank returns here; rank 0 reports
        return EXIT_OK
    print(format_report(result.test_report))
    print(f"weights: {result.weights}\ncurves:  {result.run_dir / 'curves.png'}\nlog:     {result.run_dir / 'metrics.jsonl'}")
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from zoo.reports import format_report
    from zoo.reverify import evaluate_registered

    with image_pixel_limit(args.max_image_pixels):
        report, plots = evaluate_registered(
            args.name, args.data, weights=args.weights, split=args.split, root=args.root, download=args.download,
            model_kwargs=dict(args.model_kwargs), data_kwargs=dict(args.data_kwargs), batch_size=args.batch_size,
            device=args.device, threshold=args.threshold, target_recall=args.target_recall, plot_dir=args.plot,
            progress=not args.json)
    if args.weights is None:
        warn(f"evaluating {args.name} with random weights (no --weights given); see `zoo info {args.name}` for its trained weights")
    if args.json:
        print_json(report)
        return EXIT_OK
    print(f"{args.name} on {args.data} ({args.split} split, weights={args.weights})")
    print(format_report(report))
    if "threshold_for_recall" in report:
        chosen = report["threshold_for_recall"]
        print(f"threshold reaching recall {chosen['recall']}: {chosen['threshold']:.4f} (pass it as --threshold)")
    for path in plots:
        print(f"plot: {path}")
    return EXIT_OK
