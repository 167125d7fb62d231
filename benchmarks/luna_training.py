"""The LUNA16 training goals on synthetic data, through hubzoo's trainer and shared evaluator:
``luna_classifier`` (nodule vs non-nodule candidates) and then ``luna_malignancy`` (benign vs malignant,
initialised from the nodule classifier's weights, fine-tuning the last block and the head, and the
whole network) should reach recall >= 0.9 and precision >= 0.5 for the positive class on the
held-out test scans.

All runs use the same scan-level split (seed 0: 70% train, 10% val, 20% test scans), balanced 1:1
training batches with augmentation, Adam lr 1e-3 with a cosine schedule, batch 32, bf16 autocast and
channels-last-3d (``--fp32`` turns both off). The best epoch (lowest validation loss) is kept. Each run
is judged on the test scans at the argmax (probability 0.5: the classes were balanced in training);
beside it the script reports the test scores at the highest threshold that reaches ``--val-recall``
(0.95) on the *validation* scans, which is what a recall-first detector would do with a larger
validation split (here 10 scans: 43 nodule candidates, 6 malignant nodules). The data are SYNTHETIC
(``zoo.luna.synthetic.synthesize``), not real CT, and the numbers say nothing about real LUNA16.
Too slow for the test suite on two shared CPU cores (minutes), hence a script; exit status 1 when a
goal is missed.

    .venv/bin/python benchmarks/luna_training.py [--out runs/luna-goals] [--scans 100] [--finetune block4 all] [--epochs 20] [--fp32] [--threads N]
    .venv/bin/python benchmarks/luna_training.py --from-results runs/luna-goals/results.json   # the table again
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def run(model: str, data: str, root: Path, out: Path, epochs: int, epoch_size: int | None, args: argparse.Namespace,
        **model_kwargs) -> dict:
    """Train one model, pick its operating threshold on the validation scans, and score the test scans."""
    import zoo
    from zoo.curves import threshold_for_recall
    from zoo.evaluation import evaluate_with_evaluator
    from zoo.train import TrainConfig, train

    data_kwargs = {"balance_ratio": 1, **({"epoch_size": epoch_size} if epoch_size else {})}
    config = TrainConfig(model, data, root=str(root), epochs=epochs, batch_size=32, patience=0, out=str(out), schedule=args.schedule,
                         amp=args.amp, channels_last=args.amp, val_from_train=args.val_from_train, model_kwargs=model_kwargs, data_kwargs=data_kwargs, progress=False)
    start = time.perf_counter()
    result = train(config)
    seconds = time.perf_counter() - start
    net = zoo.get_model(model, weights=str(result.weights))
    val = zoo.get_dataset(data, split="val", root=str(root))
    _, val_evaluator = evaluate_with_evaluator(net, val, keep_scores=True, progress=False)
    threshold = threshold_for_recall(*val_evaluator.scores(), args.val_recall)
    test = zoo.get_dataset(data, split="test", root=str(root))
    at_half = zoo.evaluate(net, test, keep_scores=True, progress=False)
    report = zoo.evaluate(net, test, threshold=threshold, progress=False)
    positive = report["positive"]
    return {"model": model, "data": data, "command": config.command(), "epochs": epochs, "best_epoch": result.best_epoch,
            "train_seconds": round(seconds), "test_samples": len(test), "test_scans": len(test.series_uids),
            "test_positives": int(test.labels.sum()), "val_positives": int(val.labels.sum()), "threshold": threshold,
            "precision": positive["precision"], "recall": positive["recall"], "f1": positive["f1"],
            "precision_at_half": at_half["positive"]["precision"], "recall_at_half": at_half["positive"]["recall"],
            "average_precision": at_half.get("average_precision"), "accuracy": report["accuracy"],
            "weights": str(result.weights), "finetune": model_kwargs.get("finetune", "-")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/luna-goals"), help="working folder (default runs/luna-goals)")
    parser.add_argument("--root", type=Path, help="a LUNA16-layout folder (default: synthesise one into OUT/data)")
    parser.add_argument("--scans", type=int, default=100, help="synthetic scans (default 100)")
    parser.add_argument("--epochs", type=int, default=20, help="nodule classifier epochs (default 20)")
    parser.add_argument("--epoch-size", type=int, default=2048, help="balanced samples per classifier epoch (default 2048)")
    parser.add_argument("--malignancy-epochs", type=int, default=30, help="default 30")
    parser.add_argument("--finetune", nargs="+", default=["block4", "all"], choices=("head", "block4", "all"),
                        help="malignancy runs: what each fine-tunes (default: block4 all)")
    parser.add_argument("--schedule", choices=("none", "cosine"), default="cosine", help="learning-rate schedule (default cosine)")
    parser.add_argument("--val-recall", type=float, default=0.95,
                        help="the operating threshold is the highest one reaching this recall on the validation scans (default 0.95)")
    parser.add_argument("--fp32", dest="amp", action="store_false",
                        help="train in float32 (default: bf16 autocast and channels-last-3d, about 3x faster on CPUs with bf16)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--val-from-train", action="store_true",
                        help="validate (best epoch) on 10%% of the training samples instead of the val scans, as the "
                             "trainer did before it used the val split (how the shipped weights were trained)")
    parser.add_argument("--from-results", type=Path, help="print the table of an earlier run's results.json, train nothing")
    args = parser.parse_args()
    if args.from_results:
        return report(json.loads(args.from_results.read_text()), args.from_results.parent / "data")
    if args.threads:
        torch.set_num_threads(args.threads)
    from zoo.luna.synthetic import synthesize

    root = args.root or args.out / "data"
    if args.root is None and not (root / "SYNTHETIC.json").exists():
        synthesize(root, args.scans, seed=0)
    results = [run("luna_classifier", "luna", root, args.out / "classifier", args.epochs, args.epoch_size, args)]
    for finetune in args.finetune:
        results.append(run("luna_malignancy", "luna_malignancy", root, args.out / f"malignancy-{finetune}", args.malignancy_epochs,
                           None, args, init_from=results[0]["weights"], finetune=finetune))
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"torch threads {torch.get_num_threads()}")
    return report(results, root)


def report(results: list[dict], root: Path) -> int:
    """Print the markdown table; 0 when the classifier and at least one malignancy run meet the goals."""
    print(f"\nSYNTHETIC data ({root})\n")
    print("| model | fine-tuned | test scans / samples (positives) | precision | recall | F1 | goals at 0.5 | average precision | "
          "threshold from val | precision / recall there | epochs (best) | train time |")
    print("|---|---|---|---:|---:|---:|---|---:|---:|---:|---|---:|")
    met = {}
    for r in results:
        precision, recall = r["precision_at_half"], r["recall_at_half"]
        met[(r["model"], r["finetune"])] = ok = recall >= 0.9 and precision >= 0.5
        print(f"| `{r['model']}` | {r['finetune']} | {r['test_scans']} / {r['test_samples']} ({r['test_positives']}) | {precision:.4f} | "
              f"{recall:.4f} | {2 * precision * recall / (precision + recall):.4f} | {'met' if ok else 'missed'} | {r['average_precision']:.4f} | "
              f"{r['threshold']:.3f} | {r['precision']:.3f} / {r['recall']:.3f} | {r['epochs']} ({r['best_epoch']}) | {r['train_seconds']} s |")
    for r in results:
        print(f"\n    {r['command']}")
    classifier = all(ok for (model, _), ok in met.items() if model == "luna_classifier")
    malignancy = any(ok for (model, _), ok in met.items() if model == "luna_malignancy")
    print(f"\ngoals (recall >= 0.9 and precision >= 0.5 on the test scans at 0.5): classifier {'met' if classifier else 'MISSED'}, "
          f"malignancy {'met by ' + ', '.join(f for (m, f), ok in met.items() if m == 'luna_malignancy' and ok) if malignancy else 'MISSED'}")
    return 0 if classifier and malignancy else 1


if __name__ == "__main__":
    sys.exit(main())
