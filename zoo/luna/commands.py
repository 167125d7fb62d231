"""The LUNA16 commands, added to ``zoo`` through the ``register_commands`` hook:

* ``zoo cache luna|luna_seg --prepare|--clear``: fill or empty the on-disk cache;
* ``zoo data synth-luna ROOT``: write a synthetic LUNA16-like set;
* ``zoo luna analyze SCAN.mhd`` and ``zoo luna validate``: the end-to-end nodule analysis.

A light module (``zoo --help`` imports it): the handlers import the heavy modules when they run, and
return the exit status.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from zoo.errors import DataError, ZooError
from zoo.files import to_json, write_json
from zoo.hookspecs import hookimpl

__all__ = ["register_commands", "cmd_cache", "cmd_synth", "cmd_analyze", "cmd_validate"]


@hookimpl
def register_commands(subparsers: Any, options: Any) -> None:
    """``zoo cache``, ``zoo data`` and ``zoo luna`` (nothing else adds to ``cache`` and ``data``); ``options`` are
    the CLI's shared option helpers (``zoo/cli/options.py``: ``add_device``, ``add_json``)."""
    from zoo.luna.family import DEFAULT_SYNTHETIC

    p = subparsers.add_parser("cache", help="prepare or clear a dataset's preprocessing cache",
                              description="Fill (--prepare) or empty (--clear) the on-disk LUNA16 cache: crop regions "
                                          "(luna, luna_malignancy) or whole scans with their derived masks (luna_seg).")
    p.add_argument("dataset", choices=["luna", "luna_seg"], help="the cached data: luna (crops) or luna_seg (scans + masks)")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--prepare", action="store_true", help="read every scan once and write its cache entry")
    action.add_argument("--clear", action="store_true", help="delete the cache entries (of --root, or all)")
    p.add_argument("--root", help="LUNA16 folder (default: the synthetic set)")
    p.add_argument("--cache-dir", help="cache folder (default $ZOO_HOME/cache/luna/<root key>)")
    p.add_argument("--max-bytes", type=int, help="size limit; least recently used entries are evicted")
    p.set_defaults(run=cmd_cache)

    p = subparsers.add_parser("data", help="generate data sets", description="Generate data sets.")
    sub = p.add_subparsers(dest="data_command", required=True, metavar="WHAT")
    s = sub.add_parser("synth-luna", help="write a synthetic LUNA16-like set",
                       description="Write synthetic LUNA16-like scans (.mhd/.raw) and CSV files into ROOT (new or empty).")
    s.add_argument("root")
    s.add_argument("--scans", type=int, default=DEFAULT_SYNTHETIC["n_scans"], help=f"number of scans (default {DEFAULT_SYNTHETIC['n_scans']})")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(run=cmd_synth)

    _add_luna_commands(subparsers, options)


def _add_luna_commands(subparsers: Any, options: Any) -> None:
    """``zoo luna analyze SCAN.mhd`` and ``zoo luna validate``."""
    p = subparsers.add_parser("luna", help="end-to-end LUNA16 nodule analysis (segment, classify, malignancy)",
                              description="End-to-end LUNA16 nodule analysis with luna_unet, luna_classifier and luna_malignancy.")
    sub = p.add_subparsers(dest="luna_command", required=True, metavar="COMMAND")

    a = sub.add_parser("analyze", help="find and classify the nodules of one scan",
                       description="Segment SCAN.mhd slice by slice, group the voxels into candidates, classify each "
                                   "(nodule probability, malignancy probability); print a table, or JSON.")
    a.add_argument("scan", help="a MetaImage header, ROOT/subsetK/UID.mhd (its .raw beside it)")
    _weights_options(a, options)
    options.add_json(a, help="print the detections as JSON on stdout instead of the table")
    a.add_argument("--out", metavar="FILE", help="also write the detections as JSON into FILE")
    a.add_argument("--plot", help="folder for one PNG per detection (three slices through its centre)")
    a.add_argument("--allow-synthetic-weights", action="store_true",
                   help="run the shipped weights (trained on synthetic scans) on a scan that is not synthetic")
    a.set_defaults(run=cmd_analyze)

    v = sub.add_parser("validate", help="score the pipeline on held-out scans (LUNA16 rules: FROC, CPM)",
                       description="Run the pipeline over the held-out scans of ROOT and report detection recall, false "
                                   "positives per scan, the FROC curve and CPM score, and the benign/malignant confusion.")
    v.add_argument("--root", help="LUNA16 folder (default: the synthetic set)")
    v.add_argument("--split", default="test", choices=("test", "val", "train", "all"), help="scans to use (default test)")
    v.add_argument("--fold", type=int, help="use the official subsets as folds: test = subsetK (as the luna dataset's fold=K)")
    _weights_options(v, options)
    options.add_json(v, help="print the report as JSON on stdout instead of the summary")
    v.add_argument("--out", metavar="DIR", help="folder for report.json and froc.png (default: print only)")
    v.set_defaults(run=cmd_validate)


def _weights_options(q: argparse.ArgumentParser, options: Any) -> None:
    q.add_argument("--seg-weights", help="luna_unet weights: tag, .safetensors or hf:// (default: the shipped synthetic ones)")
    q.add_argument("--cls-weights", help="luna_classifier weights (default: the shipped synthetic ones)")
    q.add_argument("--mal-weights", help="luna_malignancy weights (default: the shipped synthetic ones)")
    q.add_argument("--seg-threshold", type=float, default=0.5, help="segmentation probability threshold (default 0.5)")
    q.add_argument("--threshold", type=float, default=0.5, help="nodule probability that counts as a nodule (default 0.5)")
    options.add_device(q)


# ------------------------------------------------------------------------------------------- handlers


def cmd_cache(args: argparse.Namespace) -> int:
    """``zoo cache luna|luna_seg --prepare|--clear``."""
    from zoo.luna.cache import ScanCache, SegmentationCache, default_cache_dir, root_key
    from zoo.luna.datasets import luna
    from zoo.luna.geometry import check_raw
    from zoo.luna.segmentation import luna_seg

    if args.clear:
        directory = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
        if args.root and not args.cache_dir:
            directory = directory / root_key(Path(args.root).expanduser())
        removed = (SegmentationCache if args.dataset == "luna_seg" else ScanCache)(directory).clear()
        print(f"removed {removed} cache entries from {directory}")
        return 0
    build = luna_seg if args.dataset == "luna_seg" else luna
    data = build("all", root=args.root, cache_dir=args.cache_dir, cache_max_bytes=args.max_bytes)
    built = data.prepare_cache(progress=True)
    raw = sum(check_raw(mhd).stat().st_size for mhd in data.scan_paths.values())
    size = data.cache.size_bytes()
    print(f"{built} of {len(data.series_uids)} scans written; cache {size / 1e6:.1f} MB in {data.cache.directory} "
          f"(raw CT {raw / 1e6:.1f} MB, {size / max(raw, 1):.0%})")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """``zoo data synth-luna ROOT``."""
    from zoo.luna.synthetic import SYNTHETIC_MARKER, synthesize

    root = synthesize(args.root, args.scans, seed=args.seed)
    marker = json.loads((root / SYNTHETIC_MARKER).read_text())
    print(f"wrote {args.scans} synthetic scans ({marker['nodules']} nodules, {marker['candidates']} candidates) to {root}")
    return 0


def _pipeline(args: argparse.Namespace) -> Any:
    from zoo.evaluation import resolve_device
    from zoo.luna.analysis import NodulePipeline

    return NodulePipeline.from_weights(seg_weights=args.seg_weights, cls_weights=args.cls_weights, mal_weights=args.mal_weights,
                                       seg_threshold=args.seg_threshold, device=resolve_device(args.device))


def cmd_analyze(args: argparse.Namespace) -> int:
    """``zoo luna analyze SCAN.mhd``: the table, the annotated nodules, JSON and plots."""
    from zoo.luna.analysis import annotated_nodules, is_synthetic_scan

    scan = Path(args.scan)
    if not scan.is_file() or scan.suffix.lower() != ".mhd":
        raise DataError(f"{scan} is not a scan: pass the .mhd header of a MetaImage scan (its .raw beside it)")
    defaults = [flag for flag, value in (("--seg-weights", args.seg_weights), ("--cls-weights", args.cls_weights),
                                        ("--mal-weights", args.mal_weights)) if value is None]
    if defaults and not is_synthetic_scan(scan) and not args.allow_synthetic_weights:
        raise ZooError(
            f"{scan} is not from a synthetic set, and the default weights (luna_unet/luna_classifier/luna_malignancy "
            "'synthetic') were trained on synthetic scans only. Pass weights trained on LUNA16 with "
            f"{' '.join(f + ' W' for f in defaults)} (train them with `zoo train luna_unet --data luna_seg --root ROOT`, "
            "`zoo train luna_classifier --data luna --root ROOT`, `zoo train luna_malignancy --data luna_malignancy --root ROOT`), "
            "or --allow-synthetic-weights to run the synthetic ones anyway")
    result = _pipeline(args).analyze_scan(scan, progress=True)
    if args.out:
        write_json(args.out, result.to_json())
    plots = _plot_detections(result, Path(args.plot)) if args.plot else []
    if args.json:
        print(to_json(result.to_json()))
        return 0
    print(result.table(args.threshold))
    for note in result.notes:
        print(f"note: {note}")
    for line in annotated_nodules(scan, result, args.threshold):
        print(line)
    if is_synthetic_scan(scan):
        print("(a SYNTHETIC scan: these numbers say nothing about real CT)")
    if args.out:
        print(f"json: {args.out}")
    for line in plots:
        print(line)
    return 0


def _plot_detections(result: Any, folder: Path) -> list[str]:
    """One PNG per detection: three slices through its centre (only of a scan analysed as read); the lines to print."""
    from zoo.plots import plot_detection

    if result.volume is None:
        return ["plots: skipped (the scan was resampled; the plots show the scan as analysed only)"]
    lines = []
    for k, d in enumerate(result.detections):
        path = plot_detection(result.volume, result.mask, d.center_irc, folder / f"{result.series_uid}-{k:02d}.png",
                              spacing_irc=result.spacing_irc,
                              title=f"detection {k}: nodule p {d.nodule_probability:.2f}, malignant p "
                                    f"{d.malignancy_probability:.2f}, ~{d.diameter_mm:.1f} mm")
        if path:
            lines.append(f"plot: {path}")
    return lines


def cmd_validate(args: argparse.Namespace) -> int:
    """``zoo luna validate``: recall, false positives per scan, FROC and CPM, the malignancy confusion."""
    from zoo.luna.analysis import validate

    report = validate(_pipeline(args), root=args.root, split=args.split, fold=args.fold, nodule_threshold=args.threshold)
    data = "SYNTHETIC scans (numbers say nothing about real CT)" if report["synthetic"] else report["root"]
    if args.out:
        from zoo.plots import plot_froc

        out = Path(args.out)
        write_json(out / "report.json", report)
        points = {float(r): s for r, s in report["sensitivity_at_fp_rates"].items()}
        title = f"FROC, {report['split']} split, {report['scans']} scans, {report['nodules']} nodules; CPM {report['cpm']:.3f}\n{data}"
        froc = plot_froc(report["froc"]["fps_per_scan"], report["froc"]["sensitivity"], out / "froc.png", points=points, title=title)
    if args.json:
        print(to_json(report))
        return 0
    print(f"{report['scans']} {report['split']} scans, {report['nodules']} nodules; {data}")
    print(f"at nodule probability >= {report['nodule_threshold']}: recall {report['recall']:.3f}, "
          f"{report['false_positives_per_scan']:.2f} false positives per scan")
    print(f"recall at 4 false positives per scan {report['recall_at_4_fp_per_scan']:.3f}; CPM {report['cpm']:.3f} "
          f"(sensitivity at " + ", ".join(f"{r}: {s:.2f}" for r, s in report["sensitivity_at_fp_rates"].items()) + " FP/scan)")
    if report["malignancy"]:
        from zoo.reports import format_report

        print("benign/malignant, nodules found:\n" + format_report(report["malignancy"]))
    print(f"{report['seconds_per_scan']:.1f} s per scan")
    if args.out:
        print(f"report: {out / 'report.json'}\nplot: {froc}")
    return 0
