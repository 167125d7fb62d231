"""ResNet-18 adapted to 32x32 inputs."""

from __future__ import annotations

from torch import nn


def resnet18_cifar(*, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """torchvision's ResNet-18 whose 7x7 stride-2 stem and max-pool (made for 224x224) become one 3x3
    stride-1 convolution, so a 32x32 image keeps its resolution into the first stage.

    Input ``[N, in_channels, 32, 32]`` -> logits ``[N, num_classes]``.
    """
    from torchvision.models import resnet18

    model = resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model
