"""The course's MNIST models: ``mnist_cnn`` (two 5x5 convolutions) and ``mnist_mlp`` (FC2Layer).

Both take normalised ``float32 [N, 1, 28, 28]`` images and return logits ``[N, num_classes]``; the
course ended its networks with ``log_softmax``, here the softmax belongs to the loss and the evaluator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import DataError
from zoo.models.common import check_input_shape

__all__ = ["MnistCNN", "MnistMLP", "mnist_cnn", "mnist_mlp"]


class MnistCNN(nn.Module):
    """conv5x5(n_feature) -> ReLU -> maxpool2 -> conv5x5(n_feature) -> ReLU -> maxpool2 -> FC 50 -> FC.

    Shapes: ``[N, 1, 28, 28]`` -> ``[N, n, 24, 24]`` -> ``[N, n, 12, 12]`` -> ``[N, n, 8, 8]`` ->
    ``[N, n, 4, 4]`` -> ``[N, 50]`` -> logits ``[N, num_classes]``.
    """

    def __init__(self, *, n_feature: int = 6, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, n_feature, kernel_size=5)
        self.conv2 = nn.Conv2d(n_feature, n_feature, kernel_size=5)
        self.fc1 = nn.Linear(n_feature * 4 * 4, 50)
        self.fc2 = nn.Linear(50, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_shape(x, (self.in_channels, 28, 28), "mnist_cnn")
        # relu(max_pool(x)) equals the course's max_pool(relu(x)) (ReLU is monotonic) at a quarter of the ReLU work.
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class MnistMLP(nn.Module):
    """The course's FC2Layer: flatten ``[N, 1, 28, 28]`` -> 784 -> n_hidden -> n_hidden -> logits ``[N, num_classes]``."""

    def __init__(self, *, n_hidden: int = 8, num_classes: int = 10, input_size: int = 28 * 28) -> None:
        super().__init__()
        self.input_size = input_size
        self.network = nn.Sequential(
            nn.Linear(input_size, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, n_hidden), nn.ReLU(),
            nn.Linear(n_hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[1:].numel() != self.input_size:
            raise DataError(f"mnist_mlp expects [N, 1, 28, 28] ({self.input_size} values per sample), got {list(x.shape)}")
        return self.network(x.flatten(1))


def mnist_cnn(*, n_feature: int = 6, num_classes: int = 10, in_channels: int = 1) -> MnistCNN:
    """The course's MNIST CNN. ``n_feature=6`` is the course's width; the shipped ``digits``
    weights use 32, which is stronger at 5x the parameters."""
    return MnistCNN(n_feature=n_feature, num_classes=num_classes, in_channels=in_channels)


def mnist_mlp(*, n_hidden: int = 8, num_classes: int = 10) -> MnistMLP:
    """The course's two-hidden-layer MLP baseline (``n_hidden=8`` as in the course)."""
    return MnistMLP(n_hidden=n_hidden, num_classes=num_classes)
