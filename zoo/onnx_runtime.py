"""ONNX Runtime behind :class:`zoo.predict.Predictor` (``backend="onnx"``, ``zoo predict --backend onnx``).

The model is exported once by ``zoo.export.export_model`` (which checks its parity with PyTorch) into
``zoo.download.cache_dir() / "onnx"``, as ``SHA256[-KWARGS]-VERSION.onnx``: the sha256 of the weights file, a
digest of the builder arguments given on top of the weights' own (``-k``), and hubzoo's version. A side file
``NAME.sha256`` records the file's own hash when it is complete; a cached file whose hash differs (damaged,
cut short) or that ONNX Runtime cannot load is exported again. Every file is written to a temporary name
and renamed into place, under a lock, so two processes never export the same model at once.

A transformer text classifier's graph is rewritten once more for ONNX Runtime's CPU, cached as
``...optimized.onnx`` (:func:`_optimize_transformer`): onnxscript's fusions (one ``Attention`` op per layer,
``BiasGelu``); the top layer cut down to the one token the classifier reads, where its pooler takes token 0
(that layer's keys and values still see every token; its query, feed-forward and norms run on token 0 alone:
a sixth less arithmetic for six layers); and ``SkipLayerNormalization`` split back into ``Add`` and
``LayerNormalization``, because ONNX Runtime's CPU kernel for it was 5x slower than the two (1.32; for the same
reason its own fusion into it is switched off in every session). The rewrite must give the export's logits
within 1e-4 on a probe batch, else the export itself runs and ``...optimized.none`` says why.

``backend="onnx-int8"`` runs that graph after ONNX Runtime's dynamic quantisation (int8 weights of the
``MatMul``/``Gemm`` nodes, one scale per output channel; activations quantised per batch; a transformer's
``Attention`` split into ``MatMul`` and ``MultiHeadAttention`` first), cached beside it as ``...int8.onnx``:
2-3x faster on a CPU, but its labels differ from the fp32 model's where it is unsure. ``onnx-int8-checked``
(:class:`CheckedClassifier`) labels again in fp32 every input whose int8 margin is under :data:`CHECK_MARGIN`
(BENCHMARKS.md, "zoo predict on a fine-tuned BERT", gives both agreements on movie sentences).

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
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from zoo.download import cache_dir
from zoo.errors import ZooError
from zoo.files import atomic_write_bytes, current_umask, file_lock, remove_stale_temporaries, sha256_file
from zoo.version import __version__

__all__ = ["BACKENDS", "CHECK_MARGIN", "OnnxClassifier", "CheckedClassifier", "onnx_cache_dir", "cached_onnx",
           "load_onnx_classifier", "average_windows"]

#: What runs a :class:`~zoo.predict.Predictor`'s model: eager PyTorch, ONNX Runtime, ONNX Runtime on int8 weights,
#: or int8 with the unsure inputs labelled again in fp32.
BACKENDS = ("torch", "onnx", "onnx-int8", "onnx-int8-checked")
#: ``onnx-int8-checked`` labels an input again with the fp32 graph when its int8 margin (the log-probability of its
#: most probable class less that of the next) is under this. On the 10,568 rated movie sentences of
#: ``sentiment_snippets`` under ``bert_classifier.movies``, int8 moved that margin by 0.14 (median), 1.6 at most, and
#: no label flipped whose int8 margin was above 0.71; under 1.0 are 23% of them, and every label was the fp32 one.
#: A bound measured on that model, not proved: another model may need another (BENCHMARKS.md).
CHECK_MARGIN = 1.0
#: An optimized graph's logits may differ from the export's by this much on the probe batch.
_PARITY_ATOL = 1e-4
#: Ops that act on each token alone (on the last axis): the top layer may run them on token 0 only.
_TOKENWISE = {"MatMul", "Add", "SkipLayerNormalization", "LayerNormalization", "BiasGelu", "Gelu", "FastGelu"}


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
    """``(path, made)``: the ONNX file that runs the model ``weights`` (a resolved :class:`~zoo.weights.Weights`)
    builds with ``model_kwargs``: its export; for a text classifier, the export optimized (unless that failed, see
    the module docstring); with ``int8``, that quantised. Each step runs unless an intact copy is cached; ``made``
    says whether any ran now. ``refresh`` discards the cached file first."""
    from zoo.export import export_model, not_exportable
    from zoo.plugins import get_registry

    spec = get_registry().model(weights.arch)
    why_not = not_exportable(spec, "onnx")
    if why_not:
        raise ZooError(f"the ONNX backends are for models that `zoo export` can export to ONNX; {spec.name} cannot: {why_not}")
    folder = onnx_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(weights, model_kwargs or {})
    export, optimized, unoptimized = (folder / f"{stem}{suffix}" for suffix in (".onnx", ".optimized.onnx", ".optimized.none"))
    made = False
    with file_lock(folder / f"{stem}.lock"):
        remove_stale_temporaries(folder, ".*.tmp*")  # left by an export that was killed
        graph = optimized if spec.task == "text-classification" and not unoptimized.exists() else export
        target = graph.with_name(f"{graph.stem}.int8.onnx") if int8 else graph
        if refresh:
            _discard(target)
        if not _intact(target):
            if not _intact(export):
                export_model(spec.name, weights=weights, format="onnx", out=export, model_kwargs=dict(model_kwargs or {}))
                _record(export)
                made = True
            if graph == optimized and not _intact(optimized):
                why = _optimize_transformer(export, optimized)
                if why:  # the export runs instead, from now on
                    atomic_write_bytes(unoptimized, f"{why}\n".encode())
                    graph = export
                    target = graph.with_name(f"{graph.stem}.int8.onnx") if int8 else graph
                else:
                    _record(optimized)
                made = True
            if int8 and not _intact(target):
                _quantize(graph, target, split_attention=graph == optimized)
                _record(target)
                made = True
    return target, made


@contextmanager
def _temporary(target: Path) -> Iterator[str]:
    """A temporary path beside ``target``, renamed to ``target`` when the block ends without an error, else removed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.onnx", dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _quantize(source: Path, target: Path, *, split_attention: bool = False) -> None:
    """ONNX Runtime's dynamic quantisation of ``source`` into ``target``: int8 weights with a scale per output channel
    (on bert_classifier.movies half the label flips of one scale per tensor: 48 against 104 of 2,113 sentences, at
    the same speed), activations quantised per batch. ``split_attention``: each ``Attention`` becomes ``MatMul`` and
    ``MultiHeadAttention`` first (ONNX Runtime's ``QAttention`` cannot take its attention bias)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model: Any = str(source)
    if split_attention:
        model = onnx.load(str(source))
        _split_attentions(model.graph)
    disabled = logging.root.manager.disable
    logging.disable(logging.WARNING)  # its advice to pre-process the graph, through the root logger, on every call
    try:
        with _temporary(target) as tmp:
            # DefaultTensorType: the type of outputs that onnx's shape inference cannot see through (contrib ops)
            quantize_dynamic(model, tmp, weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.disable(disabled)


def load_onnx_classifier(weights: Any, model_kwargs: Mapping[str, Any] | None = None, *, backend: str = "onnx",
                         threads: int | None = None) -> "OnnxClassifier | CheckedClassifier":
    """The cached (else made) ONNX file of ``weights`` that ``backend`` (one of :data:`BACKENDS` but ``torch``) runs,
    in an :class:`OnnxClassifier`, or both files in a :class:`CheckedClassifier`; a cached file that ONNX Runtime
    refuses is made again once."""
    if backend == "onnx-int8-checked":
        return CheckedClassifier(load_onnx_classifier(weights, model_kwargs, backend="onnx-int8", threads=threads),
                                 load_onnx_classifier(weights, model_kwargs, backend="onnx", threads=threads))
    if backend not in BACKENDS[1:]:
        raise ZooError(f"unknown ONNX backend {backend!r}; expected one of {', '.join(BACKENDS[1:])}")
    path, made = cached_onnx(weights, model_kwargs, int8=backend == "onnx-int8")
    try:
        return OnnxClassifier(path, threads=threads)
    except ZooError:
        if made:
            raise
    path, _ = cached_onnx(weights, model_kwargs, int8=backend == "onnx-int8", refresh=True)
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
        try:  # without the fusion that makes the slow SkipLayerNormalization (module docstring)
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                                disabled_optimizers=["SkipLayerNormFusion"])
        except Exception as exc:  # onnxruntime raises its own InvalidProtobuf, Fail, ...
            raise ZooError(f"ONNX Runtime cannot load {path}: {type(exc).__name__}: {str(exc).strip()[:200]}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        return torch.from_numpy(self.run(*self.feed(*args, **kwargs)))

    def feed(self, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], Any]:
        """The call's tensors as ``(numpy arrays by graph input name, text_index or None)``."""
        values = dict(zip(self.input_names, args), **kwargs)
        text_index = values.pop("text_index", None) if "text_index" not in self.input_names else None
        unknown = sorted(set(values) - set(self.input_names))
        missing = [n for n in self.input_names if n not in values]
        if unknown or missing:
            raise ZooError(f"{self.path.name} takes {', '.join(self.input_names)}; got {', '.join(sorted(values))}")
        return {name: _numpy(values[name]) for name in self.input_names}, None if text_index is None else _numpy(text_index)

    def run(self, feed: dict[str, Any], text_index: Any = None) -> Any:
        """Logits ``float32 [N, C]`` (numpy) of :meth:`feed`'s output; windows averaged per text."""
        logits = self.session.run(None, feed)[0]
        return logits if text_index is None else average_windows(logits, text_index)


class CheckedClassifier:
    """``onnx-int8-checked``: ``fast`` (an int8 :class:`OnnxClassifier`) labels every input; those whose margin
    (the log-probability of the most probable class less that of the next; for logits, their difference) is under
    ``margin`` are run again by ``exact`` (the fp32 one), whose logits replace theirs. Called like either;
    ``checked`` / ``seen`` count the inputs run again / all of them."""

    def __init__(self, fast: OnnxClassifier, exact: OnnxClassifier, *, margin: float = CHECK_MARGIN) -> None:
        if fast.input_names != exact.input_names:
            raise ZooError(f"{fast.path.name} and {exact.path.name} take different inputs")
        self.fast, self.exact, self.margin = fast, exact, margin
        self.checked = self.seen = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import numpy as np
        import torch

        feed, text_index = self.fast.feed(*args, **kwargs)
        logits = self.fast.run(feed, text_index)
        top = np.sort(logits, axis=1)
        unsure = ~(top[:, -1] - top[:, -2] >= self.margin) if logits.shape[1] > 1 else np.zeros(len(logits), bool)
        rows = np.flatnonzero(unsure)  # NaN margins included
        if len(rows):
            if text_index is None:
                logits[rows] = self.exact.run({k: v[rows] for k, v in feed.items()})
            else:  # every window of those texts, their texts renumbered 0..len(rows)-1
                windows = np.flatnonzero(unsure[text_index])
                logits[rows] = self.exact.run({k: v[windows] for k, v in feed.items()},
                                              np.searchsorted(rows, text_index[windows]))
        self.checked, self.seen = self.checked + len(rows), self.seen + len(logits)
        return torch.from_numpy(logits)


def _numpy(value: Any) -> Any:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


# ------------------------------------------------------------------ the rewrite of a transformer's graph
def _optimize_transformer(source: Path, target: Path) -> str | None:
    """Write the graph of ``source`` (a transformer classifier's export) rewritten for ONNX Runtime's CPU into
    ``target`` (module docstring); ``None``, or why not (``target`` then not written)."""
    import onnx

    try:
        import onnx_ir as ir
        from onnxscript.rewriter.ort_fusions import optimize_for_ort
    except ImportError as exc:
        return f"this onnxscript has no fusions for ONNX Runtime ({exc})"
    inputs = [i.name for i in onnx.load(str(source), load_external_data=False).graph.input]
    if sorted(inputs) != ["attention_mask", "input_ids"]:
        return f"its inputs are {', '.join(inputs)}, not input_ids and attention_mask"
    try:
        model = ir.to_proto(optimize_for_ort(ir.load(str(source)))[0])
        _fold_concatenated_weights(model.graph)
        _keep_first_token(model.graph)  # a model whose output reads more than token 0 keeps its top layer whole
        _split_skip_layernorms(model.graph)
        _drop_unused_weights(model.graph)
        gap = float(abs(_probe_logits(model.SerializeToString()) - _probe_logits(str(source))).max())
    except Exception as exc:  # a rewriter of another version may fail in its own ways; the export still runs
        return f"the rewrite failed: {type(exc).__name__}: {str(exc).strip()[:200]}"
    if not gap <= _PARITY_ATOL:
        return f"the rewritten graph's logits differ from the export's by {gap:.2g} on a probe batch"
    with _temporary(target) as tmp:
        onnx.save(model, tmp)
    return None


def _probe_logits(model: str | bytes) -> Any:
    """The logits of ``model`` (a path or the bytes of a transformer's graph) for three token sequences of 12, 7 and 3
    tokens (ids below 1,000, seeded), padded to 12."""
    import numpy as np
    import onnxruntime as ort

    mask = (np.arange(12)[None, :] < np.array([[12], [7], [3]])).astype(np.int64)
    ids = np.random.default_rng(0).integers(1, 1000, size=(3, 12), dtype=np.int64) * mask
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"], disabled_optimizers=["SkipLayerNormFusion"])
    return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def _attribute(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _set_nodes(graph: Any, nodes: list[Any]) -> None:
    """Replace ``graph``'s nodes by (copies of) ``nodes``, in that order."""
    copies = [type(n).FromString(n.SerializeToString()) for n in nodes]
    del graph.node[:]
    graph.node.extend(copies)


def _fold_concatenated_weights(graph: Any) -> None:
    """A ``Concat`` of weights (the fused ``Attention``'s Q, K and V) becomes one weight: the quantiser and
    :func:`_split_attention` read weights, not nodes."""
    import numpy as np
    from onnx import numpy_helper

    weights = {t.name: t for t in graph.initializer}
    kept = []
    for node in graph.node:
        if node.op_type == "Concat" and all(x in weights for x in node.input):
            value = np.concatenate([numpy_helper.to_array(weights[x]) for x in node.input], axis=_attribute(node, "axis"))
            graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        else:
            kept.append(node)
    _set_nodes(graph, kept)


def _drop_unused_weights(graph: Any) -> None:
    used = {x for node in graph.node for x in node.input} | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _split_attention(graph: Any, node: Any, query_from: str | None = None,
                     bias_rows: list[str] | None = None) -> list[Any] | None:
    """The nodes that replace ``Attention`` ``node`` (input ``[B, S, H]``, packed Q/K/V weight ``[H, 3H]`` and bias,
    an optional attention bias ``[B, 1, S, S]``, nothing else): three ``MatMul`` and a ``MultiHeadAttention``,
    the query from ``query_from`` (``[B, 1, H]``) if given, the attention bias then sliced by ``bias_rows`` (Slice's
    starts, ends, axes). ``None`` for another form of ``Attention``."""
    import numpy as np
    from onnx import helper, numpy_helper

    weights = {t.name: t for t in graph.initializer}
    hidden, packed, bias, mask, past, attention_bias, *rest = list(node.input) + [""] * 6
    sizes = _attribute(node, "qkv_hidden_sizes")
    if mask or past or any(rest) or packed not in weights or not bias or _attribute(node, "unidirectional", 0) \
            or _attribute(node, "do_rotary", 0) or _attribute(node, "past_present_share_buffer", 0) \
            or (sizes is not None and len(set(sizes)) != 1):
        return None
    w = numpy_helper.to_array(weights[packed])
    size = w.shape[1] // 3
    prefix = f"{node.output[0]}.mha"
    nodes = []
    for i, part in enumerate("qkv"):
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w[:, i * size:(i + 1) * size]), f"{prefix}.w{part}"))
        source = query_from if part == "q" and query_from else hidden
        nodes.append(helper.make_node("MatMul", [source, f"{prefix}.w{part}"], [f"{prefix}.{part}"], name=f"{prefix}.{part}"))
    if attention_bias and bias_rows:
        nodes.append(helper.make_node("Slice", [attention_bias, *bias_rows], [f"{prefix}.bias"], name=f"{prefix}.bias"))
        attention_bias = f"{prefix}.bias"
    scale = {"scale": _attribute(node, "scale")} if _attribute(node, "scale") is not None else {}
    nodes.append(helper.make_node("MultiHeadAttention", [f"{prefix}.q", f"{prefix}.k", f"{prefix}.v", bias, "", attention_bias],
                                  [node.output[0]], name=prefix, domain="com.microsoft",
                                  num_heads=_attribute(node, "num_heads"), **scale))
    return nodes


def _split_attentions(graph: Any) -> None:
    """Every ``Attention`` that :func:`_split_attention` can split, split."""
    nodes = []
    for node in graph.node:
        nodes += (_split_attention(graph, node) if node.op_type == "Attention" else None) or [node]
    _set_nodes(graph, nodes)
    _drop_unused_weights(graph)


def _keep_first_token(graph: Any) -> bool:
    """Run the top layer on token 0 alone where the output reads nothing else (module docstring): the graph's one
    ``Gather`` of index 0 on axis 1 reads the last ``Attention``'s layer through token-wise ops only (:data:`_TOKENWISE`),
    whose other inputs are weights or that layer's input (the residual). Whether it did."""
    import numpy as np
    from onnx import helper, numpy_helper

    weights = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers = defaultdict(list)
    for node in graph.node:
        for x in node.input:
            readers[x].append(id(node))

    def is_zero(name: str) -> bool:
        return name in weights and numpy_helper.to_array(weights[name]).shape == () and int(numpy_helper.to_array(weights[name])) == 0

    picks = [n for n in graph.node if n.op_type == "Gather" and _attribute(n, "axis", 0) == 1 and is_zero(n.input[1])]
    attentions = [n for n in graph.node if n.op_type == "Attention"]
    if len(picks) != 1 or not attentions:
        return False
    pick, attention = picks[0], attentions[-1]
    hidden, heard = attention.input[0], attention.output[0]
    layer: dict[int, Any] = {}
    todo = [pick.input[0]]
    while todo:
        name = todo.pop()
        node = producer.get(name)
        if name in (hidden, heard) or (node is not None and id(node) in layer):
            continue
        if node is None or node.op_type not in _TOKENWISE or (node.op_type == "MatMul" and (
                node.input[1] not in weights or len(weights[node.input[1]].dims) != 2)):
            return False
        layer[id(node)] = node
        todo += [x for x in node.input if x and x not in weights]
    outputs = {o.name for o in graph.output}
    inside = set(layer) | {id(pick)}
    if any(o in outputs or not set(readers[o]) <= inside for node in layer.values() for o in node.output if o) \
            or not set(readers[heard]) <= set(layer):
        return False
    first = f"{hidden}.token0"
    rows = [f"{first}.{name}" for name in ("starts", "ends", "axis1", "axis2")]
    for name, value in zip(rows, ([0], [1], [1], [2])):
        graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.int64), name))
    replacement = _split_attention(graph, attention, first, [rows[0], rows[1], rows[3]])
    if replacement is None:
        return False
    for node in layer.values():
        node.input[:] = [first if x == hidden else x for x in node.input]
    cut = helper.make_node("Slice", [hidden, rows[0], rows[1], rows[2]], [first], name=first)
    _set_nodes(graph, [m for n in graph.node for m in ([cut, *replacement] if n is attention else [n])])
    changed = {o for node in layer.values() for o in node.output} | {heard}
    kept = [v for v in graph.value_info if v.name not in changed]  # their sequence axis is 1 now
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return True


def _split_skip_layernorms(graph: Any) -> None:
    """``SkipLayerNormalization`` -> ``Add`` (input, skip, then bias) and ``LayerNormalization``: 5x faster in ONNX
    Runtime 1.32 (module docstring). One whose mean or inverse deviation outputs are read stays."""
    from onnx import helper

    read = {x for node in graph.node for x in node.input} | {o.name for o in graph.output}
    nodes = []
    for node in graph.node:
        outputs = list(node.output) + [""] * 4
        if node.op_type != "SkipLayerNormalization" or outputs[1] in read or outputs[2] in read:
            nodes.append(node)
            continue
        x, skip, gamma, beta, bias = list(node.input) + [""] * (5 - len(node.input))
        total = outputs[3] if outputs[3] in read else f"{outputs[0]}.sum"
        summed = f"{total}.partial" if bias else total
        nodes.append(helper.make_node("Add", [x, skip], [summed], name=f"{node.name}.add"))
        if bias:
            nodes.append(helper.make_node("Add", [summed, bias], [total], name=f"{node.name}.bias"))
        nodes.append(helper.make_node("LayerNormalization", [total, gamma] + ([beta] if beta else []), [outputs[0]],
                                      name=f"{node.name}.norm", axis=-1, epsilon=_attribute(node, "epsilon", 1e-12)))
    _set_nodes(graph, nodes)
