"""The Python API: list, build and evaluate what the plugins registered.

``zoo/__init__.py`` re-exports these functions; modules inside the package import them from here (never
from the ``zoo`` facade), so the layers stay one-way.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from zoo.builder import build_model, check_kwargs
from zoo.errors import WeightsError, ZooError
from zoo.plugins import get_registry
from zoo.weights import Weights, is_file_ref, resolve_weights, split_ref, with_fallbacks


def list_models(pattern: str | None = None, task: str | None = None) -> list[str]:
    """Names of the registered models, filtered by a shell-style ``pattern`` and a ``task``."""
    return get_registry().list_models(pattern, task)


def get_model(name: Any, weights: Any = None, *, pretrained: bool = False, progress: bool = True, **kwargs: Any):
    """Build model ``name`` (``nn.Module``), with ``weights`` loaded and their sha256 checked.

    ``name``: a model name, ``arch.tag`` (``"mnist_cnn.digits"``), or a :class:`~zoo.weights.Weights` from
    :func:`get_weights` (the model they were saved for, with them). ``weights``: a tag of the model's weights
    (``"digits"``), ``True`` for the default, a :class:`~zoo.weights.Weights`, a local ``.safetensors`` path,
    or ``hf://org/repo/file.safetensors@rev``. Other keyword arguments go to the model's builder.
    """
    registry = get_registry()
    if isinstance(name, Weights):
        if weights is not None:
            raise ZooError("get_model(weights_object) takes its weights from the object: do not pass weights= too")
        if name.arch is None:
            raise WeightsError(f"{name.name} does not say which model it holds (no 'arch' metadata): "
                               "use get_model(MODEL, weights=PATH)")
        name, weights = name.arch, name
    elif isinstance(name, str):
        arch, tag = split_ref(name)
        if tag is not None and name not in registry.models and weights is None:
            name, weights = arch, tag
    return build_model(registry.model(name), weights=weights, pretrained=pretrained, progress=progress, **kwargs)


def get_weights(ref: Any, weights: Any = None, *, progress: bool = True) -> Weights:
    """The :class:`~zoo.weights.Weights` that ``ref`` names, with what they need to be used on raw inputs.

    ``ref`` is anything a user has: ``"arch.tag"`` (``"mnist_cnn.fashion"``), a model name for its default
    weights (``"mnist_cnn"``), the path of a hubzoo ``.safetensors`` file (a run's ``model.safetensors``),
    ``"hf://org/repo/file.safetensors@rev"`` or a ``Weights`` already; with a model name, ``weights`` may
    name them instead (as :func:`get_model` takes it). Class names and preprocessing come from the weights
    (manifest entry, or the file's metadata and its run's ``report.json``), else from the data set they were
    trained on (class names), else from the model's registration. ``weights.transforms()`` is the
    preprocessing callable; ``zoo.get_model(weights)`` builds the model with them.
    """
    registry = get_registry()
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if weights is None and isinstance(ref, str) and (ref.startswith("hf://") or is_file_ref(ref)):
        ref, weights = None, ref
    if isinstance(ref, Weights) or (ref is None and isinstance(weights, Weights)):
        resolved = ref if isinstance(ref, Weights) else weights
    elif ref is None:  # a file or URI: it names its model
        resolved = resolve_weights("", {}, weights, allow_pickle=False, progress=progress)
        if resolved.arch is None:
            raise WeightsError(f"{weights} does not say which model it holds (no 'arch' metadata): name the model, "
                               "zoo.get_weights(MODEL, weights=PATH)")
    else:
        if not isinstance(ref, str):
            raise ZooError(f"get_weights takes a name such as 'mnist_cnn.fashion', a .safetensors path or an hf:// URI, got {ref!r}")
        arch, tag = split_ref(ref)
        if tag is not None and weights is None:
            ref, weights = arch, tag
        spec = registry.model(ref)
        if weights is None and spec.default_weights is None:
            raise WeightsError(f"model {spec.name!r} has no trained weights to predict with: pass weights (a tag, a "
                               f".safetensors file or hf://...); `zoo info {spec.name}` lists its weights, `zoo train "
                               f"{spec.name}` makes some")
        resolved = resolve_weights(spec.name, spec.weights, True if weights is None else weights, recipe=spec.recipe or None,
                                   progress=progress)
        if resolved.arch is None:  # a foreign file: the caller named its model
            resolved = replace(resolved, arch=spec.name)
    spec = registry.model(resolved.arch)
    data_spec = registry.datasets.get(resolved.dataset) if resolved.dataset else None
    return with_fallbacks(resolved, class_names=(data_spec.class_names if data_spec else None) or spec.class_names,
                          preprocessing=spec.preprocessing)


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
    """What using model ``name`` with ``weights`` on raw inputs needs, as a dict (:func:`get_weights` as plain data):
    ``{"model", "weights", "preprocessing", "class_names", "dataset"}``. ``weights=False``, or ``None`` for a
    model without default weights, means no weights: then ``weights`` is ``None`` and the rest comes from the
    model's registration."""
    registry = get_registry()
    named = isinstance(name, str) and not is_file_ref(name) and not name.startswith("hf://") and split_ref(name)[1] is None
    if weights is False or (weights is None and named and registry.model(name).default_weights is None):
        spec = registry.model(name)
        return {"model": spec.name, "weights": None, "preprocessing": spec.preprocessing, "class_names": spec.class_names,
                "dataset": None}
    found = get_weights(name, weights)
    return {"model": found.arch, "weights": found.name, "preprocessing": found.preprocessing,
            "class_names": found.class_names, "dataset": found.dataset}


def get_preprocess(name: str, weights: Any = None):
    """The input preprocessing of model ``name`` (``arch.tag``, a model name for its default weights, or a
    hubzoo ``.safetensors`` path), as a :class:`zoo.preprocess.Preprocessing`: call it on a path, a PIL image,
    a numpy array or a uint8 tensor to get the ``float32 [C, H, W]`` tensor the model was trained on.

    Taken from the weights (manifest entry, file metadata, run report), else the model's registration; a
    model that takes no images (text models: their tokenizer is their preprocessing; the LUNA16 models: CT
    scans) is a ``ZooError`` that says so.
    """
    from zoo.preprocess import Preprocessing

    facts = describe_weights(name, weights)
    if facts["preprocessing"] is None:
        spec = get_registry().model(facts["model"])
        why = ("a text model: its tokenizer (saved beside its weights) is its preprocessing"
               if spec.task == "text-classification" else spec.preprocessing_note or "it declares none")
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
    arch, tag = split_ref(weights) if isinstance(weights, str) and not is_file_ref(weights) else ("", None)
    if tag is not None and arch != model and arch in get_registry().models:  # ARCH.TAG of another model (`zoo train --init`)
        model, weights = arch, tag
    return describe_weights(model, weights)["preprocessing"]
