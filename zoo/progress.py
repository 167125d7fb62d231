"""Progress output that suits both a terminal and a log file.

:func:`progress` returns a ``tqdm`` bar when stderr is a terminal (or in a notebook), and otherwise a
:class:`LogProgress`, which writes plain lines instead of the bar's carriage-return refreshes, which would
fill a log (CI, cluster jobs, ``2> log``) with hundreds of lines. As on a terminal, a bar made with
``leave=False`` (the default: the trainer's epochs, whose own line follows, the evaluator, inference) leaves
nothing behind, and one made with ``leave=True`` leaves one line when it closes::

    epoch 3/10: 1438/1438 sample in 2.1 s (685 sample/s) loss=0.3121

A bar that runs longer than a minute also writes a line at each further 10% of its total, and the closing
line, so a long epoch shows signs of life in a log::

    epoch 3/10: 40% (576/1438 sample) loss=0.3121

Both take the same calls: ``update(n)``, ``set_postfix(...)``, ``close()``, ``with`` and iteration.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterable, Iterator

from tqdm.auto import tqdm

__all__ = ["progress", "LogProgress", "interactive"]

_now = time.monotonic  # the bars' clock (a test replaces it)


def interactive() -> bool:
    """Stderr is a terminal, or this runs in a Jupyter kernel (where ``tqdm.auto`` draws a widget)."""
    try:
        return sys.stderr.isatty() or "ipykernel" in sys.modules
    except (AttributeError, ValueError):  # stderr replaced by an object without isatty, or closed
        return False


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str, unit: str = "it",
             disable: bool = False, leave: bool = False) -> Any:
    """A progress bar over ``total`` units (``len(iterable)`` by default), as ``tqdm(...)`` takes them:
    a ``tqdm`` bar on a terminal, plain lines (:class:`LogProgress`) when stderr is not one."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if interactive():
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave)


class LogProgress:
    """Plain progress lines on stderr. Once the bar has run :attr:`long_after_s` seconds, it writes
    ``DESC: P% (N/TOTAL UNIT) [postfix]`` when ``N`` crosses each further 10% of ``total`` (up to 90%). At
    ``close()``, a bar that ran that long or was made with ``leave=True`` writes
    ``DESC: N/TOTAL UNIT in T (R UNIT/s) [postfix]`` (``DESC: N UNIT in ...`` without a ``total``); a short
    ``leave=False`` bar writes nothing, as tqdm's vanishes from a terminal, and so does one that counted nothing."""

    #: Seconds after which a bar counts as long and reports each 10% of its total.
    long_after_s = 60.0

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "",
                 unit: str = "it", disable: bool = False, leave: bool = False) -> None:
        self.iterable, self.total, self.desc, self.unit, self.disable = iterable, total, desc, unit, disable
        self.leave = leave
        self._reported = False  # whether a 10% line was written (then the closing line follows)
        self.n = 0
        self.postfix = ""
        self._step = 0  # tenths of ``total`` already passed (reported or not)
        self._closed = False
        self._start = _now()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.disable or not self.total or self.total <= 0:
            return
        step = min(10, self.n * 10 // self.total)
        if step > self._step:
            self._step = step
            if step < 10 and _now() - self._start >= self.long_after_s:
                self._write(f"{100 * self.n // self.total}% ({self.n}/{self.total} {self.unit})")
                self._reported = True

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """Kept and shown at the end of the next line (``refresh`` is accepted for tqdm's signature)."""
        values = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.disable or not self.n:
            return
        seconds = _now() - self._start
        if not (self.leave or self._reported or seconds >= self.long_after_s):  # short and transient: nothing to keep
            return
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        rate = f" ({_rate(self.n / seconds)} {self.unit}/s)" if seconds > 0 else ""
        self._write(f"{count} {self.unit} in {_duration(seconds)}{rate}")

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


def _duration(seconds: float) -> str:
    """``2.1 s``, ``3 min 05 s``."""
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def _rate(per_second: float) -> str:
    """``685``, ``12.5``, ``0.0312``: three significant digits below 100, whole numbers above."""
    return f"{per_second:.0f}" if per_second >= 100 else f"{per_second:.3g}"
