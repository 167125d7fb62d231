"""Re-checking the numbers a weights entry claims: evaluate it again and compare (``zoo verify --metrics``).

Each registered weights entry (shipped, user manifest, plugins) names a ``dataset`` and a
``metrics["split"]``; :func:`verify_entry` checks the weights' sha256, builds that split, runs the
shared evaluator (``zoo.evaluation.evaluate``, as ``zoo eval`` does) and compares every recorded
headline metric (``zoo.weights.MANIFEST_METRICS``) with the measured one.

The headline metrics are ratios of confusion-matrix counts, so on a deterministic CPU run they must
match exactly (up to float rounding, :data:`EXACT_ATOL`); on another device ``atol`` applies.

An entry is *skipped* (never counted as passed) only when what it needs is absent here: its data is not
downloaded or installed (CIFAR-10 without its files, Fashion-MNIST without the package: a
:class:`~zoo.errors.DataNotFoundError`, whose message says how to get it) or a Python package is not
installed. Everything else is an *error*, as ``zoo eval`` would fail on it: a record that names a dataset,
split or metric that does not exist, a metric that is not a number, data that is there but damaged
(a truncated file), a dataset of another size than recorded, a failing hash.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from zoo.api import dataset_preprocessing, evaluate, get_dataset, get_model
from zoo.download import cached_download
from zoo.errors import DataNotFoundError, ZooError, first_line
from zoo.plugins import get_registry
from zoo.state_dicts import load_state_dict
from zoo.weights import MANIFEST_METRICS, Weights, check_assets, split_ref

__all__ = ["EXACT_ATOL", "MetricCheck", "EntryCheck", "verify_entry", "remeasure", "trained_with_amp", "verify_metrics", "format_table", "check_publishable",
           "HashCheck", "verify_hashes", "evaluate_registered"]

#: Largest difference allowed for count-derived metrics on the CPU: float rounding, not a tolerance.
EXACT_ATOL = 1e-9


@dataclass(frozen=True)
class MetricCheck:
    """One recorded metric against its measured value."""

    metric: str
    recorded: float
    measured: float | None
    difference: float | None
    ok: bool


@dataclass
class EntryCheck:
    """The outcome for one weights entry: ``status`` is ``ok``, ``failed``, ``skipped`` or ``error``."""

    entry: str
    status: str
    reason: str = ""
    dataset: str | None = None
    split: str | None = None
    num_samples: int | None = None
    checks: list[MetricCheck] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON dict of this outcome (for ``--json``)."""
        return asdict(self)


def _compare(recorded: dict[str, Any], report: dict[str, Any], atol: float) -> list[MetricCheck]:
    """Every headline metric in ``recorded`` against ``report``, within ``atol``."""
    checks = []
    for metric in MANIFEST_METRICS:
        if metric not in recorded or recorded[metric] is None:
            continue
        want, got = float(recorded[metric]), report.get(metric)
        if got is None:
            checks.append(MetricCheck(metric, want, None, None, False))
            continue
        diff = float(got) - want
        checks.append(MetricCheck(metric, want, float(got), diff, abs(diff) <= atol))
    return checks


def _check_record(dataset_name: str, metrics: dict[str, Any]) -> None:
    """Raise :class:`~zoo.errors.ZooError` unless the recorded ``metrics`` can be checked on ``dataset_name``: a
    registered dataset that has the split ``metrics["split"]``, only known keys (``split``, ``num_samples`` and
    :data:`~zoo.weights.MANIFEST_METRICS`), numbers where numbers belong."""
    data_spec = get_registry().dataset(dataset_name)  # an unknown name is an UnknownNameError
    split = metrics["split"]
    if split not in data_spec.splits:
        raise ZooError(f"dataset {dataset_name!r} has no split {split!r} (it has {', '.join(data_spec.splits)}): the "
                       "entry's metrics.split is wrong")
    unknown = sorted(set(metrics) - {"split", "num_samples", *MANIFEST_METRICS})
    if unknown:
        raise ZooError(f"unknown metric {unknown[0]!r} in the entry's metrics (it may record split, num_samples, "
                       f"{', '.join(MANIFEST_METRICS)})")
    for key in ("num_samples", *MANIFEST_METRICS):
        value = metrics.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ZooError(f"the entry's {key} {value!r} is not a number")


def _check_fits(arch: str, dataset_name: str, class_names: Any) -> None:
    """Raise :class:`~zoo.errors.ZooError` unless the recorded dataset is one model ``arch`` can be evaluated on:
    data of its task (images for an image classifier, not texts), with as many classes as the entry names."""
    task, data_spec = get_registry().model(arch).task, get_registry().dataset(dataset_name)
    if data_spec.task != task:
        raise ZooError(f"dataset {dataset_name!r} holds {data_spec.task} data, but {arch} is a {task} model: the entry's "
                       "dataset is wrong")
    if class_names and data_spec.num_classes and len(class_names) != data_spec.num_classes:
        raise ZooError(f"the entry names {len(class_names)} classes, but dataset {dataset_name!r} has "
                       f"{data_spec.num_classes}: the entry's dataset or class_names are wrong")


def _absent(exc: BaseException) -> bool:
    """Whether ``exc`` says that what a check needs is not here (data not downloaded, a package not installed,
    a registered "module:function" whose package is missing) rather than wrong."""
    return isinstance(exc, (DataNotFoundError, ModuleNotFoundError)) or isinstance(exc.__cause__, ModuleNotFoundError)


def verify_entry(spec: Weights, *, atol: float = 1e-3, device: str = "cpu", batch_size: int = 256) -> EntryCheck:
    """Check ``spec``'s sha256, then re-evaluate it on its recorded dataset and split (:func:`remeasure`).

    Never raises for a bad entry: a wrong record, damaged data, a failing hash or a changed dataset size is an
    ``error`` with one line of reason; data that is not here (module docstring) is ``skipped``.
    """
    if not_downloaded(spec):
        return EntryCheck(spec.name, "skipped", not_downloaded(spec), spec.dataset or None, (spec.metrics or {}).get("split"))
    try:
        load_state_dict(spec, progress=False)
        check_assets(spec)
    except ZooError as exc:
        return EntryCheck(spec.name, "error", first_line(exc), spec.dataset or None, (spec.metrics or {}).get("split"))
    return remeasure(spec.arch, spec.tag, spec.dataset, spec.metrics or {}, entry=spec.name, class_names=spec.class_names,
                     atol=atol, device=device, batch_size=batch_size, autocast=trained_with_amp(spec.training))


def trained_with_amp(training: dict[str, Any] | None) -> bool:
    """Whether the recorded training command ran with ``--amp``: ``zoo train`` then evaluated under bf16
    autocast, so the recorded metrics are re-measured the same way (fp32 moves a few borderline pixels)."""
    return "--amp" in str((training or {}).get("command", "")).split()


def remeasure(arch: str, weights: Any, dataset_name: str | None, metrics: dict[str, Any], *, entry: str,
              class_names: list[str] | None = None, atol: float = 1e-3, device: str = "cpu", batch_size: int = 256,
              autocast: bool = False, root: str | None = None) -> EntryCheck:
    """Evaluate model ``arch`` with ``weights`` (a tag or a file) on ``dataset_name``'s ``metrics["split"]``
    with the shared evaluator and compare with the recorded ``metrics``.

    ``atol`` applies off the CPU; on the CPU the count-derived metrics must match to :data:`EXACT_ATOL`.
    ``metrics["num_samples"]``, when recorded, must equal the split's size; ``autocast`` evaluates under
    bf16 autocast, as ``zoo train --amp`` did when it recorded the metrics. What is not here makes the result
    ``skipped``; a record that cannot be right (:func:`_check_record`) or data that cannot be read, ``error``.
    """
    split = metrics.get("split")
    result = EntryCheck(entry, "error", dataset=dataset_name or None, split=split)
    if split is None and dataset_name and "split" in metrics and not any(k in metrics for k in MANIFEST_METRICS):
        result.status = "skipped"  # published weights whose figures were measured elsewhere (vgg16.imagenet)
        result.reason = f"the entry records no metrics measured here ({dataset_name}: reported by its publisher)"
        return result
    if not dataset_name or not split:
        result.reason = f"the entry names no {'dataset' if not dataset_name else 'split (metrics.split)'}; nothing to re-evaluate"
        return result
    try:
        _check_record(dataset_name, metrics)
        prep = dataset_preprocessing(dataset_name, arch, weights)  # the user's image folders, as `zoo eval` reads them
        dataset = get_dataset(dataset_name, split=split, root=root, **({"preprocessing": prep} if prep is not None else {}))
        _check_fits(arch, dataset_name, class_names)  # after the data: data that is absent skips the entry
        result.num_samples = len(dataset)
        recorded_size = metrics.get("num_samples")
        if recorded_size is not None and int(recorded_size) != len(dataset):
            result.reason = (f"dataset {dataset_name!r} ({split}) has {len(dataset)} samples here, but the metrics "
                             f"were recorded on {int(recorded_size)}")
            return result
        model = get_model(arch, weights=weights).eval().to(device)
        num_classes = get_registry().dataset(dataset_name).num_classes or len(class_names or ()) or None
        report = evaluate(model, dataset, task=get_registry().model(arch).task, num_classes=num_classes,
                          batch_size=batch_size, device=device, progress=False,
                          class_names=list(class_names or []) or None, autocast=autocast)
    except (ZooError, OSError, ModuleNotFoundError) as exc:  # as `zoo eval` fails, one line; what is absent is skipped
        result.status = "skipped" if _absent(exc) else "error"
        result.reason = ("not available here: " if result.status == "skipped" else "") + first_line(exc)
        return result
    tolerance = EXACT_ATOL if str(device) == "cpu" else atol
    result.checks = _compare(metrics, report, tolerance)
    result.status = "ok" if result.checks and all(c.ok for c in result.checks) else "failed"
    if not result.checks:
        result.reason = "the entry records none of the headline metrics " + ", ".join(MANIFEST_METRICS)
    elif result.status == "failed":
        result.reason = f"measured metrics differ from the recorded ones beyond {tolerance:g}"
    return result


def verify_metrics(names: list[str] | None = None, *, atol: float = 1e-3, device: str = "cpu",
                   batch_size: int = 256) -> list[EntryCheck]:
    """:func:`verify_entry` for every registered weights entry, or those ``names`` select.

    A name is a model (all its weights) or one ``arch.tag``; an unknown name is an
    :class:`~zoo.errors.UnknownNameError`.
    """
    registry = get_registry()
    specs: list[Weights] = []
    for name in names or registry.list_models():
        arch, tag = split_ref(name)
        weights = registry.model(arch).weights
        if tag is not None and tag not in weights:
            raise ZooError(f"model {arch!r} has no weights {tag!r}; it has: {', '.join(sorted(weights)) or 'none'}")
        specs.extend([weights[tag]] if tag is not None else weights.values())
    return [verify_entry(spec, atol=atol, device=device, batch_size=batch_size) for spec in specs]


def format_table(results: list[EntryCheck]) -> str:
    """The results as a text table (entry, metric, recorded, measured, difference, ok) and a count per status."""
    rows = [("entry", "metric", "recorded", "measured", "difference", "ok")]
    for res in results:
        if not res.checks:
            rows.append((res.entry, "-", "-", "-", "-", f"{res.status.upper()}: {res.reason}"))
            continue
        for c in res.checks:
            rows.append((res.entry, c.metric, f"{c.recorded:.6f}",
                         "-" if c.measured is None else f"{c.measured:.6f}",
                         "-" if c.difference is None else f"{c.difference:+.2e}", "ok" if c.ok else "FAILED"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "failed", "error", "skipped")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items()) + " (skipped entries are not checked)"
    return "\n".join(["  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths)) + "  " + row[5] for row in rows] + [summary])


def check_publishable(arch: str, weights: Any, dataset_name: str | None, metrics: dict[str, Any], *,
                      class_names: list[str] | None = None, training: dict[str, Any] | None = None,
                      root: str | None = None) -> EntryCheck:
    """Raise :class:`~zoo.errors.ZooError` unless the recorded ``metrics`` re-verify (:func:`remeasure`, CPU)."""
    entry = f"{arch}.{weights}" if isinstance(weights, str) and "/" not in weights and not weights.endswith(".safetensors") else arch
    result = remeasure(arch, weights, dataset_name, metrics, entry=entry, class_names=class_names,
                       autocast=trained_with_amp(training), root=root)
    if result.status != "ok":
        what = "cannot be re-checked here" if result.status == "skipped" else "do not re-verify"
        raise ZooError(f"refusing to publish {entry}: its recorded metrics {what} ({result.reason}); "
                       f"see `zoo verify --metrics`, or publish with --no-verify (the card then says so)")
    return result


@dataclass(frozen=True)
class HashCheck:
    """One weights entry's file and side files against their pinned sha256 (``zoo verify``); ``error`` is
    ``None`` when they match, else why not in words."""

    entry: str
    sha256: str
    assets: int
    error: str | None = None
    skipped: str | None = None  # why the file was not checked: it is not on this machine yet (downloaded on first use)


def not_downloaded(spec: Weights) -> str | None:
    """Why ``spec``'s file cannot be checked here without a download, or ``None`` when it is on this machine."""
    if not spec.url or spec.url.startswith("hf://") or spec.path.is_file() or cached_download(spec.url, spec.sha256).is_file():
        return None
    return f"not downloaded here: fetched from {spec.url} on first use, and its sha256 checked then"


def verify_hashes(names: list[str] | None = None) -> Iterator[HashCheck]:
    """Load every weights file of the models ``names`` (default: all registered) and check it and its side files
    against the pinned sha256, one :class:`HashCheck` per entry as it is checked. An unknown model name is an
    :class:`~zoo.errors.UnknownNameError`; a failing check is a result, never raised."""
    registry = get_registry()
    for name in names or registry.list_models():
        for spec in registry.model(name).weights.values():
            if not_downloaded(spec):
                yield HashCheck(spec.name, spec.sha256, len(spec.assets), skipped=not_downloaded(spec))
                continue
            try:
                load_state_dict(spec)
                check_assets(spec)
            except ZooError as exc:
                yield HashCheck(spec.name, spec.sha256, len(spec.assets), str(exc))
                continue
            yield HashCheck(spec.name, spec.sha256, len(spec.assets))


def evaluate_registered(name: str, data: str, *, weights: Any = None, split: str = "test", root: str | None = None,
                        download: bool = False, model_kwargs: dict[str, Any] | None = None,
                        data_kwargs: dict[str, Any] | None = None, batch_size: int = 256, device: str = "auto",
                        threshold: float = 0.5, target_recall: float | None = None, plot_dir: str | None = None,
                        progress: bool = True) -> tuple[dict[str, Any], list[Any]]:
    """Evaluate registered model ``name`` with ``weights`` (``None``: its random initialisation) on ``split`` of
    registered dataset ``data`` with the shared evaluator (``zoo eval``); returns the report and the plots written.

    Datasets of raw images (``imagefolder``) get the weights' preprocessing unless ``data_kwargs`` names one;
    the user's own data (no registered classes) names its classes itself. Two-class runs keep their scores:
    with ``target_recall`` the report's ``threshold_for_recall`` is the highest threshold reaching it. With
    ``plot_dir``, :func:`zoo.evaluation.plot_evaluation` writes ``NAME-DATA-SPLIT-*.png`` there.
    """
    from pathlib import Path

    from zoo.curves import threshold_for_recall
    from zoo.evaluation import evaluate_with_evaluator, plot_evaluation, resolve_device

    device = str(resolve_device(device))
    if batch_size < 1:
        raise ZooError(f"batch size {batch_size} is not valid: expected at least 1")
    registry = get_registry()
    spec, data_spec = registry.model(name), registry.dataset(data)
    model = get_model(name, weights=weights, **(model_kwargs or {}))
    kwargs = dict(data_kwargs or {})
    if "preprocessing" not in kwargs:
        prep = dataset_preprocessing(data, name, weights if weights is not None else False)
        kwargs.update({"preprocessing": prep} if prep is not None else {})
    dataset = get_dataset(data, split=split, root=root, download=download, **kwargs)
    class_names = list(data_spec.class_names or getattr(dataset, "class_names", None) or []) or None
    num_classes = data_spec.num_classes or len(class_names or ())
    binary = num_classes == 2
    report, evaluator = evaluate_with_evaluator(
        model, dataset, task=spec.task, num_classes=num_classes or None, batch_size=batch_size, device=device,
        threshold=threshold, progress=progress, keep_scores=binary, class_names=class_names)
    if binary and target_recall is not None:
        report["threshold_for_recall"] = {"recall": target_recall,
                                          "threshold": threshold_for_recall(*evaluator.scores(), target_recall)}
    if plot_dir is None:
        return report, []
    plots = plot_evaluation(report, evaluator, str(Path(plot_dir) / f"{name}-{data}-{split}"), model=model, dataset=dataset,
                            device=device, threshold=threshold, target_recall=target_recall, title=f"{name} on {data}, {split} split")
    return report, plots
