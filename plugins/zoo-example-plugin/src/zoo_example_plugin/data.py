"""FashionMNIST through torchvision's reader, held as one uint8 tensor (hubzoo's fast path)."""

from __future__ import annotations

from pathlib import Path

from zoo.datasets import ImageTensorDataset, check_split, default_data_root
from zoo.errors import DataError

from zoo_example_plugin import FASHION_CLASSES

FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)


def fashion_mnist(split: str = "train", root: str | None = None, download: bool = False) -> ImageTensorDataset:
    """FashionMNIST ``[1, 28, 28]`` images and labels from ``ROOT/FashionMNIST/raw``."""
    check_split(split, ("train", "test"), "fashion_mnist")
    from torchvision.datasets import FashionMNIST

    root_path = Path(root) if root is not None else default_data_root()
    try:
        data = FashionMNIST(str(root_path), train=split == "train", download=download)
    except RuntimeError as exc:
        raise DataError(f"FashionMNIST not found under {root_path}/FashionMNIST/raw ({exc}); pass --download or --root") from None
    return ImageTensorDataset(data.data[:, None], data.targets, mean=FASHION_MEAN, std=FASHION_STD, class_names=FASHION_CLASSES)
