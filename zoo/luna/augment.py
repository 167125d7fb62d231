"""Batched CT augmentation on tensors (CPU or GPU), drawing from the global torch RNG so seeded runs repeat.

* :class:`LunaAugment`: 3-D crops ``[B, 1, D, H, W]`` (the candidate datasets);
* :class:`SegmentationAugment`: 2-D slice stacks ``[B, C, H, W]`` and their masks (the segmentation dataset).

Both resample through :func:`affine_resample`, one affine map per sample in voxel units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from zoo.errors import DataError

__all__ = ["affine_resample", "LunaAugment", "SegmentationAugment"]


def affine_resample(volumes: torch.Tensor, matrices: torch.Tensor, shifts: torch.Tensor, out_size: Sequence[int],
                    mode: str = "bilinear") -> torch.Tensor:
    """Resample ``volumes`` ``[B, C, D, H, W]`` to ``[B, C, *out_size]`` through an affine map in voxel units.

    An output voxel at offset ``o`` (``(index, row, column)``, from the output's centre) reads the input
    at offset ``matrices[b] @ o + shifts[b]`` from the input's centre (``matrices`` ``[B, 3, 3]``,
    ``shifts`` ``[B, 3]``), trilinearly (``mode="nearest"``: the nearest voxel, for masks), repeating the
    border outside. With the identity and a shift of ``(0, 0, 2)``, output column ``k`` is input column
    ``k + 2`` (plus the centring margin).
    """
    b = volumes.shape[0]
    size_in = torch.tensor(volumes.shape[2:], dtype=torch.float32, device=volumes.device)
    size_out = torch.tensor(list(out_size), dtype=torch.float32, device=volumes.device)
    matrices, shifts = matrices.to(volumes.device, torch.float32), shifts.to(volumes.device, torch.float32)
    # grid_sample's normalised coordinates (align_corners=False): n = 2 * offset / size, in (x, y, z) = (column, row, index) order.
    theta_irc = (2 / size_in)[:, None] * matrices * (size_out / 2)[None, :]
    flip = [2, 1, 0]
    theta = torch.empty(b, 3, 4, device=volumes.device)
    theta[:, :, :3] = theta_irc[:, flip][:, :, flip]
    theta[:, :, 3] = (2 * shifts / size_in)[:, flip]
    grid = F.affine_grid(theta, [b, volumes.shape[1], *out_size], align_corners=False)
    return F.grid_sample(volumes, grid, mode=mode, padding_mode="border", align_corners=False)


@dataclass
class LunaAugment:
    """Batched CT augmentation on tensors (CPU or GPU), drawing from the global torch RNG.

    Per sample: a flip of each axis with probability 1/2 (``flip``); an offset of up to
    ``offset * crop_size / 2`` voxels per axis (0.1: the book's setting); a scale of ``1 +/- scale`` per
    axis; a rotation by a uniform angle about the index (head-foot) axis, computed in millimetres so that
    non-square pixels stay right (``rotate``); Gaussian noise of ``noise`` HU. Called on crops read with
    a margin (:data:`zoo.luna.datasets.CROP_MARGIN`), the offset moves the crop window over real
    neighbouring voxels.
    """

    flip: bool = True
    offset: float = 0.1
    scale: float = 0.2
    rotate: bool = True
    noise: float = 25.0

    @classmethod
    def from_option(cls, option: Any) -> LunaAugment | None:
        """``True`` -> defaults, ``False``/``None`` -> none, a dict -> those fields, a :class:`LunaAugment` as is."""
        if option is None or option is False:
            return None
        if option is True:
            return cls()
        if isinstance(option, cls):
            return option
        if isinstance(option, dict):
            unknown = set(option) - set(cls.__dataclass_fields__)
            if unknown:
                raise DataError(f"unknown augmentation option(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
            return cls(**option)
        raise DataError(f"augment must be true/false or a dict of {sorted(cls.__dataclass_fields__)}, got {option!r}")

    @property
    def geometric(self) -> bool:
        return bool(self.flip or self.offset or self.scale or self.rotate)

    def __call__(
        self,
        volumes: torch.Tensor,
        *,
        out_size: Sequence[int] | None = None,
        base_shift: torch.Tensor | None = None,
        spacing_irc: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``float [B, 1, D, H, W]`` HU -> ``float [B, 1, *out_size]`` HU.

        ``base_shift`` ``[B, 3]`` is where each crop's centre sits relative to the input's centre
        (voxels), ``spacing_irc`` ``[B, 3]`` the voxel size in mm (for the rotation).
        """
        b = volumes.shape[0]
        out_size = tuple(out_size or volumes.shape[2:])
        shift = torch.zeros(b, 3) if base_shift is None else base_shift.to("cpu", torch.float32).clone()
        out = volumes
        if self.geometric or tuple(volumes.shape[2:]) != out_size or bool(shift.abs().sum()):
            matrix = torch.eye(3).repeat(b, 1, 1)
            if self.flip:
                matrix = matrix * torch.where(torch.rand(b, 3) < 0.5, -1.0, 1.0)[:, None, :]
            if self.scale:
                matrix = matrix * (1 + self.scale * (2 * torch.rand(b, 3) - 1))[:, :, None]
            if self.rotate:
                matrix = self._rotation(b, spacing_irc) @ matrix
            if self.offset:
                half = torch.tensor(out_size, dtype=torch.float32) / 2
                shift = shift + self.offset * half * (2 * torch.rand(b, 3) - 1)
            out = affine_resample(volumes, matrix, shift, out_size)
        if self.noise:
            out = out + torch.randn_like(out) * self.noise
        return out

    @staticmethod
    def _rotation(b: int, spacing_irc: torch.Tensor | None) -> torch.Tensor:
        """``[B, 3, 3]`` rotations by uniform angles about the index axis, in voxel units: ``S^-1 R_mm S``."""
        angle = torch.rand(b) * 2 * math.pi
        cos, sin = torch.cos(angle), torch.sin(angle)
        sp = torch.ones(b, 3) if spacing_irc is None else spacing_irc.to("cpu", torch.float32)
        rot = torch.eye(3).repeat(b, 1, 1)
        ratio = sp[:, 2] / sp[:, 1]  # row and column voxels in mm: R_voxel = S^-1 R_mm S
        rot[:, 1, 1], rot[:, 1, 2] = cos, -sin * ratio
        rot[:, 2, 1], rot[:, 2, 2] = sin / ratio, cos
        return rot


@dataclass
class SegmentationAugment(LunaAugment):
    """Batched 2-D augmentation of slice stacks and their masks (CPU or GPU, global torch RNG).

    The fields of :class:`LunaAugment` with the book's p2ch13 settings: a flip of the rows and of the
    columns with probability 1/2 each, an offset of up to ``offset * size / 2`` pixels, a scale of
    ``1 +/- scale`` per axis, a rotation by a uniform angle in the slice plane (LUNA16 pixels are
    square), HU noise of ``noise``. The slices of a stack move together (the index axis is left
    alone), and the mask takes exactly the image's transform, resampled at the nearest pixel.
    """

    offset: float = 0.03

    def __call__(  # type: ignore[override]
        self, images: torch.Tensor, masks: torch.Tensor, *, out_size: Sequence[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(float [B, C, H_in, W_in] HU, int [B, H_in, W_in])`` -> ``(float [B, C, H, W], int64 [B, H, W])``:
        the output window is centred on the input (``out_size``, default the input's size)."""
        b = images.shape[0]
        out_size = tuple(out_size or images.shape[2:])
        matrix = torch.eye(3).repeat(b, 1, 1)  # (index, row, column); the index row stays the identity
        shift = torch.zeros(b, 3)
        if self.flip:
            matrix[:, 1:, 1:] *= torch.where(torch.rand(b, 2) < 0.5, -1.0, 1.0)[:, None, :]
        if self.scale:
            matrix[:, 1:, 1:] *= (1 + self.scale * (2 * torch.rand(b, 2) - 1))[:, :, None]
        if self.rotate:
            angle = torch.rand(b) * 2 * math.pi
            rot = torch.eye(3).repeat(b, 1, 1)
            rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
            matrix = rot @ matrix
        if self.offset:
            shift[:, 1:] = self.offset * torch.tensor(out_size, dtype=torch.float32) / 2 * (2 * torch.rand(b, 2) - 1)
        if self.geometric or tuple(images.shape[2:]) != out_size:
            images = affine_resample(images[:, :, None], matrix, shift, (1, *out_size))[:, :, 0]
            masks = affine_resample(masks[:, None, None].float(), matrix, shift, (1, *out_size), mode="nearest")[:, 0, 0]
        if self.noise:
            images = images + torch.randn_like(images) * self.noise
        return images, masks.long()
