"""Weights: the typed :class:`Weights` object and everything that reads what a weights file says about itself.

One :class:`Weights` describes one set of trained tensors, wherever they come from:

* an entry of a weights manifest (``weights/manifest.json``, a plugin's, or ``zoo unbundle``'s), a JSON
  object ``{"arch.tag": entry}`` that pins the file's sha256, the data set, the evaluator's metrics and the
  command that trained it (:func:`read_manifest`);
* a ``.safetensors`` file of a run (:func:`weights_of_file`): its metadata (written by ``zoo train``) names
  the model, builder arguments, class names and preprocessing, and the run's ``report.json`` beside it gives
  the metrics and the command;
* ``hf://org/repo/path/file.safetensors@revision`` (:func:`parse_hf_uri`), fetched into the Hub cache and
  then read as a file.

This module is the only code that opens a manifest, reads safetensors metadata or reads a ``report.json``;
:func:`resolve_weights` turns anything a caller passes as ``weights=`` into a :class:`Weights`, and
``zoo.api.get_weights`` adds the registry's fallbacks. The sha256 is checked at every load
(``zoo.state_dicts.load_state_dict``): a manifest's pin, an ``hf://`` URI's pin, or, for a plain file, the
hash it had when it was resolved.

Pickle checkpoints (``.pt``, ``.pth``, ``.bin``, ``.ckpt``) are refused: unpickling runs arbitrary code.
``allow_pickle=True`` opts in, and even then only tensors are unpickled (``weights_only``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from zoo import download
from zoo.errors import WeightsError, ZooError, advice
from zoo.files import atomic_write_bytes, check_regular_file, read_json_object, sha256_file, to_json

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl")
MANIFEST_NAME = "manifest.json"
#: The file a training run writes beside its ``model.safetensors`` (``zoo.runs``).
REPORT_NAME = "report.json"
#: Keys every manifest entry must have; a test checks the shipped manifest against them.
REQUIRED_KEYS = ("arch", "tag", "file", "sha256", "num_params", "dataset", "metrics", "training")
#: The evaluator's headline numbers a manifest entry's ``metrics`` block carries (with ``split``).
MANIFEST_METRICS = ("accuracy", "precision", "recall", "f1", "miou", "dice")


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"mnist_cnn.fashion"`` -> ``("mnist_cnn", "fashion")``; ``"mnist_cnn"`` -> ``("mnist_cnn", None)``.

    The one place an ``arch.tag`` name is split. Model names never hold a dot, so the first dot separates them.
    """
    arch, dot, tag = ref.partition(".")
    return arch, (tag if dot else None)


@dataclass(frozen=True)
class Weights:
    """One set of trained weights for one architecture: where the tensors are and what they need.

    ``arch`` is the model they were saved for (``None`` only for a foreign file that does not say);
    ``tag`` names a registered entry (``arch.tag``), ``None`` for a file or an ``hf://`` URI (``source``
    then says which). ``file`` is relative to ``base_dir`` (a manifest's folder, or the file's own folder);
    ``url``, when set, is where a missing file is downloaded from into the cache. ``sha256`` is checked at
    every load. ``model_kwargs`` are the builder arguments the weights need (``{"n_feature": 32}``);
    ``metrics`` come from ``zoo.metrics.Evaluator`` on ``metrics["split"]``; ``training["command"]``
    reproduces them. ``assets`` pins the side files a model needs beside its tensors
    (``{"tokenizer.json": sha256}``): for an entry they live in ``ARCH.TAG.assets/`` beside the file, for a
    run's file beside the file itself. ``preprocessing`` is the input the weights expect, as
    ``zoo.preprocess.Preprocessing.to_dict()`` writes it (``None``: no image input, or not recorded).
    ``num_params`` counts the model's parameters (``None`` when a file does not record it).
    """

    arch: str | None
    tag: str | None
    file: str
    sha256: str
    num_params: int | None
    dataset: str | None
    metrics: Mapping[str, Any]
    training: Mapping[str, Any]
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    class_names: tuple[str, ...] | None = None
    url: str | None = None
    default: bool = False
    assets: Mapping[str, str] = field(default_factory=dict)
    preprocessing: Mapping[str, Any] | None = None
    #: Set when the file holds only the tensors that differ from a pinned base (a pretrained checkpoint folder
    #: named by the sha256 of its files, see ``zoo.bases``): ``{"argument", "location", "distribution", "files"}``.
    base: Mapping[str, Any] | None = None
    base_dir: str = ""
    #: Where these weights came from: ``"manifest"``, ``"file"`` or the ``hf://`` URI (not stored in a manifest).
    source: str = "manifest"
    #: Resolved from a pickle checkpoint the caller chose to trust (not stored).
    allow_pickle: bool = False

    def __post_init__(self) -> None:
        """Manifests, files' metadata and ``report.json`` are JSON anyone may write: a field of the wrong type is
        one :class:`WeightsError` naming it (a string of class names would otherwise be one class per letter, a
        list of builder arguments a crash later); ``null`` for a mapping is an empty one; class names become a tuple."""
        where = f"{self.arch}.{self.tag}" if isinstance(self.tag, str) else os.path.join(str(self.base_dir), str(self.file))
        for key, kinds in _FIELD_TYPES.items():
            value = getattr(self, key)
            if value is None and key in _EMPTY_WHEN_NULL:
                object.__setattr__(self, key, {})
            elif not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                words = " or ".join(_TYPE_WORDS[kind] for kind in kinds)
                raise WeightsError(f"weights {where}: {key} must be {words}, got {value!r:.80}")
        if self.class_names is not None:
            if not all(isinstance(n, str) for n in self.class_names):
                raise WeightsError(f"weights {where}: class_names must be a list of strings, got {list(self.class_names)!r:.80}")
            object.__setattr__(self, "class_names", tuple(self.class_names))

    @property
    def name(self) -> str:
        """``arch.tag`` for a registered entry, else the URI or the file's path."""
        if self.tag is not None:
            return f"{self.arch}.{self.tag}"
        return self.source if self.source.startswith("hf://") else str(self.path)

    @property
    def path(self) -> Path:
        return Path(self.base_dir) / self.file

    @property
    def assets_dir(self) -> Path:
        return Path(self.base_dir) / f"{self.arch}.{self.tag}.assets" if self.tag is not None else Path(self.base_dir)

    @property
    def command(self) -> str | None:
        """The command that trained these weights, when recorded."""
        return self.training.get("command")

    @property
    def pinned_by(self) -> str:
        """Who pinned :attr:`sha256`, for error messages."""
        if self.tag is not None:
            return "the manifest"
        return "the URI" if self.source.startswith("hf://") else "its hash when it was resolved"

    def transforms(self) -> Any:
        """The input preprocessing these weights were trained with, as a callable
        :class:`zoo.preprocess.Preprocessing` (a path, PIL image, array or uint8 tensor -> ``float32 [C, H, W]``)."""
        from zoo.preprocess import Preprocessing

        if self.preprocessing is None:
            raise ZooError(f"weights {self.name} record no image preprocessing (a model that takes no images, or "
                           "weights from before preprocessing was recorded)")
        return Preprocessing.from_dict(self.preprocessing)

    def metrics_line(self) -> str:
        shown = [f"{k}={v:.4f}" for k, v in self.metrics.items() if isinstance(v, float)]
        return f"{self.metrics.get('split', '?')} split: " + (", ".join(shown) or "no metrics")

    def file_metadata(self) -> dict[str, str]:
        """The string metadata hubzoo writes into a weights file so that it says what these weights say
        (read back by :func:`weights_of_file`)."""
        fields_ = {"arch": self.arch, "dataset": self.dataset, "model_kwargs": dict(self.model_kwargs),
                   "preprocessing": self.preprocessing, "class_names": list(self.class_names or []) or None, "base": self.base}
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields_.items() if v is not None}

    def to_entry(self) -> dict[str, Any]:
        """The JSON manifest entry (``base_dir``, ``source`` and ``allow_pickle`` say where it is, so are not stored)."""
        if self.tag is None or self.arch is None:
            raise WeightsError(f"{self.name} is not a registered entry (no arch and tag): pin it first (zoo pin)")
        entry = asdict(self)
        for key in _NOT_STORED:
            entry.pop(key)
        entry["class_names"] = list(self.class_names) if self.class_names else None
        return entry


_NONE = type(None)
#: The types :class:`Weights` checks its fields against (``Weights.__post_init__``), and how messages name them.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "arch": (str, _NONE), "tag": (str, _NONE), "file": (str,), "sha256": (str,), "num_params": (int, _NONE),
    "dataset": (str, _NONE), "metrics": (Mapping,), "training": (Mapping,), "model_kwargs": (Mapping,),
    "class_names": (list, tuple, _NONE), "url": (str, _NONE), "default": (bool,), "assets": (Mapping,),
    "preprocessing": (Mapping, _NONE), "base": (Mapping, _NONE), "base_dir": (str, os.PathLike), "source": (str,),
    "allow_pickle": (bool,)}
_EMPTY_WHEN_NULL = ("metrics", "training", "model_kwargs", "assets")
_TYPE_WORDS = {str: "a string", int: "an integer", bool: "true or false", Mapping: "a JSON object", list: "a list",
               tuple: "a tuple", _NONE: "null", os.PathLike: "a path"}

#: The name plugins written before the typed object used; the same class.
WeightsSpec = Weights

_NOT_STORED = ("base_dir", "source", "allow_pickle")
#: Every key a manifest entry may have: the fields of :class:`Weights` that are stored.
ENTRY_KEYS = frozenset(f.name for f in fields(Weights)) - set(_NOT_STORED)

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def check_plain_name(name: Any, what: str) -> str:
    """``name`` if it is a plain file name (letters, digits, ``_ . + -``; no separator, no ``..``, not
    absolute, not hidden), else a :class:`WeightsError`: manifest fields and tags become file names, and a
    name like ``../x`` would put a file outside its folder."""
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name) or ".." in name:
        raise WeightsError(f"{what} {name!r} is not a plain name (letters, digits, '_', '.', '+', '-'; no '/', no '..')")
    return name


# ------------------------------------------------------------------------------------------ manifests


def read_manifest(path: str | os.PathLike) -> dict[str, Weights]:
    """Read a weights manifest; a malformed entry is an error naming the entry and the missing keys."""
    path = Path(path)
    if path.exists():  # not a FIFO (`zoo pin --manifest FIFO`), whose read would wait for a writer forever
        check_regular_file(path, "a weights manifest (a JSON file)")
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"weights manifest {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
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
                           *(("assets", part) for a in entry.get("assets") or {} for part in str(a).split("/"))]:
            check_plain_name(name, f"weights manifest {path}: entry {key!r}: {what}")
        if not isinstance(entry.get("preprocessing"), (dict, type(None))):
            raise WeightsError(f"weights manifest {path}: entry {key!r}: preprocessing must be a JSON object or null")
        base = entry.get("base")
        if base is not None and (not isinstance(base, dict) or set(base) != {"argument", "location", "distribution", "files"}
                                 or not isinstance(base["files"], dict) or not base["files"]):
            raise WeightsError(f"weights manifest {path}: entry {key!r}: base must be an object with argument, location, "
                               "distribution and files {name: sha256}")
        names = entry.get("class_names")
        try:  # Weights checks the fields' types (a tuple is made of the class names there)
            specs[key] = Weights(**{**entry, "class_names": names or None, "base_dir": str(path.parent)})
        except WeightsError as exc:
            raise WeightsError(f"weights manifest {path}: {exc}") from None
    return specs


def read_manifest_entries(path: str | os.PathLike) -> dict[str, Any]:
    """The raw JSON of the manifest at ``path`` (``{}`` when it does not exist), for a writer that adds to it."""
    path = Path(path)
    if not path.exists():
        return {}
    read_manifest(path)  # a damaged manifest is refused before anything is added to it
    return json.loads(path.read_text())


def write_manifest_entry(manifest_path: str | os.PathLike, spec: Weights) -> None:
    """Add or replace ``spec`` in the manifest at ``manifest_path`` (created if missing), atomically."""
    manifest_path = Path(manifest_path)
    entries = read_manifest_entries(manifest_path)
    if spec.default:  # one default per architecture
        for entry in entries.values():
            if entry["arch"] == spec.arch:
                entry["default"] = False
    entries[spec.name] = spec.to_entry()
    text = to_json(dict(sorted(entries.items()))) + "\n"  # strict JSON, as every file hubzoo writes
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


def user_manifest_path() -> Path:
    """Weights imported by ``zoo unbundle``: ``$ZOO_HOME/weights/manifest.json`` (read by the plugin loader)."""
    return download.cache_dir() / MANIFEST_NAME


def default_weights(available: Mapping[str, Weights]) -> Weights | None:
    """The weights ``pretrained=True`` means: the one marked default, else the only one, else none."""
    marked = [w for w in available.values() if w.default]
    if marked:
        return marked[0]
    return next(iter(available.values())) if len(available) == 1 else None


def check_assets(spec: Weights) -> Path:
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


# ---------------------------------------------------------------------------------- run reports


def read_run_report(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A finished run's ``report.json``; an error when the folder holds no finished run."""
    path = Path(run_dir) / REPORT_NAME
    if not path.is_file():
        raise ZooError(f"{run_dir} has no {REPORT_NAME}: it is not a finished training run")
    report = read_json_object(path, "a training report")
    missing = [k for k in ("model", "dataset", "split", "command", "sha256", "metrics", "epochs_run") if k not in report]
    if missing:
        raise ZooError(f"{path} is not a complete training report: it lacks {missing}")
    return report


def manifest_metrics(report: Mapping[str, Any]) -> dict[str, Any]:
    """A report's ``metrics`` block as a manifest entry stores it: the split and :data:`MANIFEST_METRICS`."""
    return {"split": report["split"], **{k: report["metrics"].get(k) for k in MANIFEST_METRICS}}


def manifest_training(report: Mapping[str, Any]) -> dict[str, Any]:
    """A report's training record as a manifest entry stores it: the command, epochs and versions."""
    return {"command": report["command"], "epochs_run": report["epochs_run"], "best_epoch": report.get("best_epoch"),
            **report.get("versions", {})}


# ------------------------------------------------------------------------------------ weights files


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a safetensors file (hubzoo writes ``arch``, ``model_kwargs`` and more as JSON)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"weights file {path} is not a readable safetensors file ({exc}); is it truncated?") from None


def _json_field(meta: Mapping[str, str], key: str, path: Path) -> Any:
    if key not in meta:
        return None
    try:
        return json.loads(meta[key])
    except ValueError:
        raise WeightsError(f"the {key} metadata of {path} is not valid JSON: the file is damaged") from None


def weights_of_file(path: str | os.PathLike, *, allow_pickle: bool = False, source: str = "file") -> Weights:
    """The :class:`Weights` of a local file: a hubzoo ``.safetensors`` says its model, builder arguments, data
    set, class names and preprocessing in its metadata; the run's ``report.json`` beside it (when it is the
    run of the same model) adds the metrics, the command and what older files did not record. The sha256
    is taken now and checked again at load time."""
    path = Path(path).expanduser()
    if path.suffix in PICKLE_SUFFIXES and not allow_pickle:
        how = advice("Convert it to safetensors (safetensors.torch.save_file(state_dict, 'model.safetensors')), or pass "
                     "allow_pickle=True if you trust the file.",
                     "The zoo command never unpickles: convert it to safetensors first (load it in Python and save its "
                     "state dict with safetensors.torch.save_file) and give that file.")
        raise WeightsError(f"refusing to load pickle checkpoint {path}: unpickling can run arbitrary code. {how}")
    if path.suffix != ".safetensors" and path.suffix not in PICKLE_SUFFIXES:
        raise WeightsError(f"weights file {path} must be a .safetensors file")
    if not path.exists():
        raise WeightsError(f"weights file {path} does not exist")
    check_regular_file(path, "a weights file")  # a folder or a FIFO named x.safetensors: what it is instead
    meta = read_metadata(path) if path.suffix == ".safetensors" else {}
    arch, sha256 = meta.get("arch"), sha256_file(path)
    report_path = path.parent / REPORT_NAME
    report = read_json_object(report_path, "a training report") if report_path.is_file() else {}
    if arch is not None and report.get("model") != arch:
        report = {}  # another model's run
    arch = arch or report.get("model")
    # The report describes the run's model.safetensors: its numbers belong to that file only (not best.safetensors).
    measured = report if report.get("sha256") == sha256 and all(k in report for k in ("split", "metrics", "command", "epochs_run")) else {}
    own_kwargs = _json_field(meta, "model_kwargs", path)
    names = _json_field(meta, "class_names", path) or report.get("class_names")
    return Weights(
        arch=arch, tag=None, file=path.name, sha256=sha256, num_params=measured.get("num_params"),
        dataset=meta.get("dataset") or report.get("dataset"),
        metrics=manifest_metrics(measured) if measured else {}, training=manifest_training(measured) if measured else {},
        model_kwargs=own_kwargs if own_kwargs is not None else report.get("model_kwargs", {}),
        class_names=names or None,  # Weights checks them and makes the tuple
        preprocessing=_json_field(meta, "preprocessing", path) or report.get("preprocessing"),
        base=_json_field(meta, "base", path), base_dir=str(path.parent), source=source, allow_pickle=allow_pickle,
    )


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


def is_file_ref(ref: str) -> bool:
    """Whether ``ref`` names a file (a path or a weights file name) rather than a tag or ``arch.tag``."""
    return "/" in ref or os.sep in ref or ref.endswith((".safetensors",) + PICKLE_SUFFIXES)


# --------------------------------------------------------------------------------------- resolving


def resolve_weights(arch: str, available: Mapping[str, Weights], weights: Any, *, recipe: str | None = None,
                    allow_pickle: bool = False, progress: bool = True) -> Weights:
    """Turn what a caller passed as ``weights=`` for model ``arch`` into :class:`Weights`.

    ``weights`` may be a :class:`Weights`; ``True`` or ``"DEFAULT"`` (the model's default weights); a tag of
    ``available`` (``"digits"`` or ``"mnist_cnn.digits"``); a local ``.safetensors`` path; or an ``hf://`` URI
    (fetched into the Hub cache, hash checked). An unknown tag is an error listing the weights the model has
    and the command (``recipe``) that trains new ones.
    """
    if isinstance(weights, Weights):
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
        uri = parse_hf_uri(weights)
        return weights_of_file(fetch_hf(uri, progress=progress), source=weights)
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", weights)
    if scheme:
        raise WeightsError(f"unknown weights scheme {scheme[1]!r} in {weights!r}: use a tag, a local .safetensors path "
                           "or hf://ORG/REPO/FILE.safetensors@REVISION")
    named_arch, tag = split_ref(weights)
    if tag is not None and named_arch == arch and tag in available:
        return available[tag]
    if weights in available:
        return available[weights]
    if is_file_ref(weights):
        return weights_of_file(weights, allow_pickle=allow_pickle)
    if ":" in weights:
        raise WeightsError(f"unknown weights scheme in {weights!r}: use a tag, a local path or hf://ORG/REPO/FILE@REV")
    raise _no_such_weights(arch, available, weights, recipe)


def _no_such_weights(arch: str, available: Mapping[str, Weights], asked: str, recipe: str | None) -> WeightsError:
    have = ", ".join(f"{t} (trained on {w.dataset})" for t, w in available.items()) or "none"
    train = recipe or f"zoo train {arch} --data DATASET"
    return WeightsError(f"model {arch!r} has no weights {asked!r}. Available weights: {have}. Train your own with: {train}")


def with_fallbacks(weights: Weights, *, class_names: Any = None, preprocessing: Any = None) -> Weights:
    """``weights`` with ``class_names`` and ``preprocessing`` filled in where the weights record none."""
    names = weights.class_names or (tuple(class_names) if class_names else None)
    return replace(weights, class_names=names, preprocessing=weights.preprocessing or preprocessing)
