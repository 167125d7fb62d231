"""Weights: the manifest schema, weights URIs, sha256 pinning and safetensors loading.

A weights manifest is a JSON object ``{"arch.tag": entry}``. Each entry pins the file's sha256, the
data set it was trained on, the metrics the shared evaluator measured, and the command that trained
it (see :class:`WeightsSpec`). The hash is checked at every load.

What ``weights=`` accepts (:func:`resolve_weights`):

* a tag of the model's registered weights (``"digits"`` or ``"mnist_cnn.digits"``);
* a local ``.safetensors`` path (no pinned hash, so only the architecture is checked);
* ``hf://org/repo/path/file.safetensors@revision`` (parsed here, fetched by :func:`fetch_hf` through ``zoo.download``).

Pickle checkpoints (``.pt``, ``.pth``, ``.bin``, ``.ckpt``) are refused: unpickling runs arbitrary
code. ``allow_pickle=True`` opts in, and even then only tensors are unpickled (``weights_only``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from zoo import download
from zoo.errors import WeightsError
from zoo.files import atomic_write_bytes, sha256_file

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl")
MANIFEST_NAME = "manifest.json"
#: Keys every manifest entry must have; a test checks the shipped manifest against them.
REQUIRED_KEYS = ("arch", "tag", "file", "sha256", "num_params", "dataset", "metrics", "training")
#: The evaluator's headline numbers a manifest entry's ``metrics`` block carries (with ``split``).
MANIFEST_METRICS = ("accuracy", "precision", "recall", "f1", "miou", "dice")


@dataclass(frozen=True)
class WeightsSpec:
    """One published set of weights for one architecture.

    ``file`` is relative to ``base_dir`` (the manifest's folder); ``url``, when set, is where a missing
    file is downloaded from into the cache. ``model_kwargs`` are the builder arguments the weights
    need (for example ``{"n_feature": 32}``). ``metrics`` come from ``zoo.metrics.Evaluator`` on
    ``metrics["split"]``; ``training["command"]`` reproduces the weights. ``assets`` pins the side
    files a model needs beside its tensors (``{"tokenizer.json": sha256}`` for the LSTM's vocabulary):
    they live in the folder ``ARCH.TAG.assets`` beside the weights and are checked at every load too.
    ``preprocessing`` is the input the weights expect, as ``zoo.preprocess.Preprocessing.to_dict()`` writes
    it (channels, size, resize rule, mean/std of 0..1 pixel values); ``None`` for models that take no images.
    """

    arch: str
    tag: str
    file: str
    sha256: str
    num_params: int
    dataset: str
    metrics: Mapping[str, Any]
    training: Mapping[str, Any]
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    class_names: tuple[str, ...] | None = None
    url: str | None = None
    default: bool = False
    assets: Mapping[str, str] = field(default_factory=dict)
    preprocessing: Mapping[str, Any] | None = None
    base_dir: str = ""

    @property
    def name(self) -> str:
        return f"{self.arch}.{self.tag}"

    @property
    def path(self) -> Path:
        return Path(self.base_dir) / self.file

    @property
    def assets_dir(self) -> Path:
        return Path(self.base_dir) / f"{self.name}.assets"

    def metrics_line(self) -> str:
        shown = [f"{k}={v:.4f}" for k, v in self.metrics.items() if isinstance(v, float)]
        return f"{self.metrics.get('split', '?')} split: " + (", ".join(shown) or "no metrics")

    def to_entry(self) -> dict[str, Any]:
        """The JSON manifest entry (``base_dir`` is where the manifest is, so it is not stored)."""
        entry = asdict(self)
        entry.pop("base_dir")
        entry["class_names"] = list(self.class_names) if self.class_names else None
        return entry


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def check_plain_name(name: Any, what: str) -> str:
    """``name`` if it is a plain file name (letters, digits, ``_ . + -``; no separator, no ``..``, not
    absolute, not hidden), else a :class:`WeightsError`: manifest fields and tags become file names, and a
    name like ``../x`` would put a file outside its folder."""
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name) or ".." in name:
        raise WeightsError(f"{what} {name!r} is not a plain name (letters, digits, '_', '.', '+', '-'; no '/', no '..')")
    return name


#: Every key a manifest entry may have: the fields of :class:`WeightsSpec` that are stored (not ``base_dir``).
ENTRY_KEYS = frozenset(f.name for f in fields(WeightsSpec)) - {"base_dir"}


def read_manifest(path: str | os.PathLike) -> dict[str, WeightsSpec]:
    """Read a weights manifest; a malformed entry is an error naming the entry and the missing keys."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"weights manifest {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise WeightsError(f"weights manifest {path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise WeightsError(f"weights manifest {path} must be a JSON object {{\"arch.tag\": entry}}, got {type(raw).__name__}")
    specs = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict):
            raise WeightsError(f"weights manifest {path}: entry {key!r} must be a JSON object, got {type(entry).__name__}")
        missing = [k for k in REQUIRED_KEYS if k not in entry]
        if missing:
            raise WeightsError(f"weights manifest {path}: entry {key!r} lacks {missing}")
        unknown = sorted(set(entry) - ENTRY_KEYS)
        if unknown:
            raise WeightsError(f"weights manifest {path}: entry {key!r} has unknown keys {unknown}; allowed: {sorted(ENTRY_KEYS)}")
        if key != f"{entry['arch']}.{entry['tag']}":
            raise WeightsError(f"weights manifest {path}: entry {key!r} must be named arch.tag")
        for what, name in [("arch", entry["arch"]), ("tag", entry["tag"]), ("file", entry["file"]),
                           *(("assets", a) for a in entry.get("assets") or {})]:
            check_plain_name(name, f"weights manifest {path}: entry {key!r}: {what}")
        if not isinstance(entry.get("preprocessing"), (dict, type(None))):
            raise WeightsError(f"weights manifest {path}: entry {key!r}: preprocessing must be a JSON object or null")
        names = entry.get("class_names")
        specs[key] = WeightsSpec(**{**entry, "class_names": tuple(names) if names else None, "base_dir": str(path.parent)})
    return specs


def write_manifest_entry(manifest_path: str | os.PathLike, spec: WeightsSpec) -> None:
    """Add or replace ``spec`` in the manifest at ``manifest_path`` (created if missing), atomically."""
    manifest_path = Path(manifest_path)
    entries = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if spec.default:  # one default per architecture
        for entry in entries.values():
            if entry["arch"] == spec.arch:
                entry["default"] = False
    entries[spec.name] = spec.to_entry()
    text = json.dumps(dict(sorted(entries.items())), indent=2) + "\n"
    atomic_write_bytes(manifest_path, text.encode())


def shipped_manifest_path() -> Path:
    """The manifest of the weights this project ships: ``weights/manifest.json`` in a checkout, or the
    copy installed as ``zoo.shipped_weights`` from a wheel."""
    checkout = Path(__file__).resolve().parent.parent / "weights" / MANIFEST_NAME
    if checkout.exists():
        return checkout
    try:
        from importlib.resources import files

        return Path(str(files("zoo.shipped_weights") / MANIFEST_NAME))
    except ModuleNotFoundError:
        return checkout


# ---------------------------------------------------------------------------------------------- URIs

_HF_URI = re.compile(
    r"^hf://(?P<org>[A-Za-z0-9][\w.-]*)/(?P<repo>[\w.-]+)/(?P<file>[^@#]+?)"
    r"(?:@(?P<revision>[\w./-]+))?(?:#sha256=(?P<sha256>[0-9a-f]{64}))?$"
)


#: A Hub organisation or repository name (huggingface_hub's validate_repo_id rules).
_HUB_NAME = re.compile(r"(?!.*(--|\.\.))[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9_])?")


@dataclass(frozen=True)
class HfWeightsURI:
    """``hf://org/repo/path/in/repo.safetensors@revision#sha256=HEX`` split into its parts (the
    revision and the pinned sha256 are optional)."""

    repo_id: str
    filename: str
    revision: str | None
    sha256: str | None = None


def fetch_hf(uri: HfWeightsURI, *, sha256: str | None = None, progress: bool = True) -> Path:
    """The local path of the file ``uri`` names, fetched into the Hub cache and checked against ``sha256``
    (or the URI's own pin, else the LFS hash that names the cached blob)."""
    return download.fetch_hf(uri.repo_id, uri.filename, revision=uri.revision, sha256=sha256 or uri.sha256, progress=progress)


def user_manifest_path() -> Path:
    """Weights imported by ``zoo unbundle``: ``$ZOO_HOME/weights/manifest.json`` (read by the plugin loader)."""
    return download.cache_dir() / MANIFEST_NAME


def parse_hf_uri(uri: str) -> HfWeightsURI:
    match = _HF_URI.match(uri)
    if match and not all(_HUB_NAME.fullmatch(part) for part in (match["org"], match["repo"])):
        raise WeightsError(f"weights URI {uri!r}: ORG and REPO may hold letters, digits, '-', '_' and '.', "
                           "may not start or end with '-' or '.', and may not contain '--' or '..'")
    if match and any(part in ("", ".", "..") for part in match["file"].split("/")):
        raise WeightsError(f"weights URI {uri!r}: the file path inside the repository may not contain '.', '..' or '//'")
    if not match or not match["file"].endswith(".safetensors"):
        raise WeightsError(
            f"cannot parse weights URI {uri!r}: expected hf://ORG/REPO/FILE.safetensors@REVISION "
            "(the revision, a commit hash or tag, is optional but pins what you get; #sha256=HEX may follow)"
        )
    return HfWeightsURI(f"{match['org']}/{match['repo']}", match["file"], match["revision"], match["sha256"])


@dataclass(frozen=True)
class LocalWeights:
    """A weights file given by path, with no pinned hash."""

    path: Path
    allow_pickle: bool = False


def default_weights(available: Mapping[str, WeightsSpec]) -> WeightsSpec | None:
    """The weights ``pretrained=True`` means: the one marked default, else the only one, else none."""
    marked = [w for w in available.values() if w.default]
    if marked:
        return marked[0]
    return next(iter(available.values())) if len(available) == 1 else None


def resolve_weights(
    arch: str,
    available: Mapping[str, WeightsSpec],
    weights: Any,
    *,
    recipe: str | None = None,
    allow_pickle: bool = False,
) -> WeightsSpec | LocalWeights | HfWeightsURI:
    """Turn what a caller passed as ``weights=`` into a registered spec, a local file or an hf:// URI.

    ``weights=True`` or ``"DEFAULT"`` means the model's default weights. An unknown tag is an error
    listing the weights the model has and the command (``recipe``) that trains new ones.
    """
    if isinstance(weights, WeightsSpec):
        return weights
    if weights is True or weights == "DEFAULT":
        default = default_weights(available)
        if default is None:
            raise _no_such_weights(arch, available, "DEFAULT", recipe)
        return default
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str) or not weights:
        raise WeightsError(f"weights must be a tag, a .safetensors path or an hf:// URI, got {weights!r}")
    if weights.startswith("hf://"):
        return parse_hf_uri(weights)
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", weights)
    if scheme:
        raise WeightsError(f"unknown weights scheme {scheme[1]!r} in {weights!r}: use a tag, a local .safetensors path "
                           "or hf://ORG/REPO/FILE.safetensors@REVISION")
    tag = weights[len(arch) + 1 :] if weights.startswith(arch + ".") else weights
    if tag in available:
        return available[tag]
    looks_like_path = "/" in weights or os.sep in weights or weights.endswith((".safetensors",) + PICKLE_SUFFIXES)
    if looks_like_path:
        path = Path(weights).expanduser()
        if path.suffix in PICKLE_SUFFIXES and not allow_pickle:
            raise WeightsError(
                f"refusing to load pickle checkpoint {path}: unpickling can run arbitrary code. Convert it to "
                "safetensors (safetensors.torch.save_file(state_dict, 'model.safetensors')), or pass "
                "allow_pickle=True if you trust the file."
            )
        if path.suffix != ".safetensors" and path.suffix not in PICKLE_SUFFIXES:
            raise WeightsError(f"weights file {path} must be a .safetensors file")
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist")
        return LocalWeights(path, allow_pickle)
    if ":" in weights:
        raise WeightsError(f"unknown weights scheme in {weights!r}: use a tag, a local path or hf://ORG/REPO/FILE@REV")
    raise _no_such_weights(arch, available, weights, recipe)


def _no_such_weights(arch: str, available: Mapping[str, WeightsSpec], asked: str, recipe: str | None) -> WeightsError:
    have = ", ".join(f"{t} (trained on {w.dataset})" for t, w in available.items()) or "none"
    train = recipe or f"zoo train {arch} --data DATASET"
    return WeightsError(f"model {arch!r} has no weights {asked!r}. Available weights: {have}. Train your own with: {train}")


# ----------------------------------------------------------------------------------------- loading


def check_assets(spec: WeightsSpec) -> Path:
    """Check every side file ``spec`` pins (present, sha256 as pinned) and return their folder."""
    for name, expected in spec.assets.items():
        path = spec.assets_dir / name
        if not path.is_file():
            raise WeightsError(f"weights {spec.name}: {path} is missing; the model needs it beside its weights")
        actual = sha256_file(path)
        if actual != expected:
            raise WeightsError(f"weights {spec.name}: sha256 of {path} is {actual}, but the manifest pins {expected}. "
                               "The file is corrupt or was replaced; restore it (git checkout).")
    return spec.assets_dir


def load_state_dict(source: WeightsSpec | LocalWeights, *, progress: bool = True) -> dict[str, Any]:
    """Read a state dict, checking the pinned sha256 first when ``source`` is a registered spec.

    A registered spec whose file is not on disk but has a ``url`` is downloaded into the cache first
    (see :func:`zoo.download.fetch_url_to_cache`).
    """
    if isinstance(source, WeightsSpec):
        path = source.path
        if not path.is_file():
            if not source.url:
                raise WeightsError(f"weights {source.name}: file {path} is missing and the entry has no url")
            if source.url.startswith("hf://"):
                path = fetch_hf(parse_hf_uri(source.url), sha256=source.sha256, progress=progress)
            else:
                path = download.fetch_url_to_cache(source.url, source.sha256, progress=progress)
        actual = sha256_file(path)
        if actual != source.sha256:
            raise WeightsError(
                f"weights {source.name}: sha256 of {path} is {actual}, but the manifest pins {source.sha256}. "
                "The file is corrupt, truncated or was replaced; restore it (git checkout, or delete it to re-download)."
            )
    else:
        path = source.path
        if not path.is_file():
            raise WeightsError(f"weights file {path} does not exist")
        if source.allow_pickle and path.suffix in PICKLE_SUFFIXES:
            import torch

            state = torch.load(path, map_location="cpu", weights_only=True)
            return state.get("state_dict", state) if isinstance(state, dict) else state
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"weights file {path} is not a readable safetensors file ({exc}); is it truncated?") from None


def apply_state_dict(model: Any, state_dict: Mapping[str, Any], *, source: str) -> None:
    """Load ``state_dict`` into ``model`` strictly, with an error that names what does not fit."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong_shape = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if wrong_shape:
            parts.append(f"shape mismatch {wrong_shape[:3]}{' ...' if len(wrong_shape) > 3 else ''}")
        raise WeightsError(
            f"weights {source} do not fit {type(model).__name__} (weights for another architecture, or other "
            f"model arguments?): {'; '.join(parts)}"
        )
    model.load_state_dict(state_dict, strict=True)


def in_modules(name: str, modules: tuple[str, ...] | list[str]) -> bool:
    """Whether the tensor or module ``name`` (``"fc2.weight"``) lies in one of ``modules`` (``("fc2",)``)."""
    return any(name == m or name.startswith(m + ".") for m in modules)


def load_matching(model: Any, state_dict: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Copy into ``model`` every tensor of ``state_dict`` whose name and shape match one of the model's own,
    except those inside the modules ``skip`` names: the start of a fine-tuning run.

    Returns ``(loaded, reinitialised)``: the names copied, and the model's names left as its builder
    initialised them (typically the head, when the number of classes differs). Tensors of ``state_dict``
    the model lacks are ignored. No check here: callers decide what a useful match is.
    """
    own = model.state_dict()
    matching = {k: v for k, v in state_dict.items()
                if k in own and not in_modules(k, skip) and tuple(v.shape) == tuple(own[k].shape)}
    model.load_state_dict(matching, strict=False)
    return [k for k in own if k in matching], [k for k in own if k not in matching]


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a safetensors file (hubzoo writes ``arch`` and ``model_kwargs`` as JSON)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"weights file {path} is not a readable safetensors file ({exc}); is it truncated?") from None


def save_state_dict(model_or_state: Any, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> str:
    """Save a model's (or a state dict's) tensors as safetensors atomically; returns the file's sha256."""
    from safetensors.torch import save

    state = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
    # Contiguous, de-aliased CPU copies: safetensors refuses shared storage and non-contiguous tensors.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    data = canonical_safetensors(save(tensors, metadata=dict(metadata or {})))
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def canonical_safetensors(data: bytes) -> bytes:
    """``data`` with its JSON header's keys sorted, so equal tensors and metadata give equal bytes.

    safetensors writes ``__metadata__`` from a hash map whose order changes from process to process, so
    the same weights would get a different sha256 in every run. The sorted header is as long as the
    original (same compact JSON, other order), so the tensor offsets stay valid.
    """
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    if isinstance(header.get("__metadata__"), dict):
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    if len(text) > size:  # never: the same keys and values in another order; keep the original then
        return data
    return data[:8] + text.ljust(size, b" ") + data[8 + size :]
