"""Errors that mean "the caller asked for something wrong"; the CLI prints them without a traceback.

A message that tells the reader what to do says it in the reader's words, through :func:`advice`: a Python
argument (``download=True``) to a Python caller, an option (``--download``) while the ``zoo`` command runs
(:func:`command_line`).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_AT_THE_COMMAND_LINE: ContextVar[bool] = ContextVar("zoo_at_the_command_line", default=False)


class ZooError(Exception):
    """Base class of every error hubzoo raises on purpose, with a message meant for a person."""


class UnknownNameError(ZooError, KeyError):
    """An unknown model, dataset or weights name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class RegistrationError(ZooError):
    """A plugin registered something invalid, or a name twice."""


class WeightsError(ZooError):
    """Weights that cannot be found, verified or loaded into the model."""


class DataError(ZooError, ValueError):
    """A data root that is missing or malformed, or input of the wrong shape."""


class DataNotFoundError(DataError):
    """Data that is not here: not installed, not downloaded, a folder that does not exist; the message says how to
    get it. A check may skip what it cannot run for this error alone (``zoo verify --metrics``): any other
    :class:`DataError` (a damaged file, a split the data set does not have) is a problem it reports."""


def advice(python: str, cli: str) -> str:
    """What to do, in the words of the caller: ``cli`` (``--download``) while the ``zoo`` command runs, else
    ``python`` (``download=True``). The one place a message chooses between the two."""
    return cli if _AT_THE_COMMAND_LINE.get() else python


@contextmanager
def command_line() -> Iterator[None]:
    """Within this block messages give command-line advice (:func:`advice`); ``zoo.cli.main`` runs every command in it."""
    token = _AT_THE_COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _AT_THE_COMMAND_LINE.reset(token)


def first_line(exc: BaseException) -> str:
    """One line saying why ``exc`` was raised: its message's first line (``tarfile`` lists every method it tried on
    lines of their own), else its type's name."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip().rstrip(":") if lines else type(exc).__name__
