"""VGG16 with batch norm for 32x32 images (CIFAR-10): ``vgg16_cifar``; and torchvision's ImageNet VGG16: ``vgg16``.

Takes normalised ``float32 [N, C, 32, 32]`` images and returns logits ``[N, num_classes]``. The five
2x2 max-pools take 32x32 down to 1x1, so the classifier is a single ``Linear(512, num_classes)``;
torchvision's ``vgg16_bn`` (made for 224x224) would add a 7x7 adaptive pool and a 4096-wide, 120M-parameter
classifier that a 1x1 feature map does not need.

The course's write-up used a shorter configuration, ``[64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M]``,
with ``Linear(2048, 10)``: on 32x32 inputs its features are ``[N, 512, 1, 1]`` (512 values, not 2048),
so it fails on the first batch. That bug is not copied here.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo.models.common import check_input_shape, init_cnn_weights

__all__ = ["VGG_CIFAR_CONFIGS", "VGGCifar", "vgg16_cifar", "vgg16"]

#: Output channels of each 3x3 convolution, "M" for a 2x2 max-pool (the standard 13-conv VGG16).
VGG_CIFAR_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}


def make_vgg_features(config: Sequence[int | str], in_channels: int) -> nn.Sequential:
    """conv3x3(padding 1, no bias: the batch norm's shift replaces it) -> BN -> ReLU per number, max-pool per "M"."""
    layers: list[nn.Module] = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1, bias=False),
                       nn.BatchNorm2d(int(item)), nn.ReLU(inplace=True)]
            in_channels = int(item)
    return nn.Sequential(*layers)


class VGGCifar(nn.Module):
    """VGG with batch norm for 32x32 inputs.

    Shapes for VGG16: ``[N, C, 32, 32]`` -> 64 ch ``32x32`` -> 128 ch ``16x16`` -> 256 ch ``8x8`` ->
    512 ch ``4x4`` -> 512 ch ``2x2`` -> ``[N, 512, 1, 1]`` -> flatten ``[N, 512]`` -> logits ``[N, num_classes]``.
    """

    def __init__(self, config: Sequence[int | str], *, num_classes: int = 10, in_channels: int = 3, name: str = "vgg") -> None:
        super().__init__()
        self.in_channels, self.name = in_channels, name
        self.features = make_vgg_features(config, in_channels)
        last = [c for c in config if c != "M"][-1]
        self.classifier = nn.Linear(int(last), num_classes)
        init_cnn_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, (self.in_channels, 32, 32), self.name)
        return self.classifier(self.features(x).flatten(1))


def vgg16_cifar(*, num_classes: int = 10, in_channels: int = 3) -> VGGCifar:
    """VGG16-BN for 32x32 images (14.7M parameters, 313M multiply-adds per image for 10 classes).

    With the course's augmentation (random crop with padding 4, horizontal flip) and SGD (lr 0.1,
    momentum 0.9, weight decay 5e-4, cosine schedule, 200 epochs) this architecture is reported to
    reach about 93-94% CIFAR-10 test accuracy; no weights are shipped (nobody here can download CIFAR-10).
    """
    return VGGCifar(VGG_CIFAR_CONFIGS["vgg16"], num_classes=num_classes, in_channels=in_channels, name="vgg16_cifar")


def vgg16(*, num_classes: int = 1000, dropout: float = 0.5) -> nn.Module:
    """torchvision's VGG16 (no batch norm), the course's transfer-learning backbone (138.4M parameters).

    Input ``float32 [N, 3, H, W]`` (ImageNet weights: 224x224, ImageNet mean/std) -> logits ``[N, num_classes]``;
    its 7x7 adaptive pool takes any size of at least 32x32. The last layer, ``classifier.6``, is the head.
    """
    from torchvision.models import vgg16 as torchvision_vgg16

    return torchvision_vgg16(weights=None, num_classes=num_classes, dropout=dropout)
