"""Progress output that suits both a terminal and a log file.

:func:`progress` returns a ``tqdm`` bar when stderr is a terminal (or in a notebook), and otherwise a
:class:`LogProgress`, which writes one plain line to stderr at each 10% of the total instead of the
bar's carriage-return refreshes, which would fill a log (CI, cluster jobs, ``2> log``) with hundreds
of lines::

    epoch 3/10: 40% (576/1438 sample) loss=0.3121

Both take the same calls: ``update(n)``, ``set_postfix(...)``, ``close()``, ``with`` and iteration.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

__all__ = ["progress", "LogProgress"]


def _interactive() -> bool:
    """Stderr is a terminal, or this runs in a Jupyter kernel (where ``tqdm.auto`` draws a widget)."""
    try:
        return sys.stderr.isatty() or "ipykernel" in sys.modules
    except (AttributeError, ValueError):  # stderr replaced by an object without isatty, or closed
        return False


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str, unit: str = "it",
             disable: bool = False, leave: bool = False) -> Any:
    """A progress bar over ``total`` units (``len(iterable)`` by default), as ``tqdm(...)`` takes them:
    a ``tqdm`` bar on a terminal, one line per 10% (:class:`LogProgress`) when stderr is not one."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if _interactive():
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, disable=disable)


class LogProgress:
    """Writes ``DESC: P% (N/TOTAL UNIT) [postfix]`` to stderr when ``N`` crosses the next 10% of ``total``
    (so at most 10 lines and always one at 100%); with no ``total``, one ``DESC: N UNIT`` line at ``close()``."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", disable: bool = False) -> None:
        self.iterable, self.total, self.desc, self.unit, self.disable = iterable, total, desc, unit, disable
        self.n = 0
        self.postfix = ""
        self._step = 0  # tenths of ``total`` already reported
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.disable or not self.total or self.total <= 0:
            return
        step = min(10, self.n * 10 // self.total)
        if step > self._step:
            self._step = step
            self._write(f"{100 * self.n // self.total}% ({self.n}/{self.total} {self.unit})")

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """Kept and shown at the end of the next line (``refresh`` is accepted for tqdm's signature)."""
        values = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.disable and self.total is None and self.n:
            self._write(f"{self.n} {self.unit}")

    def _write(self, text: str) -> None:
        line = f"{self.desc}: {text}" if self.desc else text
        print(f"{line} {self.postfix}" if self.postfix else line, file=sys.stderr, flush=True)

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this progress object was made without an iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
