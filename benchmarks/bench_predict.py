"""`zoo predict` on a folder of PNG files against a plain loop, in the same process (issue 15's goal: at least 5x).

The benchmark writes the 10,000 test images of Fashion-MNIST as 28x28 grayscale PNGs (read from the gzipped IDX
file of the Debian package `dataset-fashion-mnist`, `apt-get install dataset-fashion-mnist`, with numpy), then
times, alternating, over --repeats runs each (medians reported, images/s):

* `zoo predict`'s Python path: `Predictor.from_name(MODEL, weights=W).predict_records([folder])`, what the
  command runs (folder listing, PNG decoding, the weights' preprocessing, batches of --batch-size, softmax,
  one record per file);
* the plain loop a user would write: for each file `PIL.Image.open` -> torchvision
  `Compose([ToTensor(), Normalize(mean, std)])` -> `model(x[None])` -> softmax -> argmax, one image at a time,
  with the model as `zoo.get_model(MODEL, weights=W)` returns it;
* the same loop with the predictor's model, which `Predictor` turned to the channels-last memory format (so
  that the table separates what batching and the reader give from what the memory format gives).

All use the same weights and their own mean/std, and must agree on (nearly) every label.

    .venv/bin/python benchmarks/bench_predict.py [--model mnist_cnn] [--weights digits] [--images 10000] \\
        [--repeats 3] [--threads 1] [--batch-size B] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import zoo
from zoo.predict import Predictor

FASHION_TEST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def read_idx_images(path: Path) -> np.ndarray:
    """``uint8 [N, rows, cols]`` from an IDX3 file (gzipped or not)."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic, n, rows, cols = np.frombuffer(data[:16], dtype=">u4")
    if magic != 2051:
        sys.exit(f"{path} is not an IDX3 image file (magic {magic})")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(int(n), int(rows), int(cols))


def write_pngs(images: np.ndarray, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:05d}.png" for i in range(len(images))]
    for path, image in zip(paths, images):
        if not path.exists():
            Image.fromarray(image).save(path)
    return paths


def alternate(ways: dict, repeats: int) -> tuple[dict[str, list[float]], dict[str, list]]:
    """Run each of ``ways`` (name -> callable returning labels) in turn, ``repeats`` rounds: every way's times
    (seconds) and its last labels."""
    times: dict[str, list[float]] = {k: [] for k in ways}
    labels: dict[str, list] = {}
    for r in range(repeats):
        for way, run in ways.items():
            start = time.perf_counter()
            labels[way] = run()
            times[way].append(time.perf_counter() - start)
        print(f"run {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    return times, labels


def plain_loop(model: torch.nn.Module, paths: list[Path], mean: tuple, std: tuple) -> list[int]:
    """What a user writes without hubzoo: PIL, a torchvision transform and the model, one image at a time."""
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    labels = []
    with torch.inference_mode():
        for path in paths:
            image = Image.open(path)
            x = transform(image)
            probs = torch.softmax(model(x[None]), dim=1)
            labels.append(int(probs.argmax(1)))
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mnist_cnn")
    parser.add_argument("--weights", default="digits", help="weights of the model (default digits; fashion once shipped)")
    parser.add_argument("--images", type=int, default=10_000, help="test images written as PNG (default all 10,000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per way; the median is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1; 0 = torch's choice)")
    parser.add_argument("--batch-size", type=int, help="zoo predict's batch (default: its own, 256 for images)")
    parser.add_argument("--out", help="folder for the PNGs (default a temporary folder, removed at the end)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not FASHION_TEST.is_file():
        sys.exit(f"{FASHION_TEST} is missing: apt-get install dataset-fashion-mnist")

    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        folder = Path(args.out or tmp) / f"fashion-mnist-test-png-{args.images}"
        start = time.perf_counter()
        paths = write_pngs(read_idx_images(FASHION_TEST)[: args.images], folder)
        print(f"{len(paths)} PNGs in {folder} ({time.perf_counter() - start:.1f} s to write)", flush=True)

        predictor = Predictor.from_name(args.model, args.weights, batch_size=args.batch_size)
        plain_model = zoo.get_model(args.model, weights=args.weights).eval()
        prep = predictor.preprocessing
        print(f"{args.model} weights={args.weights}: {prep}; zoo predict batch {predictor.batch_size}", flush=True)
        ways = {"zoo predict": lambda: [predictor.class_names.index(r["label"]) for r in predictor.predict_records([folder])],
                "plain loop": lambda: plain_loop(plain_model, paths, prep.mean, prep.std),
                "plain loop, channels-last model": lambda: plain_loop(predictor.model, paths, prep.mean, prep.std)}
        predictor.predict_records(paths[:64])  # warm-up
        plain_loop(plain_model, paths[:64], prep.mean, prep.std)
        times, labels = alternate(ways, args.repeats)
        agree = min(sum(a == b for a, b in zip(labels["zoo predict"], other)) for other in labels.values())
        if agree < 0.999 * len(paths):
            sys.exit(f"the ways disagree on {len(paths) - agree} of {len(paths)} images")

    rate = {k: len(paths) / statistics.median(v) for k, v in times.items()}
    print(f"\nCPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s); {len(paths)} 28x28 PNG files; "
          f"{args.model} weights={args.weights}; median of {args.repeats} runs; the labels agree on {agree} of {len(paths)} images\n")
    print("| way | images/s | seconds | zoo predict's speed-up |\n|---|---:|---:|---:|")
    for k, v in times.items():
        print(f"| {k} | {rate[k]:,.0f} | {statistics.median(v):.2f} | {rate['zoo predict'] / rate[k]:.1f}x |")


if __name__ == "__main__":
    main()
