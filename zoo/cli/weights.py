"""Pinning, exporting, checking, publishing and moving weights: ``zoo pin``, ``export``, ``verify``,
``publish``, ``pull``, ``bundle`` and ``unbundle``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from zoo.cli.options import (EXIT_CHECK_FAILED, EXIT_OK, add_batch_size, add_device, add_json, add_model_kwargs,
                             add_weights, error, print_json, warn)
from zoo.errors import ZooError


def add_commands(sub: Any) -> None:
    """``pin``, ``export``, ``verify``, ``publish``, ``pull``, ``bundle`` and ``unbundle``."""
    p = sub.add_parser("pin", help="pin a run's weights in a manifest", description="Copy a finished run's weights "
                       "next to a weights manifest and pin them there (sha256, metrics, preprocessing, training command).")
    p.add_argument("run_dir")
    p.add_argument("--tag", required=True, help="weights tag, named for the data they were trained on (e.g. digits)")
    p.add_argument("--manifest", default="weights/manifest.json", help="default weights/manifest.json")
    p.add_argument("--default", action="store_true", help="make these the model's default (pretrained=True) weights")
    p.add_argument("--difference", metavar="ARGUMENT", help="store only the tensors that differ from the pretrained "
                   "checkpoint the run was built from with -k ARGUMENT=FOLDER (an installed package's folder, pinned by "
                   "the sha256 of its files), e.g. --difference checkpoint for a fine-tuned transformer")
    p.set_defaults(run=cmd_pin)

    p = sub.add_parser("export", help="export a model to ONNX or torch.export (pt2), parity checked",
                       description="Export a model for deployment: ONNX (dynamo exporter, run with ONNX Runtime) or pt2 "
                       "(torch.export, for AOTInductor). The batch dimension is dynamic. The file is loaded back and run on "
                       "another batch size; if it differs from PyTorch by more than --atol it is removed and the command "
                       "fails. ONNX files carry the class names and the preprocessing in their metadata_props. "
                       "Export runs on the CPU, so that the files run anywhere.")
    p.add_argument("name", help="registered model name")
    add_weights(p, default="random initialisation, said")
    p.add_argument("--format", choices=("onnx", "pt2"), default="onnx", help="default onnx")
    p.add_argument("--out", help="the file to write (default NAME[.TAG].onnx or .pt2 here)")
    p.add_argument("--opset", type=int, help="ONNX opset: 18 and above (to the newest onnx knows); 7 to 17 only where "
                   "onnx's converter can convert the model, else refused (default: the exporter's)")
    p.add_argument("--atol", type=float, default=1e-4, help="largest absolute difference allowed (default 1e-4, float32)")
    add_model_kwargs(p)
    p.set_defaults(run=cmd_export)

    _add_verify_command(sub)
    _add_hub_commands(sub)


def _add_verify_command(sub: Any) -> None:
    p = sub.add_parser("verify", help="check the sha256 (and, with --metrics, the numbers) of registered weights",
                       description="Load every registered weights file and check its pinned sha256; exit 3 if any "
                       "fails. With --metrics, also re-evaluate each entry on the dataset and split it records with the "
                       "shared evaluator and compare with its recorded metrics (exactly on the CPU, --atol elsewhere): "
                       "prints entry, metric, recorded, measured, difference, ok; entries whose data is not downloaded or "
                       "installed here are skipped with the reason and how to get it; exit 3 if any differs or is in error "
                       "(a dataset, split or metric the record names that does not exist, data that is damaged, a changed "
                       "dataset size, a failing hash). Example: zoo verify --metrics mnist_cnn.digits lstm_sentiment")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="only these models (with --metrics also arch.tag entries; default: all)")
    p.add_argument("--metrics", action="store_true", help="re-evaluate and compare the recorded metrics")
    p.add_argument("--atol", type=float, default=1e-3, help="with --metrics off the CPU: largest difference allowed "
                   "(default 1e-3); on the CPU the count-derived metrics must match exactly")
    add_device(p, default="cpu", help="with --metrics: where to re-evaluate; the CPU (the default, unlike other "
               "commands) re-verifies exactly and deterministically, auto or cuda[:N] within --atol")
    add_batch_size(p, default=256, help="with --metrics: inputs per forward pass")
    add_json(p, help="with --metrics: print the results as JSON")
    p.set_defaults(run=cmd_verify)


def _add_hub_commands(sub: Any) -> None:
    """``publish``, ``pull``, ``bundle`` and ``unbundle``: weights to and from the Hub and other machines."""
    p = sub.add_parser("publish", help="publish weights to the Hugging Face Hub", description="Stage model.safetensors, "
                       "config.json, side files and a model card with the evaluator's metrics, then upload them in one "
                       "commit. The token comes from HF_TOKEN or `huggingface-cli login` and is never printed.")
    p.add_argument("name", help="registered model name")
    add_weights(p, required=True, help="a weights tag of the model, or a run's model.safetensors (report.json beside it)")
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
    add_weights(p, required=True, metavar="URI", help="hf://ORG/REPO/FILE.safetensors@REVISION[#sha256=HEX]")
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


# ------------------------------------------------------------------------------------------- handlers


def cmd_pin(args: argparse.Namespace) -> int:
    from zoo.pin import pin_run

    spec = pin_run(args.run_dir, tag=args.tag, manifest=args.manifest, default=args.default, difference=args.difference)
    print(f"pinned {spec.name}: {spec.path} sha256={spec.sha256}\nmanifest: {args.manifest}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from zoo.export import export_model
    from zoo.weights import REPORT_NAME

    if (Path(args.name) / REPORT_NAME).is_file():
        raise ZooError(f"{args.name} is a run folder: `zoo export` writes ONNX or pt2 files; to pin a run's weights in a "
                       f"manifest use `zoo pin {args.name} --tag TAG`")
    result = export_model(args.name, weights=args.weights, format=args.format, out=args.out, opset=args.opset,
                          atol=args.atol, model_kwargs=dict(args.model_kwargs))
    if args.weights is None:
        warn(f"exported {args.name} with its random initialisation (no --weights given)")
    shapes = ", ".join(f"{k} {v}" for k, v in result.checked_on.items())
    print(f"wrote {result.path} ({result.format}; dynamic: {'; '.join(result.dynamic)})\n"
          f"checked against PyTorch on {shapes}: largest absolute difference {result.max_abs_diff:.3g} (tolerance {args.atol:g})")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Each weights file's sha256 (and side files), or with ``--metrics`` their recorded metrics; exit 3 on a failure."""
    if args.metrics:
        return _verify_metrics(args)
    from zoo.reverify import verify_hashes

    failures = 0
    for check in verify_hashes(args.names or None):
        if check.skipped is not None:
            print(f"skipped {check.entry}: {check.skipped}")
        elif check.error is None:
            extra = f" + {check.assets} side file(s)" if check.assets else ""
            print(f"ok      {check.entry}  sha256={check.sha256[:16]}…{extra}")
        else:
            failures += 1
            print(f"FAILED  {check.entry}: {check.error}")
    return EXIT_CHECK_FAILED if failures else EXIT_OK


def _verify_metrics(args: argparse.Namespace) -> int:
    """``zoo verify --metrics``: re-evaluate weights entries; exit 3 when one fails or is in error."""
    from zoo.evaluation import resolve_device
    from zoo.reverify import format_table, verify_metrics

    results = verify_metrics(args.names or None, atol=args.atol, device=str(resolve_device(args.device)),
                             batch_size=args.batch_size)
    if args.json:
        print_json([r.to_json() for r in results])
    else:
        print(format_table(results))
    bad = [r for r in results if r.status in ("failed", "error")]
    for r in bad:
        error(f"{r.entry}: {r.reason}")
    return EXIT_CHECK_FAILED if bad else EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    from zoo.hub import publish

    where = publish(args.name, args.weights, repo_id=args.repo_id, revision=args.revision, private=args.private,
                    dry_run=args.dry_run, with_onnx=args.with_onnx, verify=not args.no_verify,
                    data_root=args.root)
    print(f"staged {args.name} in {where} (nothing uploaded)" if args.dry_run else f"published {args.name}: {where}")
    return EXIT_OK


def cmd_pull(args: argparse.Namespace) -> int:
    from zoo.api import get_model
    from zoo.weights import fetch_hf, parse_hf_uri

    path = fetch_hf(parse_hf_uri(args.weights))
    get_model(args.name, weights=str(path))  # proves the file fits the architecture
    print(f"ok {args.weights}\n   {path}")
    return EXIT_OK


def cmd_bundle(args: argparse.Namespace) -> int:
    from zoo.hub import bundle

    print(f"wrote {bundle(args.models, args.out)}")
    return EXIT_OK


def cmd_unbundle(args: argparse.Namespace) -> int:
    from zoo.hub import unbundle
    from zoo.weights import user_manifest_path

    names = unbundle(args.bundle)
    print(f"imported {', '.join(names)} into {user_manifest_path().parent}")
    return EXIT_OK
