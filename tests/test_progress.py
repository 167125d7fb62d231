"""zoo.progress: a tqdm bar on a terminal, one plain line per 10% when stderr is a file or a pipe."""

import io
import sys

from tqdm.auto import tqdm

from zoo.progress import LogProgress, progress


def _lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "\r" not in err
    return err.splitlines()


def test_not_a_terminal_prints_one_line_per_tenth(capsys):
    with progress(total=1438, desc="epoch 3/10", unit="sample") as bar:
        assert isinstance(bar, LogProgress)
        for _ in range(1438 // 64 + 1):
            bar.update(min(64, 1438 - bar.n))
            bar.set_postfix(loss="0.1234", refresh=False)
    lines = _lines(capsys)
    assert len(lines) == 10
    assert [int(line.split(": ")[1].split("%")[0]) // 10 for line in lines] == list(range(1, 11))
    assert lines[-1] == "epoch 3/10: 100% (1438/1438 sample) loss=0.1234"


def test_small_totals_and_big_steps_print_at_most_once_per_update(capsys):
    bar = progress(total=3, desc="evaluate", unit="sample")
    bar.update(2)
    bar.update(1)
    bar.close()
    assert _lines(capsys) == ["evaluate: 66% (2/3 sample)", "evaluate: 100% (3/3 sample)"]


def test_iterating_counts_items_and_unknown_total_reports_at_close(capsys):
    assert list(progress(range(20), desc="luna cache", unit="scan")) == list(range(20))
    assert _lines(capsys)[-1] == "luna cache: 100% (20/20 scan)"
    assert list(progress(iter("abc"), desc="validate", unit="scan")) == ["a", "b", "c"]
    assert _lines(capsys) == ["validate: 3 scan"]


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
