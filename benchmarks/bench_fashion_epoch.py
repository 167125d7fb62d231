"""One epoch of Fashion-MNIST's training images with ``mnist_cnn`` at the course's width (``n_feature=6``):
``zoo train`` against the course's own recipe, on the same uncompressed IDX files, alternating, several
rounds; medians reported.

The course's recipe is ``../shared/bench/course_mnist_recipe.py`` (per-sample ``ToTensor`` + ``Normalize``
through torchvision's ``FashionMNIST``, ``DataLoader`` batch 64, SGD lr 0.01 momentum 0.5, 60,000 images).
hubzoo's side is the ``zoo train`` command line (``python -m zoo train mnist_cnn --data fashion_mnist
--root ROOT --epochs 1 --augment none``: Adam, no augmentation, as the course has none), twice: with the course's
batch of 64 (lr 1e-3, the default), and with a batch of 128 (lr 1.5e-3). Its batches are sliced from one uint8
tensor and normalised whole; it trains on 54,000 images (10% of the train split held out for validation). Both run as fresh processes on the same files (the four ``.gz``
files of ``--source`` gunzipped into ``TMP/FashionMNIST/raw``, torchvision's layout, which both readers
accept), with the same number of torch threads (``--threads``, default 2: both cores of the
development machine; BENCHMARKS.md reports 1 and 2). Samples/s count the training loop only, on both sides; "process s"
is the whole command: start-up, reading the files, training and testing. Test accuracy is on the official
10,000 test images.

    .venv/bin/python benchmarks/bench_fashion_epoch.py [--rounds 3] [--threads 2] [--source /usr/share/datasets/fashion-mnist]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

COURSE = "course recipe (per-sample transforms, DataLoader 64, SGD lr 0.01)"
#: hubzoo's two recipes: the course's batch (like for like), and a larger batch, which its batched data path allows.
ZOO_RECIPES = {
    "zoo train, batch 64 (Adam lr 1e-3)": ["--batch-size", "64"],
    "zoo train, batch 128 (Adam lr 1.5e-3)": ["--batch-size", "128", "--lr", "1.5e-3"],
}


def unpack(source: Path, root: Path) -> Path:
    """Gunzip (or copy) the four IDX files of ``source`` into ``root/FashionMNIST/raw``; return ``root``."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_FILES:
        packed, plain = source / f"{name}.gz", source / name
        if packed.exists():
            with gzip.open(packed) as f, open(raw / name, "wb") as out:
                shutil.copyfileobj(f, out)
        else:
            shutil.copyfile(plain, raw / name)
    return root


def course_recipe(script: Path, root: Path, env: dict[str, str]) -> dict[str, float]:
    """The course's script in a fresh interpreter: train samples/s, test accuracy, process seconds."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(script), str(root)], check=True, capture_output=True, text=True, env=env).stdout
    seconds = time.perf_counter() - start
    match = re.search(r"train_samples_per_s=(\d+) epoch_s=([\d.]+) test_acc=([\d.]+)", out)
    return {"samples_per_s": float(match[1]), "epoch_s": float(match[2]), "accuracy": float(match[3]), "process_s": seconds}


def zoo_recipe(root: Path, run_dir: Path, options: list[str], env: dict[str, str]) -> dict[str, float]:
    """``zoo train mnist_cnn --data fashion_mnist --root ROOT --epochs 1 --augment none`` in a fresh interpreter."""
    command = [sys.executable, "-m", "zoo", "train", "mnist_cnn", "--data", "fashion_mnist", "--root", str(root),
               "--epochs", "1", "--augment", "none", "--out", str(run_dir), "--quiet", *options]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    epoch = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    report = json.loads((run_dir / "report.json").read_text())
    return {"samples_per_s": epoch["samples_per_s"], "epoch_s": epoch["seconds"], "accuracy": report["metrics"]["accuracy"],
            "process_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of both processes (OMP_NUM_THREADS)")
    parser.add_argument("--source", type=Path, default=Path("/usr/share/datasets/fashion-mnist"),
                        help="folder with the four Fashion-MNIST IDX files, .gz or not (apt-get install dataset-fashion-mnist)")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "bench")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    rows: dict[str, list[dict[str, float]]] = {COURSE: [], **{name: [] for name in ZOO_RECIPES}}
    with tempfile.TemporaryDirectory() as tmp:
        root = unpack(args.source, Path(tmp) / "data")
        for i in range(args.rounds):
            rows[COURSE].append(course_recipe(args.shared / "course_mnist_recipe.py", root, env))
            line = f"round {i + 1}: course {rows[COURSE][-1]['samples_per_s']:.0f}/s acc {rows[COURSE][-1]['accuracy']:.4f}"
            for j, (name, options) in enumerate(ZOO_RECIPES.items()):
                rows[name].append(zoo_recipe(root, Path(tmp) / f"run{i}-{j}", options, env))
                line += f" | {name.split(' (')[0]} {rows[name][-1]['samples_per_s']:.0f}/s acc {rows[name][-1]['accuracy']:.4f}"
            print(line, flush=True)
    print(f"\ntorch {torch.__version__}, {args.threads} thread(s) per process, {args.rounds} rounds, medians; "
          "speed-up: median of the per-round ratios of train samples/s to the course's\n")
    print("| recipe | train samples/s | epoch s | process s | test accuracy after 1 epoch | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, results in rows.items():
        ratio = statistics.median(r["samples_per_s"] / c["samples_per_s"] for r, c in zip(results, rows[COURSE]))
        print(f"| {name} | {statistics.median(r['samples_per_s'] for r in results):.0f} | "
              f"{statistics.median(r['epoch_s'] for r in results):.2f} | {statistics.median(r['process_s'] for r in results):.1f} | "
              f"{statistics.median(r['accuracy'] for r in results):.4f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
