"""One epoch of mnist_cnn (n_feature=6) training: hubzoo's trainer against the course's own recipe,
on the same MNIST-format files, in the same process, alternating, several rounds; medians reported.

The data are scikit-learn's digits written as MNIST IDX files by the course's helper
(``../shared/bench/make_mnist_idx.py``: 12,000 train images drawn from the first 1,500 digits,
2,000 test images from the last 297), so both sides read real IDX files through torchvision.

    .venv/bin/python benchmarks/bench_mnist_training.py [--rounds 3] [--shared ../shared/bench]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import runpy
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def course_recipe(script: Path, root: Path) -> tuple[float, float]:
    """Run the course's script in this process; return (train samples/s, test accuracy)."""
    out = io.StringIO()
    argv = sys.argv
    sys.argv = [str(script), str(root)]
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    match = re.search(r"train_samples_per_s=(\d+).*test_acc=([\d.]+)", out.getvalue())
    return float(match[1]), float(match[2])


def hubzoo_recipe(root: Path, run_dir: Path, **overrides) -> tuple[float, float]:
    from zoo.train import TrainConfig, train

    config = TrainConfig("mnist_cnn", "mnist", root=str(root), epochs=1, patience=0, out=str(run_dir), progress=False, **overrides)
    result = train(config)
    return result.history[0]["samples_per_s"], result.test_report["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "bench")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        subprocess.run([sys.executable, str(args.shared / "make_mnist_idx.py"), str(root)], check=True)
        rows = {"course recipe (per-sample ToTensor+Normalize, DataLoader 64, SGD)": [], "hubzoo trainer (batched uint8 fast path, Adam, batch 64)": []}
        course, ours = list(rows.values())
        for i in range(args.rounds):
            course.append(course_recipe(args.shared / "course_mnist_recipe.py", root))
            ours.append(hubzoo_recipe(root, Path(tmp) / f"run{i}"))
            print(f"round {i + 1}: course {course[-1][0]:.0f}/s acc {course[-1][1]:.4f} | hubzoo {ours[-1][0]:.0f}/s acc {ours[-1][1]:.4f}", flush=True)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds, medians\n")
    print("| recipe | train samples/s | test accuracy after 1 epoch |\n|---|---:|---:|")
    for name, results in rows.items():
        print(f"| {name} | {statistics.median(r[0] for r in results):.0f} | {statistics.median(r[1] for r in results):.4f} |")
    ratio = statistics.median(o[0] / c[0] for o, c in zip(ours, course))
    print(f"\nspeed-up (median of per-round ratios): {ratio:.2f}x")


if __name__ == "__main__":
    main()
