"""Frozen-backbone fine-tuning with and without the feature cache, side by side (issue 25's goal: epochs after the
first at least 10x faster with the cache).

The course's transfer-learning lesson as the README runs it: ``efficientnet_lite0`` with its ImageNet weights
(plugin zoo-timm), ``--freeze backbone -k num_classes=3``, on an image folder of three Fashion-MNIST classes
(Trouser, Sneaker, Bag; --per-class images each from the train split of the Debian package
``dataset-fashion-mnist``, written as 28x28 PNGs; the ImageNet preprocessing enlarges them to 224x224). Three runs
in one process, in a fresh ``$ZOO_HOME``:

* ``--no-feature-cache``: the whole model runs every epoch (the backbone in eval mode, only the head learns);
* the cache, first run: the backbone's output is computed once, before epoch 1, then each epoch trains the head;
* the cache, second run with the same weights and images: the stored tensors are read instead of computed.

Reported: the wall time from the start of the run to the end of epoch 1 (the cached runs' includes computing or
reading the features), the median of the later epochs (each from one epoch's end to the next: training, the
validation pass, the checkpoint), their ratio, and the test accuracy (the same weights come out either way).

    .venv/bin/python benchmarks/bench_frozen_backbone.py [--per-class 200] [--epochs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

FASHION = "/usr/share/datasets/fashion-mnist"
CLASSES = ("Trouser", "Sneaker", "Bag")


def write_folder(root: Path, per_class: int) -> Path:
    import zoo

    train = zoo.get_dataset("fashion_mnist", split="train", root=FASHION)
    for name in CLASSES:
        folder = root / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        for i in (train.labels == train.class_names.index(name)).nonzero()[:per_class, 0].tolist():
            Image.fromarray(train.images[i, 0].numpy()).save(folder / f"{i:05d}.png")
    return root


def timed_run(folder: Path, out: Path, *, epochs: int, cache: bool) -> dict:
    from zoo.runs import TrainConfig
    from zoo.train import train

    marks = [time.perf_counter()]
    config = TrainConfig("efficientnet_lite0", "imagefolder", root=str(folder), init="imagenet", freeze="backbone",
                         model_kwargs={"num_classes": 3}, epochs=epochs, patience=0, feature_cache=cache,
                         device="cpu", out=str(out), progress=False)
    result = train(config, on_epoch_end=lambda record: marks.append(time.perf_counter()))
    epochs_s = [b - a for a, b in zip(marks, marks[1:])]
    return {"first": epochs_s[0], "later": statistics.median(epochs_s[1:]), "accuracy": result.test_report["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["ZOO_HOME"] = str(tmp / "home")  # an empty feature cache
        folder = write_folder(tmp / "clothes", args.per_class)
        rows = [("whole model every epoch (--no-feature-cache)", timed_run(folder, tmp / "a", epochs=args.epochs, cache=False)),
                ("feature cache, computed", timed_run(folder, tmp / "b", epochs=args.epochs, cache=True)),
                ("feature cache, read from an earlier run", timed_run(folder, tmp / "c", epochs=args.epochs, cache=True))]
    print(f"efficientnet_lite0 --init imagenet --freeze backbone, {3 * args.per_class} images (3 classes), "
          f"{args.epochs} epochs, {args.threads} threads")
    print(f"{'run':<46} {'epoch 1 s':>10} {'later epochs s (median)':>24} {'test accuracy':>14}")
    for name, row in rows:
        print(f"{name:<46} {row['first']:>10.2f} {row['later']:>24.4f} {row['accuracy']:>14.4f}")
    whole, cached = rows[0][1], rows[1][1]
    print(f"later epochs: {whole['later'] / cached['later']:.0f}x faster with the cache (goal: at least 10x); "
          f"epoch 1 of a run that reads the cache: {whole['first'] / rows[2][1]['first']:.0f}x faster")


if __name__ == "__main__":
    main()
