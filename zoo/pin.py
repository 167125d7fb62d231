"""Pinning a finished run's weights in a weights manifest (``zoo pin RUN --tag TAG``).

The run folder (``zoo.runs``) has the weights, their sha256 and the evaluator's test report; pinning
copies the weights beside the manifest as ``ARCH.TAG.safetensors`` and writes the entry that makes
them ``weights="TAG"`` for everyone who uses the manifest.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from zoo import runs
from zoo.api import get_model, get_weights
from zoo.errors import ZooError
from zoo.files import atomic_write_chunks, current_umask, sha256_file
from zoo.plugins import get_registry
from zoo.bases import describe_base, difference
from zoo.state_dicts import save_state_dict
from zoo.weights import Weights, read_manifest_entries, write_manifest_entry


def pin_run(run_dir: str | Path, *, tag: str, manifest: str | Path, default: bool = False,
            difference: str | None = None) -> Weights:
    """Pin a finished run's weights in the manifest ``manifest`` as ``ARCH.TAG`` and return the entry.

    Copies ``model.safetensors`` beside the manifest as ``ARCH.TAG.safetensors`` and writes the entry:
    sha256, parameter count, data set, the evaluator's test metrics and the training command, as the run's
    :class:`~zoo.weights.Weights` say them (``zoo.api.get_weights``: class names and preprocessing fall back on
    the data set's and the model's registration, as everywhere). A model
    with side files (``save_assets``: the LSTM's ``tokenizer.json``) gets them in ``ARCH.TAG.assets/``,
    each pinned by its sha256 in the entry.

    ``difference`` names a builder argument that holds a pretrained checkpoint folder of an installed package
    (``checkpoint`` for the transformers): the entry then stores only the tensors that differ from the model
    that folder builds, and pins the folder's files by sha256 (``zoo.bases``); the round trip (base + difference
    == the run's weights, tensor for tensor) is checked before anything is written.
    """
    if not isinstance(tag, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}", tag):
        raise ZooError(f"--tag {tag!r:.120} is not a plain tag: use up to 100 letters, digits, '_' and '-' (it names a "
                       "file)")
    run_dir, manifest = Path(run_dir), Path(manifest)
    if manifest.is_dir():
        raise ZooError(f"--manifest {manifest} is a folder; give the path of a manifest .json file")
    runs.checked_weights(run_dir, runs.read_report(run_dir))  # a finished run whose weights are the ones it reported
    read_manifest_entries(manifest)  # a damaged manifest is refused before anything is copied beside it
    found = get_weights(run_dir / runs.WEIGHTS)
    model = get_model(found)  # also reads and checks the run's side files
    if difference is not None and difference not in found.model_kwargs:  # refused before anything is written
        raise ZooError(f"--difference {difference}: the run was not built with -k {difference}=FOLDER (its builder "
                       f"arguments: {', '.join(found.model_kwargs) or 'none'})")
    base = describe_base(difference, found.model_kwargs[difference]) if difference is not None else None
    init_only = get_registry().model(found.arch).init_only_kwargs  # e.g. init_from: not needed to load
    manifest.parent.mkdir(parents=True, exist_ok=True)
    name = f"{found.arch}.{tag}"
    assets = _pin_assets(model, manifest.parent, name) if hasattr(model, "save_assets") else {}
    spec = replace(found, tag=tag, file=f"{name}.safetensors", num_params=sum(p.numel() for p in model.parameters()),
                   model_kwargs={k: v for k, v in found.model_kwargs.items() if k not in init_only},
                   default=default, assets=assets, base_dir=str(manifest.parent), source="manifest")
    if difference is None:  # the atomic writer: a failure names the file, never its temporary, and leaves none
        with open(found.path, "rb") as source:
            atomic_write_chunks(spec.path, iter(lambda: source.read(1 << 20), b""))
    else:
        spec = _pin_difference(spec, found, model, base)
    write_manifest_entry(manifest, spec)
    return spec


def _pin_difference(spec: Weights, found: Weights, model: Any, base: dict[str, Any]) -> Weights:
    """Write ``spec.path`` as the tensors of ``model`` that differ from the model its base builds; the entry with
    ``base`` set and its ``argument`` dropped from the builder arguments (the base's folder takes its place)."""
    import torch

    argument = base["argument"]
    torch.manual_seed(0)
    built = get_model(found.arch, **found.model_kwargs).state_dict()  # the base's tensors, a fresh head
    changed = difference(model.state_dict(), built)
    spec = replace(spec, model_kwargs={k: v for k, v in spec.model_kwargs.items() if k != argument}, base=base)
    spec = replace(spec, sha256=save_state_dict(changed, spec.path, metadata=spec.file_metadata()))
    rebuilt = get_model(found.arch, weights=spec).state_dict()
    wrong = [k for k, v in model.state_dict().items() if not torch.equal(rebuilt[k], v)]
    if wrong:
        spec.path.unlink()
        raise ZooError(f"--difference {argument}: the base plus the difference does not give the run's weights back "
                       f"({len(wrong)} tensors differ, e.g. {wrong[:3]}); nothing pinned")
    return spec


def _pin_assets(model, folder: Path, name: str) -> dict[str, str]:
    """Write the model's side files into ``folder/NAME.assets`` (replacing it whole); their sha256 by file name."""
    staged = Path(tempfile.mkdtemp(prefix=f".{name}.assets.", dir=folder))
    staged.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; a published folder is not
    model.save_assets(staged)
    assets = {f.relative_to(staged).as_posix(): sha256_file(f) for f in sorted(staged.rglob("*")) if f.is_file()}
    target = folder / f"{name}.assets"
    if target.exists():
        shutil.rmtree(target)
    staged.replace(target)
    return assets
