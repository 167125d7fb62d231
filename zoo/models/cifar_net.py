"""The course's small LeNet-style CIFAR-10 baseline, ``cifar_net``, kept for comparison with VGG.

Takes normalised ``float32 [N, 3, 32, 32]`` images and returns logits ``[N, num_classes]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.common import check_input_shape

__all__ = ["CifarNet", "cifar_net"]


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
