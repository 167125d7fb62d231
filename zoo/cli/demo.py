"""``zoo demo``: the offline end-to-end demo behind ``make demo`` (``zoo.demo.run_demo``)."""

from __future__ import annotations

import argparse
from typing import Any

from zoo.cli.options import EXIT_CHECK_FAILED, EXIT_OK
from zoo.demo import MIN_ACCURACY


def add_commands(sub: Any) -> None:
    """``demo``."""
    p = sub.add_parser("demo", help="offline end-to-end demo", description="Train mnist_cnn on the bundled digits, "
                       "evaluate it, save and reload the weights through torch.hub, and predict a few digits.")
    p.add_argument("--out", default="runs/demo", help="default runs/demo")
    p.add_argument("--epochs", type=int, default=30, help="default 30")
    p.add_argument("--min-accuracy", type=float, default=MIN_ACCURACY,
                   help=f"exit 3 when the held-out accuracy is below this (default {MIN_ACCURACY})")
    p.set_defaults(run=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Exit 3 (a check found a problem) when the held-out accuracy misses ``--min-accuracy``."""
    from zoo.demo import run_demo

    passed = run_demo(out=args.out, epochs=args.epochs, min_accuracy=args.min_accuracy) == 0
    return EXIT_OK if passed else EXIT_CHECK_FAILED
