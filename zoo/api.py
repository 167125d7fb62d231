"""The Python API: list, build and evaluate what the plugins registered.

``zoo/__init__.py`` re-exports these functions; modules inside the package import them from here (never
from the ``zoo`` facade), so the layers stay one-way.
"""

from __future__ import annotations

from typing import Any

from zoo.builder import build_model, check_kwargs
from zoo.plugins import get_registry


def list_models(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Names of the registered models, filtered by a shell-style ``pattern`` and a ``task``."""
    return get_registry().list_models(pattern, task)


def get_model(name: str, weights: Any = None, *, pretrained: bool = False, progress: bool = True, **kwargs: Any):
    """Build model ``name`` (``nn.Module``), with ``weights`` loaded and their sha256 checked.

    ``weights``: a tag of the model's weights (``"digits"``), ``True`` for the default, a local
    ``.safetensors`` path, or ``hf://org/repo/file.safetensors@rev``. ``name`` may also be
    ``arch.tag`` (``"mnist_cnn.digits"``). Other keyword arguments go to the model's builder.
    """
    registry = get_registry()
    arch, _, tag = name.partition(".") if isinstance(name, str) else (name, "", "")  # a non-string fails in .model()
    if tag and name not in registry.models and weights is None:
        name, weights = arch, tag
    return build_model(registry.model(name), weights=weights, pretrained=pretrained, progress=progress, **kwargs)


def list_datasets(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Names of the registered datasets."""
    return get_registry().list_datasets(pattern, task)


def get_dataset(name: str, split: str = "train", root: str | None = None, **kwargs: Any):
    """Build dataset ``name`` for ``split``: a ``torch.utils.data.Dataset`` of ``(input, target)`` pairs."""
    spec = get_registry().dataset(name)
    factory = spec.resolve_factory()
    check_kwargs(factory, kwargs, what=f"dataset {name!r}", fixed=("split", "root", "download"))
    return factory(split=split, root=root, **kwargs)


def evaluate(model: Any, dataset: Any, **kwargs: Any) -> dict:
    """Run ``model`` over ``dataset`` and return the shared evaluator's report (see ``zoo.evaluation``)."""
    from zoo.evaluation import evaluate as run_evaluation

    return run_evaluation(model, dataset, **kwargs)


# ------------------------------------------------------------------------------ what weights expect


def describe_weights(name: str, weights: Any = None) -> dict[str, Any]:
    """What using model ``name`` with ``weights`` on raw inputs needs, from the weights themselves.

    ``name``: a model name, ``arch.tag``, or the path of a hubzoo ``.safetensors`` file (its metadata names
    the model). ``weights``: as :func:`get_model` takes it; ``None`` means the model's default weights when
    it has some (else none). Returns ``{"model", "weights", "preprocessing", "class_names", "dataset"}``:
    ``weights`` is what to pass to :func:`get_model` (``None``: no weights), ``preprocessing`` a
    ``Preprocessing.to_dict()`` dict or ``None``. Each comes from the manifest entry, else the file's
    metadata, else the run's ``report.json`` beside it, else (class names) the data set the weights were
    trained on, else the model's registration.
    """
    import json
    from pathlib import Path

    from zoo.errors import WeightsError
    from zoo.weights import HfWeightsURI, LocalWeights, WeightsSpec, fetch_hf, read_metadata, resolve_weights

    registry = get_registry()
    if weights is None and isinstance(name, (str, Path)) and str(name).endswith(".safetensors"):
        weights, name = str(name), read_metadata(name).get("arch")
        if not name:
            raise WeightsError(f"{weights} does not say which model it holds (no 'arch' metadata): name the model")
    arch, _, tag = name.partition(".") if isinstance(name, str) else (name, "", "")
    if tag and name not in registry.models and weights is None:
        name, weights = arch, tag
    spec = registry.model(name)
    if weights is None:
        weights = True if spec.default_weights is not None else None
    resolved = None if weights is None or weights is False else resolve_weights(spec.name, spec.weights, weights)
    facts: dict[str, Any] = {"model": spec.name, "weights": None, "preprocessing": None, "class_names": None, "dataset": None}
    if isinstance(resolved, HfWeightsURI):
        resolved = LocalWeights(fetch_hf(resolved))
    if isinstance(resolved, WeightsSpec):
        facts.update(weights=resolved.name, preprocessing=resolved.preprocessing, class_names=resolved.class_names,
                     dataset=resolved.dataset)
    elif isinstance(resolved, LocalWeights):
        def read_json(text: str, what: str) -> Any:
            try:
                return json.loads(text)
            except ValueError:
                raise WeightsError(f"{what} is not valid JSON: the file is damaged") from None

        meta = read_metadata(resolved.path) if resolved.path.suffix == ".safetensors" else {}
        report_path = resolved.path.parent / "report.json"  # the run that wrote the file, for files without metadata
        report = read_json(report_path.read_text(errors="replace"), str(report_path)) if report_path.is_file() else {}
        report = report if isinstance(report, dict) and report.get("model") == spec.name else {}
        facts.update(weights=str(resolved.path), dataset=meta.get("dataset") or report.get("dataset"))
        for key in ("preprocessing", "class_names"):
            facts[key] = read_json(meta[key], f"the {key} metadata of {resolved.path}") if key in meta else report.get(key)
    if facts["preprocessing"] is None:
        facts["preprocessing"] = spec.meta.get("preprocessing")
    if not facts["class_names"]:
        data_spec = registry.datasets.get(facts["dataset"]) if facts["dataset"] else None
        facts["class_names"] = (data_spec.class_names if data_spec else None) or spec.meta.get("class_names")
    facts["class_names"] = tuple(facts["class_names"]) if facts["class_names"] else None
    return facts


def get_preprocess(name: str, weights: Any = None):
    """The input preprocessing of model ``name`` (``arch.tag``, a model name for its default weights, or a
    hubzoo ``.safetensors`` path), as a :class:`zoo.preprocess.Preprocessing`: call it on a path, a PIL image,
    a numpy array or a uint8 tensor to get the ``float32 [C, H, W]`` tensor the model was trained on.

    Taken from the weights (manifest entry, file metadata, run report), else the model's registration; a
    model that takes no images (text models: their tokenizer is their preprocessing; the LUNA16 models: CT
    scans) is a ``ZooError`` that says so.
    """
    from zoo.errors import ZooError
    from zoo.preprocess import Preprocessing

    facts = describe_weights(name, weights)
    if facts["preprocessing"] is None:
        spec = get_registry().model(facts["model"])
        why = ("a text model: its tokenizer (saved beside its weights) is its preprocessing"
               if spec.task == "text-classification" else spec.meta.get("preprocessing_note") or "it declares none")
        raise ZooError(f"model {facts['model']!r} has no image preprocessing: {why}")
    return Preprocessing.from_dict(facts["preprocessing"])


def dataset_preprocessing(data: str, model: str, weights: Any = False) -> dict[str, Any] | None:
    """The ``preprocessing`` argument for dataset ``data`` when ``model`` (with ``weights``; ``False``: none, so
    the model's registration) is to read it: the weights' preprocessing as a ``Preprocessing.to_dict()``.
    ``None`` when the dataset's factory takes no such argument (every dataset but the user's own image
    folders, which hold raw images of any size). ``zoo train`` (of its ``--init`` weights) and ``zoo eval``
    (of its ``--weights``) pass it, so the images go through what the model was trained on."""
    import inspect

    try:
        parameters = inspect.signature(get_registry().dataset(data).resolve_factory()).parameters
    except (TypeError, ValueError):  # a factory without a signature to read (a C function, some callables)
        return None
    if "preprocessing" not in parameters:
        return None
    arch, _, tag = weights.partition(".") if isinstance(weights, str) else ("", "", "")
    if tag and arch != model and arch in get_registry().models:  # ARCH.TAG of another model (`zoo train --init`)
        model, weights = arch, tag
    return describe_weights(model, weights)["preprocessing"]
