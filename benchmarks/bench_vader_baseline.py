"""VADER's own accuracy on ``sentiment_snippets``: the baseline every text model trained on it must beat.

Scores each domain's split (``test`` by default: the same seeded, stratified split the dataset gives the trainer
and the evaluator) with VADER 3.3.2's compound score and prints the accuracy per domain:

* ``compound >= 0`` is positive, below 0 negative: the binary rule, the number to quote (our labels have no
  neutral class: zero-rated snippets are left out);
* the paper's rule (Hutto & Gilbert 2014, Table 4: thresholds -0.05 and +0.05) is three-class: a snippet with
  ``-0.05 < compound < 0.05`` is called neutral, which is wrong for every snippet here; printed beside it, with
  how many were called neutral;
* the majority class of the split, for scale.

VADER is not a hubzoo dependency. The vaderSentiment wheel declares ``requests`` but imports it only in its
``__main__`` demo, so it is installed without dependencies:

    .venv/bin/python -m pip install --no-deps vaderSentiment==3.3.2
    .venv/bin/python benchmarks/bench_vader_baseline.py [--root data/] [--split test]

``--root`` defaults to ``data/`` of this checkout (where ``make`` puts ``vaderSentiment-3.3.2.tar.gz``) when it
holds the sdist, else ``$ZOO_DATA``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from zoo.datasets.snippets import DOMAINS, SDIST_NAME, sentiment_snippets

CHECKOUT_DATA = Path(__file__).resolve().parent.parent / "data"
PAPER_THRESHOLD = 0.05


def vader_analyzer():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        sys.exit("VADER is not installed: .venv/bin/python -m pip install --no-deps vaderSentiment==3.3.2")
    return SentimentIntensityAnalyzer()


def score_domain(analyzer, domain: str, split: str, root: str | None) -> dict:
    """Accuracies of VADER on one domain's ``split``: binary (compound >= 0), the paper's +-0.05 rule, majority class."""
    data = sentiment_snippets(split, root=root, domain=domain)
    labels = data.labels.tolist()
    start = time.perf_counter()
    compound = [analyzer.polarity_scores(text)["compound"] for text in data.texts]
    seconds = time.perf_counter() - start
    binary = sum((c >= 0) == bool(y) for c, y in zip(compound, labels))
    paper = sum((c >= PAPER_THRESHOLD) if y else (c <= -PAPER_THRESHOLD) for c, y in zip(compound, labels))
    neutral = sum(-PAPER_THRESHOLD < c < PAPER_THRESHOLD for c in compound)
    positive = sum(labels)
    return {"domain": domain, "n": len(labels), "binary": binary / len(labels), "paper": paper / len(labels),
            "neutral": neutral, "majority": max(positive, len(labels) - positive) / len(labels),
            "per_second": len(labels) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(CHECKOUT_DATA) if (CHECKOUT_DATA / SDIST_NAME).is_file() else None)
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    args = parser.parse_args()
    analyzer = vader_analyzer()
    print(f"VADER 3.3.2 on sentiment_snippets, split {args.split!r} (val 0.1 / test 0.2, seed 0), root {args.root or '$ZOO_DATA'}")
    print(f"{'domain':<8} {'snippets':>8} {'compound>=0':>12} {'paper +-0.05':>13} {'called neutral':>15} "
          f"{'majority':>9} {'snippets/s':>11}")
    for domain in DOMAINS:
        r = score_domain(analyzer, domain, args.split, args.root)
        print(f"{r['domain']:<8} {r['n']:>8,} {r['binary']:>12.3f} {r['paper']:>13.3f} {r['neutral']:>15,} "
              f"{r['majority']:>9.3f} {r['per_second']:>11,.0f}")


if __name__ == "__main__":
    main()
