"""The LUNA16 commands: ``zoo data synth-luna``, ``zoo cache luna|luna_seg``, ``zoo luna analyze``."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from zoo.cli import options
from zoo.errors import ZooError
from zoo.luna.commands import cmd_analyze, register_commands

pytest.importorskip("SimpleITK")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zoo")
    register_commands(subparsers=parser.add_subparsers(dest="command"), options=options)
    return parser


def test_synth_and_cache_commands(tmp_path, capsys):
    parser = _parser()
    args = parser.parse_args(["data", "synth-luna", str(tmp_path / "r"), "--scans", "2", "--seed", "5"])
    assert args.run(args) == 0 and len(list((tmp_path / "r").glob("subset*/*.mhd"))) == 2
    args = parser.parse_args(["cache", "luna", "--prepare", "--root", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")])
    assert args.run(args) == 0 and len(list((tmp_path / "c").glob("*.zct"))) == 2
    assert "2 of 2 scans written" in capsys.readouterr().out
    args = parser.parse_args(["cache", "luna", "--clear", "--cache-dir", str(tmp_path / "c")])
    assert args.run(args) == 0 and list((tmp_path / "c").glob("*.zct")) == []
    args = parser.parse_args(["cache", "luna_seg", "--prepare", "--root", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")])
    assert args.run(args) == 0 and len(list((tmp_path / "c").glob("*.zseg"))) == 2  # whole scans + derived masks
    args = parser.parse_args(["cache", "luna_seg", "--clear", "--cache-dir", str(tmp_path / "c")])
    assert args.run(args) == 0 and list((tmp_path / "c").glob("*.zseg")) == []
    with pytest.raises(SystemExit):
        parser.parse_args(["cache", "luna"])  # --prepare or --clear is required
    assert parser.parse_args(["data", "synth-luna", "x"]).scans == 100  # the default synthetic set's size


def test_zoo_luna_analyze_refuses_synthetic_weights_on_a_real_scan(tmp_path, small_luna, capsys):
    from zoo.cli import main

    mhd = next(small_luna.glob("subset*/*.mhd"))
    real = tmp_path / "real"
    real.mkdir()
    for suffix in (".mhd", ".raw"):
        shutil.copy(mhd.with_suffix(suffix), real / mhd.with_suffix(suffix).name)
    with pytest.raises(ZooError, match="--seg-weights W --cls-weights W --mal-weights W"):
        cmd_analyze(argparse.Namespace(scan=str(real / mhd.name), seg_weights=None, cls_weights=None, mal_weights=None,
                                       allow_synthetic_weights=False))
    assert main(["luna", "analyze", str(tmp_path / "missing.mhd")]) != 0
    assert "missing.mhd is not a scan: pass the .mhd header" in capsys.readouterr().err


@pytest.mark.slow
def test_zoo_luna_analyze_runs_out_of_the_box_on_a_synthetic_scan(tmp_path, small_luna, capsys):
    """The shipped synthetic weights: a table, JSON, one PNG per detection, the annotated nodules listed."""
    from zoo.cli import main

    mhd = next(small_luna.glob("subset*/*.mhd"))
    out = tmp_path / "detections.json"
    assert main(["luna", "analyze", str(mhd), "--out", str(out), "--plot", str(tmp_path / "plots")]) == 0
    printed = capsys.readouterr().out
    assert "annotated in annotations_with_malignancy.csv" in printed and "SYNTHETIC" in printed
    report = json.loads(out.read_text())
    assert report["series_uid"] == mhd.stem and report["shape_irc"] == [36, 64, 64]
    for d in report["detections"]:
        assert 0.0 <= d["nodule_probability"] <= 1.0 and 0.0 <= d["malignancy_probability"] <= 1.0 and d["diameter_mm"] > 0
    assert len(list((tmp_path / "plots").glob("*.png"))) == len(report["detections"])
    assert main(["luna", "analyze", str(mhd), "--json"]) == 0  # --json is a flag: the same JSON, on stdout only
    assert json.loads(capsys.readouterr().out)["detections"] == report["detections"]
