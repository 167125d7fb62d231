"""Images of the MNIST family: ``mnist`` (handwritten digits), ``fashion_mnist`` (Zalando's clothing
images) and ``digits`` (scikit-learn's bundled 8x8 digits upscaled to 28x28, the offline default).

All give ``(float32 [1, 28, 28], label)`` pairs as an :class:`ImageTensorDataset` (uint8 in memory,
normalised by batch), with their own data set's mean and std, and all take ``permute_pixels=SEED`` to
shuffle the 784 pixels with one fixed permutation (the course's experiment showing that a CNN relies on
pixel neighbourhoods and an MLP does not).

``mnist`` and ``fashion_mnist`` read the four IDX files, each gzipped (``.gz``) or not, with
:func:`read_idx`. A folder ``BASE`` holds them in any of three layouts, tried in this order:

* ``BASE/MNIST/raw/`` or ``BASE/FashionMNIST/raw/``: torchvision's layout, where ``--download`` puts them;
* ``BASE/mnist/`` or ``BASE/fashion-mnist/``: the Debian package's folder name (``ZOO_DATA=/usr/share/datasets``);
* ``BASE/`` itself: ``--root /usr/share/datasets/fashion-mnist``.

``BASE`` is ``--root`` when given (and nothing else: a wrong ``--root`` must not quietly read other
files), else ``$ZOO_DATA`` (default ``$ZOO_HOME/data``, :func:`zoo.files.data_root`), then, for Fashion-MNIST,
:data:`FASHION_SYSTEM_DIR`, where ``apt-get install dataset-fashion-mnist`` installs it.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zoo.augment import random_hflip
from zoo.datasets.common import ImageTensorDataset, check_split, download_advice
from zoo.errors import DataError, DataNotFoundError
from zoo.families.mnist import DIGIT_NAMES, FASHION_MEAN, FASHION_NAMES, FASHION_STD, MNIST_MEAN, MNIST_STD
from zoo.files import data_root as default_data_root
from zoo.splits import split_indices

__all__ = ["mnist", "fashion_mnist", "digits", "read_idx", "random_flip", "digits_split", "MNIST_MEAN", "MNIST_STD",
           "DIGIT_NAMES", "FASHION_MEAN", "FASHION_STD", "FASHION_NAMES", "FASHION_SYSTEM_DIR"]

#: Where the Debian package ``dataset-fashion-mnist`` installs Fashion-MNIST's four gzipped IDX files.
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

#: scikit-learn's 1,797 digits are split once, stratified by class with a fixed seed: 1,438 train and
#: 359 test (20% of each class, rounded). The 43 writers are mixed across both splits, as in the usual
#: scikit-learn practice (``train_test_split``); the split measures new samples, not new writers.
DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED = 0.2, 0


def digits_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified ``(train, test)`` indices of the digits (sorted), by :func:`zoo.splits.split_indices`
    (the same 359 test images as the per-class shuffle that chose them for the shipped weights' metrics)."""
    split = split_indices(len(labels), test_fraction=DIGITS_TEST_FRACTION, seed=DIGITS_SPLIT_SEED, labels=labels,
                          what="the digits")
    return split.train, split.test


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


#: IDX element types (the third byte of the magic number) -> numpy dtype (big-endian, as the format says).
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
#: The two files of each split, without the optional ``.gz``.
IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (LeCun's format: ``00 00 TYPE NDIM``, NDIM big-endian uint32 sizes, the data) as an
    array of its shape. Gzipped files are recognised by their first two bytes, whatever their name."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path} is not a readable gzip file ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (its first bytes are {raw[:4].hex()}, expected 0000 08 03 or alike)")
    ndim, dtype = raw[3], _IDX_DTYPES[raw[2]]
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path} is truncated: its header is cut short")
    shape = struct.unpack(f">{ndim}I", raw[4:start])
    expected = start + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path} holds {len(raw)} bytes, but its header ({list(shape)} {dtype.name}) needs {expected}: truncated or damaged")
    return np.frombuffer(raw, dtype, offset=start).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` or ``folder/name.gz``, whichever exists (the plain file first)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _find_split(bases: Sequence[Path], layouts: Sequence[str], split: str) -> tuple[Path, Path] | None:
    """The image and label files of ``split`` in the first folder that has both, trying each base in
    order and each layout (a sub-path of the base; ``"."`` is the base itself) within it."""
    for base in bases:
        for layout in layouts:
            images, labels = (_idx_file(base / layout, name) for name in IDX_FILES[split])
            if images is not None and labels is not None:
                return images, labels
    return None


def _load_idx_split(name: str, split: str, bases: Sequence[Path], layouts: Sequence[str],
                    download: Callable[[], None] | None, how_to_get: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(uint8 [N, 1, 28, 28], int64 [N])`` of one split, downloading first when asked and missing."""
    found = _find_split(bases, layouts, split)
    if found is None and download is not None:
        download()
        found = _find_split(bases, layouts, split)
    if found is None:
        places = ", ".join(str(base / layout) for base in bases for layout in layouts)  # base / "." is base
        images, labels = IDX_FILES[split]
        raise DataNotFoundError(f"{name} not found under {bases[0]}: looked for {images}[.gz] and {labels}[.gz] in {places}. "
                                f"{how_to_get}")
    images, labels = (read_idx(path) for path in found)
    if images.ndim != 3 or images.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{found[0]} and {found[1]} are not a pair of {name} image and label files "
                        f"(images {list(images.shape)} {images.dtype}, labels {list(labels.shape)} {labels.dtype})")
    return torch.from_numpy(images)[:, None], torch.from_numpy(labels.astype(np.int64))


def _torchvision_download(dataset_class: str, root: Path) -> Callable[[], None]:
    """Download with torchvision's reader (its URLs, mirrors and md5 checks) into ``root/<Class>/raw``."""

    def download() -> None:
        import torchvision.datasets

        try:
            for train in (True, False):
                getattr(torchvision.datasets, dataset_class)(str(root), train=train, download=True)
        except (RuntimeError, OSError) as exc:
            raise DataError(f"downloading {dataset_class} into {root} failed: {exc}") from None

    return download


def mnist(split: str = "train", root: str | None = None, download: bool = False, *, permute_pixels: int | None = None) -> ImageTensorDataset:
    """MNIST (60,000 train / 10,000 test, ``[1, 28, 28]``) from IDX files, gzipped or not, in ``ROOT/MNIST/raw``,
    ``ROOT/mnist`` or ``ROOT`` (``ROOT``: ``root``, else ``$ZOO_DATA``); ``download=True`` fetches them."""
    check_split(split, ("train", "test"), "mnist")
    base = Path(root) if root is not None else default_data_root()
    images, labels = _load_idx_split(
        "MNIST", split, [base], ("MNIST/raw", "mnist", "."), _torchvision_download("MNIST", base) if download else None,
        f"Expected {base}/MNIST/raw/train-images-idx3-ubyte and the other three IDX files (or .gz); {download_advice()}.")
    return ImageTensorDataset(_permute(images, permute_pixels), labels, mean=MNIST_MEAN, std=MNIST_STD, class_names=DIGIT_NAMES)


def random_flip(images: torch.Tensor) -> torch.Tensor:
    """Fashion-MNIST's training augmentation: each image of a ``[B, C, H, W]`` batch mirrored left-right
    with probability 1/2 (a garment mirrored is the same garment; digits would not survive it). The draws
    come from the global CPU generator, so a seeded run repeats on any device. Random shifts of up to 2
    pixels on top were tried and cost accuracy (``mnist_cnn -k n_feature=32``, cosine schedule: 0.910 test
    accuracy after 20 epochs, against 0.913 after 15 without any augmentation): the garments are all centred
    the same way, and the shifts made the task harder without teaching anything the test images need."""
    return random_hflip(images)  # the same draws as before: one uniform number per image


def fashion_mnist(split: str = "train", root: str | None = None, download: bool = False, *,
                  permute_pixels: int | None = None) -> ImageTensorDataset:
    """Fashion-MNIST (Zalando's clothing images, zalandoresearch/fashion-mnist): 60,000 train / 10,000 test
    ``[1, 28, 28]`` grayscale images of 10 classes (:data:`FASHION_NAMES`), normalised with its own mean and std.

    Looks in ``root`` when given, else in ``$ZOO_DATA`` then :data:`FASHION_SYSTEM_DIR` (the layouts are in
    the module docstring); ``download=True`` fetches the files into ``ROOT/FashionMNIST/raw`` when missing.
    The train split's ``augment`` is :func:`random_flip` (``zoo train --augment none`` switches it off), except
    with ``permute_pixels``, where neighbouring pixels are no longer neighbours.
    """
    check_split(split, ("train", "test"), "fashion_mnist")
    bases = [Path(root)] if root is not None else [default_data_root(), FASHION_SYSTEM_DIR]
    images, labels = _load_idx_split(
        "Fashion-MNIST", split, bases, ("FashionMNIST/raw", "fashion-mnist", "."),
        _torchvision_download("FashionMNIST", bases[0]) if download else None,
        f"Install it with `apt-get install dataset-fashion-mnist` (the four .gz files in {FASHION_SYSTEM_DIR}), "
        f"or {download_advice('DIR with the four IDX files')} (a download goes into ROOT/FashionMNIST/raw).")
    dataset = ImageTensorDataset(_permute(images, permute_pixels), labels, mean=FASHION_MEAN, std=FASHION_STD, class_names=FASHION_NAMES)
    if split == "train" and permute_pixels is None:
        dataset.augment = random_flip
    return dataset
