"""Predicting labels for raw inputs: one :class:`Predictor` for every task (``zoo predict`` is a thin layer over it).

    from zoo.predict import Predictor
    p = Predictor.from_name("mnist_cnn", weights="digits")     # a tag, a .safetensors path, hf://...; default weights if None
    p.predict(["digit.png", "photos/"])                        # [('7', 0.998...), ...]: label and its probability, input order
    p.predict_records(["photos/"], top_k=3)                    # what `zoo predict --json` prints, one dict per input
    Predictor.from_name("lstm_sentiment").predict(["Loved it."])
    Predictor.from_name("luna_classifier").predict_records(["scan.mhd"])   # the LUNA16 pipeline, one record per detection

What each model takes:

* **vision classifiers**: image files (PNG, JPEG, BMP, ...), folders of them (searched recursively, sorted), PIL
  images, numpy arrays or uint8 tensors; each goes through the weights' :class:`~zoo.preprocess.Preprocessing`
  (colour/grayscale conversion, resize, the training normalisation), in batches of ``batch_size``;
* **text classifiers** (``tokenize(texts)`` and ``collate(encoded, pad_to=None)``: ``lstm_sentiment``,
  ``bert_classifier``, ``bart_classifier``): strings. :meth:`Predictor.predict_proba` tokenizes every text once,
  sorts the texts by length, cuts batches of similar length and pads each batch only to its own longest text
  (dynamic padding), then puts the results back in input order; ``padding="max", sort=False`` is the naive way,
  kept for the benchmark;
* **models with their own pipeline**: a registration may name a ``"module:function"`` as ``predict_inputs``
  that takes the raw inputs instead (the LUNA16 models: ``.mhd`` scans through ``zoo.luna.analysis.predict_scans``).

``backend="onnx"`` runs the vision and text models that ``zoo export`` exports through ONNX Runtime on the CPU
(``zoo.onnx_runtime``: exported once, cached), with the same tokenisation, batches and records.

Labels come from the weights: the manifest entry's ``class_names``, else the file's metadata or the run's
``report.json``, else the data set the weights were trained on (``zoo.api.get_weights``).
:class:`TextPredictor` is the text case under its former name, with the course's ``predict_sentiment``.
"""

from __future__ import annotations

import operator
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Sequence

import torch

from zoo.api import get_model, get_weights
from zoo.errors import DataError, ZooError
from zoo.families.text import check_texts
from zoo.files import read_user_text, regular_files
from zoo.onnx_runtime import BACKENDS, load_onnx_classifier
from zoo.preprocess import IMAGE_SUFFIXES, Preprocessing, max_image_pixels

__all__ = ["Predictor", "TextPredictor", "DEFAULT_BATCH_SIZE", "image_inputs", "read_lines", "format_records"]

#: Inputs from which a progress bar is shown (when asked): fewer take a second or two.
_LONG = 1000
#: The default batch per kind of input: small images batch well (256 was the fastest of 64-512 for mnist_cnn
#: on a CPU); a text batch pads to its longest text, so transformers get fewer; a CT scan is a batch of crops.
DEFAULT_BATCH_SIZE = {"image": 256, "text": 32, "pipeline": 16}
#: ...but a default image batch holds at most this many input values (channels x height x width each): 256 of
#: 28x28, 6 of 3x224x224. Large batches of large images run slower per image (efficientnet_lite0 in eager PyTorch
#: on one core: 52 images/s one at a time, 33 in batches of 32; BENCHMARKS.md): their activations leave the caches.
IMAGE_BATCH_VALUES = 1 << 20


def _length(item: Any) -> int:
    """Tokens in one encoded text: a list of ids (LSTM), or a list of windows (transformers)."""
    return sum(len(w) for w in item) if item and isinstance(item[0], (list, tuple)) else len(item)


def _width(item: Any) -> int:
    """The padded width one encoded text needs: its length, or its longest window."""
    return max(len(w) for w in item) if item and isinstance(item[0], (list, tuple)) else len(item)


def _check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as a positive ``int``; a ``ZooError`` naming the value otherwise."""
    try:
        value = operator.index(batch_size) if not isinstance(batch_size, bool) else None
    except TypeError:
        value = None
    if value is None or value < 1:
        raise ZooError(f"batch_size must be an integer of at least 1, got {batch_size!r}")
    return value


def _is_text_model(model: Any) -> bool:
    return hasattr(model, "tokenize") and hasattr(model, "collate")


def image_inputs(inputs: Sequence[Any]) -> list[tuple[str, Any, str | None]]:
    """``(name, image, error)`` per image: a folder becomes its image files (:func:`zoo.files.regular_files`:
    recursively, sorted, hidden files and FIFOs, sockets and devices left out; an error when it has none), a path
    stays itself (read later), anything else (PIL image, array, tensor) is named ``#i``. A single path (a ``str``,
    ``bytes`` or ``os.PathLike`` where the list belongs) is a ``DataError``, as for texts: a string would be read as
    its characters, ``"/"`` among them."""
    if isinstance(inputs, (str, bytes, os.PathLike)):
        raise DataError(f"expected a list of images, got a single {type(inputs).__name__}; wrap it in a list: [{inputs!r}]")
    found: list[tuple[str, Any, str | None]] = []
    for i, item in enumerate(inputs):
        if not isinstance(item, (str, os.PathLike)):
            found.append((f"#{i}", item, None))
            continue
        path = os.fspath(item)
        if os.path.isdir(path):
            try:
                files = [f for f in regular_files(path) if os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES]
            except DataError as exc:  # a folder that cannot be listed: named, the other inputs still predicted
                found.append((path, None, str(exc)))
                continue
            found += [(f, f, None) for f in files] or [(path, None, f"{path}: no image files in this folder "
                                                                    f"({', '.join(IMAGE_SUFFIXES[:4])}, ...)")]
        else:
            found.append((path, path, None))
    return found


def read_lines(path: str | os.PathLike, what: str = "text") -> list[str]:
    """The non-blank lines of a UTF-8 text file (``zoo predict --file``; ``-``: standard input), each stripped, a
    byte-order mark dropped (:func:`zoo.files.read_user_text`); a file of bytes is a one-line ``DataError``."""
    name = f"--file {os.fspath(path)}"
    text = read_user_text(path, name=name, expected=f"a UTF-8 text file with one {what} per line")
    # Lines end at \n, \r\n or \r only: str.splitlines() would also cut a text at a form feed, U+2028 or U+0085.
    lines = [line.strip() for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    if not lines:
        raise DataError(f"{name} holds no {what} (only blank lines)")
    return lines


class Predictor:
    """A classifier ready to label raw inputs (see the module docstring for what each kind of model takes).

    ``model``: a vision classifier (then ``preprocessing``, a :class:`~zoo.preprocess.Preprocessing` or its dict,
    is required) or a text classifier. ``class_names`` default to the model's; ``batch_size`` is the default of
    the ``predict*`` methods (``None``: :data:`DEFAULT_BATCH_SIZE` of the kind of input, for images at most
    :data:`IMAGE_BATCH_VALUES` input values). The model is put in eval
    mode on ``device`` (and, for images, in the channels-last memory format, which makes batched convolutions
    several times faster on CPUs). Instead of a model,
    ``pipeline`` may be a function that takes the raw inputs itself (``predict_inputs`` in a model's meta, see
    ``docs/plugins.md``). ``runtime``, a callable that takes the model's inputs and returns its logits (a
    :class:`zoo.onnx_runtime.OnnxClassifier`), runs in place of the model's forward, on the CPU; the model then
    only tokenizes and names the classes. :meth:`from_name` builds all of it from a registered name and its weights.
    """

    def __init__(self, model: torch.nn.Module | None = None, *, preprocessing: Preprocessing | dict | None = None,
                 class_names: Sequence[str] | None = None, device: str | torch.device = "cpu", batch_size: int | None = None,
                 pipeline: Callable[..., list[dict[str, Any]]] | None = None,
                 runtime: Callable[..., torch.Tensor] | None = None) -> None:
        self.kind = "pipeline" if pipeline is not None else "text" if _is_text_model(model) else "image"
        self.batch_size = _check_batch_size(DEFAULT_BATCH_SIZE[self.kind] if batch_size is None else batch_size)
        self.device = torch.device(device)
        if runtime is not None and self.device.type != "cpu":
            raise ZooError(f"ONNX Runtime runs on the CPU here (its CPU provider): use device 'cpu', not {str(device)!r}")
        self.runtime = runtime
        self._pipeline = pipeline
        if pipeline is not None:
            self.model, self.preprocessing, self.class_names = None, None, tuple(class_names or ())
            return
        if isinstance(preprocessing, dict):
            preprocessing = Preprocessing.from_dict(preprocessing)
        if self.kind == "image" and preprocessing is None:
            raise ZooError(f"{type(model).__name__} takes no texts, so {type(self).__name__} needs its image preprocessing "
                           "(zoo.get_preprocess(NAME), or Predictor.from_name)")
        self.preprocessing = preprocessing
        if preprocessing is not None and batch_size is None:
            per_image = preprocessing.channels * preprocessing.size[0] * preprocessing.size[1]
            self.batch_size = max(1, min(self.batch_size, IMAGE_BATCH_VALUES // per_image))
        self.model = model.eval().to(self.device)
        self._channels_last = self.kind == "image" and runtime is None  # channels-last convolutions: 3x faster batches on CPUs (bench_predict.py)
        if self._channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.class_names = tuple(class_names or getattr(model, "class_names", ()) or ())
        if not self.class_names:
            raise ZooError(f"{type(self).__name__} needs class_names (the model has none)")

    @classmethod
    def from_name(cls, name: str, weights: Any = None, *, device: str | torch.device = "cpu", batch_size: int | None = None,
                  backend: str = "torch", **model_kwargs: Any) -> "Predictor":
        """The registered model ``name`` (or ``arch.tag``, or a hubzoo ``.safetensors`` path) with ``weights``
        (``None``: its default weights), their preprocessing and class names. ``backend``: ``"torch"`` (eager
        PyTorch), ``"onnx"`` (ONNX Runtime on the CPU: the model is exported once and cached, see
        ``zoo.onnx_runtime``), ``"onnx-int8"`` (the same, dynamically quantised to int8 weights) or ``"onnx-int8-checked"``
        (int8, the inputs it is unsure of labelled again in fp32)."""
        from zoo.plugins import get_registry

        if backend not in BACKENDS:
            raise ZooError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
        found = get_weights(name, weights)
        spec = get_registry().model(found.arch)
        run = spec.resolve_predict_inputs()
        if run is not None and backend != "torch":
            raise ZooError(f"backend {backend!r} is for models that label their inputs themselves; {spec.name} predicts "
                           "through its own pipeline (its predict_inputs), which runs PyTorch: use backend 'torch'")
        if run is not None:  # the model's own pipeline takes the raw inputs (LUNA16: .mhd scans)
            return cls(pipeline=lambda inputs, **kw: run(spec.name, found.name, inputs, device=device, **kw),
                       class_names=found.class_names, device=device, batch_size=batch_size)
        if spec.task not in ("classification", "text-classification"):
            raise ZooError(f"model {spec.name!r} is a {spec.task} model; Predictor labels inputs with classifiers")
        runtime = None if backend == "torch" else load_onnx_classifier(found, model_kwargs, backend=backend)
        model = get_model(found, **model_kwargs)
        return cls(model, preprocessing=None if _is_text_model(model) else found.preprocessing or _no_preprocessing(spec),
                   class_names=found.class_names, device=device, batch_size=batch_size, runtime=runtime)

    # ------------------------------------------------------------------ probabilities
    def predict_proba(self, inputs: Sequence[Any], *, batch_size: int | None = None, sort: bool = True,
                      padding: str = "dynamic") -> torch.Tensor:
        """Class probabilities ``float32 [N, num_classes]`` for ``inputs`` (images or texts), in input order.

        Images: paths, PIL images, arrays, tensors (a folder is expanded); an unreadable one is a ``DataError``.
        Texts: ``sort`` batches texts of similar length together; ``padding`` ``"dynamic"`` pads each batch to
        its longest text, ``"max"`` every batch to the longest text of all.
        """
        batch_size = self.batch_size if batch_size is None else _check_batch_size(batch_size)
        if self.kind == "pipeline":
            raise ZooError("this model's inputs go through its own pipeline: use predict_records()")
        if self.kind == "text":
            return self._text_proba(inputs, batch_size, sort, padding)
        items = image_inputs(inputs)
        for _, _, error in items:
            if error:
                raise DataError(error)
        if not items:
            raise DataError("expected at least one image, got none")
        probs = []
        for _, loaded, errors in self._read_ahead(items, batch_size):
            if errors:
                raise DataError(errors[0][1])
            probs.append(self._image_proba([pixels for _, pixels in loaded]))
        return torch.cat(probs)

    def _image_proba(self, pixels: list[torch.Tensor]) -> torch.Tensor:
        """``uint8 [C, H, W]`` images of the preprocessing's shape -> probabilities ``[B, num_classes]``."""
        batch = self.preprocessing.normalize(torch.stack(pixels).to(self.device))
        with torch.inference_mode():
            if self.runtime is not None:
                return self._softmax(self.runtime(batch), len(pixels))
            if self._channels_last:
                try:
                    return self._softmax(self.model(batch.contiguous(memory_format=torch.channels_last)), len(pixels))
                except RuntimeError:  # e.g. a model that calls .view() on activations, which channels-last strides refuse
                    self._channels_last = False
                    self.model.to(memory_format=torch.contiguous_format)
            return self._softmax(self.model(batch), len(pixels))

    def _text_proba(self, texts: Sequence[str], batch_size: int, sort: bool, padding: str) -> torch.Tensor:
        if padding not in ("dynamic", "max"):
            raise ZooError(f"padding must be 'dynamic' or 'max', got {padding!r}")
        encoded = self.model.tokenize(check_texts(texts))
        order = sorted(range(len(encoded)), key=lambda i: _length(encoded[i]), reverse=True) if sort else list(range(len(encoded)))
        pad_to = max(_width(e) for e in encoded) if padding == "max" else None
        probs = torch.empty(len(encoded), len(self.class_names))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                inputs = self.model.collate([encoded[i] for i in chunk], pad_to=pad_to)
                logits = self._forward(inputs)
                probs[chunk] = self._softmax(logits, len(chunk))
        return probs

    def _forward(self, inputs: Any) -> torch.Tensor:
        if self.runtime is not None:
            return self.runtime(**inputs) if isinstance(inputs, dict) else self.runtime(*inputs)
        if isinstance(inputs, dict):
            return self.model(**{k: v.to(self.device) for k, v in inputs.items()})
        return self.model(*(v.to(self.device) for v in inputs))

    def _softmax(self, logits: torch.Tensor, rows: int) -> torch.Tensor:
        if logits.shape != (rows, len(self.class_names)):
            raise ZooError(f"the model returned {list(logits.shape)}, expected [{rows}, {len(self.class_names)}] "
                           f"(one logit per class of {list(self.class_names)})")
        return torch.softmax(logits.float(), dim=-1).cpu()

    # ------------------------------------------------------------------ labels
    def predict(self, inputs: Sequence[Any], **kwargs: Any) -> list[tuple[str, float]]:
        """``[(label, probability of that label), ...]`` for ``inputs``, in input order (options as :meth:`predict_proba`)."""
        probs = self.predict_proba(inputs, **kwargs)
        best = probs.argmax(dim=1)
        return [(self.class_names[c], float(probs[i, c])) for i, c in enumerate(best.tolist())]

    def predict_records(self, inputs: Sequence[Any], *, top_k: int | None = None, batch_size: int | None = None,
                        progress: bool = False) -> list[dict[str, Any]]:
        """One JSON-able record per input (per detection for pipelines), as ``zoo predict --json`` prints them:
        ``input``, ``label``, ``probability`` (of that label) and, with ``top_k``, ``top_k`` (the ``k`` most
        probable ``{"label", "probability"}``). An input that cannot be read gets ``error`` (and ``None`` label
        and probability) instead; the others are still predicted."""
        batch_size = self.batch_size if batch_size is None else _check_batch_size(batch_size)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ZooError(f"top_k must be an integer of at least 1, got {top_k!r}")
        if self._pipeline is not None:
            records = self._pipeline(inputs, batch_size=batch_size, top_k=top_k, progress=progress)
            return [{"label": None, "probability": None, **r} if "error" in r else r for r in records]
        if self.kind == "text":
            return self._text_records(inputs, top_k, batch_size)
        return self._image_records(inputs, top_k, batch_size, progress)

    def _records(self, names: Sequence[str], probs: torch.Tensor, top_k: int | None) -> list[dict[str, Any]]:
        """One record per row of ``probs`` ``[N, num_classes]`` (the whole batch's argmax and top k at once)."""
        values, indices = probs.topk(min(top_k or 1, len(self.class_names)), dim=1)
        finite = torch.isfinite(probs).all(dim=1).tolist()
        records = []
        for name, row_values, row_indices, ok in zip(names, values.tolist(), indices.tolist(), finite):
            if not ok:  # NaN weights (or inputs): any label would be a guess
                records.append({"input": name, "label": None, "probability": None,
                                "error": f"{name}: the model's output is NaN or infinite: its weights or this input hold "
                                         "NaN or infinity (zoo verify checks registered weights)"})
                continue
            record = {"input": name, "label": self.class_names[row_indices[0]], "probability": row_values[0]}
            if top_k:
                record["top_k"] = [{"label": self.class_names[i], "probability": v} for v, i in zip(row_values, row_indices)]
            records.append(record)
        return records

    def _text_records(self, texts: Sequence[Any], top_k: int | None, batch_size: int) -> list[dict[str, Any]]:
        records: list[dict[str, Any] | None] = []
        good: list[tuple[int, str]] = []
        for i, text in enumerate(check_texts(texts) if isinstance(texts, (str, bytes)) else texts):
            try:
                good.append((i, check_texts([text])[0]))
                records.append(None)
            except DataError as exc:
                records.append({"input": repr(text)[:80], "label": None, "probability": None,
                                "error": str(exc).replace("text #0", f"text #{i}")})
        if good:
            probs = self._text_proba([t for _, t in good], batch_size, True, "dynamic")
            for (i, _), record in zip(good, self._records([text for _, text in good], probs, top_k)):
                records[i] = record
        return records

    def _read_ahead(self, items: Sequence[tuple[str, Any, str | None]], batch_size: int
                    ) -> Iterator[tuple[range, list[tuple[int, torch.Tensor]], list[tuple[int, str]]]]:
        """``(indices, [(i, uint8 [C, H, W]), ...], [(i, error), ...])`` for each batch of ``items`` in turn: every
        readable input preprocessed, every unreadable one's error (inputs that already have one are skipped).

        One reader thread prepares the next batch while the caller runs the model on this one: decoding and
        resizing release the GIL, so on two cores the reading costs little beyond the model (BENCHMARKS.md,
        issue 25)."""
        def read(batch: range) -> tuple[list[tuple[int, torch.Tensor]], list[tuple[int, str]]]:
            loaded, errors = [], []
            for i in batch:
                if items[i][2] is None:
                    try:
                        loaded.append((i, self.preprocessing.to_uint8(items[i][1])))
                    except DataError as exc:
                        errors.append((i, str(exc)))
            return loaded, errors

        batches = [range(start, min(start + batch_size, len(items))) for start in range(0, len(items), batch_size)]
        with ThreadPoolExecutor(1, thread_name_prefix="zoo-predict-reader") as reader:
            pending = reader.submit(read, batches[0]) if batches else None
            for k, batch in enumerate(batches):
                loaded, errors = pending.result()
                pending = reader.submit(read, batches[k + 1]) if k + 1 < len(batches) else None
                yield batch, loaded, errors

    def _image_records(self, inputs: Sequence[Any], top_k: int | None, batch_size: int, progress: bool) -> list[dict[str, Any]]:
        from zoo.progress import progress as progress_bar

        max_image_pixels()  # a bad $ZOO_MAX_IMAGE_PIXELS is one error, not one per image
        items = image_inputs(inputs)
        records: list[dict[str, Any]] = [{"input": name, "label": None, "probability": None, "error": error}
                                         for name, _, error in items]
        long_input = len(items) >= max(batch_size + 1, _LONG)
        bar = progress_bar(total=len(items), desc="predict", unit="image", disable=not (progress and long_input))
        for batch, loaded, errors in self._read_ahead(items, batch_size):
            for i, error in errors:  # named in its record; the others are still predicted
                records[i]["error"] = error
            if loaded:
                probs = self._image_proba([pixels for _, pixels in loaded])
                for (i, _), record in zip(loaded, self._records([items[i][0] for i, _ in loaded], probs, top_k)):
                    records[i] = record
            bar.update(len(batch))
        bar.close()
        return [r if r.get("error") is not None else {k: v for k, v in r.items() if k != "error"} for r in records]


def _no_preprocessing(spec: Any) -> None:
    raise ZooError(f"model {spec.name!r} declares no image preprocessing and its weights carry none; build the model "
                   "yourself and pass Predictor(model, preprocessing=zoo.preprocess.Preprocessing(...))")


class TextPredictor(Predictor):
    """:class:`Predictor` for a text classifier (``model`` needs ``tokenize`` and ``collate``), with the course's
    :meth:`predict_sentiment` and :meth:`from_weights` for a run's ``model.safetensors``."""

    def __init__(self, model: torch.nn.Module, *, class_names: Sequence[str] | None = None,
                 device: str | torch.device = "cpu", batch_size: int | None = 32, preprocessing: None = None,
                 runtime: Callable[..., torch.Tensor] | None = None) -> None:
        if not _is_text_model(model):
            raise ZooError(f"{type(model).__name__} is not a text model: it has no tokenize()/collate()")
        super().__init__(model, class_names=class_names, device=device, batch_size=32 if batch_size is None else batch_size, runtime=runtime)

    @property
    def tokenizer(self) -> Any:
        return getattr(self.model, "tokenizer", None)

    @classmethod
    def from_weights(cls, weights: str | os.PathLike, *, assets: str | os.PathLike | None = None, **kwargs: Any) -> "TextPredictor":
        """Load a hubzoo ``.safetensors`` file (the model and builder arguments are read from it) and the
        side files saved beside it by training (``tokenizer.json`` for the LSTM), or in ``assets``."""
        found = get_weights(weights)
        model = get_model(found)
        if hasattr(model, "load_assets") and assets is not None:
            model.load_assets(assets)
        names = found.class_names
        return cls(model, class_names=names, **kwargs)

    def predict_sentiment(self, text: str) -> tuple[str, float]:
        """The course's ``predict_sentiment``: one text -> ``(label, probability of that label)``, e.g. ``("neg", 0.887)``."""
        if not isinstance(text, (str, bytes)):
            raise DataError(f"predict_sentiment takes one text (str), got {type(text).__name__}; use predict() for a list")
        return self.predict([text])[0]


def format_records(records: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of :meth:`Predictor.predict_records` (errors left out: they go to stderr)."""
    rows = [r for r in records if r.get("error") is None]
    if not rows:
        return "no predictions"
    width = min(60, max(len("input"), *(len(str(r["input"])) for r in rows)))
    lines = [f"{'input':<{width}}  {'label':<16} {'probability':>11}  details"]
    for r in rows:
        # never shortened (a longer one only shifts its row's columns); line breaks in a file name shown escaped
        name = str(r["input"]).replace("\r", "\\r").replace("\n", "\\n")
        label = "-" if r["label"] is None else str(r["label"])
        p = "-" if r["probability"] is None else f"{r['probability']:.4f}"
        details = ", ".join(f"{t['label']} {t['probability']:.3f}" for t in r.get("top_k", []))
        extra = {k: v for k, v in r.items() if k not in ("input", "label", "probability", "top_k", "error", "note")}
        details += ("; " if details and extra else "") + ", ".join(f"{k}={_short(v)}" for k, v in extra.items())
        lines.append(f"{name:<{width}}  {label:<16} {p:>11}  {details}".rstrip())
    return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)


def predict_inputs(name: str, inputs: Sequence[Any], *, weights: Any = None, file: str | os.PathLike | None = None,
                   top_k: int | None = None, batch_size: int | None = None, device: str = "auto",
                   model_kwargs: dict[str, Any] | None = None, progress: bool = True, backend: str = "torch") -> list[dict[str, Any]]:
    """``zoo predict``: label ``inputs`` (and the lines of ``file``) with model ``name`` and ``weights`` (``None``:
    its default weights) on ``device`` (``auto``: CUDA when available; the CPU for the ONNX backends) with
    ``backend`` (see :meth:`Predictor.from_name`). Returns :meth:`Predictor.predict_records`: one dict per input,
    an unreadable input as a dict with an ``error``."""
    from zoo.evaluation import resolve_device

    device = "cpu" if device == "auto" and backend != "torch" else str(resolve_device(device))
    predictor = Predictor.from_name(name, weights, device=device, batch_size=batch_size, backend=backend,
                                    **(model_kwargs or {}))
    inputs = list(inputs) + (read_lines(file, "text" if predictor.kind == "text" else "input") if file else [])
    if not inputs:
        raise ZooError("nothing to predict: give inputs (image files or folders, texts, .mhd scans) or --file F")
    return predictor.predict_records(inputs, top_k=top_k, progress=progress)
