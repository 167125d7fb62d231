"""The options every ``zoo`` command shares, defined and validated here only, and the exit statuses.

A command adds an option with one helper (``add_device(p)``, ``add_batch_size(p, default=256)``, ...), so
that its flag, default, help and validation are the same in every command. Plugins receive this module
as the ``options`` argument of their ``register_commands`` hook (``options.add_device(p)``).

``--device`` is checked where it is used, by ``zoo.evaluation.resolve_device`` (importing torch here
would slow ``zoo --help``); every other option is checked while parsing, and a bad value is one
``zoo: error:`` line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, NoReturn

from zoo.errors import ZooError
from zoo.files import MAX_IMAGE_PIXELS_VARIABLE, to_json
from zoo.onnx_runtime import BACKENDS

__all__ = [
    "EXIT_OK", "EXIT_BUG", "EXIT_USER_ERROR", "EXIT_CHECK_FAILED", "EXIT_INTERRUPTED", "EXIT_BROKEN_PIPE", "Parser",
    "key_value",
    "add_device", "add_json", "add_batch_size", "add_weights", "add_model_kwargs", "add_data_kwargs", "add_backend",
    "add_max_image_pixels", "image_pixel_limit", "print_json", "one_line", "error", "warn",
]

#: Exit statuses of every ``zoo`` command (README, "The zoo command").
EXIT_OK = 0  # done
EXIT_BUG = 1  # an internal error: a bug in hubzoo or a plugin (``zoo --debug ...`` shows the traceback)
EXIT_USER_ERROR = 2  # bad input: an option, a name, a file, data; one ``zoo: error:`` line on stderr
EXIT_CHECK_FAILED = 3  # a check found a problem: a hash mismatch, a metrics drift, the demo below its bar
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (``zoo list | head -1``): 128 + SIGPIPE, as ``git log | head``


class Parser(argparse.ArgumentParser):
    """The parser of ``zoo`` and of every sub-command (argparse gives sub-parsers their parent's class).

    Usage errors are one line (``zoo: error: ...``, exit 2) like every other error, and a command's
    positionals may also follow its options (``zoo predict NAME --weights W A.png B.png``): plain argparse
    gives a ``nargs="*"`` positional only the words before the first option.
    """

    _intermixing = False

    def error(self, message: str) -> NoReturn:
        raise ZooError(f"{message} (see `{self.prog} --help`)")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        # parse_known_intermixed_args calls back here (twice) and cannot handle sub-commands or REMAINDER.
        if self._intermixing or any(a.nargs in (argparse.PARSER, argparse.REMAINDER) for a in self._actions):
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def key_value(text: str) -> tuple[str, Any]:
    """``n_feature=32`` -> ``("n_feature", 32)``; values are read as JSON when they parse, else strings."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python name, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


class AtLeastOne(argparse.Action):
    """Stores an ``int`` option (already converted by ``type=int``) and refuses values below 1."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if values < 1:
            parser.error(f"{option_string} {values} is not valid: expected at least 1")
        setattr(namespace, self.dest, values)


def add_device(p: argparse.ArgumentParser, *, default: str = "auto", help: str | None = None) -> None:
    """``--device``: ``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    text = help or "auto (CUDA when available, else the CPU), cpu or cuda[:N]"
    p.add_argument("--device", default=default, help=f"{text} (default {default})")


def add_backend(p: argparse.ArgumentParser) -> None:
    """``--backend``: what runs the model: ``torch`` (eager PyTorch, the default), ``onnx``, ``onnx-int8`` or
    ``onnx-int8-checked`` (ONNX Runtime on the CPU, the model exported once into the cache; ``zoo.onnx_runtime``)."""
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="torch (default), onnx (ONNX Runtime on the CPU: exported once, cached; models `zoo export` can "
                        "export; 3.4x a plain PyTorch loop on a folder of photos, eager 1.4-1.8x), onnx-int8 (the "
                        "same with int8 weights: faster, labels may differ where unsure) or "
                        "onnx-int8-checked (int8, and fp32 again for every text whose int8 margin is under 1.0)")


def add_max_image_pixels(p: argparse.ArgumentParser) -> None:
    """``--max-image-pixels N``: the most pixels (width x height) an image file may declare (at least 1); the
    command runs inside :func:`image_pixel_limit`."""
    p.add_argument("--max-image-pixels", type=int, action=AtLeastOne, metavar="N",
                   help="refuse an image file of more than N pixels (width x height), from its header, before decoding "
                        f"it (default ${MAX_IMAGE_PIXELS_VARIABLE}, else PIL's limit, 89478485)")


@contextmanager
def image_pixel_limit(limit: int | None) -> Iterator[None]:
    """While a command runs, its ``--max-image-pixels`` as ``$ZOO_MAX_IMAGE_PIXELS`` (``None``: left as it is),
    where the one image reader (``zoo.preprocess.max_image_pixels``) and the trainer's spawned workers read it;
    put back afterwards, so that in-process callers keep their own."""
    saved = os.environ.get(MAX_IMAGE_PIXELS_VARIABLE)
    if limit is not None:
        os.environ[MAX_IMAGE_PIXELS_VARIABLE] = str(limit)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(MAX_IMAGE_PIXELS_VARIABLE, None)
        else:
            os.environ[MAX_IMAGE_PIXELS_VARIABLE] = saved


def add_json(p: argparse.ArgumentParser, *, help: str = "print JSON on stdout instead of the table") -> None:
    """``--json``: a flag; the command prints JSON on stdout (and nothing else there)."""
    p.add_argument("--json", action="store_true", help=help)


def add_batch_size(p: argparse.ArgumentParser, *, default: int | None, help: str = "inputs per forward pass") -> None:
    """``--batch-size N``: an integer of at least 1 (``default=None``: the command picks one, said in ``help``)."""
    p.add_argument("--batch-size", type=int, action=AtLeastOne, default=default, metavar="N",
                   help=help if default is None else f"{help} (default {default})")


def add_weights(p: argparse.ArgumentParser, *, default: str | None = None, help: str | None = None,
                required: bool = False, metavar: str = "W") -> None:
    """``--weights W``: a tag of the model, ``ARCH.TAG``, a ``.safetensors`` path or an ``hf://`` URI; ``default``
    says in words what the command uses without it."""
    text = help or "weights: a tag, a .safetensors path or an hf:// URI"
    p.add_argument("--weights", required=required, metavar=metavar, help=f"{text} (default: {default})" if default else text)


def add_model_kwargs(p: argparse.ArgumentParser, *,
                     help: str = "builder argument for the model, e.g. -k n_feature=32 (repeatable)") -> None:
    """``-k KEY=VALUE`` (``--model-arg``), repeatable, into ``args.model_kwargs`` as ``[(key, value), ...]``."""
    p.add_argument("-k", "--model-arg", dest="model_kwargs", type=key_value, action="append", default=[],
                   metavar="KEY=VALUE", help=help)


def add_data_kwargs(p: argparse.ArgumentParser, *,
                    help: str = "dataset argument, e.g. -d permute_pixels=0 (repeatable)") -> None:
    """``-d KEY=VALUE`` (``--data-arg``), repeatable, into ``args.data_kwargs`` as ``[(key, value), ...]``."""
    p.add_argument("-d", "--data-arg", dest="data_kwargs", type=key_value, action="append", default=[],
                   metavar="KEY=VALUE", help=help)


def print_json(data: Any) -> None:
    """``data`` as indented strict JSON on stdout (NaN and infinities as ``null``, as every report is written)."""
    print(to_json(data, indent=2))


def one_line(message: str) -> str:
    """``message`` as one line: its line breaks (a library's message, a file name that holds one) become ``; ``."""
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())


def error(message: str) -> None:
    """One ``zoo: error: ...`` line on stderr, whatever line breaks ``message`` holds."""
    print(f"zoo: error: {one_line(message)}", file=sys.stderr)


def warn(message: str) -> None:
    """One ``zoo: warning: ...`` line on stderr."""
    print(f"zoo: warning: {one_line(message)}", file=sys.stderr)
