"""Augmentation presets for image data, applied to whole batches of tensors: ``zoo train --augment``.

Every function takes a float batch ``[B, C, H, W]`` in pixel units (0..255, before normalisation) on any
device and returns one of the same shape, dtype and device. Random draws come from the global CPU
generator (then moved to the batch's device), so a seeded run repeats on any device and a resumed run
stays bit-equal: the trainer re-seeds that generator at the start of each epoch.

Presets (``make_augment``):

* ``none``: no augmentation;
* ``light``: random crop with zero padding (an eighth of the side rounded down: 4 pixels for 32x32 images, 3 for 28x28,
  as CIFAR-10's ``RandomCrop(32, padding=4)``), and a horizontal flip where the dataset allows flips;
* ``strong``: a random resized crop (scale 0.6..1 of the area, aspect 3/4..4/3) and a rotation of up to
  15 degrees in one affine resampling, brightness and contrast jitter of up to 20%, and the flip where allowed:
  the course's ``RandomResizedCrop``, ``RandomRotation``, ``ColorJitter`` and ``RandomHorizontalFlip``
  (lesson 7 of ``001_*.txt``) as batch operations.

A dataset says whether mirrored images keep their label (``flips`` of its registration: False for
digits, True for clothing, CIFAR-10 and, by default, the user's own image folders).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from zoo.errors import ZooError

__all__ = ["make_augment", "random_crop", "random_hflip", "random_affine", "random_brightness_contrast"]

Augment = Callable[[torch.Tensor], torch.Tensor]


def _draw(n: int, images: torch.Tensor) -> torch.Tensor:
    """``n`` uniform numbers in [0, 1) per image, ``float32 [B, n]`` on the images' device (drawn on the CPU)."""
    return torch.rand(len(images), n).to(images.device)


def random_hflip(images: torch.Tensor) -> torch.Tensor:
    """Each image mirrored left-right with probability 1/2."""
    flips = (_draw(1, images)[:, 0] < 0.5).view(-1, 1, 1, 1)
    return torch.where(flips, images.flip(-1), images)


def random_crop(images: torch.Tensor, padding: int) -> torch.Tensor:
    """Each image zero-padded by ``padding`` pixels on every side and cropped back to its size at a random offset."""
    if padding <= 0:
        return images
    b, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    offsets = (_draw(2, images) * (2 * padding + 1)).long().clamp(max=2 * padding)  # [B, 2]: rows, columns
    rows = (offsets[:, 0].view(b, 1) + torch.arange(h, device=images.device)).view(b, 1, h, 1)
    cols = (offsets[:, 1].view(b, 1) + torch.arange(w, device=images.device)).view(b, 1, 1, w)
    batch = torch.arange(b, device=images.device).view(b, 1, 1, 1)
    channels = torch.arange(images.shape[1], device=images.device).view(1, -1, 1, 1)
    return padded[batch, channels, rows, cols]


def random_affine(images: torch.Tensor, *, scale: tuple[float, float] = (0.6, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3),
                  degrees: float = 15.0) -> torch.Tensor:
    """A random resized crop (a share ``scale`` of the area, aspect ``ratio``, anywhere inside the image) and a
    rotation of up to ``degrees``, resampled bilinearly in one ``grid_sample``; outside the image is 0."""
    u = _draw(5, images)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_ratio = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    aspect = torch.exp(log_ratio)
    crop_w, crop_h = (area * aspect).sqrt().clamp(max=1.0), (area / aspect).sqrt().clamp(max=1.0)  # shares of the side
    centre_x, centre_y = (1 - crop_w) * (2 * u[:, 2] - 1), (1 - crop_h) * (2 * u[:, 3] - 1)  # the crop stays inside
    angle = (2 * u[:, 4] - 1) * math.radians(degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([crop_w * cos, -crop_h * sin, centre_x], 1),
                         torch.stack([crop_w * sin, crop_h * cos, centre_y], 1)], 1)  # [B, 2, 3]
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_brightness_contrast(images: torch.Tensor, strength: float = 0.2) -> torch.Tensor:
    """Brightness and contrast each scaled by a factor in ``[1 - strength, 1 + strength]`` per image
    (torchvision's ``ColorJitter(brightness, contrast)`` order), clamped to 0..255."""
    u = _draw(2, images)
    brightness = (1 + strength * (2 * u[:, 0] - 1)).view(-1, 1, 1, 1)
    contrast = (1 + strength * (2 * u[:, 1] - 1)).view(-1, 1, 1, 1)
    images = (images * brightness).clamp(0, 255)
    grey_mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - grey_mean) * contrast + grey_mean).clamp(0, 255)


def make_augment(preset: str, *, flips: bool, size: int) -> Augment | None:
    """The batch augmentation of ``preset`` (``none``, ``light`` or ``strong``) for images of side ``size``
    (the crop padding is an eighth of it); ``None`` for ``none``. ``flips``: whether mirroring is allowed."""
    if preset == "none":
        return None
    if preset == "light":
        padding = max(1, size // 8)

        def light(images: torch.Tensor) -> torch.Tensor:
            images = random_crop(images, padding)
            return random_hflip(images) if flips else images

        return light
    if preset == "strong":

        def strong(images: torch.Tensor) -> torch.Tensor:
            images = random_brightness_contrast(random_affine(images))
            return random_hflip(images) if flips else images

        return strong
    raise ZooError(f"unknown augmentation preset {preset!r}; expected none, light or strong")
