"""Export a registered model for deployment, with the parity checked (``zoo export``).

Two formats: ``onnx`` (``torch.onnx.export``, the dynamo exporter, for ONNX Runtime) and ``pt2``
(``torch.export`` saved with ``torch.export.save``, for AOTInductor and ``torch.export.load``). A pt2 program
takes its inputs positionally, in the order of the model's ``forward``, as torchvision's and timm's exports
do: ``torch.export.load(path).module()(x)``, or ``(input_ids, attention_mask)`` for the text models. The batch
dimension is dynamic; so are the dimensions a model declares in ``dynamic_dims`` (``luna_unet``:
height and width; the transformer classifiers: the sequence length). A model that cannot be exported says
why in ``not_exportable`` (``lstm_sentiment``; ``bart_classifier`` to pt2).

The file is made in memory, loaded back from there (ONNX Runtime on the CPU, ``torch.export.load``), run on
an input of another batch size than the example it was exported with, and compared with eager PyTorch; only
within the tolerance is it written (atomically, by ``zoo.files``), so no temporary lies on disk for the
seconds a kill is likely to hit, and a killed write's temporary is removed at the next. The ONNX file carries
the model name, the class names and the preprocessing in its ``metadata_props``; the pt2 archive the same JSON
as an extra file. ``--opset`` is honoured or refused: the dynamo exporter writes opset 18 and above, and lower
ones only where onnx's version converter can convert the model; the written file's opset is checked.

ONNX needs the ``export`` extra (onnx, onnxruntime, onnxscript), imported only here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from zoo.api import get_model, get_preprocess, get_weights
from zoo.errors import ZooError
from zoo.files import atomic_write_bytes, remove_stale_temporaries
from zoo.plugins import get_registry
from zoo.version import __version__

FORMATS = ("onnx", "pt2")
#: The batch size of the example the model is traced with; parity is checked on EXAMPLE_BATCH + 1.
EXAMPLE_BATCH = 2
#: The opsets torch.onnx's dynamo exporter writes from (its TORCHLIB_OPSET), and the lowest it accepts to convert to.
EXPORTER_OPSET, LOWEST_OPSET = 18, 7


class ExportError(ZooError):
    """The model cannot be exported, or the exported file does not compute what the model computes."""


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float  # exported file vs eager PyTorch, on a batch of another size
    checked_on: dict[str, list[int]]  # the shapes of the inputs the parity was checked on
    dynamic: list[str]  # which input dimensions are dynamic, in words


def export_model(name: str, *, weights: Any = None, format: str = "onnx", out: str | os.PathLike | None = None,
                 opset: int | None = None, atol: float = 1e-4, model_kwargs: dict[str, Any] | None = None,
                 optimize: bool = True) -> ExportResult:
    """Export model ``name`` (with ``weights``, else its random initialisation) to ``out`` and check parity.

    ``out`` defaults to ``NAME[.TAG].onnx`` / ``.pt2`` in the current folder. Raises :class:`ExportError`
    (nothing left on disk) when the exporter cannot trace the model or the largest absolute difference
    to eager PyTorch exceeds ``atol``. ``optimize`` runs onnxscript's graph optimizer on the ONNX file
    (constant folding, fusions); the tests switch it off to save time.
    """
    if format not in FORMATS:
        raise ZooError(f"unknown export format {format!r}; expected one of {', '.join(FORMATS)}")
    spec = get_registry().model(name)
    why_not = not_exportable(spec, format)
    if why_not:
        raise ExportError(f"{name} cannot be exported to {format}: {why_not}")
    if not (atol >= 0):
        raise ZooError(f"--atol {atol} is not valid: expected a number at least 0")
    target = _target(name, weights, format, out)
    if format == "onnx":
        _onnx_modules()  # says which extra to install before any work
    _check_opset(opset, format)
    model = get_model(name, weights=weights, **(model_kwargs or {})).eval()
    found = get_weights(name, weights) if weights is not None else None  # their input: efficientnet_lite0.fashion's 1x28x28
    shape = spec.input_shape_for({**(found.model_kwargs if found else {}), **(model_kwargs or {})},
                                 found.preprocessing if found else None)
    example = _example(model, spec, shape, EXAMPLE_BATCH)
    check = _example(model, spec, shape, EXAMPLE_BATCH + 1, seed=1, grow=16)  # other batch; other H, W where dynamic
    dims = _dynamic_shapes(example, spec)
    metadata = _metadata(name, weights, spec)
    if format == "onnx":
        data = _export_onnx(model, example, dims, opset, metadata, optimize)
        exported = _run_onnx(data, check)
    else:
        data = _export_pt2(model, _positional(model, example), dims, metadata)
        exported = _run_pt2(data, _positional(model, check))
    import torch

    with torch.inference_mode():
        eager = model(**check).float()
    diff = float((exported.float() - eager).abs().max())
    if not diff <= atol:
        raise ExportError(f"{name} exported to {format} differs from PyTorch by up to {diff:.3g} on a batch of "
                          f"{EXAMPLE_BATCH + 1} (tolerance {atol:g}, --atol); no file written")
    remove_stale_temporaries(target.parent, f".{target.stem}.*.tmp{target.suffix}")  # as hubzoo 0.1.0 named them
    atomic_write_bytes(target, data)
    shape = {k: list(v.shape) for k, v in check.items() if hasattr(v, "shape")}
    return ExportResult(target, format, diff, shape, [f"{k}: {', '.join(v.values())}" for k, v in dims.items()])


def not_exportable(spec: Any, format: str) -> str | None:
    """Why the model ``spec`` describes cannot be exported to ``format``: its ``not_exportable`` is a reason for
    every format, or ``{format: reason}``; ``None`` when it can be."""
    reason = spec.not_exportable
    return (reason.get(format) if isinstance(reason, Mapping) else reason) or None


def _target(name: str, weights: Any, format: str, out: str | os.PathLike | None) -> Path:
    if out is None:
        tag = f".{weights}" if isinstance(weights, str) and "/" not in weights and ":" not in weights and weights else ""
        return Path(f"{name}{tag}.{format}")
    target = Path(out)
    if target.is_dir():
        raise ZooError(f"--out {target} is a folder; give the path of the .{format} file to write")
    if target.suffix != f".{format}":
        raise ZooError(f"--out {target} must end in .{format} for --format {format}")
    if not target.parent.is_dir():
        where = f"{target.parent} is a file, not a folder" if target.parent.exists() else f"the folder {target.parent} does not exist"
        raise ZooError(f"--out {target}: {where}")
    return target


def _example(model: Any, spec: Any, shape: tuple[int, ...] | None, batch: int, seed: int = 0,
             grow: int = 0) -> dict[str, Any]:
    """Keyword arguments of a forward pass with ``batch`` items: the model's own example input, or a
    seeded normal tensor of ``shape`` (the declared ``input_shape`` as the weights change it) with the dynamic
    dimensions (``dynamic_dims``) ``grow`` larger."""
    import torch

    if hasattr(model, "example_input"):
        return dict(model.example_input(batch))
    if not shape:
        raise ExportError("the model declares neither input_shape nor example_input(): no example to trace with")
    name = next(iter(_forward_parameters(model)))
    dynamic = set(spec.dynamic_dims)
    shape = [size + grow if axis + 1 in dynamic else size for axis, size in enumerate(shape)]
    return {name: torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))}


def _forward_parameters(model: Any) -> list[str]:
    import inspect

    return [n for n, p in inspect.signature(model.forward).parameters.items() if p.kind != p.VAR_KEYWORD]


def _dynamic_shapes(example: dict[str, Any], spec: Any) -> dict[str, dict[int, str]]:
    """``{input: {dim: name}}``: the batch for every tensor input, plus the declared ``dynamic_dims``
    (``{dim: name}``, applied to every input of that rank or more)."""
    extra = dict(spec.dynamic_dims)
    return {key: {0: "batch", **{d: n for d, n in extra.items() if d < value.dim()}}
            for key, value in example.items() if hasattr(value, "dim")}


def _torch_dynamic(dims: dict[str, dict[int, str]], example: dict[str, Any]) -> dict[str, Any]:
    import torch

    shared: dict[str, Any] = {}
    for axes in dims.values():
        for name in axes.values():
            shared.setdefault(name, torch.export.Dim.AUTO)
    return {key: ({d: shared[n] for d, n in dims[key].items()} if key in dims else None) for key in example}


def _metadata(name: str, weights: Any, spec: Any) -> dict[str, str]:
    preprocessing = None
    try:
        preprocessing = get_preprocess(name, weights)
    except ZooError:
        pass
    chosen = spec.weights.get(weights) if isinstance(weights, str) else weights if hasattr(weights, "sha256") else None
    class_names = list(chosen.class_names) if chosen is not None and chosen.class_names else spec.class_names
    named = "random initialisation" if weights is None else chosen.name if chosen is weights else str(weights)
    return {
        "hubzoo.model": name, "hubzoo.weights": named,
        "hubzoo.class_names": json.dumps(list(class_names) if class_names else None),
        "hubzoo.preprocessing": json.dumps(preprocessing.to_dict() if preprocessing is not None else None),
        "hubzoo.version": __version__,
    }


def _onnx_modules() -> Any:
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError:
        raise ZooError("ONNX export needs the 'export' extra: pip install 'hubzoo[export]'") from None
    return onnx, onnxruntime


def _check_opset(opset: int | None, format: str) -> None:
    """Refuse, before any work, an ``--opset`` that no exported file could have; whether the exporter reaches an
    opset below :data:`EXPORTER_OPSET` is seen in the file it writes (:func:`_export_onnx`)."""
    if opset is None:
        return
    if format != "onnx":
        raise ZooError(f"--opset is for --format onnx; a {format} file has no opset")
    highest = _onnx_modules()[0].defs.onnx_opset_version()
    if not LOWEST_OPSET <= opset <= highest:
        raise ZooError(f"--opset {opset} is not valid: expected {LOWEST_OPSET} to {highest}; the exporter writes "
                       f"{EXPORTER_OPSET} to {highest}, lower ones where onnx's converter can convert the model")


@contextlib.contextmanager
def _exporter_logs() -> Iterator[list[Any]]:
    """The records torch.onnx and onnxscript log while exporting (notes on converting the opset, a failed
    conversion's traceback), kept off stderr and handed back: the export says what matters in one line."""
    import logging
    import logging.handlers

    collect = logging.handlers.BufferingHandler(capacity=1_000_000)
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    saved = [(logger.handlers, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers, logger.propagate = [collect], False
    try:
        yield collect.buffer
    finally:
        for logger, (handlers, propagate) in zip(loggers, saved):
            logger.handlers, logger.propagate = handlers, propagate


def _export_onnx(model: Any, example: dict, dims: dict, opset: int | None, metadata: dict[str, str],
                 optimize: bool) -> bytes:
    """The ONNX file's bytes, with ``metadata`` in its ``metadata_props`` and the ``opset`` asked for."""
    import sys

    import torch

    onnx, _ = _onnx_modules()
    try:
        with contextlib.redirect_stdout(sys.stderr), _exporter_logs() as logs:  # the exporter reports its steps on stdout
            program = torch.onnx.export(model, (), kwargs=example, dynamo=True, dynamic_shapes=_torch_dynamic(dims, example),
                                        opset_version=opset, optimize=optimize, verbose=False)
    except Exception as exc:
        raise ExportError(f"torch.onnx.export cannot export this model: {_first_line(exc)}") from None
    try:
        proto = program.model_proto
    except Exception as exc:
        raise ExportError(f"torch.onnx.export traced the model but cannot save it: {_first_line(exc)}") from None
    written = next((i.version for i in proto.opset_import if i.domain in ("", "ai.onnx")), None)
    if opset is not None and written != opset:
        failed = [r.exc_info[1] for r in logs if r.exc_info]  # onnx's converter, through onnxscript's warning
        why = f", which onnx's converter cannot convert ({str(failed[-1]).split('failed: ')[-1][:200]})" if failed else ""
        raise ExportError(f"{metadata['hubzoo.model']} cannot be exported at --opset {opset}: the exporter wrote opset "
                          f"{written}{why}; ask for --opset {EXPORTER_OPSET} to {onnx.defs.onnx_opset_version()}, "
                          "or leave it out")
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def _run_onnx(data: bytes, inputs: dict[str, Any]) -> Any:
    import torch

    _, ort = _onnx_modules()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feed = {i.name: inputs[i.name].numpy() for i in session.get_inputs()}
    return torch.from_numpy(session.run(None, feed)[0])


def _positional(model: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` in the order of the model's ``forward`` parameters, which they must begin: a pt2 program is
    traced with, and called with, its inputs as positional arguments."""
    names = _forward_parameters(model)[: len(inputs)]
    if sorted(names) != sorted(inputs):
        raise ExportError(f"the example input ({', '.join(inputs)}) is not the first arguments of forward"
                          f"({', '.join(_forward_parameters(model))}): it cannot be passed positionally")
    return {name: inputs[name] for name in names}


def _export_pt2(model: Any, example: dict, dims: dict, metadata: dict[str, str]) -> bytes:
    """The pt2 archive's bytes, traced with ``example``'s values as positional arguments (its keys in ``forward``'s
    order, see :func:`_positional`), so the loaded program is called ``module()(x)``, as torchvision's and timm's are.
    Saved into memory: on a full disk torch's C++ zip writer aborts the process, where Python's write raises."""
    import torch

    dynamic = _torch_dynamic(dims, example)
    try:
        program = torch.export.export(model, tuple(example.values()), dynamic_shapes=tuple(dynamic[k] for k in example))
    except Exception as exc:
        raise ExportError(f"torch.export cannot export this model: {_first_line(exc)}") from None
    buffer = io.BytesIO()
    try:
        torch.export.save(program, buffer, extra_files={"hubzoo.json": json.dumps(metadata)})
    except Exception as exc:  # a traced program that cannot be serialised (e.g. data-dependent shapes)
        raise ExportError(f"torch.export traced the model but cannot save it: {_first_line(exc)}") from None
    return buffer.getvalue()


def _run_pt2(data: bytes, inputs: dict[str, Any]) -> Any:
    """Load the program as a user would and call it positionally (``inputs`` in ``forward``'s order)."""
    import torch

    program = torch.export.load(io.BytesIO(data))
    with torch.inference_mode():
        return program.module()(*inputs.values())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def read_onnx_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The hubzoo ``metadata_props`` of an exported ONNX file, JSON values decoded."""
    onnx, _ = _onnx_modules()
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return {k: (json.loads(v) if k in ("hubzoo.class_names", "hubzoo.preprocessing") else v) for k, v in props.items()}
