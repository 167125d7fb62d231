"""The ``zoo`` command: list, info, datasets, plugins, train, eval, predict, export, verify, publish, pull,
bundle, unbundle, cache, data, demo.

Every error that hubzoo raises on purpose is printed as one line on stderr with exit status 2;
``--debug`` (before the sub-command) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import MISSING, fields
from typing import Any, NoReturn, Sequence

from zoo.demo import MIN_ACCURACY
from zoo.errors import ZooError
from zoo.plugins import add_plugin_commands, get_registry


def _key_value(text: str) -> tuple[str, Any]:
    """``n_feature=32`` -> ``("n_feature", 32)``; values are read as JSON when they parse, else strings."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a Python name, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _print_json(data: Any) -> None:
    from zoo.metrics import report_to_json

    print(report_to_json(data, indent=2))


# ------------------------------------------------------------------------------------------ commands


def cmd_list(args: argparse.Namespace) -> int:
    registry = get_registry()
    names = registry.list_models(args.pattern, args.task)
    if args.json:
        print(json.dumps([{"name": n, "task": registry.models[n].task, "source": registry.models[n].source,
                           "weights": list(registry.models[n].weights)} for n in names], indent=2))
        return 0
    for name in names:
        spec = registry.models[name]
        weights = ",".join(spec.weights) or "-"
        print(f"{name:<22} {spec.task:<20} weights: {weights:<14} {spec.description}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    registry = get_registry()
    names = registry.list_datasets(args.pattern, args.task)
    if args.json:
        print(json.dumps([{"name": n, "task": registry.datasets[n].task, "num_classes": registry.datasets[n].num_classes,
                           "source": registry.datasets[n].source} for n in names], indent=2))
        return 0
    for name in names:
        spec = registry.datasets[name]
        classes = spec.num_classes or "any"  # None: the classes come from the user's data
        print(f"{name:<16} {spec.task:<20} {classes:>4} classes  {spec.description}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from zoo.api import get_model
    from zoo.models.complexity import count_macs, count_params

    spec = get_registry().model(args.name)
    model = get_model(args.name, **dict(args.model_kwargs))
    print(f"{spec.name}\n{'=' * len(spec.name)}\n{spec.summary()}\nParameters: {count_params(model):,}")
    input_shape = spec.meta.get("input_shape")
    if input_shape:
        in_channels = dict(args.model_kwargs).get("in_channels")
        shape = (in_channels, *input_shape[1:]) if in_channels else tuple(input_shape)
        print(f"Multiply-adds: {count_macs(model, shape):,} per {list(shape)} input (conv and linear layers)")
    if spec.meta.get("recipe"):
        print(f"Recipe: {spec.meta['recipe']}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    plugins = list(get_registry().plugins.values())
    if args.json:
        print(json.dumps([{k: v for k, v in asdict(p).items() if k != "traceback"} for p in plugins], indent=2))
        return 0
    for p in plugins:
        status = "disabled" if p.disabled else (f"BROKEN: {p.error}" if p.error else "ok")
        print(f"{p.name:<22} {p.origin:<12} {p.version or '':<8} {status}")
        if p.models or p.datasets:
            print(f"{'':<22} models: {', '.join(p.models) or '-'}; datasets: {', '.join(p.datasets) or '-'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from zoo.runs import TrainConfig
    from zoo.train import train

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    config = TrainConfig(**{**values, "model_kwargs": dict(args.model_kwargs), "data_kwargs": dict(args.data_kwargs)})
    result = train(config)
    import os

    if os.environ.get("RANK", "0") != "0":  # under torchrun every rank returns here; rank 0 reports
        return 0
    from zoo.metrics import format_report

    print(format_report(result.test_report))
    print(f"weights: {result.weights}\ncurves:  {result.run_dir / 'curves.png'}\nlog:     {result.run_dir / 'metrics.jsonl'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from zoo.api import evaluate, get_dataset, get_model
    from zoo.evaluation import resolve_device

    args.device = str(resolve_device(args.device))
    if args.batch_size < 1:
        raise ZooError(f"--batch-size {args.batch_size} is not valid: expected at least 1")
    spec = get_registry().model(args.name)
    data_spec = get_registry().dataset(args.data)
    model = get_model(args.name, weights=args.weights, **dict(args.model_kwargs))
    dataset = get_dataset(args.data, split=args.split, root=args.root, download=args.download, **_data_kwargs(args))
    if args.weights is None:
        print(f"zoo: warning: evaluating {args.name} with random weights (no --weights given); "
              f"see `zoo info {args.name}` for its trained weights", file=sys.stderr)
    # The user's own data (imagefolder, text_csv) registers no classes: the dataset names them.
    class_names = list(data_spec.class_names or getattr(dataset, "class_names", None) or []) or None
    num_classes = data_spec.num_classes or len(class_names or ())
    binary = num_classes == 2
    report, evaluator = evaluate(
        model, dataset, task=spec.task, num_classes=num_classes or None, batch_size=args.batch_size,
        device=args.device, threshold=args.threshold, progress=not args.json, keep_scores=binary,
        class_names=class_names, return_evaluator=True,
    )
    if binary and args.target_recall is not None:
        from zoo.curves import threshold_for_recall

        report["threshold_for_recall"] = {"recall": args.target_recall, "threshold": threshold_for_recall(*evaluator.scores(), args.target_recall)}
    plots = _eval_plots(args, report, evaluator) if args.plot else []
    if args.json:
        _print_json(report)
        return 0
    from zoo.metrics import format_report

    print(f"{args.name} on {args.data} ({args.split} split, weights={args.weights})")
    print(format_report(report))
    if "threshold_for_recall" in report:
        chosen = report["threshold_for_recall"]
        print(f"threshold reaching recall {chosen['recall']}: {chosen['threshold']:.4f} (pass it as --threshold)")
    for path in plots:
        print(f"plot: {path}")
    return 0


def _data_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``-d`` options, plus the model's preprocessing (of ``--weights``) for datasets of raw images (``imagefolder``)."""
    from zoo.api import dataset_preprocessing

    kwargs = dict(args.data_kwargs)
    if "preprocessing" not in kwargs:
        prep = dataset_preprocessing(args.data, args.name, args.weights if args.weights is not None else False)
        kwargs.update({"preprocessing": prep} if prep is not None else {})
    return kwargs


def _eval_plots(args: argparse.Namespace, report: dict, evaluator: Any) -> list[str]:
    """The confusion matrix, for two-class scored models the precision-recall curve, and for segmentation
    models overlays of a few samples (the middle input channel, the target and the prediction at
    ``--threshold``), spread evenly over the split."""
    from pathlib import Path

    from zoo.plots import plot_confusion_matrix, plot_precision_recall

    stem = Path(args.plot) / f"{args.name}-{args.data}-{args.split}"
    paths = [plot_confusion_matrix(report, f"{stem}-confusion.png")]
    if evaluator.keep_scores and len(evaluator.scores()[0]):
        paths.append(plot_precision_recall(*evaluator.scores(), f"{stem}-precision-recall.png", target_recall=args.target_recall))
    if report["task"] == "segmentation":
        import torch

        from zoo.api import get_dataset, get_model
        from zoo.evaluation import forward, iterate_batches
        from zoo.plots import plot_segmentation_overlays

        # cmd_eval keeps neither the model nor the data set: build them again for the few samples shown.
        model = get_model(args.name, weights=args.weights, **dict(args.model_kwargs)).eval().to(args.device)
        dataset = get_dataset(args.data, split=args.split, root=args.root, download=args.download, **_data_kwargs(args))
        picks = torch.linspace(0, len(dataset) - 1, min(4, len(dataset))).round().long()
        inputs, targets = next(iterate_batches(dataset, picks, batch_size=len(picks), device=args.device))
        with torch.inference_mode():
            logits = forward(model, inputs, args.device).float()
        preds = logits.argmax(1) if logits.shape[1] > 1 else (torch.sigmoid(logits[:, 0]) >= args.threshold).long()
        images = inputs[:, inputs.shape[1] // 2] if inputs.dim() == targets.dim() + 1 else inputs
        note = getattr(dataset, "target_note", None)
        title = f"{args.name} on {args.data} ({args.split}, samples {picks.tolist()})" + (f"\ntarget: {note}" if note else "")
        paths.append(plot_segmentation_overlays(images, targets, preds, f"{stem}-overlays.png", max_items=len(picks), title=title))
    return paths


def cmd_predict(args: argparse.Namespace) -> int:
    """``zoo predict``: a table (or ``--json``) of labels; each unreadable input is one line on stderr, exit 2."""
    from zoo.evaluation import resolve_device
    from zoo.predict import Predictor, format_records, read_lines

    args.device = str(resolve_device(args.device))
    predictor = Predictor.from_name(args.name, args.weights, device=args.device, batch_size=args.batch_size,
                                    **dict(args.model_kwargs))
    inputs = list(args.inputs) + (read_lines(args.file, "text" if predictor.kind == "text" else "input") if args.file else [])
    if not inputs:
        raise ZooError("nothing to predict: give inputs (image files or folders, texts, .mhd scans) or --file F")
    records = predictor.predict_records(inputs, top_k=args.top_k, progress=True)
    for note in dict.fromkeys(f"{r['input']}: {r['note']}" for r in records if r.get("note")):
        print(f"zoo: warning: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        print(format_records(records))
    errors = [r["error"] for r in records if r.get("error")]
    for error in errors:
        print(f"zoo: error: {error}", file=sys.stderr)
    return 2 if errors else 0


def cmd_pin(args: argparse.Namespace) -> int:
    from zoo.pin import pin_run

    spec = pin_run(args.run_dir, tag=args.tag, manifest=args.manifest, default=args.default)
    print(f"pinned {spec.name}: {spec.path} sha256={spec.sha256}\nmanifest: {args.manifest}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from zoo.export import export_model

    if (Path(args.name) / "report.json").is_file():
        raise ZooError(f"{args.name} is a run folder: `zoo export` writes ONNX or pt2 files; to pin a run's weights in a "
                       f"manifest use `zoo pin {args.name} --tag TAG`")
    result = export_model(args.name, weights=args.weights, format=args.format, out=args.out, opset=args.opset,
                          atol=args.atol, model_kwargs=dict(args.model_kwargs))
    if args.weights is None:
        print(f"zoo: warning: exported {args.name} with its random initialisation (no --weights given)", file=sys.stderr)
    shapes = ", ".join(f"{k} {v}" for k, v in result.checked_on.items())
    print(f"wrote {result.path} ({result.format}; dynamic: {'; '.join(result.dynamic)})\n"
          f"checked against PyTorch on {shapes}: largest absolute difference {result.max_abs_diff:.3g} (tolerance {args.atol:g})")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if args.metrics:
        return _verify_metrics(args)
    from zoo.weights import check_assets, load_state_dict

    registry = get_registry()
    names = args.names or registry.list_models()
    failures = 0
    for name in names:
        for spec in registry.model(name).weights.values():
            try:
                load_state_dict(spec)
                check_assets(spec)
                extra = f" + {len(spec.assets)} side file(s)" if spec.assets else ""
                print(f"ok      {spec.name}  sha256={spec.sha256[:16]}…{extra}")
            except ZooError as exc:
                failures += 1
                print(f"FAILED  {spec.name}: {exc}")
    return 1 if failures else 0


def _verify_metrics(args: argparse.Namespace) -> int:
    """``zoo verify --metrics``: re-evaluate weights entries; exit 2 when one fails or is in error."""
    from zoo.evaluation import resolve_device
    from zoo.reverify import format_table, verify_metrics

    results = verify_metrics(args.names or None, atol=args.atol, device=str(resolve_device(args.device)),
                             batch_size=args.batch_size)
    bad = [r for r in results if r.status in ("failed", "error")]
    if args.json:
        _print_json([r.to_json() for r in results])
    else:
        print(format_table(results))
    for r in bad:
        print(f"zoo: error: {r.entry}: {r.reason}", file=sys.stderr)
    return 2 if bad else 0


def cmd_publish(args: argparse.Namespace) -> int:
    from zoo.hub import publish

    where = publish(args.name, args.weights, repo_id=args.repo_id, revision=args.revision, private=args.private,
                    dry_run=args.dry_run, with_onnx=args.with_onnx, verify=not args.no_verify,
                    data_root=args.root)
    print(f"staged {args.name} in {where} (nothing uploaded)" if args.dry_run else f"published {args.name}: {where}")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from zoo.api import get_model
    from zoo.weights import fetch_hf, parse_hf_uri

    path = fetch_hf(parse_hf_uri(args.weights))
    get_model(args.name, weights=str(path))  # proves the file fits the architecture
    print(f"ok {args.weights}\n   {path}")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from zoo.hub import bundle

    print(f"wrote {bundle(args.models, args.out)}")
    return 0


def cmd_unbundle(args: argparse.Namespace) -> int:
    from zoo.hub import unbundle
    from zoo.weights import user_manifest_path

    names = unbundle(args.bundle)
    print(f"imported {', '.join(names)} into {user_manifest_path().parent}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from zoo.demo import run_demo

    return run_demo(out=args.out, epochs=args.epochs, min_accuracy=args.min_accuracy)


# ------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The ``zoo`` parser: the built-in commands, then those the plugins add (``register_commands``)."""
    parser = _Parser(
        prog="zoo",
        description="hubzoo: a plugin-based PyTorch model zoo. Models and datasets come from plugins; "
        "weights are safetensors with pinned sha256 hashes.",
        epilog="Examples:\n  zoo list\n  zoo train mnist_cnn --data digits --epochs 30 -k n_feature=32\n"
        "  zoo eval mnist_cnn --data digits --weights digits --split test\n  zoo demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_listing_commands(sub)
    _add_train_command(sub)
    _add_eval_command(sub)
    _add_predict_command(sub)
    _add_weights_commands(sub)
    add_plugin_commands(get_registry(), sub)  # LUNA16's `zoo luna ...`, `zoo cache luna`, `zoo data synth-luna`
    p = sub.add_parser("demo", help="offline end-to-end demo", description="Train mnist_cnn on the bundled digits, "
                       "evaluate it, save and reload the weights through torch.hub, and predict a few digits.")
    p.add_argument("--out", default="runs/demo", help="default runs/demo")
    p.add_argument("--epochs", type=int, default=30, help="default 30")
    p.add_argument("--min-accuracy", type=float, default=MIN_ACCURACY,
                   help=f"exit 1 when the held-out accuracy is below this (default {MIN_ACCURACY})")
    p.set_defaults(run=cmd_demo)
    return parser


def _add_model_kwargs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--model-arg", dest="model_kwargs", type=_key_value, action="append", default=[],
                   metavar="KEY=VALUE", help="builder argument for the model, e.g. -k n_feature=32 (repeatable)")


def _add_listing_commands(sub: Any) -> None:
    for name, what, run in (("list", "models", cmd_list), ("datasets", "datasets", cmd_datasets)):
        p = sub.add_parser(name, help=f"list {what}", description=f"List registered {what} (built-in and from plugins).")
        p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'mnist*'")
        p.add_argument("--task", help=f"only {what} for this task")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(run=run)

    p = sub.add_parser("info", help="describe a model", description="Describe a model: shapes, weights, parameters, recipe.")
    p.add_argument("name")
    _add_model_kwargs(p)
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("plugins", help="list plugins and their errors", description="List loaded plugins, what each registered, and load errors.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_plugins)


def _add_train_command(sub: Any) -> None:
    """``zoo train``: one option per :class:`zoo.runs.TrainConfig` field, its help and default taken from there."""
    from zoo.runs import TrainConfig

    p = sub.add_parser("train", help="train a model", description="Train a model; writes checkpoints, a metrics log, "
                       "a curves plot, the best weights (safetensors) and a test report into --out.")
    for f in fields(TrainConfig):
        help_text, flag = f.metadata["help"], f.metadata.get("flag")
        if f.name == "model":
            p.add_argument("model", metavar="name", help=help_text)
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        names = flag.split("/") if flag else [f"--{f.name.replace('_', '-')}"]
        options: dict[str, Any] = {"dest": f.name, "help": help_text}
        if isinstance(default, dict):  # -k/-d KEY=VALUE, repeatable, collected into the dict
            options.update(type=_key_value, action="append", default=[], metavar=f.metadata["metavar"])
        elif isinstance(default, bool):  # a switch: --amp turns on a False default, --quiet off a True one
            options.update(action="store_false" if default else "store_true")
        elif default is MISSING:  # --data
            options.update(required=True, metavar=f.metadata.get("metavar"))
        else:
            if default is not None:
                options["help"] += f" (default {default})"
            options.update(type=type(default) if default is not None else str, default=default, metavar=f.metadata.get("metavar"))
            if "choices" in f.metadata:
                options["choices"] = f.metadata["choices"]
        p.add_argument(*names, **options)
    p.set_defaults(run=cmd_train)


def _add_eval_command(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a model", description="Evaluate a model on a dataset split with the shared "
                       "evaluator (accuracy, precision, recall, F1, IoU, Dice).")
    p.add_argument("name", help="registered model name")
    p.add_argument("--data", required=True, metavar="DATASET", help="registered dataset name (see `zoo datasets`)")
    p.add_argument("--root", help="data folder (default $ZOO_DATA or ~/.cache/zoo/data)")
    p.add_argument("--download", action="store_true", help="download the dataset if it is missing (needs network)")
    p.add_argument("-d", "--data-arg", dest="data_kwargs", type=_key_value, action="append", default=[],
                   metavar="KEY=VALUE", help="dataset argument, e.g. -d permute_pixels=0 (repeatable)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else the CPU), cpu or cuda[:N] (default auto)")
    _add_model_kwargs(p)
    p.add_argument("--weights", help="weights tag, .safetensors path or hf:// URI (default: none, random init)")
    p.add_argument("--split", default="test", help="default test")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threshold", type=float, default=0.5, help="decision threshold (a probability) for two-class models")
    p.add_argument("--target-recall", type=float, help="two-class models: also report the highest threshold that reaches this "
                   "recall (favour recall when missing a positive costs more than a false alarm)")
    p.add_argument("--json", action="store_true", help="print only the JSON report")
    p.add_argument("--plot", metavar="DIR", help="write PNG plots into DIR: the confusion matrix (normalised per row), "
                   "the precision-recall curve for two-class models, and overlays (input, target, prediction) of a "
                   "few samples for segmentation models")
    p.set_defaults(run=cmd_eval)


def _add_predict_command(sub: Any) -> None:
    p = sub.add_parser("predict", help="label your own images, texts or scans", description="Predict with a classifier: "
                       "image files and folders (PNG, JPEG, BMP) for vision models, texts for text models, .mhd scans for "
                       "the LUNA16 models. Labels come from the weights' class names; inputs are converted with the "
                       "weights' preprocessing. An input that cannot be read is named on stderr, the others are still "
                       "predicted, and the exit status is 2.")
    p.add_argument("name", help="registered model name (or arch.tag)")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders, texts, or .mhd scans")
    p.add_argument("--weights", help="weights tag, .safetensors path or hf:// URI (default: the model's default weights)")
    p.add_argument("--file", metavar="F", help="read more inputs from F, one per line (UTF-8 text)")
    p.add_argument("--top-k", type=int, metavar="K", help="also list the K most probable labels")
    p.add_argument("--batch-size", type=int, help="inputs per forward pass (default 256 images, 32 texts, 16 CT crops)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else the CPU), cpu or cuda[:N] (default auto)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per input: input, label, probability "
                   "(of that label), top_k when asked")
    _add_model_kwargs(p)
    p.set_defaults(run=cmd_predict)
    p.__class__ = _InputsAfterOptionsParser  # `zoo predict NAME --weights W A.png B.png`


def _add_weights_commands(sub: Any) -> None:
    """Pinning, exporting, checking, publishing and moving weights: pin, export, verify, publish, pull, bundle, unbundle."""
    p = sub.add_parser("pin", help="pin a run's weights in a manifest", description="Copy a finished run's weights "
                       "next to a weights manifest and pin them there (sha256, metrics, preprocessing, training command).")
    p.add_argument("run_dir")
    p.add_argument("--tag", required=True, help="weights tag, named for the data they were trained on (e.g. digits)")
    p.add_argument("--manifest", default="weights/manifest.json", help="default weights/manifest.json")
    p.add_argument("--default", action="store_true", help="make these the model's default (pretrained=True) weights")
    p.set_defaults(run=cmd_pin)

    p = sub.add_parser("export", help="export a model to ONNX or torch.export (pt2), parity checked",
                       description="Export a model for deployment: ONNX (dynamo exporter, run with ONNX Runtime) or pt2 "
                       "(torch.export, for AOTInductor). The batch dimension is dynamic. The file is loaded back and run on "
                       "another batch size; if it differs from PyTorch by more than --atol it is removed and the command "
                       "fails. ONNX files carry the class names and the preprocessing in their metadata_props.")
    p.add_argument("name", help="registered model name")
    p.add_argument("--weights", help="weights tag, .safetensors path or hf:// URI (default: random initialisation, said)")
    p.add_argument("--format", choices=("onnx", "pt2"), default="onnx", help="default onnx")
    p.add_argument("--out", help="the file to write (default NAME[.TAG].onnx or .pt2 here)")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    p.add_argument("--atol", type=float, default=1e-4, help="largest absolute difference allowed (default 1e-4, float32)")
    _add_model_kwargs(p)
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("verify", help="check the sha256 (and, with --metrics, the numbers) of registered weights",
                       description="Load every registered weights file and check its pinned sha256; exit 1 if any "
                       "fails. With --metrics, also re-evaluate each entry on the dataset and split it records with the "
                       "shared evaluator and compare with its recorded metrics (exactly on the CPU, --atol elsewhere): "
                       "prints entry, metric, recorded, measured, difference, ok; entries whose data is not here are "
                       "skipped with the reason; exit 2 if any differs or is in error (no dataset or split, a changed "
                       "dataset size, a failing hash). Example: zoo verify --metrics mnist_cnn.digits lstm_sentiment")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="only these models (with --metrics also arch.tag entries; default: all)")
    p.add_argument("--metrics", action="store_true", help="re-evaluate and compare the recorded metrics")
    p.add_argument("--atol", type=float, default=1e-3, help="with --metrics off the CPU: largest difference allowed "
                   "(default 1e-3); on the CPU the count-derived metrics must match exactly")
    p.add_argument("--device", default="cpu", help="with --metrics: cpu (default, deterministic), auto or cuda[:N]")
    p.add_argument("--batch-size", type=int, default=256, help="with --metrics (default 256)")
    p.add_argument("--json", action="store_true", help="with --metrics: print the results as JSON")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("publish", help="publish weights to the Hugging Face Hub", description="Stage model.safetensors, "
                       "config.json, side files and a model card with the evaluator's metrics, then upload them in one "
                       "commit. The token comes from HF_TOKEN or `huggingface-cli login` and is never printed.")
    p.add_argument("name", help="registered model name")
    p.add_argument("--weights", required=True, help="a weights tag of the model, or a run's model.safetensors (report.json beside it)")
    p.add_argument("--repo-id", required=True, help="ORG/NAME on the Hub")
    p.add_argument("--revision", help="branch to commit to (created if missing; default main)")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--dry-run", metavar="DIR", help="write the folder into DIR and upload nothing")
    p.add_argument("--with-onnx", action="store_true", help="add model.onnx (zoo export, parity checked) and name it in the card")
    p.add_argument("--no-verify", action="store_true", help="skip re-evaluating the recorded metrics first (`zoo verify "
                   "--metrics`); the card then says they were not re-checked")
    p.add_argument("--root", help="data folder of the weights' dataset, for that re-check (default $ZOO_DATA or ~/.cache/zoo/data)")
    p.set_defaults(run=cmd_publish)

    p = sub.add_parser("pull", help="fetch hf:// weights into the cache and verify them", description="Download "
                       "hf://ORG/REPO/FILE.safetensors@REVISION[#sha256=HEX] into the Hugging Face cache (no request "
                       "when a commit-hash revision is cached), check its sha256 and that it fits the model.")
    p.add_argument("name", help="registered model name")
    p.add_argument("--weights", required=True, metavar="URI")
    p.set_defaults(run=cmd_pull)

    p = sub.add_parser("bundle", help="pack registered weights for an air-gapped machine", description="Write a tar "
                       "with the chosen models' weights and manifest entries; `zoo unbundle` imports it elsewhere.")
    p.add_argument("out", help="the .tar to write")
    p.add_argument("models", nargs="+", help="model names (all their weights) or arch.tag names (one weights entry)")
    p.set_defaults(run=cmd_bundle)

    p = sub.add_parser("unbundle", help="import a bundle into the local weights cache", description="Import a `zoo "
                       "bundle` tar into $ZOO_HOME/weights; every file is checked against its pinned sha256 first.")
    p.add_argument("bundle")
    p.set_defaults(run=cmd_unbundle)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``zoo`` command; the error boundary: every failure ends as one line on stderr.

    Wrong input (a :class:`ZooError`, a bad option, a file-system error such as a full disk or a path that
    is a file) exits with status 2; a bug in hubzoo or a plugin prints one summary line, the hint to rerun
    with ``--debug`` for the traceback, and exits with status 1.
    """
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except ZooError as exc:
        if debug:
            raise
        return _fail(str(exc))
    except OSError as exc:  # the file system said no: missing, a file where a folder should be, full disk
        if debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        return _fail(f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"zoo: error: internal error ({type(exc).__name__}: {exc}); rerun with `zoo --debug ...` for the "
              "traceback and report it", file=sys.stderr)
        return 1


def _fail(message: str) -> int:
    print(f"zoo: error: {message}", file=sys.stderr)
    return 2


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``zoo: error: ...``, exit 2) like every other."""

    def error(self, message: str) -> NoReturn:
        raise ZooError(f"{message} (see `{self.prog} --help`)")


class _InputsAfterOptionsParser(_Parser):
    """A sub-command parser whose positionals may also follow its options (``zoo predict NAME --weights W A.png``):
    plain argparse gives a ``nargs="*"`` positional only the words before the first option."""

    _intermixing = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._intermixing:  # parse_known_intermixed_args calls back here, twice
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


if __name__ == "__main__":
    sys.exit(main())
