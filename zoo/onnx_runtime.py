"""ONNX Runtime behind :class:`zoo.predict.Predictor` (``backend="onnx"``, ``zoo predict --backend onnx``).

The model is exported once by ``zoo.export.export_model`` (which checks its parity with PyTorch) into
``zoo.download.cache_dir() / "onnx"``, as ``SHA256[-KWARGS]-VERSION.onnx``: the sha256 of the weights file, a
digest of the builder arguments given on top of the weights' own (``-k``), and hubzoo's version. A side file
``NAME.sha256`` records the file's own hash when it is complete; a cached file whose hash differs (damaged,
cut short) or that ONNX Runtime cannot load is exported again. Every file is written to a temporary name
and renamed into place, under a lock, so two processes never export the same model at once.

``backend="onnx-int8"`` runs the same graph after ONNX Runtime's dynamic quantisation (int8 weights of the
``MatMul``/``Gemm`` nodes, one scale per output channel; activations quantised per batch), cached beside it as
``...int8.onnx``: about 2x faster on a CPU, at the cost of labels that differ from the fp32 model's where it
is unsure (BENCHMARKS.md, "zoo predict on a fine-tuned BERT", gives the agreement measured on movie sentences).

:class:`OnnxClassifier` is called like the PyTorch classifier it was exported from: ``clf(x)`` for an image
model, ``clf(input_ids=..., attention_mask=...)`` for a transformer, and returns logits ``float32 [N, C]`` as a
torch tensor. Transformers are exported without ``text_index`` (one window per row); given one, the windows'
class probabilities are averaged per text in numpy exactly as ``TransformerClassifier.forward`` does.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

from zoo.download import cache_dir
from zoo.errors import ZooError
from zoo.files import atomic_write_bytes, current_umask, file_lock, remove_stale_temporaries, sha256_file
from zoo.version import __version__

__all__ = ["BACKENDS", "OnnxClassifier", "onnx_cache_dir", "cached_onnx", "load_onnx_classifier", "average_windows"]

#: What runs a :class:`~zoo.predict.Predictor`'s model: eager PyTorch, ONNX Runtime, or ONNX Runtime on int8 weights.
BACKENDS = ("torch", "onnx", "onnx-int8")


def onnx_cache_dir() -> Path:
    """Where the exported files live: ``$ZOO_HOME/weights/onnx``."""
    return cache_dir() / "onnx"


def _stem(weights: Any, model_kwargs: Mapping[str, Any]) -> str:
    """``SHA256[-KWARGS]-VERSION``: what the exported graph depends on."""
    parts = [weights.sha256]
    if model_kwargs:
        text = json.dumps(dict(model_kwargs), sort_keys=True, default=str)
        parts.append(hashlib.sha256(text.encode()).hexdigest()[:12])
    return "-".join(parts + [__version__])


def _intact(path: Path) -> bool:
    """``path`` exists and has the hash recorded beside it when it was written."""
    record = path.with_name(path.name + ".sha256")
    try:
        return path.is_file() and record.read_text().strip() == sha256_file(path)
    except OSError:
        return False


def _record(path: Path) -> None:
    """Write ``path``'s sha256 beside it (temporary file, then rename): the mark that ``path`` is complete."""
    atomic_write_bytes(path.with_name(path.name + ".sha256"), f"{sha256_file(path)}\n".encode())


def _discard(path: Path) -> None:
    path.with_name(path.name + ".sha256").unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def cached_onnx(weights: Any, model_kwargs: Mapping[str, Any] | None = None, *, int8: bool = False,
                refresh: bool = False) -> tuple[Path, bool]:
    """``(path, exported)``: the ONNX file of the model ``weights`` (a resolved :class:`~zoo.weights.Weights`)
    builds with ``model_kwargs``, exported (and, with ``int8``, quantised) unless an intact copy is cached;
    ``exported`` says whether that happened now. ``refresh`` discards the cached copy first."""
    from zoo.export import export_model, not_exportable
    from zoo.plugins import get_registry

    spec = get_registry().model(weights.arch)
    why_not = not_exportable(spec, "onnx")
    if why_not:
        raise ZooError(f"the ONNX backends are for models that `zoo export` can export to ONNX; {spec.name} cannot: {why_not}")
    folder = onnx_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(weights, model_kwargs or {})
    fp32, target = folder / f"{stem}.onnx", folder / (f"{stem}.int8.onnx" if int8 else f"{stem}.onnx")
    exported = False
    with file_lock(folder / f"{stem}.lock"):
        remove_stale_temporaries(folder, ".*.tmp*")  # left by an export that was killed
        if refresh:
            _discard(target)
        if not _intact(target):
            if not _intact(fp32):
                export_model(spec.name, weights=weights, format="onnx", out=fp32, model_kwargs=dict(model_kwargs or {}))
                _record(fp32)
                exported = True
            if int8:
                _quantize(fp32, target)
                _record(target)
                exported = True
    return target, exported


def _quantize(source: Path, target: Path) -> None:
    """ONNX Runtime's dynamic quantisation of ``source`` into ``target``: int8 weights with a scale per output channel
    (on bert_classifier.movies half the label flips of one scale per tensor: 48 against 104 of 2,113 sentences, at
    the same speed), activations quantised per batch."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.onnx", dir=target.parent)
    os.close(fd)
    disabled = logging.root.manager.disable
    logging.disable(logging.WARNING)  # its advice to pre-process the graph, through the root logger, on every call
    try:
        quantize_dynamic(str(source), tmp, weight_type=QuantType.QInt8, per_channel=True)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    finally:
        logging.disable(disabled)
        Path(tmp).unlink(missing_ok=True)


def load_onnx_classifier(weights: Any, model_kwargs: Mapping[str, Any] | None = None, *, int8: bool = False,
                         threads: int | None = None) -> "OnnxClassifier":
    """The cached (else exported) ONNX file of ``weights`` in an :class:`OnnxClassifier`; a cached file that
    ONNX Runtime refuses is exported again once."""
    path, exported = cached_onnx(weights, model_kwargs, int8=int8)
    try:
        return OnnxClassifier(path, threads=threads)
    except ZooError:
        if exported:
            raise
    path, _ = cached_onnx(weights, model_kwargs, int8=int8, refresh=True)
    return OnnxClassifier(path, threads=threads)


def average_windows(logits: Any, text_index: Any) -> Any:
    """``TransformerClassifier.forward`` for windows, in numpy: logits ``[W, C]`` of the windows of texts
    ``text_index`` ``[W]`` (in text order) -> the log of each text's window-averaged class probabilities ``[N, C]``."""
    import numpy as np

    logits = logits.astype(np.float32)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    num_texts = int(text_index[-1]) + 1
    sums = np.zeros((num_texts, probs.shape[1]), dtype=np.float32)
    np.add.at(sums, text_index, probs)
    counts = np.maximum(np.bincount(text_index, minlength=num_texts), 1).astype(np.float32)
    return np.log(np.maximum(sums / counts[:, None], np.finfo(np.float32).tiny))


class OnnxClassifier:
    """An ONNX Runtime CPU session over an exported classifier, called like the model: tensors (positional in the
    graph's input order, or by name) -> logits ``float32 [N, C]`` (a torch tensor). ``threads``: ONNX Runtime's
    intra-op threads (default ``torch.get_num_threads()``)."""

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        import torch

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3  # errors only: no notes about initializers on every load
        # Spinning threads wait for work by burning their core; on a shared 2-core machine that made batches
        # 1.2x slower (75 against 60 sentences/s for MiniLM), and it takes the cores from the tokenizer.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own InvalidProtobuf, Fail, ...
            raise ZooError(f"ONNX Runtime cannot load {path}: {type(exc).__name__}: {str(exc).strip()[:200]}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        values = dict(zip(self.input_names, args), **kwargs)
        text_index = values.pop("text_index", None) if "text_index" not in self.input_names else None
        unknown = sorted(set(values) - set(self.input_names))
        missing = [n for n in self.input_names if n not in values]
        if unknown or missing:
            raise ZooError(f"{self.path.name} takes {', '.join(self.input_names)}; got {', '.join(sorted(values))}")
        feed = {name: _numpy(values[name]) for name in self.input_names}
        logits = self.session.run(None, feed)[0]
        if text_index is not None:
            logits = average_windows(logits, _numpy(text_index))
        return torch.from_numpy(logits)


def _numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value
