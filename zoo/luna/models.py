"""The book's LUNA16 classifiers (Deep Learning with PyTorch, p2ch11-p2ch14): ``luna_classifier``
(nodule vs non-nodule candidate) and ``luna_malignancy`` (benign vs malignant nodule).

Both take CT crops ``float32 [N, 1, 32, 48, 48]`` in Hounsfield units (clipped to [-1000, 1000], voxel
order index, row, column) from ``zoo.luna.datasets`` and return logits ``[N, 2]``: an input batch norm,
four blocks of two 3x3x3 convolutions + ReLU and a 2x max-pool (8, 16, 32, 64 channels), and a linear
head on the flattened ``64 x 2 x 3 x 3 = 1152`` features.

Fine-tuning for malignancy, as in the book's p2ch14: start from a trained nodule classifier, keep its
backbone, re-initialise the head, and train only the head (``finetune="head"``, or the trainer's general
``--freeze backbone``) or the last block and the head (``finetune="block4"``)::

    zoo train luna_malignancy --data luna_malignancy --init luna_classifier.synthetic -k finetune=block4
    model = luna_malignancy(init_from="runs/luna_classifier-luna/model.safetensors", finetune="head")  # from Python

``--init`` is hubzoo's general mechanism (``zoo.builder.start_from``): another model's weights are used
when they hold the whole backbone, and never give their head. ``init_from`` is its older spelling for this
one model, a thin alias over the same :func:`zoo.state_dicts.load_matching`, kept because the shipped
``luna_malignancy.synthetic`` weights record a command that uses it. Frozen layers stay in eval mode
during training, so the input batch norm keeps the nodule classifier's statistics.

``luna_unet`` is the book's nodule segmentation network (p2ch13): an input batch norm over 7 slices (a
slice and 3 neighbours on each side) and a 2-D U-Net of depth 3 (16, 32, 64 channels, padded 3x3
convolutions with batch norm, transposed-convolution upsampling): ``float32 [N, 7, H, W]`` HU -> logits
``[N, 1, H, W]`` of the nodule class. Its loss, :class:`SegmentationLoss`, is the book's soft Dice plus
a recall term that weights false negatives 8x (``loss="dice_recall"``), or BCE + soft Dice
(``loss="bce_dice"``); the trainer asks the model for it (:meth:`LunaUNet.make_loss`).
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import WeightsError
from zoo.luna.family import CROP_SIZE, INPUT_SHAPE, SEGMENTATION_INPUT_SHAPE
from zoo.models.common import check_input_shape
from zoo.state_dicts import load_matching

__all__ = [
    "LunaBlock", "LunaModel", "luna_classifier", "luna_malignancy", "FINETUNE_DEPTHS", "INPUT_SHAPE",
    "UNetConvBlock", "UNetUpBlock", "LunaUNet", "SegmentationLoss", "soft_dice_loss", "luna_unet", "SEGMENTATION_INPUT_SHAPE",
    "SEGMENTATION_LOSSES", "init_book_weights",
]

#: Which top-level modules ``finetune`` leaves trainable.
FINETUNE_DEPTHS = {"head": ("head",), "block4": ("block4", "head"), "all": None}


def init_book_weights(model: nn.Module, layer_types: tuple[type[nn.Module], ...]) -> None:
    """The book's initialisation of the ``layer_types`` layers of ``model``: Kaiming-normal weights (fan-out,
    ReLU) and biases uniform in +/- 1/sqrt(fan_out). (The book calls ``normal_(bias, -bound, bound)``, i.e.
    mean -bound and std bound; a range was evidently meant.)"""
    for m in model.modules():
        if isinstance(m, layer_types):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                _, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = 1 / math.sqrt(fan_out)
                nn.init.uniform_(m.bias, -bound, bound)


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
        """The book's initialisation of the convolutions and the head (:func:`init_book_weights`)."""
        init_book_weights(self, (nn.Conv3d, nn.Linear))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, 32, 48, 48]`` HU -> backbone features ``[N, 1152]``."""
        check_input_shape(x, (self.in_channels, *CROP_SIZE), type(self).__name__)
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
    backbone weight (input norm and the four blocks) and leaves the head freshly initialised: what
    ``zoo train luna_malignancy --init W`` does for any model, spelt as a builder argument (kept for the
    shipped weights' recorded command). ``finetune`` is ``"head"``, ``"block4"`` (last block and head) or ``"all"``.
    """
    model = LunaModel(conv_channels=conv_channels, num_classes=num_classes)
    if init_from is not None:
        _, fresh = load_matching(model, _backbone_state(init_from), skip=("head",))
        bad = [k for k in fresh if not k.startswith("head.")]
        if bad:
            raise WeightsError(f"init_from does not hold a luna_classifier backbone of conv_channels={conv_channels}: {bad[:4]}")
    model.freeze(finetune)
    return model


# --------------------------------------------------------------------------------- segmentation (p2ch13)

#: The losses ``luna_unet(loss=...)`` can train with (see :class:`SegmentationLoss`).
SEGMENTATION_LOSSES = ("dice_recall", "bce_dice", "dice")


class UNetConvBlock(nn.Module):
    """conv3x3 -> ReLU -> [BN] -> conv3x3 -> ReLU -> [BN] (jvanvugt/pytorch-unet's order, as the book uses it):
    ``[N, C_in, H, W]`` -> ``[N, C_out, H, W]`` with ``padding``, else ``[N, C_out, H - 4, W - 4]``."""

    def __init__(self, in_channels: int, out_channels: int, *, padding: bool, batch_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in in (in_channels, out_channels):
            layers += [nn.Conv2d(c_in, out_channels, kernel_size=3, padding=int(padding)), nn.ReLU()]
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class UNetUpBlock(nn.Module):
    """Upsample 2x (``"upconv"``: 2x2 transposed convolution; ``"upsample"``: bilinear + 1x1 convolution),
    concatenate the skip connection (centre-cropped to fit), then a :class:`UNetConvBlock`:
    ``([N, C_in, H, W], skip [N, C_out, >=2H, >=2W])`` -> ``[N, C_out, 2H, 2W]`` (padded convolutions)."""

    def __init__(self, in_channels: int, out_channels: int, *, up_mode: str, padding: bool, batch_norm: bool) -> None:
        super().__init__()
        if up_mode == "upconv":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        else:
            self.up = nn.Sequential(nn.Upsample(mode="bilinear", scale_factor=2, align_corners=False),
                                    nn.Conv2d(in_channels, out_channels, kernel_size=1))
        self.conv_block = UNetConvBlock(in_channels, out_channels, padding=padding, batch_norm=batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(x)
        dy, dx = (skip.shape[2] - up.shape[2]) // 2, (skip.shape[3] - up.shape[3]) // 2
        skip = skip[:, :, dy : dy + up.shape[2], dx : dx + up.shape[3]]
        return self.conv_block(torch.cat([up, skip], dim=1))


class LunaUNet(nn.Module):
    """The book's segmentation network: input batch norm, a 2-D U-Net, logits of the nodule class.

    ``forward``: ``float32 [N, in_channels, H, W]`` HU (a CT slice and its neighbours, clipped to
    [-1000, 1000]) -> logits ``[N, 1, H, W]``; no sigmoid (it belongs in the loss and the evaluator).
    With ``padding=True`` (the book's setting) any ``H, W`` works: inputs whose sides are not multiples
    of ``2 ** (depth - 1)`` are padded (edge values) and the logits cropped back; with ``padding=False``
    the output is smaller than the input (unpadded convolutions, skips centre-cropped). Channels per level:
    ``2 ** (wf + level)``, so depth 3 and wf 4 give 16, 32, 64. In eval mode a batch of more than
    :attr:`eval_chunk_pixels` input pixels runs in chunks (the same result, bounded memory: the evaluator
    sends whole 512 x 512 slices in batches of 256).
    """

    eval_chunk_pixels = 2**21  # 8 slices of 512 x 512

    def __init__(self, *, in_channels: int = 7, depth: int = 3, wf: int = 4, padding: bool = True, batch_norm: bool = True,
                 up_mode: str = "upconv", loss: str = "dice_recall", recall_weight: float = 8.0) -> None:
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        if not isinstance(depth, int) or depth < 1 or not isinstance(wf, int) or wf < 0:
            raise ValueError(f"depth must be >= 1 and wf >= 0 (channels 2**wf, doubling per level), got depth={depth!r}, wf={wf!r}")
        if up_mode not in ("upconv", "upsample"):
            raise ValueError(f"up_mode must be 'upconv' or 'upsample', got {up_mode!r}")
        self.loss_options = {"kind": loss, "recall_weight": recall_weight}
        SegmentationLoss(**self.loss_options)  # an unknown loss fails when the model is built, not at the first step
        self.in_channels, self.depth, self.padding = in_channels, depth, padding
        self.input_norm = nn.BatchNorm2d(in_channels)
        self.down = nn.ModuleList()
        channels = in_channels
        for level in range(depth):
            self.down.append(UNetConvBlock(channels, 2 ** (wf + level), padding=padding, batch_norm=batch_norm))
            channels = 2 ** (wf + level)
        self.up = nn.ModuleList()
        for level in reversed(range(depth - 1)):
            self.up.append(UNetUpBlock(channels, 2 ** (wf + level), up_mode=up_mode, padding=padding, batch_norm=batch_norm))
            channels = 2 ** (wf + level)
        self.head = nn.Conv2d(channels, 1, kernel_size=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The book's initialisation (``UNetWrapper._init_weights``) of the convolutions: :func:`init_book_weights`."""
        init_book_weights(self, (nn.Conv2d, nn.ConvTranspose2d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, (self.in_channels, None, None), type(self).__name__)
        n, _, height, width = x.shape
        if not self.training and n > 1 and n * height * width > self.eval_chunk_pixels:
            per_chunk = max(1, self.eval_chunk_pixels // (height * width))
            return torch.cat([self(chunk) for chunk in x.split(per_chunk)])
        x = self.input_norm(x)
        multiple = 2 ** (self.depth - 1)  # each level halves the size; padded to a multiple, every skip fits exactly
        pad_h, pad_w = (-height % multiple, -width % multiple) if self.padding else (0, 0)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        # Channels-last is what oneDNN's CPU convolutions want: 1.2x (fp32) to 1.4x (bf16) faster training on CPU here.
        x = x.contiguous(memory_format=torch.channels_last)
        skips = []
        for level, block in enumerate(self.down):
            x = block(x)
            if level < self.depth - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for block, skip in zip(self.up, reversed(skips)):
            x = block(x, skip)
        return self.head(x)[:, :, :height, :width] if self.padding else self.head(x)

    def make_loss(self) -> SegmentationLoss:
        """The training loss this model was built for (``luna_unet(loss=..., recall_weight=...)``)."""
        return SegmentationLoss(**self.loss_options)


def soft_dice_loss(probability: torch.Tensor, target: torch.Tensor, epsilon: float = 1.0) -> torch.Tensor:
    """Per-sample ``1 - (2 sum(p t) + eps) / (sum(p) + sum(t) + eps)`` over ``[N, ...]`` -> ``[N]`` (the book's
    ``diceLoss``; ``eps = 1`` makes an empty target with an empty prediction cost 0)."""
    dims = tuple(range(1, probability.dim()))
    overlap = (probability * target).sum(dims)
    return 1 - (2 * overlap + epsilon) / (probability.sum(dims) + target.sum(dims) + epsilon)


class SegmentationLoss(nn.Module):
    """The loss of a one-logit segmentation model: ``(logits [N, 1, H, W], target [N, H, W] int64 {0, 1})`` -> scalar.

    * ``"dice_recall"`` (the book's p2ch13): ``mean(dice(p, t)) + recall_weight * mean(dice(p * t, t))`` with
      ``p = sigmoid(logits)``. The second term only sees the prediction inside the target, so it is the
      soft recall: a missed nodule pixel costs ``1 + recall_weight`` times what a false alarm costs.
    * ``"bce_dice"``: binary cross-entropy on the logits plus ``mean(dice(p, t))``.
    * ``"dice"``: the soft Dice alone.
    """

    def __init__(self, kind: str = "dice_recall", recall_weight: float = 8.0) -> None:
        super().__init__()
        if kind not in SEGMENTATION_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(SEGMENTATION_LOSSES)}, got {kind!r}")
        if not isinstance(recall_weight, (int, float)) or isinstance(recall_weight, bool) or recall_weight < 0:
            raise ValueError(f"recall_weight must be a non-negative number, got {recall_weight!r}")
        self.kind, self.recall_weight = kind, float(recall_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.dim() == target.dim() + 1 and logits.shape[1] == 1:
            logits = logits[:, 0]
        if logits.shape != target.shape:
            raise ValueError(f"SegmentationLoss expects logits [N, 1, H, W] and target [N, H, W], "
                             f"got {list(logits.shape)} and {list(target.shape)}")
        logits, target = logits.float(), target.float()
        probability = torch.sigmoid(logits)
        loss = soft_dice_loss(probability, target).mean()
        if self.kind == "dice_recall":
            loss = loss + self.recall_weight * soft_dice_loss(probability * target, target).mean()
        elif self.kind == "bce_dice":
            loss = loss + F.binary_cross_entropy_with_logits(logits, target)
        return loss

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}" + (f", recall_weight={self.recall_weight}" if self.kind == "dice_recall" else "")


def luna_unet(*, in_channels: int = 7, depth: int = 3, wf: int = 4, padding: bool = True, batch_norm: bool = True,
              up_mode: str = "upconv", loss: str = "dice_recall", recall_weight: float = 8.0) -> LunaUNet:
    """The book's nodule segmentation U-Net: ``[N, 7, H, W]`` HU -> nodule logits ``[N, 1, H, W]``.

    ``in_channels``: the slice and ``(in_channels - 1) / 2`` neighbours on each side (7: 3 each side);
    ``depth``/``wf``: levels and ``log2`` of the first level's channels; ``up_mode``: ``"upconv"`` or
    ``"upsample"``. ``loss`` (``"dice_recall"``, ``"bce_dice"`` or ``"dice"``) and ``recall_weight``
    (``dice_recall`` only; the book's 8) choose the training loss; they are recorded with the weights.
    The book's ``dice_recall`` finds nearly every nodule voxel but over-segments (it is meant to feed a
    candidate classifier); ``bce_dice`` gives the better Dice (the recipe in the metadata uses it).
    """
    return LunaUNet(in_channels=in_channels, depth=depth, wf=wf, padding=padding, batch_norm=batch_norm, up_mode=up_mode,
                    loss=loss, recall_weight=recall_weight)
