"""`zoo predict` with its reader thread against the same reading done in the calling thread, in one process.

`Predictor` reads (decodes, resizes) the next batch on one background thread while the model runs the current one
(`Predictor._read_ahead`). This benchmark swaps that method for a serial one that reads each batch in the calling
thread just before the model runs it, and times both on the same folder, alternating, --repeats runs each
(medians of images/s, and the median of each run's ratio):

* `--data png`: the first --images Fashion-MNIST test images as 28x28 grayscale PNGs (from the gzipped IDX file of
  the Debian package `dataset-fashion-mnist`), predicted by `mnist_cnn` with its `digits` weights;
* `--data photos`: the JPEG photo folder of `bench_photo_predict.py` (its defaults: 120 photos of 0.3-3 megapixels),
  predicted by `efficientnet_lite0` with its `imagenet` weights (eager PyTorch, and with --backend onnx).

    .venv/bin/python benchmarks/bench_reader_thread.py [--data png|photos] [--images N] [--repeats 5] \\
        [--threads 1] [--backend torch|onnx] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zoo.predict import Predictor

FASHION_TEST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def write_pngs(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(FASHION_TEST) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    for i, image in enumerate(images[:count]):
        path = folder / f"{i:05d}.png"
        if not path.exists():
            Image.fromarray(image).save(path)
    return folder


def write_jpegs(folder: Path, count: int) -> Path:
    from bench_photo_predict import SIZES, source_photos, write_photos  # benchmarks/ is on sys.path as a script

    sizes = [tuple(int(v) for v in size.split("x")) for size in SIZES.split(",")]
    write_photos(source_photos(Path("/tmp/skimg/skimage/data")), folder, count, sizes)
    return folder


def read_in_calling_thread(self, items, batch_size):
    """`Predictor._read_ahead` without the thread: each batch read just before the model runs it."""
    for start in range(0, len(items), batch_size):
        batch = range(start, min(start + batch_size, len(items)))
        loaded, errors = [], []
        for i in batch:
            if items[i][2] is None:
                loaded.append((i, self.preprocessing.to_uint8(items[i][1])))
        yield batch, loaded, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=("png", "photos"), default="png")
    parser.add_argument("--images", type=int, help="files written (default 5000 PNGs or 120 photos)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1; 0 = torch's choice)")
    parser.add_argument("--backend", default="torch", help="Predictor backend (default torch)")
    parser.add_argument("--out", help="folder for the files (default a temporary folder)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-reader-thread-") as tmp:
        base = Path(args.out or tmp)
        if args.data == "png":
            count = args.images or 5000
            folder = write_pngs(base / f"fashion-png-{count}", count)
            predictor = Predictor.from_name("mnist_cnn", "digits", backend=args.backend)
        else:
            count = args.images or 120
            folder = write_jpegs(base / f"photos-{count}", count)
            predictor = Predictor.from_name("efficientnet_lite0", "imagenet", backend=args.backend)
        ways = {"reader thread (zoo)": Predictor._read_ahead, "calling thread": read_in_calling_thread}
        predictor.predict_records([folder])  # warm-up
        times: dict[str, list[float]] = {k: [] for k in ways}
        labels = {}
        for _ in range(args.repeats):
            for way, method in ways.items():
                Predictor._read_ahead = method
                start = time.perf_counter()
                labels[way] = [r["label"] for r in predictor.predict_records([folder])]
                times[way].append(time.perf_counter() - start)
        Predictor._read_ahead = ways["reader thread (zoo)"]
    assert labels["reader thread (zoo)"] == labels["calling thread"]
    ratio = statistics.median(b / a for a, b in zip(times["reader thread (zoo)"], times["calling thread"]))
    print(f"\nCPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s); {count} files ({args.data}); backend "
          f"{args.backend}; batch {predictor.batch_size}; median of {args.repeats} runs\n")
    print("| reading | images/s |\n|---|---:|")
    for way, seconds in times.items():
        print(f"| {way} | {count / statistics.median(seconds):,.0f} |")
    print(f"\nreader thread / calling thread: {ratio:.2f}x (median of the runs' ratios); labels identical")


if __name__ == "__main__":
    main()
