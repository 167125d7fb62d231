"""Two ways to find nodules in a whole CT, compared on held-out scans (the course's last exercise):

* **segment, then classify** (``zoo luna analyze``): ``luna_unet`` slice by slice, connected components,
  ``luna_classifier`` on the 32x48x48 crop around each component's centre;
* **sliding-window classifier**: ``luna_classifier`` alone over overlapping 32x48x48 patches covering the
  whole scan (``zoo.luna.patches.classify_patches``); neighbouring patches with nodule probability >= the
  threshold are merged into one detection at their probability-weighted mean centre.

Both are scored with the LUNA16 hit rule (a detection hits a nodule when its centre lies within the
nodule's radius): nodules found, false positives per scan, and seconds per scan. Default data: the
test scans of the synthetic set (``zoo.get_dataset("luna", split="test")``); default weights: the shipped
``*.synthetic`` ones. SYNTHETIC data: the numbers say nothing about real CT.

    .venv/bin/python benchmarks/luna_whole_ct.py [--root R] [--split test] [--stride 8 12 12] [--max-scans N] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def sliding_window_detections(volume: np.ndarray, geometry, classifier, *, stride, threshold: float, batch_size: int):
    """Detections of the sliding-window classifier on one scan, and the seconds it took."""
    from scipy import ndimage

    from zoo.luna.analysis import Detection
    from zoo.luna.family import CROP_SIZE
    from zoo.luna.patches import classify_patches

    start = time.perf_counter()
    result = classify_patches(torch.from_numpy(np.clip(volume, -1000, 1000).astype(np.float32)), classifier,
                              patch_size=CROP_SIZE, stride=stride, batch_size=batch_size)
    centers, probability = result.centers.numpy().astype(np.float64), result.probabilities[:, 1].numpy()
    # the patch grid: one cell per patch, neighbours (26-connectivity) above the threshold form one detection
    axes = [np.unique(centers[:, k]) for k in range(3)]
    cell = np.stack([np.searchsorted(axes[k], centers[:, k]) for k in range(3)], axis=1)
    grid = np.zeros([len(a) for a in axes], dtype=bool)
    grid[tuple(cell.T)] = probability >= threshold
    labels, count = ndimage.label(grid, structure=np.ones((3, 3, 3), dtype=bool))
    detections = []
    for label in range(1, count + 1):
        members = labels[tuple(cell.T)] == label
        weights = probability[members]
        irc = (centers[members] * weights[:, None]).sum(0) / weights.sum()
        detections.append(Detection(tuple(irc), tuple(float(v) for v in geometry.voxel_to_patient(irc)), float("nan"),
                                    int(members.sum()), float(weights.max()), float("nan")))
    return detections, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="LUNA16 folder (default: the synthetic set)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--stride", type=int, nargs=3, default=(8, 12, 12), metavar=("I", "R", "C"),
                        help="sliding-window stride in voxels (default 8 12 12: patches overlap by 3/4)")
    parser.add_argument("--threshold", type=float, default=0.5, help="nodule probability of a detection (default 0.5)")
    parser.add_argument("--seg-weights")
    parser.add_argument("--cls-weights")
    parser.add_argument("--mal-weights")
    parser.add_argument("--max-scans", type=int, default=0, help="use only the first N scans (default all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import zoo
    from zoo.luna.analysis import NodulePipeline
    from zoo.luna.annotations import read_annotations
    from zoo.luna.froc import match_detections
    from zoo.luna.geometry import read_ct

    pipeline = NodulePipeline.from_weights(seg_weights=args.seg_weights, cls_weights=args.cls_weights, mal_weights=args.mal_weights,
                                           batch_size=args.batch_size)
    dataset = zoo.get_dataset("luna", split=args.split, root=args.root)
    annotations = read_annotations(dataset.root / "annotations.csv")
    scans = list(dataset.scan_paths.items())[: args.max_scans or None]
    totals = {name: {"found": 0, "fp": 0, "detections": 0, "seconds": []} for name in ("segment, then classify", "sliding-window classifier")}
    n_nodules = 0
    for k, (uid, mhd) in enumerate(scans):
        nodules = [a for a in annotations if a.series_uid == uid]
        n_nodules += len(nodules)
        volume, geometry = read_ct(mhd)
        analysis = pipeline.analyze(volume, geometry, series_uid=uid)
        window, window_seconds = sliding_window_detections(volume, geometry, pipeline.classifier, stride=args.stride,
                                                           threshold=args.threshold, batch_size=args.batch_size)
        for name, detections, seconds in (("segment, then classify", analysis.nodules(args.threshold), analysis.seconds),
                                          ("sliding-window classifier", window, window_seconds)):
            hit, best = match_detections(detections, nodules)
            row = totals[name]
            row["found"] += int(np.isfinite(best).sum())
            row["fp"] += int((hit < 0).sum())
            row["detections"] += len(detections)
            row["seconds"].append(seconds)
        print(f"scan {k + 1}/{len(scans)} {uid}: {len(nodules)} nodules; " + "; ".join(
            f"{name} {r['seconds'][-1]:.1f}s" for name, r in totals.items()), flush=True)

    synthetic = "SYNTHETIC scans" if getattr(dataset, "synthetic", False) else str(dataset.root)
    print(f"\n{len(scans)} {args.split} scans ({synthetic}), {n_nodules} nodules; nodule probability >= {args.threshold}; "
          f"sliding-window stride {tuple(args.stride)}; torch threads {torch.get_num_threads()}\n")
    print("| approach | detections per scan | nodules found | false positives per scan | seconds per scan (median) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in totals.items():
        print(f"| {name} | {r['detections'] / len(scans):.1f} | {r['found']}/{n_nodules} ({r['found'] / max(n_nodules, 1):.0%}) | "
              f"{r['fp'] / len(scans):.2f} | {statistics.median(r['seconds']):.1f} |")


if __name__ == "__main__":
    main()
