"""The ``zoo`` command: list, datasets, info, plugins, train, eval, predict, pin, export, verify, publish, pull,
bundle, unbundle, demo, and the commands plugins add (LUNA16: cache, data, luna).

One module per command group (``listing``, ``training``, ``predicting``, ``weights``, ``demo``), each with
``add_commands(sub)``; the options they share and the exit statuses live in :mod:`zoo.cli.options`. A
command parses, calls one library function and prints.

Exit statuses, the same for every command:

====  =====================================================================================
0     done
1     a bug: an internal error in hubzoo or a plugin (one summary line; ``zoo --debug ...``
      shows the traceback)
2     a user error: a bad option, name, file or data (one ``zoo: error:`` line on stderr)
3     a check found a problem: a weights file whose sha256 does not match (``zoo verify``),
      recorded metrics that do not re-verify or a record or data they cannot be checked on
      (``zoo verify --metrics``), the demo below its bar
130   interrupted (Ctrl-C)
141   the reader of stdout went away (``zoo list | head -1``): no message, as ``git log | head``
====  =====================================================================================
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any, Sequence

from zoo.cli import demo, listing, options, predicting, training, weights
from zoo.cli.options import EXIT_BROKEN_PIPE, EXIT_BUG, EXIT_INTERRUPTED, EXIT_USER_ERROR, Parser, warn
from zoo.errors import ZooError, command_line
from zoo.plugins import add_plugin_commands, get_registry

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The ``zoo`` parser: the built-in commands, then those the plugins add (``register_commands``)."""
    parser = Parser(
        prog="zoo",
        description="hubzoo: a plugin-based PyTorch model zoo. Models and datasets come from plugins; "
        "weights are safetensors with pinned sha256 hashes.",
        epilog="Examples:\n  zoo list\n  zoo train mnist_cnn --data digits --epochs 30 -k n_feature=32\n"
        "  zoo eval mnist_cnn --data digits --weights digits --split test\n  zoo demo\n\n"
        "Exit status: 0 done, 1 a bug (internal error), 2 a user error (bad input), 3 a check found a problem.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing.add_commands(sub)
    training.add_commands(sub)
    predicting.add_commands(sub)
    weights.add_commands(sub)
    # LUNA16's `zoo luna ...`, `zoo cache luna`, `zoo data synth-luna`; plugins get the shared option helpers
    add_plugin_commands(get_registry(), sub, options=options)
    demo.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``zoo`` command; the error boundary: every failure ends as one line on stderr.

    Wrong input (a :class:`ZooError`, a bad option, a file-system error such as a full disk or a path that
    is a file) exits with status 2; a bug in hubzoo or a plugin prints one summary line, the hint to rerun
    with ``--debug`` for the traceback, and exits with status 1. The command itself returns 0, 2 or 3; when the
    reader of stdout goes away (``zoo list | head -1``) it ends quietly with status 141.
    """
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    shown = warnings.showwarning
    warnings.showwarning = _one_line_warning  # a plugin's FutureWarning (old-style meta=...) is one line too
    try:
        with command_line():  # messages advise options (--download), not Python arguments (download=True)
            args = build_parser().parse_args(argv)
            status = args.run(args)
            sys.stdout.flush()  # a reader that has gone is met here, not when Python exits
            return status
    except BrokenPipeError:  # `zoo list | head -1`: the reader has what it wanted
        return _reader_gone()
    except ZooError as exc:
        if debug:
            raise
        return _fail(str(exc))
    except OSError as exc:  # the file system said no: missing, a file where a folder should be, full disk
        if debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        options.error(f"internal error ({type(exc).__name__}: {exc}); rerun with `zoo --debug ...` for the traceback "
                      "and report it")  # one line, though torch's messages often span several
        return EXIT_BUG
    finally:
        warnings.showwarning = shown


def _one_line_warning(message: Warning | str, category: type, filename: str, lineno: int, file: Any = None,
                      line: str | None = None) -> None:
    warn(str(message))


def _fail(message: str) -> int:
    options.error(message)  # one line, in case a library's message was not
    return EXIT_USER_ERROR


def _reader_gone() -> int:
    """Quiet end when stdout's reader has closed the pipe, as Python's documentation on SIGPIPE recommends: what
    is still buffered goes to ``os.devnull`` (Python flushes stdout again at exit), and the status is a process's
    killed by SIGPIPE, as ``git log | head`` ends."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a file descriptor (in-process callers)
        pass
    return EXIT_BROKEN_PIPE
