"""The book's exercise (p2ch11/p2ch12): how long does a pass over the LUNA dataset take the first time
(empty cache) and the second time (warm cache), and what does ``num_workers`` change?

Iterates N samples of the ``luna`` dataset (``all`` split, shuffled with a fixed seed as a training
epoch would be, or the first/last N) through a ``DataLoader`` with ``num_workers`` 0, 1 and 2, each time
cold (the cache folder emptied first) and warm (right after), plus the tensor fast path
``dataset.batch(indices)`` that the trainer uses, and a baseline that reads the scan with SimpleITK for
every sample (no cache at all; timed on a few samples). Prints a markdown table with samples/s, the
warm/cold ratio, and the cache's size on disk against the raw CT data it came from.

The data are synthetic (``zoo.luna.synthetic.synthesize``) unless ``--root`` names a LUNA16 folder.
The default synthetic scans are CT-sized (128 x 384 x 384 voxels, 38 MB each; real LUNA16 scans are
512 x 512 x 100-700): a pass of N samples reads each scan it touches once, so the warm/cold ratio
grows with the number of scans touched per sample. Here 1000 shuffled samples touch all 40 scans
(25 samples per scan); on the real data set, 1000 shuffled candidates touch about 650 of its 888 scans.
The OS page cache holds the raw files after they are generated, so "cold" means an empty hubzoo
cache, not a cold disk. ``--threads 1`` (the default) because DataLoader workers run one intra-op
thread each, and on a busy two-core machine two threads made ``torch.stack`` in the main process's
collate up to 100x slower.

    .venv/bin/python benchmarks/luna_dataset.py [--samples 1000] [--scans 40] [--shape 128 384 384] [--root R] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def iterate(dataset, order: np.ndarray, workers: int, batch_size: int) -> float:
    """Seconds to pull every sample of ``order`` through a DataLoader with ``workers`` processes."""
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, order.tolist()), batch_size=batch_size,
                                         num_workers=workers, persistent_workers=False)
    start = time.perf_counter()
    n = sum(len(y) for _, y in loader)
    assert n == len(order)
    return time.perf_counter() - start


def iterate_fast_path(dataset, order: np.ndarray, batch_size: int) -> float:
    start = time.perf_counter()
    for k in range(0, len(order), batch_size):
        dataset.batch(torch.from_numpy(order[k : k + batch_size]))
    return time.perf_counter() - start


def uncached(dataset, order: np.ndarray, n: int) -> float:
    """Seconds per sample when every sample reads its scan (the book without its lru_cache and diskcache)."""
    from zoo.luna.geometry import read_ct

    start = time.perf_counter()
    for i in order[:n]:
        s = int(dataset._sample_series[i])
        hu, _ = read_ct(dataset._series[s][0])
        z, r, c = dataset._start[i]
        torch.from_numpy(hu[z : z + 32, r : r + 48, c : c + 48].astype(np.float32))
    return (time.perf_counter() - start) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1000, help="N samples per pass (default 1000)")
    parser.add_argument("--root", type=Path, help="a LUNA16 folder (default: a synthetic set in a temporary folder)")
    parser.add_argument("--scans", type=int, default=40, help="synthetic scans (default 40)")
    parser.add_argument("--shape", type=int, nargs=3, default=(128, 384, 384), metavar=("I", "R", "C"),
                        help="synthetic scan shape, voxels (default 128 384 384, about 38 MB per scan)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads in the main process (default 1)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="num_workers values (default 0 1 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="cold + warm pairs per row; medians are reported (default 3)")
    parser.add_argument("--order", choices=("shuffled", "first", "last"), default="shuffled")
    parser.add_argument("--uncached-samples", type=int, default=20, help="samples timed without any cache (default 20)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from zoo.luna.datasets import luna
    from zoo.luna.synthetic import synthesize

    with tempfile.TemporaryDirectory(prefix="luna-bench-") as tmp:
        tmp = Path(tmp)
        root = args.root
        if root is None:
            root = tmp / "data"
            start = time.perf_counter()
            synthesize(root, args.scans, seed=0, shape=args.shape)
            print(f"synthesised {args.scans} scans of {tuple(args.shape)} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        cache_dir = tmp / "cache"
        dataset = luna("all", root=root, cache_dir=cache_dir)
        n = min(args.samples, len(dataset))
        if args.order == "shuffled":
            order = np.random.default_rng(0).permutation(len(dataset))[:n]
        else:
            order = np.arange(n) if args.order == "first" else np.arange(len(dataset) - n, len(dataset))
        touched = len(set(dataset._sample_series[order].tolist()))
        raw_bytes = sum(p.stat().st_size for p in root.glob("subset*/*") if p.suffix in (".mhd", ".raw")
                        and p.stem in set(dataset.series_uids))

        rows = []
        for label, run in [(f"DataLoader, num_workers={w}", lambda w=w: iterate(dataset, order, w, args.batch_size)) for w in args.workers] + [
            ("tensor fast path `dataset.batch()`", lambda: iterate_fast_path(dataset, order, args.batch_size))
        ]:
            colds, warms = [], []
            for _ in range(args.repeats):  # cold and warm side by side, each repeat from an empty cache
                shutil.rmtree(cache_dir, ignore_errors=True)
                dataset.cache._open.clear()
                colds.append(run())
                dataset.cache._open.clear()  # the warm pass reopens the entries, as a new process would
                warms.append(run())
                print(f"{label}: cold {colds[-1]:.2f} s, warm {warms[-1]:.2f} s", file=sys.stderr)
            ratios = [c / w for c, w in zip(colds, warms)]
            rows.append((label, n / statistics.median(colds), n / statistics.median(warms), statistics.median(ratios), min(ratios), max(ratios)))
        cache_bytes = dataset.cache.size_bytes()
        per_sample = uncached(dataset, order, min(args.uncached_samples, n))

    print(f"\n{n} samples ({args.order}) from {touched} of {len(dataset.series_uids)} scans, batch size {args.batch_size}; "
          f"torch threads {torch.get_num_threads()}; medians of {args.repeats} repeats\n")
    print("| pass | cold samples/s (empty cache) | warm samples/s | warm / cold (min-max) |")
    print("|---|---:|---:|---:|")
    for label, cold, warm, ratio, low, high in rows:
        print(f"| {label} | {cold:,.0f} | {warm:,.0f} | {ratio:.1f}x ({low:.1f}-{high:.1f}) |")
    print(f"| no cache: SimpleITK read per sample | {1 / per_sample:,.1f} | - | - |")
    print(f"\ncache on disk: {cache_bytes / 1e6:.1f} MB for {raw_bytes / 1e6:.1f} MB of raw CT (.mhd + .raw), "
          f"{cache_bytes / raw_bytes:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
