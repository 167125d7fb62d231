"""`zoo demo` (zoo/demo.py): the five steps run through, in a few epochs instead of the demo's 30.

`make demo` trains 30 epochs and keeps the 97% bar; here a short run proves every step works (train,
evaluate, pin, reload through torch.hub, predict) with a bar a few epochs reach, and that missing the
bar is exit status 3 (a check found a problem).
"""

from __future__ import annotations

import json

import pytest

from zoo.cli import main


@pytest.mark.slow
def test_the_demo_runs_every_step_and_reloads_through_torch_hub(capsys, tmp_path):
    code = main(["demo", "--out", str(tmp_path / "demo"), "--epochs", "3", "--min-accuracy", "0.85"])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert code == 0, out
    assert report["metrics"]["accuracy"] >= 0.85 and report["epochs_run"] == 3
    assert 'torch.hub.load("' in out and out.count("predicted") == 8
    assert (tmp_path / "demo" / "weights" / "manifest.json").exists() and (tmp_path / "demo" / "curves.png").exists()
    assert (tmp_path / "demo" / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_the_demo_fails_below_its_bar(capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--epochs", "1", "--min-accuracy", "1.01"]) == 3
    assert "demo FAILED: accuracy" in capsys.readouterr().out
