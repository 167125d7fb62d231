"""Pinning a finished run's weights in a weights manifest (``zoo pin RUN --tag TAG``).

The run folder (``zoo.runs``) has the weights, their sha256 and the evaluator's test report; pinning
copies the weights beside the manifest as ``ARCH.TAG.safetensors`` and writes the entry that makes
them ``weights="TAG"`` for everyone who uses the manifest.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from zoo import runs
from zoo.api import get_dataset, get_model
from zoo.errors import ZooError
from zoo.files import current_umask, sha256_file
from zoo.plugins import get_registry
from zoo.weights import WeightsSpec, write_manifest_entry


def pin_run(run_dir: str | Path, *, tag: str, manifest: str | Path, default: bool = False) -> WeightsSpec:
    """Pin a finished run's weights in the manifest ``manifest`` as ``ARCH.TAG`` and return the entry.

    Copies ``model.safetensors`` beside the manifest as ``ARCH.TAG.safetensors`` and writes the entry:
    sha256, parameter count, data set, the evaluator's test metrics and the training command. A model
    with side files (``save_assets``: the LSTM's ``tokenizer.json``) gets them in ``ARCH.TAG.assets/``,
    each pinned by its sha256 in the entry.
    """
    if not isinstance(tag, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", tag):
        raise ZooError(f"--tag {tag!r} is not a plain tag: use letters, digits, '_' and '-' (it names a file)")
    run_dir, manifest = Path(run_dir), Path(manifest)
    if manifest.is_dir():
        raise ZooError(f"--manifest {manifest} is a folder; give the path of a manifest .json file")
    report = runs.read_report(run_dir)
    weights_file = runs.checked_weights(run_dir, report)
    model = get_model(report["model"], weights=str(weights_file))  # also reads and checks the run's side files
    init_only = get_registry().model(report["model"]).meta.get("init_only_kwargs", ())  # e.g. init_from: not needed to load
    manifest.parent.mkdir(parents=True, exist_ok=True)
    name = f"{report['model']}.{tag}"
    assets = _pin_assets(model, manifest.parent, name) if hasattr(model, "save_assets") else {}
    spec = WeightsSpec(
        arch=report["model"], tag=tag, file=f"{name}.safetensors", sha256=report["sha256"],
        num_params=sum(p.numel() for p in model.parameters()), dataset=report["dataset"],
        metrics=runs.manifest_metrics(report), training=runs.manifest_training(report),
        model_kwargs={k: v for k, v in report["model_kwargs"].items() if k not in init_only},
        class_names=tuple(report["class_names"] or ()) or None, default=default, assets=assets,
        preprocessing=_run_preprocessing(run_dir, report), base_dir=str(manifest.parent),
    )
    tmp = spec.path.with_name(f".{spec.path.name}.tmp")
    shutil.copyfile(weights_file, tmp)
    tmp.replace(spec.path)
    write_manifest_entry(manifest, spec)
    return spec


def _run_preprocessing(run_dir: Path, report: dict) -> dict | None:
    """The input preprocessing the run's train set declared (``report.json``); for runs from before reports
    recorded it, asked of the run's data set again (its settings are in ``config.json``), else ``None``."""
    if "preprocessing" in report:
        return report["preprocessing"]
    try:
        config = json.loads((run_dir / runs.CONFIG).read_text())
        if get_registry().dataset(config["data"]).meta.get("extra"):  # CT scans, texts: no images, and slow to build
            return None
        dataset = get_dataset(config["data"], split="test", root=config.get("root"), **config.get("data_kwargs", {}))
    except (ZooError, OSError, ValueError, KeyError, TypeError):
        return None
    prep = getattr(dataset, "preprocessing", None)
    return prep.to_dict() if prep is not None else None


def _pin_assets(model, folder: Path, name: str) -> dict[str, str]:
    """Write the model's side files into ``folder/NAME.assets`` (replacing it whole); their sha256 by file name."""
    staged = Path(tempfile.mkdtemp(prefix=f".{name}.assets.", dir=folder))
    staged.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; a published folder is not
    model.save_assets(staged)
    assets = {f.name: sha256_file(f) for f in sorted(staged.iterdir())}
    target = folder / f"{name}.assets"
    if target.exists():
        shutil.rmtree(target)
    staged.replace(target)
    return assets
