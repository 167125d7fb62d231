"""The shipped text weights (trained on ``movies`` only) and VADER on every ``sentiment_snippets`` domain.

For each weights entry given (default: ``lstm_sentiment.movies`` and ``bert_classifier.movies``) and each
domain's test split (movies, amazon, nyt, tweets: the dataset's seeded, stratified split), the shared evaluator's
accuracy; beside them VADER's (``compound >= 0`` is positive, see ``bench_vader_baseline.py``) when VADER is
installed. Prints a Markdown table for README.md.

    .venv/bin/python -m pip install --no-deps vaderSentiment==3.3.2     # optional: the VADER column
    .venv/bin/python benchmarks/bench_text_domains.py [--root data/] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import zoo
from zoo.datasets.snippets import DOMAINS, sentiment_snippets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vader_baseline import CHECKOUT_DATA, score_domain  # noqa: E402  (a sibling script)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", nargs="+", default=["lstm_sentiment.movies", "bert_classifier.movies"])
    parser.add_argument("--root", default=str(CHECKOUT_DATA), help="folder or archive with the VADER data (default data/)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    for name in args.weights:
        model = zoo.get_model(name).eval()
        for domain in DOMAINS:
            start = time.perf_counter()
            report = zoo.evaluate(model, sentiment_snippets("test", root=args.root, domain=domain), batch_size=64, progress=False)
            rows.setdefault(name, {})[domain] = report["accuracy"]
            print(f"{name} on {domain}: accuracy {report['accuracy']:.4f} ({report['num_samples']} snippets, "
                  f"{time.perf_counter() - start:.1f} s)", file=sys.stderr)
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        rows["VADER (compound >= 0)"] = {d: score_domain(analyzer, d, "test", args.root)["binary"] for d in DOMAINS}
    except ImportError:
        print("VADER is not installed: no VADER row (pip install --no-deps vaderSentiment==3.3.2)", file=sys.stderr)
    print("| model | " + " | ".join(DOMAINS) + " |\n|---|" + "---:|" * len(DOMAINS))
    for name, accuracies in rows.items():
        print(f"| {name} | " + " | ".join(f"{accuracies[d]:.3f}" for d in DOMAINS) + " |")


if __name__ == "__main__":
    main()
