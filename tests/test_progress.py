"""zoo.progress: a tqdm bar on a terminal; when stderr is a file or a pipe, plain lines: one when a kept
(``leave=True``) or long bar ends, none for a short transient one, one per 10% of a bar past a minute."""

import io
import re
import sys

from tqdm.auto import tqdm

import zoo.progress
from zoo.progress import LogProgress, progress


def _lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "\r" not in err
    return err.splitlines()


def test_not_a_terminal_a_kept_bar_leaves_one_line_and_a_transient_one_none(capsys):
    """As on a terminal, where tqdm erases a ``leave=False`` bar: the trainer's epoch bar leaves nothing in a log
    (its own epoch line follows), a ``leave=True`` bar one line with its count, time and rate."""
    for leave in (True, False):
        with progress(total=1438, desc="epoch 3/10", unit="sample", leave=leave) as bar:
            assert isinstance(bar, LogProgress)
            for _ in range(1438 // 64 + 1):
                bar.update(min(64, 1438 - bar.n))
                bar.set_postfix(loss="0.1234", refresh=False)
        lines = _lines(capsys)
        if leave:
            assert len(lines) == 1
            assert re.fullmatch(r"epoch 3/10: 1438/1438 sample in \d+\.\d s \(\d+(\.\d+)? sample/s\) loss=0\.1234", lines[0]), lines
        else:
            assert lines == []


def test_a_bar_running_over_a_minute_reports_each_further_tenth_and_its_end(capsys, monkeypatch):
    clock = iter([0.0, 1.0, 61.0, 62.0, 63.0, 64.0])  # start, one reading per tenth passed (none at 100%), close
    monkeypatch.setattr(zoo.progress, "_now", lambda: next(clock))
    with progress(total=50, desc="luna cache", unit="scan") as bar:
        for _ in range(5):
            bar.update(10)
    assert _lines(capsys) == ["luna cache: 40% (20/50 scan)", "luna cache: 60% (30/50 scan)", "luna cache: 80% (40/50 scan)",
                              "luna cache: 50/50 scan in 1 min 04 s (0.781 scan/s)"]

    clock = iter([0.0, *[6.0 * i for i in range(1, 10)], 60.0])
    with progress(total=100, desc="epoch 1/1", unit="sample") as bar:
        for _ in range(10):
            bar.update(10)  # 10%, ..., 90% passed at 6 s, ..., 54 s: short so far, no line
    assert _lines(capsys) == ["epoch 1/1: 100/100 sample in 1 min 00 s (1.67 sample/s)"]  # it ran a minute: its end is kept


def test_iterating_counts_items_and_an_unknown_total_reports_the_count(capsys):
    assert list(progress(range(20), desc="luna cache", unit="scan", leave=True)) == list(range(20))
    assert _lines(capsys)[-1].startswith("luna cache: 20/20 scan in ")
    assert list(progress(iter("abc"), desc="validate", unit="scan", leave=True)) == ["a", "b", "c"]
    [line] = _lines(capsys)
    assert line.startswith("validate: 3 scan in ")


def test_a_bar_that_counted_nothing_prints_nothing(capsys):
    progress(total=5, desc="evaluate", unit="sample", leave=True).close()
    assert list(progress([], desc="predict", unit="image", leave=True)) == []
    assert capsys.readouterr().err == ""


def test_disabled_prints_nothing(capsys):
    with progress(total=10, desc="x", disable=True) as bar:
        bar.update(10)
    assert list(progress(range(3), desc="y", disable=True)) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_a_tqdm_bar(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    bar = progress(total=5, desc="epoch 1/1", unit="sample")
    try:
        assert isinstance(bar, tqdm)
        bar.update(5)
        bar.set_postfix(loss="0.5", refresh=False)
    finally:
        bar.close()
