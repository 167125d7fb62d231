"""The shared evaluator's share of a whole `zoo.evaluate` run of mnist_cnn (the shipped digits weights).

Times `Evaluator.update` + `Evaluator.compute` inside `zoo.evaluate` over 10,000 digit images (the 1,797
scikit-learn digits, upscaled, repeated), against the wall time of the whole evaluation; medians of
--rounds. Same process, same data.

    .venv/bin/python benchmarks/bench_eval_overhead.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import zoo
from zoo.datasets import ImageTensorDataset
from zoo.metrics import Evaluator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    train, test = zoo.get_dataset("digits", split="train"), zoo.get_dataset("digits", split="test")
    images, labels = torch.cat([train.images, test.images]), torch.cat([train.labels, test.labels])
    repeat = torch.arange(args.n) % len(images)
    data = ImageTensorDataset(images[repeat], labels[repeat], mean=(0.1307,), std=(0.3081,), class_names=train.class_names)
    model = zoo.get_model("mnist_cnn", weights="digits")

    spent = [0.0]
    for name in ("update", "compute"):
        original = getattr(Evaluator, name)

        def timed(self, *a, _original=original, **kw):
            start = time.perf_counter()
            try:
                return _original(self, *a, **kw)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(Evaluator, name, timed)

    totals, fractions = [], []
    zoo.evaluate(model, data, progress=False)  # warm-up
    for _ in range(args.rounds):
        spent[0] = 0.0
        start = time.perf_counter()
        report = zoo.evaluate(model, data, progress=False)
        total = time.perf_counter() - start
        totals.append(total)
        fractions.append(spent[0] / total)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.n} images, batch 256, {args.rounds} rounds, medians")
    print(f"accuracy {report['accuracy']:.4f} (on digits it has partly seen in training: this measures time, not quality)\n")
    print("| whole evaluation s | evaluator (update + compute) ms | evaluator share |\n|---:|---:|---:|")
    print(f"| {statistics.median(totals):.3f} | {1000 * statistics.median(f * t for f, t in zip(fractions, totals)):.1f} | {100 * statistics.median(fractions):.2f}% |")


if __name__ == "__main__":
    main()
