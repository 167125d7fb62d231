"""What the data families share: split checks, held-out splits and the in-memory image dataset with its batch fast path.

Image datasets keep their images as one ``uint8`` tensor and normalise whole batches at once
(:meth:`ImageTensorDataset.batch`), instead of converting image by image through PIL: the trainer
and the evaluator use that fast path when a dataset has it, and ``dataset[i]`` still works for
anything that expects a plain ``Dataset``.
"""

from __future__ import annotations

import operator
from typing import Callable, Collection, Sequence

import numpy as np
import torch

from zoo.errors import DataError, advice
from zoo.preprocess import Preprocessing
from zoo.splits import split_indices


def download_advice(what: str = "DIR") -> str:
    """How to get a data set that can be downloaded, in the caller's words (:func:`zoo.errors.advice`): ``what``
    describes the folder ``--root`` names."""
    return advice(f"pass download=True when online, or root={what}", f"add --download when online, or give --root {what}")


def check_split(split: str, allowed: Sequence[str], dataset: str) -> None:
    if split not in allowed:
        raise DataError(f"dataset {dataset!r} has no split {split!r}; choose one of {list(allowed)}")


def check_index(index: int, length: int) -> int:
    """``index`` (negative counts from the end, as for a list) as a position in ``0..length - 1``.

    Out of range is an ``IndexError`` (not a ``ZooError``): iterating with ``dataset[i]`` stops on it."""
    try:
        position = operator.index(index)
    except TypeError:
        raise TypeError(f"dataset indices must be integers, not {type(index).__name__}") from None
    if not -length <= position < length:
        raise IndexError(f"index {position} is out of range for a dataset of {length} items")
    return position % length


def held_out_positions(labels: Sequence[str], split: str, present: Collection[str], *, val_fraction: float,
                       test_fraction: float, split_seed: int, what: str) -> np.ndarray:
    """Positions of ``split`` among the items with ``labels`` (the data's ``all`` or ``train`` part): the parts
    the data does not have itself (not in ``present``) are held out by :func:`zoo.splits.split_indices`,
    seeded with ``split_seed`` and stratified by label. A ``split`` left empty (its fraction 0) is a
    :class:`DataError` naming ``what``, as is every bad fraction or too small a class."""
    positions = split_indices(len(labels), val_fraction=0.0 if "val" in present else val_fraction,
                              test_fraction=0.0 if "test" in present else test_fraction, seed=split_seed,
                              labels=labels, what=what)[split]
    if len(positions) == 0:
        raise DataError(f"{what}: the {split} split is empty ({split}_fraction=0); give it a positive fraction")
    return positions


class ImageTensorDataset(torch.utils.data.Dataset):
    """Images held as ``uint8 [N, C, H, W]`` with ``int64 [N]`` labels.

    ``dataset[i]`` returns ``(float32 [C, H, W] normalised with mean/std, int)``; ``resize`` and ``crop_pct``
    say how images read from files of other sizes were brought to ``[H, W]`` (see :attr:`preprocessing`);
    ``dataset.batch(indices, augment=False)`` returns ``(float32 [B, C, H, W], int64 [B])`` in one
    vectorised step. ``augment``, when set (training splits), is a callable applied by
    ``batch(..., augment=True)`` to the whole float batch in pixel units (0..255) before normalisation;
    it may run on any device and draws from the global torch RNG, so seeded runs repeat.
    """

    augment: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        class_names: Sequence[str],
        resize: str = "bilinear",
        crop_pct: float | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(labels):
            raise DataError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.class_names = tuple(class_names)
        channels = images.shape[1]
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, channels, 1, 1) * 255
        self.std = torch.tensor(std, dtype=torch.float32).view(1, channels, 1, 1) * 255
        self._mean_std = (tuple(float(m) for m in mean), tuple(float(s) for s in std))
        self._resize = (resize, crop_pct)

    @property
    def preprocessing(self) -> Preprocessing:
        """What a model trained on these images takes (channels, size, mean/std, and how images of other sizes
        were resized: ``resize`` and ``crop_pct`` as given, for images read from files): it turns an image file
        into exactly the tensor ``dataset[i]`` gives for the same file."""
        _, channels, height, width = self.images.shape
        return Preprocessing(channels=channels, size=(height, width), mean=self._mean_std[0], std=self._mean_std[1],
                             resize=self._resize[0], crop_pct=self._resize[1])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        index = check_index(index, len(self))
        return self.normalize(self.images[index : index + 1])[0], int(self.labels[index])

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8 [B, C, H, W]`` -> normalised ``float32 [B, C, H, W]`` (on the images' device)."""
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        return (images.to(torch.float32) - mean) / std

    def batch(self, indices: torch.Tensor, augment: bool = False, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised images and labels of ``indices``; moved to ``device`` as uint8 (4x less to copy) first."""
        images, labels = self.images[indices], self.labels[indices]
        if device is not None:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        images = images.to(torch.float32)
        if augment and self.augment is not None:
            images = self.augment(images)
        return self.normalize(images), labels
