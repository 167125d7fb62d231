#!/usr/bin/env python
"""Benchmark zoo.metrics.Evaluator against torchmetrics and a bare bincount floor.

Workload: 8 volumes of 32x96x96 voxels, 3 classes; predictions given as float32 logits
[8, 3, 32, 96, 96] and as int64 class indices [8, 32, 96, 96]. All five metrics (precision, recall,
F1, IoU, Dice per class; macro means follow from them). Timed side by side in one process,
interleaved round-robin, median of --repeats after --warmup runs each:

* ours: Evaluator("segmentation", 3).update(preds, target) + compute() (includes input validation
  and the per-sample Dice);
* torchmetrics: MulticlassPrecision/Recall/F1Score/JaccardIndex (average="none") and
  torchmetrics.segmentation.DiceScore (global, without background), update + compute; for logits
  the argmax is taken once and the indices fed to all five (cheaper for torchmetrics than passing
  logits four times). Default validate_args=True (ours validates too); a validate_args=False row is
  shown for reference;
* floor: torch.bincount(target * C + pred, minlength=C*C) on index preds; for logits the same
  after torch.argmax(logits, 1), and after logits.max(1).indices (a faster bare argmax on CPU).

Numbers are checked to agree (ours vs torchmetrics vs floor) before timing.

    .venv/bin/python benchmarks/bench_metrics.py [--repeats 7] [--warmup 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--repeats", type=int, default=7, help="timed runs per method (median reported; default 7)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per method first (default 1)")
    ap.add_argument("--batch", type=int, default=8, help="number of volumes (default 8)")
    ap.add_argument("--shape", type=int, nargs=3, default=[32, 96, 96], metavar=("D", "H", "W"),
                    help="volume shape (default 32 96 96)")
    ap.add_argument("--classes", type=int, default=3, help="number of classes (default 3)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, ROOT)
    import numpy as np
    import torch
    from torchmetrics.classification import (
        MulticlassF1Score,
        MulticlassJaccardIndex,
        MulticlassPrecision,
        MulticlassRecall,
    )
    from torchmetrics.segmentation import DiceScore

    import torchmetrics
    from zoo.metrics import Evaluator

    if args.threads:
        torch.set_num_threads(args.threads)
    C = args.classes
    g = torch.Generator().manual_seed(args.seed)
    logits = torch.randn((args.batch, C, *args.shape), generator=g)
    target = torch.randint(0, C, (args.batch, *args.shape), generator=g)
    indices = logits.argmax(1)

    def tm_metrics(validate):
        kw = dict(num_classes=C, average="none", validate_args=validate)
        return [MulticlassPrecision(**kw), MulticlassRecall(**kw), MulticlassF1Score(**kw), MulticlassJaccardIndex(**kw),
                DiceScore(C, include_background=False, average="none", input_format="index", aggregation_level="global")]

    tm_default, tm_noval = tm_metrics(True), tm_metrics(False)

    def ours(preds):
        ev = Evaluator("segmentation", C)
        ev.update(preds, target)
        return ev.compute()

    def tm(preds, mets):
        idx = preds.argmax(1) if preds.is_floating_point() else preds
        out = []
        for m in mets:
            m.reset()
            m.update(idx, target)
            out.append(m.compute())
        return out

    def floor_idx():
        return torch.bincount((target * C + indices).view(-1), minlength=C * C)

    def floor_argmax():
        return torch.bincount((target * C + logits.argmax(1)).view(-1), minlength=C * C)

    def floor_max():
        return torch.bincount((target * C + logits.max(1).indices).view(-1), minlength=C * C)

    # ---- agreement check before timing
    for name, preds in (("logits", logits), ("indices", indices)):
        rep = ours(preds)
        p, r, f, j, d = (t.double().numpy() for t in tm(preds, tm_default))
        for key, ref in (("precision", p), ("recall", r), ("f1", f), ("iou", j)):
            np.testing.assert_allclose(rep["per_class"][key], ref, rtol=1e-5, err_msg=f"{name} {key}")
        np.testing.assert_allclose(rep["per_class"]["dice"][1:], d, rtol=1e-5, err_msg=f"{name} dice")
        assert rep["confusion_matrix"] == floor_idx().view(C, C).tolist() == floor_max().view(C, C).tolist()
    print(f"agreement check passed: ours == torchmetrics (rtol 1e-5) == bincount floor on logits and indices\n")

    cases = {
        "logits": [
            ("ours: Evaluator update+compute", lambda: ours(logits)),
            ("torchmetrics (5 metrics)", lambda: tm(logits, tm_default)),
            ("torchmetrics (5 metrics, validate_args=False)", lambda: tm(logits, tm_noval)),
            ("floor: argmax(1) + bincount", floor_argmax),
            ("floor: max(1).indices + bincount", floor_max),
        ],
        "indices": [
            ("ours: Evaluator update+compute", lambda: ours(indices)),
            ("torchmetrics (5 metrics)", lambda: tm(indices, tm_default)),
            ("torchmetrics (5 metrics, validate_args=False)", lambda: tm(indices, tm_noval)),
            ("floor: bincount", floor_idx),
        ],
    }
    times: dict[tuple[str, str], list[float]] = {}
    for case, fns in cases.items():
        for _ in range(args.warmup):
            for _, fn in fns:
                fn()
        for _ in range(args.repeats):  # round-robin so machine noise hits every method alike
            for label, fn in fns:
                t0 = time.perf_counter()
                fn()
                times.setdefault((case, label), []).append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}

    print(f"torch {torch.__version__}, torchmetrics {torchmetrics.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs ({platform.machine()}); workload {args.batch}x{'x'.join(map(str, args.shape))}, "
          f"{C} classes; median of {args.repeats} (warm-up {args.warmup})\n")
    print("| preds | method | median ms | / ours |")
    print("|---|---|---:|---:|")
    for case, fns in cases.items():
        ours_ms = med[(case, fns[0][0])]
        for label, _ in fns:
            ms = med[(case, label)]
            print(f"| {case} | {label} | {ms:.1f} | {ms / ours_ms:.2f}x |")
    print()
    for case, fns in cases.items():
        o = med[(case, fns[0][0])]
        t = med[(case, "torchmetrics (5 metrics)")]
        floors = {label: med[(case, label)] for label, _ in fns if label.startswith("floor")}
        fl = ", ".join(f"{o / v:.2f}x {label.removeprefix('floor: ')}" for label, v in floors.items())
        print(f"- {case}: torchmetrics/ours = {t / o:.0f}x (goal >= 50x); ours/floor = {fl} (goal <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
