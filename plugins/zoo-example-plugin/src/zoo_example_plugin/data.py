"""Kuzushiji-MNIST through torchvision's reader, held as one uint8 tensor (hubzoo's fast path).

Kuzushiji-MNIST (rois-codh/kmnist) has MNIST's format and sizes: 60,000 train / 10,000 test 28x28
grayscale images of ten hiragana, in the same four IDX files.
"""

from __future__ import annotations

from pathlib import Path

from zoo.datasets import ImageTensorDataset, check_split, default_data_root
from zoo.errors import DataError

from zoo_example_plugin import KMNIST_CLASSES

#: Kuzushiji-MNIST's pixel mean and std (0..1) over its training images, as usually quoted.
KMNIST_MEAN, KMNIST_STD = (0.1918,), (0.3483,)


def kmnist(split: str = "train", root: str | None = None, download: bool = False) -> ImageTensorDataset:
    """Kuzushiji-MNIST ``[1, 28, 28]`` images and labels from ``ROOT/KMNIST/raw``."""
    check_split(split, ("train", "test"), "kmnist")
    from torchvision.datasets import KMNIST

    root_path = Path(root) if root is not None else default_data_root()
    try:
        data = KMNIST(str(root_path), train=split == "train", download=download)
    except RuntimeError as exc:
        raise DataError(f"Kuzushiji-MNIST not found under {root_path}/KMNIST/raw ({exc}); pass --download or --root") from None
    return ImageTensorDataset(data.data[:, None], data.targets, mean=KMNIST_MEAN, std=KMNIST_STD, class_names=KMNIST_CLASSES)
