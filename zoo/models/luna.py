"""The book's LUNA16 classifiers (Deep Learning with PyTorch, p2ch11-p2ch14): ``luna_classifier``
(nodule vs non-nodule candidate) and ``luna_malignancy`` (benign vs malignant nodule).

Both take CT crops ``float32 [N, 1, 32, 48, 48]`` in Hounsfield units (clipped to [-1000, 1000], voxel
order index, row, column) from ``zoo.datasets.luna`` and return logits ``[N, 2]``: an input batch norm,
four blocks of two 3x3x3 convolutions + ReLU and a 2x max-pool (8, 16, 32, 64 channels), and a linear
head on the flattened ``64 x 2 x 3 x 3 = 1152`` features.

Fine-tuning for malignancy, as in the book's p2ch14: start from a trained nodule classifier, keep its
backbone, re-initialise the head, and train only the head (``finetune="head"``) or the last block and
the head (``finetune="block4"``)::

    model = luna_malignancy(init_from="runs/luna_classifier-luna/model.safetensors", finetune="head")
    # or: zoo train luna_malignancy --data luna_malignancy -k init_from=runs/.../model.safetensors -k finetune=block4

Frozen layers stay in eval mode during training, so the input batch norm keeps the nodule classifier's
statistics.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

import torch
from torch import nn

from zoo.errors import WeightsError
from zoo.hookspecs import hookimpl
from zoo.models import check_input_shape
from zoo.weights import shipped_manifest_path

__all__ = ["LunaBlock", "LunaModel", "luna_classifier", "luna_malignancy", "FINETUNE_DEPTHS", "INPUT_SHAPE"]

INPUT_SHAPE = (1, 32, 48, 48)
#: Which top-level modules ``finetune`` leaves trainable.
FINETUNE_DEPTHS = {"head": ("head",), "block4": ("block4", "head"), "all": None}


class LunaBlock(nn.Module):
    """conv3x3x3 -> ReLU -> conv3x3x3 -> ReLU -> max-pool 2: ``[N, C_in, D, H, W]`` -> ``[N, C_out, D/2, H/2, W/2]``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(out_channels, out_channels, kernel_size=3, padding=1)
        self.pool = nn.MaxPool3d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        return self.pool(torch.relu(self.conv2(x)))


class LunaModel(nn.Module):
    """Input batch norm, blocks of 8/16/32/64 channels (``conv_channels`` doubles per block), linear head.

    Shapes: ``[N, 1, 32, 48, 48]`` -> ``[N, 8, 16, 24, 24]`` -> ``[N, 16, 8, 12, 12]`` ->
    ``[N, 32, 4, 6, 6]`` -> ``[N, 64, 2, 3, 3]`` -> flatten 1152 -> logits ``[N, num_classes]``.
    """

    def __init__(self, *, in_channels: int = 1, conv_channels: int = 8, num_classes: int = 2) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.input_norm = nn.BatchNorm3d(in_channels)
        self.block1 = LunaBlock(in_channels, conv_channels)
        self.block2 = LunaBlock(conv_channels, conv_channels * 2)
        self.block3 = LunaBlock(conv_channels * 2, conv_channels * 4)
        self.block4 = LunaBlock(conv_channels * 4, conv_channels * 8)
        self.head = nn.Linear(conv_channels * 8 * 2 * 3 * 3, num_classes)
        self.frozen: tuple[str, ...] = ()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The book's initialisation: Kaiming-normal weights (fan-out, ReLU) and biases uniform in
        +/- 1/sqrt(fan_out). (The book calls ``normal_(bias, -bound, bound)``, i.e. mean -bound and std
        bound; a range was evidently meant.)"""
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    _, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
                    bound = 1 / math.sqrt(fan_out)
                    nn.init.uniform_(m.bias, -bound, bound)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, 32, 48, 48]`` HU -> backbone features ``[N, 1152]``."""
        check_input_shape(x, (self.in_channels, 32, 48, 48), type(self).__name__)
        # Channels-last 3-D is what oneDNN's CPU convolutions want: about 2x faster training on CPU here.
        x = self.input_norm(x).contiguous(memory_format=torch.channels_last_3d)
        x = self.block4(self.block3(self.block2(self.block1(x))))
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def freeze(self, finetune: str) -> None:
        """Train only the modules that ``finetune`` names (see :data:`FINETUNE_DEPTHS`); the others get
        ``requires_grad=False`` and stay in eval mode."""
        if finetune not in FINETUNE_DEPTHS:
            raise ValueError(f"finetune must be one of {sorted(FINETUNE_DEPTHS)}, got {finetune!r}")
        trainable = FINETUNE_DEPTHS[finetune]
        names = [name for name, _ in self.named_children()]
        self.frozen = () if trainable is None else tuple(n for n in names if n not in trainable)
        for name, module in self.named_children():
            for p in module.parameters():
                p.requires_grad_(name not in self.frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> LunaModel:
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self


def _backbone_state(source: Any) -> Mapping[str, torch.Tensor]:
    """A state dict from a ``LunaModel``, a state dict, or a ``.safetensors`` path (loaded lazily)."""
    if isinstance(source, nn.Module):
        return source.state_dict()
    if isinstance(source, Mapping):
        return source
    path = os.fspath(source)
    if not path.endswith(".safetensors"):
        raise WeightsError(f"init_from must be a LunaModel, a state dict or a .safetensors file, got {path!r}")
    if not os.path.isfile(path):
        raise WeightsError(f"init_from file {path} does not exist (train a nodule classifier first: "
                           "zoo train luna_classifier --data luna)")
    from safetensors.torch import load_file

    return load_file(path)


def luna_classifier(*, conv_channels: int = 8, num_classes: int = 2) -> LunaModel:
    """The book's nodule classifier: ``[N, 1, 32, 48, 48]`` HU -> logits ``[N, 2]`` (non-nodule, nodule)."""
    return LunaModel(conv_channels=conv_channels, num_classes=num_classes)


def luna_malignancy(*, conv_channels: int = 8, num_classes: int = 2, init_from: Any = None, finetune: str = "all") -> LunaModel:
    """The same network for benign (0) vs malignant (1): ``[N, 1, 32, 48, 48]`` HU -> logits ``[N, 2]``.

    ``init_from`` (a ``luna_classifier`` model, its state dict, or a ``.safetensors`` file) copies every
    backbone weight (input norm and the four blocks) and leaves the head freshly initialised;
    ``finetune`` is ``"head"``, ``"block4"`` (last block and head) or ``"all"``.
    """
    model = LunaModel(conv_channels=conv_channels, num_classes=num_classes)
    if init_from is not None:
        state = {k: v for k, v in _backbone_state(init_from).items() if not k.startswith("head.")}
        own = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
        bad = sorted(set(own) ^ set(state)) + [k for k in own if k in state and own[k].shape != state[k].shape]
        if bad:
            raise WeightsError(f"init_from does not hold a luna_classifier backbone of conv_channels={conv_channels}: {bad[:4]}")
        model.load_state_dict(state, strict=False)
    model.freeze(finetune)
    return model


_INPUT = "float32 [N, 1, 32, 48, 48]: a CT crop (index, row, column) in Hounsfield units clipped to [-1000, 1000]"


@hookimpl
def register_models(register):
    manifest = str(shipped_manifest_path())
    register("luna_classifier", luna_classifier, task="classification", weights=manifest, tags=("luna", "ct", "3d", "book"),
             description="The book's LUNA16 nodule classifier: input batch norm, 4 blocks of 2 conv3d + max-pool (8-64 ch), linear head.",
             meta={"input": _INPUT, "output": "logits [N, 2] (non-nodule, nodule)", "input_shape": INPUT_SHAPE,
                   "class_names": ("non-nodule", "nodule"), "data": "luna",
                   "recipe": "zoo train luna_classifier --data luna --root ROOT -d balance_ratio=1 --epochs 10"})
    register("luna_malignancy", luna_malignancy, task="classification", weights=manifest, tags=("luna", "ct", "3d", "book"),
             description="The LUNA16 backbone with a benign/malignant head, initialised from a nodule classifier (init_from=...).",
             meta={"input": _INPUT, "output": "logits [N, 2] (benign, malignant)", "input_shape": INPUT_SHAPE,
                   "class_names": ("benign", "malignant"), "data": "luna_malignancy",
                   "recipe": "zoo train luna_malignancy --data luna_malignancy --root ROOT "
                             "-k init_from=runs/luna_classifier-luna/model.safetensors -k finetune=block4 -d balance_ratio=1"})
