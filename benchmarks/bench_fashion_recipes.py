"""Issue 17's two experiments on Fashion-MNIST with ``mnist_cnn``, in one process, side by side:

1. ``--augment light`` against ``--augment none`` (cross-entropy): test accuracy after the same epochs, and the
   training throughput of each (median of the per-epoch samples/s; the goal is that augmenting costs at most 10%);
2. the course's exercise (exercise 5 of ``000_*.txt``): the same model with ``--loss mse`` (softmax against
   one-hot) and ``--loss cross_entropy``: validation accuracy per epoch and test accuracy, plotted side by side
   into ``docs/fashion_mse_vs_cross_entropy.png``.

Each run is ``zoo.train`` with the ``zoo train`` defaults (Adam lr 1e-3, batch 64, seed 0, 10% of the train
split held out for validation) and ``--epochs E --patience 0``; test accuracy is on the official 10,000 test images.

    .venv/bin/python benchmarks/bench_fashion_recipes.py [--epochs 5] [--root /usr/share/datasets/fashion-mnist]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from zoo.runs import TrainConfig
from zoo.train import train

RUNS = {"cross_entropy, augment none": dict(loss="cross_entropy", augment="none"),
        "cross_entropy, augment light": dict(loss="cross_entropy", augment="light"),
        "mse, augment none": dict(loss="mse", augment="none")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--plot", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "fashion_mse_vs_cross_entropy.png")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, options) in enumerate(RUNS.items()):
            config = TrainConfig("mnist_cnn", "fashion_mnist", root=args.root, epochs=args.epochs, patience=0,
                                 device="cpu", out=f"{tmp}/run{i}", progress=False, **options)
            results[name] = train(config)
            print(f"{name}: test accuracy {results[name].test_report['accuracy']:.4f}", flush=True)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, mnist_cnn (n_feature=6), {args.epochs} epochs\n")
    print("| run | test accuracy | val accuracy per epoch | train samples/s (median of epochs) |")
    print("|---|---:|---|---:|")
    for name, result in results.items():
        per_epoch = ", ".join(f"{r['val_accuracy']:.3f}" for r in result.history)
        speed = statistics.median(r["samples_per_s"] for r in result.history)
        print(f"| {name} | {result.test_report['accuracy']:.4f} | {per_epoch} | {speed:.0f} |")
    plain, light = (statistics.median(r["samples_per_s"] for r in results[k].history) for k in list(RUNS)[:2])
    print(f"\nthroughput with --augment light: {light / plain:.2f}x of --augment none")
    _plot(results, args.plot)
    print(f"curves: {args.plot}")


def _plot(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for name in ("cross_entropy, augment none", "mse, augment none"):
        history = results[name].history
        epochs = [r["epoch"] for r in history]
        loss_ax.plot(epochs, [r["train_loss"] for r in history], marker="o", label=name.split(",")[0])
        acc_ax.plot(epochs, [r["val_accuracy"] for r in history], marker="o", label=name.split(",")[0])
    loss_ax.set(title="training loss (log scale; values of two losses, not comparable)", xlabel="epoch", yscale="log")
    acc_ax.set(title="validation accuracy", xlabel="epoch")
    for ax in (loss_ax, acc_ax):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle("mnist_cnn on Fashion-MNIST: --loss mse against --loss cross_entropy")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
