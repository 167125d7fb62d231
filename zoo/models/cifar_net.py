"""The course's small LeNet-style CIFAR-10 baseline, ``cifar_net``, kept for comparison with VGG.

Takes normalised ``float32 [N, 3, 32, 32]`` images and returns logits ``[N, num_classes]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.common import check_input_shape

__all__ = ["CifarNet", "CifarNetBN", "cifar_net", "cifar_net_bn"]


class CifarNet(nn.Module):
    """conv5x5(6) -> ReLU -> maxpool2 -> conv5x5(16) -> ReLU -> maxpool2 -> FC 120 -> FC 84 -> FC.

    Shapes: ``[N, C, 32, 32]`` -> ``[N, 6, 28, 28]`` -> ``[N, 6, 14, 14]`` -> ``[N, 16, 10, 10]`` ->
    ``[N, 16, 5, 5]`` -> ``[N, 120]`` -> ``[N, 84]`` -> logits ``[N, num_classes]``.
    """

    def __init__(self, *, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, (self.in_channels, 32, 32), "cifar_net")
        # relu(max_pool(x)) equals the course's max_pool(relu(x)) (ReLU is monotonic) at a quarter of the ReLU work.
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def cifar_net(*, num_classes: int = 10, in_channels: int = 3) -> CifarNet:
    """The course's CIFAR-10 baseline CNN (62,006 parameters for 10 classes); the course reached
    about 63% test accuracy with it (Adam 1e-3, 10 epochs, no augmentation)."""
    return CifarNet(num_classes=num_classes, in_channels=in_channels)


class CifarNetBN(nn.Module):
    """The course's improved CIFAR-10 network (``002_*.txt``): each 5x5 convolution of :class:`CifarNet` becomes
    two 3x3 convolutions (padded, so the size is kept until the pooling) with batch norm and LeakyReLU, a third
    stage is added, and dropout guards the classifier.

    Shapes: ``[N, C, 32, 32]`` -> stage 1 ``[N, 32, 16, 16]`` -> stage 2 ``[N, 64, 8, 8]`` -> stage 3
    ``[N, 128, 4, 4]`` -> FC 256 -> logits ``[N, num_classes]``; each stage is (conv3x3 -> BN -> LeakyReLU) x 2
    -> maxpool2.
    """

    def __init__(self, *, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.3) -> None:
        super().__init__()
        self.in_channels = in_channels
        layers: list[nn.Module] = []
        for c_in, c_out in ((in_channels, 32), (32, 64), (64, 128)):
            for c in (c_in, c_out):
                layers += [nn.Conv2d(c, c_out, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1)]
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(128 * 4 * 4, 256), nn.LeakyReLU(0.1),
                                        nn.Dropout(dropout), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, (self.in_channels, 32, 32), "cifar_net_bn")
        return self.classifier(self.features(x).flatten(1))


def cifar_net_bn(*, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.3) -> CifarNetBN:
    """The course's improved CIFAR-10 CNN: 3x3 convolutions in pairs, batch norm, LeakyReLU, dropout
    (814,570 parameters for 10 classes); the course's point is that it beats ``cifar_net``'s 63%."""
    return CifarNetBN(num_classes=num_classes, in_channels=in_channels, dropout=dropout)
