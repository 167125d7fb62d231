"""`zoo predict efficientnet_lite0` on a folder of JPEG photos against the plain loop, in the same process
(issue 25's goal: at least 3x), then ONNX Runtime against eager PyTorch at batch 1 and 32.

The folder: --images JPEG files (default 120) cut from real photos, scikit-learn's two sample images
(`china`, `flower`, 427x640) and, when scikit-image's data folder is there (--skimage, default
/tmp/skimg/skimage/data), its photos `astronaut`, `chelsea`, `coffee`, `hubble_deep_field`, `ihc`,
`motorcycle_left`, `retina`, `rocket` and the grayscale `camera`. Photo i is source i mod the number of
sources; a random crop of 50-100% of its area at the aspect ratio of its target size, flipped left-right
half the time, resized (PIL bicubic; mostly enlarged, as the sources are small) to the --sizes in turn
(default six camera-like sizes: 640x480, 800x600, 1024x768, 1280x960, 1600x1200, 2000x1500), a third of
them (drawn at random) turned portrait, saved by PIL at quality 90 (seeded: the same folder every time).

Ways timed, alternating, --repeats runs each (medians reported, images/s):

* `zoo predict`'s Python path: `Predictor.from_name(MODEL, weights=W).predict_records([folder])`, what the
  command runs (folder listing, JPEG decoding, the weights' preprocessing, batches, softmax, one record per
  file), with eager PyTorch, and the same with `backend="onnx"` (ONNX Runtime; exported once, cached);
* the plain loop a user would write: for each file `PIL.Image.open` -> `.convert("RGB")` -> torchvision
  `Compose([Resize(256, BICUBIC), CenterCrop(224), ToTensor(), Normalize(mean, std)])` -> `model(x[None])`
  -> softmax -> argmax, under `torch.inference_mode`, with the model as `zoo.get_model(MODEL, weights=W)`
  returns it. The transform's numbers are the weights' own (`crop_pct` 0.875: 224 / 0.875 = 256).

Speed-ups are the median of each run's ratio to the plain loop's run beside it. The labels of each way are
compared with the plain loop's (top-1 agreement reported).

Then the model alone on 224x224 inputs (the photos' own preprocessed pixels): eager PyTorch as `zoo.get_model`
returns it, eager channels-last (as `Predictor` runs it) and ONNX Runtime (`zoo.onnx_runtime.OnnxClassifier`,
the file `Predictor(backend="onnx")` uses), at batch 1 and 32, alternating; images/s and ORT / eager.

Last, the reader alone (what `Preprocessing.to_uint8` does: decoding, resize, centre crop), each photo once:
the JPEG decoded whole; decoded at a reduced scale down to twice the size needed, as zoo's reader does (and
the same resized through float32, whole, as zoo did before it used PyTorch's uint8 kernel); and down to the
size needed itself (`load_image(..., needed_size=half of it)`: the reader with a gap of 1). Mean
ms per photo, mean absolute difference of the 224x224 pixels to the whole decode's, the eager model's top-1
labels against the whole decode's, and how close a call the changed ones were (the largest gap between the
whole decode's two most probable classes among them).

    .venv/bin/python benchmarks/bench_photo_predict.py [--images 120] [--repeats 3] [--threads 1] \\
        [--sizes 640x480,...] [--batch-size B] [--out DIR] [--skimage DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import zoo
from bench_predict import alternate  # benchmarks/ is on sys.path when a benchmark runs as a script
from zoo.predict import Predictor

SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
                  "motorcycle_left.png", "retina.jpg", "rocket.jpg", "camera.png")
#: Landscape (width, height); a third of the photos (drawn at random) are turned portrait.
SIZES = "640x480,800x600,1024x768,1280x960,1600x1200,2000x1500"


def source_photos(skimage: Path) -> dict[str, Image.Image]:
    from sklearn.datasets import load_sample_images

    sample = load_sample_images()
    photos = {Path(name).stem: Image.fromarray(pixels) for name, pixels in zip(sample.filenames, sample.images)}
    for name in SKIMAGE_PHOTOS if skimage.is_dir() else ():
        with Image.open(skimage / name) as image:
            photos[Path(name).stem] = image.convert("L" if image.mode == "L" else "RGB")
    return photos


def write_photos(sources: dict[str, Image.Image], folder: Path, count: int, sizes: list[tuple[int, int]],
                 seed: int = 0) -> list[Path]:
    """``count`` JPEG photos (quality 90) of ``sizes`` (in turn) cut from ``sources`` as the module docstring says."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = sorted(sources)
    paths = []
    for i in range(count):
        name = names[i % len(names)]
        source = sources[name]
        width, height = sizes[i % len(sizes)]
        if rng.random() < 1 / 3:
            width, height = height, width
        # The largest box of the target's aspect ratio inside the source, shrunk to 50-100% of its area.
        box_w = min(source.width, source.height * width / height)
        scale = float(np.sqrt(rng.uniform(0.5, 1.0)))
        box_w, box_h = box_w * scale, box_w * scale * height / width
        left = rng.uniform(0, source.width - box_w)
        top = rng.uniform(0, source.height - box_h)
        photo = source.resize((width, height), Image.BICUBIC, box=(left, top, left + box_w, top + box_h))
        if rng.random() < 0.5:
            photo = photo.transpose(Image.FLIP_LEFT_RIGHT)
        path = folder / f"{i:04d}-{name}-{width}x{height}.jpg"
        if not path.exists():
            photo.save(path, quality=90)
        paths.append(path)
    return paths


def plain_transform(prep):
    """torchvision's ImageNet evaluation transform with the weights' numbers (what a user copies from timm)."""
    from torchvision import transforms

    resize = int(max(prep.size) / prep.crop_pct)
    return transforms.Compose([transforms.Resize(resize, interpolation=transforms.InterpolationMode.BICUBIC),
                               transforms.CenterCrop(prep.size), transforms.ToTensor(),
                               transforms.Normalize(prep.mean, prep.std)])


def plain_loop(model: torch.nn.Module, paths: list[Path], transform) -> list[int]:
    """What a user writes without hubzoo: PIL, a torchvision transform and the model, one image at a time."""
    labels = []
    with torch.inference_mode():
        for path in paths:
            image = Image.open(path).convert("RGB")
            x = transform(image)
            probs = torch.softmax(model(x[None]), dim=1)
            labels.append(int(probs.argmax(1)))
    return labels


def model_alone(model: torch.nn.Module, model_cl: torch.nn.Module, runtime, pixels: torch.Tensor, prep,
                repeats: int) -> list[tuple[int, dict[str, float]]]:
    """images/s of eager, eager channels-last and ONNX Runtime on batches of 1 and 32 of ``pixels``, alternating."""
    rows = []
    for batch in (1, 32):
        x = prep.normalize(pixels[:batch])
        x_cl = x.contiguous(memory_format=torch.channels_last)
        ways = {"eager": lambda: model(x), "eager channels-last": lambda: model_cl(x_cl), "ONNX Runtime": lambda: runtime(x)}
        times: dict[str, list[float]] = {k: [] for k in ways}
        calls = max(1, 32 // batch)  # time about 32 images per sample at either batch size
        with torch.inference_mode():
            for run in ways.values():
                run()  # warm-up
            for _ in range(repeats):
                for way, run in ways.items():
                    start = time.perf_counter()
                    for _ in range(calls):
                        run()
                    times[way].append((time.perf_counter() - start) / (calls * batch))
        rows.append((batch, {k: 1 / statistics.median(v) for k, v in times.items()}))
    return rows


def reader_variants(paths: list[Path], prep, model: torch.nn.Module) -> dict[str, tuple[float, float, int, float]]:
    """``{variant: (mean ms per photo, mean |pixel difference| to the whole decode, top-1 labels as the whole decode's,
    the largest gap between the whole decode's top two probabilities on the photos whose label changed)}``."""
    from zoo.preprocess import load_image, resize_and_crop_uint8

    def half(height: int, width: int) -> tuple[int, int]:
        h, w = prep.resized_size(height, width)
        return (h + 1) // 2, (w + 1) // 2  # the reader decodes down to twice this: to the size needed itself

    def float_resize(image: torch.Tensor) -> torch.Tensor:
        """The resize before zoo used PyTorch's uint8 kernel: through float32, whole, then the centre cut out."""
        h, w = prep.resized_size(*image.shape[1:])
        x = torch.nn.functional.interpolate(image[None].float(), size=(h, w), mode=prep.resize, antialias=True)
        top, left = int(round((h - prep.size[0]) / 2.0)), int(round((w - prep.size[1]) / 2.0))
        return x[0, :, top : top + prep.size[0], left : left + prep.size[1]].round().clamp(0, 255).to(torch.uint8)

    def uint8_resize(image: torch.Tensor) -> torch.Tensor:
        return resize_and_crop_uint8(image, prep.size, prep.crop_pct, prep.resize)

    variants = {"decoded whole": (None, uint8_resize),
                "reduced down to 2x the size needed, resized through float32 (zoo before)": (prep.resized_size, float_resize),
                "reduced down to 2x the size needed (zoo)": (prep.resized_size, uint8_resize),
                "reduced down to 1x the size needed": (half, uint8_resize)}
    pixels: dict[str, list[torch.Tensor]] = {k: [] for k in variants}
    seconds: dict[str, float] = dict.fromkeys(variants, 0.0)
    for path in paths:
        for name, (needed, resize) in variants.items():
            start = time.perf_counter()
            image = load_image(path, needed_size=needed)
            image = image.expand(3, -1, -1) if image.shape[0] == 1 else image
            pixels[name].append(resize(image).contiguous())
            seconds[name] += time.perf_counter() - start
    whole = torch.stack(pixels["decoded whole"])
    with torch.inference_mode():
        probs = {k: torch.cat([model(prep.normalize(torch.stack(v[i : i + 8]))).softmax(1) for i in range(0, len(v), 8)])
                 for k, v in pixels.items()}
    top2 = probs["decoded whole"].topk(2, dim=1).values
    gap = top2[:, 0] - top2[:, 1]
    rows = {}
    for name, images in pixels.items():
        changed = probs[name].argmax(1) != probs["decoded whole"].argmax(1)
        rows[name] = (1e3 * seconds[name] / len(paths), float((torch.stack(images).float() - whole.float()).abs().mean()),
                      int((~changed).sum()), float(gap[changed].max()) if changed.any() else 0.0)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--images", type=int, default=120, help="JPEG photos written (default 120)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per way; the median is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1; 0 = torch's choice)")
    parser.add_argument("--sizes", default=SIZES, help=f"photo sizes, landscape WxH, comma-separated (default {SIZES})")
    parser.add_argument("--batch-size", type=int, help="zoo predict's batch (default: its own)")
    parser.add_argument("--out", help="folder for the photos (default a temporary folder, removed at the end)")
    parser.add_argument("--skimage", default="/tmp/skimg/skimage/data", help="scikit-image's data folder, if there")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-photo-predict-") as tmp:
        sources = source_photos(Path(args.skimage))
        folder = Path(args.out or tmp) / f"photos-{len(sources)}-{args.images}-{args.sizes.replace(',', '-')}"
        start = time.perf_counter()
        paths = write_photos(sources, folder, args.images, sizes)
        counts: Counter = Counter()
        for path in paths:
            with Image.open(path) as image:
                counts[image.size] += 1
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        print(f"{len(paths)} JPEGs in {folder} ({megabytes:.1f} MB, {time.perf_counter() - start:.1f} s to write) from "
              f"{len(sources)} photos ({', '.join(sorted(sources))}); sizes: "
              + ", ".join(f"{w}x{h} {n}" for (w, h), n in sorted(counts.items())), flush=True)

        predictor = Predictor.from_name(args.model, args.weights, batch_size=args.batch_size)
        onnx = Predictor.from_name(args.model, args.weights, batch_size=args.batch_size, backend="onnx")
        plain_model = zoo.get_model(args.model, weights=args.weights).eval()
        prep = predictor.preprocessing
        transform = plain_transform(prep)
        print(f"{args.model} weights={args.weights}: {prep}; zoo predict batch {predictor.batch_size}", flush=True)

        def labels_of(p: Predictor) -> list[int]:
            return [p.class_names.index(r["label"]) for r in p.predict_records([folder])]

        ways = {"zoo predict": lambda: labels_of(predictor),
                "zoo predict --backend onnx": lambda: labels_of(onnx),
                "plain loop": lambda: plain_loop(plain_model, paths, transform)}
        predictor.predict_records(paths[:8])  # warm-up
        onnx.predict_records(paths[:8])
        plain_loop(plain_model, paths[:8], transform)
        times, labels = alternate(ways, args.repeats)
        agree = {k: sum(a == b for a, b in zip(v, labels["plain loop"])) for k, v in labels.items()}
        pixels = torch.stack([prep.to_uint8(p) for p in paths[:32]])
        pixels = pixels[torch.arange(32) % len(pixels)]  # 32 images, repeated if fewer photos
        alone = model_alone(plain_model, predictor.model, onnx.runtime, pixels, prep, max(args.repeats, 5))
        reader = reader_variants(paths, prep, plain_model)
        if min(agree.values()) < 0.95 * len(paths):
            sys.exit(f"the ways disagree on more than 5% of the photos: {agree}")

    rate = {k: len(paths) / statistics.median(v) for k, v in times.items()}
    # Each run's ratio to the plain loop run beside it, then their median: the load of a shared machine drifts.
    speedup = {k: statistics.median(p / t for p, t in zip(times["plain loop"], v)) for k, v in times.items()}
    print(f"\nCPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s); {len(paths)} JPEG photos; "
          f"{args.model} weights={args.weights}; median of {args.repeats} runs\n")
    print("| way | images/s | seconds | speed-up over the plain loop (median of the runs' ratios) | top-1 labels as the plain loop's |\n"
          "|---|---:|---:|---:|---:|")
    for k, v in times.items():
        print(f"| {k} | {rate[k]:,.1f} | {statistics.median(v):.2f} | {speedup[k]:.2f}x | {agree[k]} of {len(paths)} |")
    print(f"\nThe model alone on 224x224 inputs, median of {max(args.repeats, 5)} samples of 32 images each\n")
    print("| batch | eager images/s | eager channels-last images/s | ONNX Runtime images/s | ORT / eager | ORT / eager channels-last |\n"
          "|---:|---:|---:|---:|---:|---:|")
    for batch, r in alone:
        e, c, o = r["eager"], r["eager channels-last"], r["ONNX Runtime"]
        print(f"| {batch} | {e:.1f} | {c:.1f} | {o:.1f} | {o / e:.2f}x | {o / c:.2f}x |")
    print("\nThe reader alone (decode, resize, centre crop), each photo once\n")
    print("| JPEG | ms per photo | mean abs. pixel difference to the whole decode | top-1 labels as the whole decode's | "
          "changed labels: largest gap between the whole decode's top two probabilities |\n|---|---:|---:|---:|---:|")
    for name, (ms, difference, same, gap) in reader.items():
        print(f"| {name} | {ms:.1f} | {difference:.3f} | {same} of {len(paths)} | {f'{gap:.3f}' if same < len(paths) else '-'} |")


if __name__ == "__main__":
    main()
