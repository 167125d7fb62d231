"""What the data families share: split checks and the in-memory image dataset with its batch fast path.

Image datasets keep their images as one ``uint8`` tensor and normalise whole batches at once
(:meth:`ImageTensorDataset.batch`), instead of converting image by image through PIL: the trainer
and the evaluator use that fast path when a dataset has it, and ``dataset[i]`` still works for
anything that expects a plain ``Dataset``.
"""

from __future__ import annotations

import operator
from typing import Callable, Sequence

import torch

from zoo.errors import DataError
from zoo.preprocess import Preprocessing


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


def stratified_split(labels: Sequence[int], fractions: dict[str, float], seed: int, *,
                     class_names: Sequence[str], what: str) -> dict[str, list[int]]:
    """Positions of ``labels`` for each held-out split of ``fractions`` (``{"val": 0.1, "test": 0.2}``) and
    ``"train"`` (the rest), each in the original order.

    Stratified: every class gives ``round(n_c * fraction)`` items to each held-out split, at least one, and
    keeps at least one for training, so every split holds every class; a class too small for that is a
    :class:`DataError` naming it (``what`` says where the items came from). The classes are shuffled one
    after the other with one generator seeded with ``seed``, so the split depends on nothing else.
    """
    generator = torch.Generator().manual_seed(seed)
    labels_t = torch.as_tensor(list(labels), dtype=torch.int64)
    chosen: dict[str, list[int]] = {name: [] for name in ("train", *fractions)}
    for c, name in enumerate(class_names):
        members = torch.nonzero(labels_t == c).flatten()
        n = len(members)
        members = members[torch.randperm(n, generator=generator)].tolist()
        for split, fraction in fractions.items():
            take = max(1, round(n * fraction)) if members else 0
            chosen[split] += members[:take]
            members = members[take:]
        if n and not members:
            raise DataError(f"class {name!r} of {what} has {n} item(s), too few to give the {', '.join(fractions)} "
                            f"split(s) one each and keep one for training: add items of that class")
        chosen["train"] += members
    return {split: sorted(positions) for split, positions in chosen.items()}


def check_fractions(dataset: str, **fractions: float) -> dict[str, float]:
    """``{"val": val_fraction, ...}`` after checking that each lies in (0, 1) and that together they leave a share
    for training; a :class:`DataError` naming the ``-d`` option otherwise."""
    for name, value in fractions.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise DataError(f"dataset {dataset!r}: {name}={value!r} must lie between 0 and 1 (exclusive)")
    if sum(fractions.values()) >= 1:
        listed = " + ".join(f"{k}={v:g}" for k, v in fractions.items())
        raise DataError(f"dataset {dataset!r}: {listed} leaves nothing for training; their sum must be below 1")
    return {name.removesuffix("_fraction"): float(value) for name, value in fractions.items()}


class ImageTensorDataset(torch.utils.data.Dataset):
    """Images held as ``uint8 [N, C, H, W]`` with ``int64 [N]`` labels.

    ``dataset[i]`` returns ``(float32 [C, H, W] normalised with mean/std, int)``;
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

    @property
    def preprocessing(self) -> Preprocessing:
        """What a model trained on these images takes (channels, size, mean/std): it turns an image file into
        exactly the tensor ``dataset[i]`` gives for the same pixels."""
        _, channels, height, width = self.images.shape
        return Preprocessing(channels=channels, size=(height, width), mean=self._mean_std[0], std=self._mean_std[1])

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
