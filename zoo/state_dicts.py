"""Tensors in and out of weights files: reading a state dict with its sha256 checked, loading it into a model
(strictly, or the tensors that match for fine-tuning), and writing byte-reproducible safetensors.

What a weights file *says about itself* (model, builder arguments, classes, preprocessing, metrics) is
``zoo.weights``'s business; this module only moves tensors.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping

from zoo import download
from zoo.errors import WeightsError
from zoo.files import atomic_write_bytes, sha256_file
from zoo.weights import PICKLE_SUFFIXES, Weights, fetch_hf, parse_hf_uri


def load_state_dict(weights: Weights, *, progress: bool = True) -> dict[str, Any]:
    """Read the tensors of ``weights``, checking their sha256 first (every :class:`~zoo.weights.Weights` pins one).

    A registered entry whose file is not on disk but has a ``url`` is downloaded into the cache first
    (see :func:`zoo.download.fetch_url_to_cache`). A pickle checkpoint is read only when it was resolved with
    ``allow_pickle``, and then only its tensors are unpickled (``weights_only``).
    """
    path = weights.path
    if not path.is_file():
        if not weights.url:
            raise WeightsError(f"weights {weights.name}: file {path} is missing" + ("" if weights.tag is None else " and the entry has no url"))
        if weights.url.startswith("hf://"):
            path = fetch_hf(parse_hf_uri(weights.url), sha256=weights.sha256, progress=progress)
        else:
            path = download.fetch_url_to_cache(weights.url, weights.sha256, progress=progress)
    actual = sha256_file(path)
    if actual != weights.sha256:
        raise WeightsError(
            f"weights {weights.name}: sha256 of {path} is {actual}, but {weights.pinned_by} pins {weights.sha256}. "
            "The file is corrupt, truncated or was replaced; restore it (git checkout, or delete it to re-download)."
        )
    # A pickle is unpickled (tensors only) when asked, or when a registered entry pins it (torchvision's .pth):
    # its sha256 matched just above, so these are the published bytes.
    if (weights.allow_pickle or weights.tag is not None) and path.suffix in PICKLE_SUFFIXES:
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
