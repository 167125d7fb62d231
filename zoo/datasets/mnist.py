"""Handwritten digits: ``mnist`` (the real MNIST, IDX files) and ``digits`` (scikit-learn's bundled
8x8 digits upscaled to 28x28, the offline default).

Both give ``(float32 [1, 28, 28], label)`` pairs normalised with MNIST's mean and std, and both take
``permute_pixels=SEED`` to shuffle the 784 pixels with one fixed permutation (the course's
experiment showing that a CNN relies on pixel neighbourhoods and an MLP does not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zoo.datasets.common import ImageTensorDataset, check_split
from zoo.errors import DataError
from zoo.families.mnist import DIGIT_NAMES, MNIST_MEAN, MNIST_STD
from zoo.files import data_root as default_data_root

__all__ = ["mnist", "digits", "MNIST_MEAN", "MNIST_STD", "DIGIT_NAMES", "digits_split"]

#: scikit-learn's 1,797 digits are split once, stratified by class with a fixed seed: 1,438 train and
#: 359 test (20% of each class, rounded). The 43 writers are mixed across both splits, as in the usual
#: scikit-learn practice (``train_test_split``); the split measures new samples, not new writers.
DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0


def digits_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified ``(train, test)`` indices of the digits (sorted)."""
    rng = np.random.default_rng(DIGITS_SPLIT_SEED)
    test = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        test.extend(rng.permutation(members)[: round(len(members) * DIGITS_TEST_FRACTION)])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[test] = True
    return np.flatnonzero(~test_mask), np.flatnonzero(test_mask)


def _permute(images: torch.Tensor, seed: int | None) -> torch.Tensor:
    if seed is None:
        return images
    n, c, h, w = images.shape
    perm = torch.randperm(h * w, generator=torch.Generator().manual_seed(int(seed)))
    return images.reshape(n, c, h * w)[:, :, perm].reshape(n, c, h, w).contiguous()


def upscale_digits(images_8x8: torch.Tensor) -> torch.Tensor:
    """scikit-learn digits ``[N, 8, 8]`` with values 0..16 -> ``uint8 [N, 1, 28, 28]`` laid out like
    MNIST (the digit in a 20x20 box, centred with a 4-pixel border)."""
    x = images_8x8.to(torch.float32)[:, None]
    x = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
    x = F.pad(x, (4, 4, 4, 4))
    return (x / 16 * 255).clamp(0, 255).round().to(torch.uint8)


def digits(split: str = "train", root: str | None = None, download: bool = False, *, permute_pixels: int | None = None) -> ImageTensorDataset:
    """scikit-learn's 1,797 handwritten digits (8x8, 0..16) upscaled to ``[1, 28, 28]``.

    Splits: ``train`` (1,438 images) and ``test`` (359), fixed and stratified (:func:`digits_split`). Needs no download;
    ``root`` and ``download`` are accepted for a uniform signature and ignored. These are not MNIST:
    weights trained on them are named for ``digits``.
    """
    check_split(split, ("train", "test"), "digits")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = upscale_digits(torch.from_numpy(bunch.images))
    labels = torch.from_numpy(bunch.target)
    part = torch.from_numpy(digits_split(bunch.target)[0 if split == "train" else 1])
    return ImageTensorDataset(_permute(images[part], permute_pixels), labels[part], mean=MNIST_MEAN, std=MNIST_STD, class_names=DIGIT_NAMES)


def mnist(split: str = "train", root: str | None = None, download: bool = False, *, permute_pixels: int | None = None) -> ImageTensorDataset:
    """MNIST (60,000 train / 10,000 test, ``[1, 28, 28]``) read by torchvision from
    ``ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``; ``download=True`` fetches it."""
    check_split(split, ("train", "test"), "mnist")
    from torchvision.datasets import MNIST

    root_path = Path(root) if root is not None else default_data_root()
    try:
        data = MNIST(str(root_path), train=split == "train", download=download)
    except RuntimeError as exc:
        raise DataError(
            f"MNIST not found under {root_path} ({exc}). Expected {root_path}/MNIST/raw/train-images-idx3-ubyte "
            "and the other three IDX files; pass download=True (--download) when online, or --root DIR."
        ) from None
    return ImageTensorDataset(_permute(data.data[:, None], permute_pixels), data.targets, mean=MNIST_MEAN, std=MNIST_STD, class_names=DIGIT_NAMES)
