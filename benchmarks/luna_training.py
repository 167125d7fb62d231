"""The LUNA16 training goals on synthetic data, through hubzoo's trainer and shared evaluator:
``luna_classifier`` (nodule vs non-nodule candidates) and then ``luna_malignancy`` (benign vs malignant,
initialised from the nodule classifier's weights, fine-tuning the last block and the head, and,
for comparison, the whole network) each reach recall >= 0.9 and precision >= 0.5 for the positive
class on the held-out test scans.

All runs use the same scan-level split (seed 0: 70% train, 10% val, 20% test scans), balanced 1:1
training batches with augmentation, Adam lr 1e-3 with a cosine schedule, batch 32, bf16 autocast and
channels-last-3d (``--fp32`` turns both off). The best epoch (lowest validation loss) is kept; its
operating threshold is the highest one that reaches ``--val-recall`` (0.95) on the *validation* scans,
and the goals are judged on the test scans at that threshold (the argmax, threshold 0.5, is reported
beside it). The data are SYNTHETIC
(``zoo.datasets.luna.synthesize``), not real CT, and the numbers say nothing about real LUNA16.
Too slow for the test suite on two shared CPU cores (minutes), hence a script; exit status 1 when a
goal is missed.

    .venv/bin/python benchmarks/luna_training.py [--out runs/luna-goals] [--scans 100] [--finetune block4 all] [--epochs 16] [--fp32] [--threads N]
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
    from zoo.metrics import threshold_for_recall
    from zoo.train import TrainConfig, train

    data_kwargs = {"balance_ratio": 1, **({"epoch_size": epoch_size} if epoch_size else {})}
    config = TrainConfig(model, data, root=str(root), epochs=epochs, batch_size=32, patience=0, out=str(out), schedule=args.schedule,
                         amp=args.amp, channels_last=args.amp, model_kwargs=model_kwargs, data_kwargs=data_kwargs, progress=False)
    start = time.perf_counter()
    result = train(config)
    seconds = time.perf_counter() - start
    net = zoo.get_model(model, weights=str(result.weights))
    val = zoo.get_dataset(data, split="val", root=str(root))
    _, val_evaluator = zoo.evaluate(net, val, keep_scores=True, progress=False, return_evaluator=True)
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
    parser.add_argument("--epochs", type=int, default=16, help="nodule classifier epochs (default 16)")
    parser.add_argument("--epoch-size", type=int, default=1024, help="balanced samples per classifier epoch (default 1024)")
    parser.add_argument("--malignancy-epochs", type=int, default=30, help="default 30")
    parser.add_argument("--finetune", nargs="+", default=["block4", "all"], choices=("head", "block4", "all"),
                        help="malignancy runs: what each fine-tunes (default: block4 all)")
    parser.add_argument("--schedule", choices=("none", "cosine"), default="cosine", help="learning-rate schedule (default cosine)")
    parser.add_argument("--val-recall", type=float, default=0.95,
                        help="the operating threshold is the highest one reaching this recall on the validation scans (default 0.95)")
    parser.add_argument("--fp32", dest="amp", action="store_false",
                        help="train in float32 (default: bf16 autocast and channels-last-3d, about 3x faster on CPUs with bf16)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from zoo.datasets.luna import synthesize

    root = args.root or args.out / "data"
    if args.root is None and not (root / "SYNTHETIC.json").exists():
        synthesize(root, args.scans, seed=0)
    results = [run("luna_classifier", "luna", root, args.out / "classifier", args.epochs, args.epoch_size, args)]
    for finetune in args.finetune:
        results.append(run("luna_malignancy", "luna_malignancy", root, args.out / f"malignancy-{finetune}", args.malignancy_epochs,
                           None, args, init_from=results[0]["weights"], finetune=finetune))
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"\nSYNTHETIC data ({root}), torch threads {torch.get_num_threads()}\n")
    print("| model | fine-tuned | test scans / samples (positives) | threshold (from val) | precision | recall | F1 | "
          "precision / recall at 0.5 | average precision | epochs (best) | train time |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|")
    ok = True
    for r in results:
        ok &= r["recall"] >= 0.9 and r["precision"] >= 0.5
        print(f"| `{r['model']}` | {r['finetune']} | {r['test_scans']} / {r['test_samples']} ({r['test_positives']}) | {r['threshold']:.3f} | "
              f"{r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['precision_at_half']:.3f} / {r['recall_at_half']:.3f} | "
              f"{r['average_precision']:.4f} | {r['epochs']} ({r['best_epoch']}) | {r['train_seconds']} s |")
    for r in results:
        print(f"\n    {r['command']}")
    print(f"\ngoals (recall >= 0.9 and precision >= 0.5 on the test scans): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
