"""Batched augmentation: the resampling map, rotation in millimetres, offsets that move the crop over real
voxels, and image and mask moving together."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.errors import DataError
from zoo.luna.augment import LunaAugment, SegmentationAugment, affine_resample
from zoo.luna.datasets import CROP_MARGIN, luna, luna_malignancy
from zoo.luna.family import CROP_SIZE
from zoo.luna.geometry import read_ct


def test_rotation_is_about_the_index_axis_in_millimetres():
    v = torch.randn(1, 1, 8, 10, 10)
    quarter = torch.tensor([[[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]])
    np.testing.assert_allclose(affine_resample(v, quarter, torch.zeros(1, 3), (8, 10, 10)).numpy(),
                               torch.rot90(v, -1, dims=(3, 4)).numpy(), atol=1e-5)
    aug = LunaAugment(flip=False, offset=0, scale=0, rotate=True, noise=0)
    disk = torch.zeros(1, 1, 8, 33, 33)
    rr, cc = torch.meshgrid(torch.arange(33) - 16.0, torch.arange(33) - 16.0, indexing="ij")
    disk[..., (rr * 0.5) ** 2 + cc**2 <= 36] = 1  # a disk of 6 mm when rows are 0.5 mm and columns 1 mm apart
    torch.manual_seed(1)  # draws an angle of about 273 degrees
    in_mm = aug(disk, spacing_irc=torch.tensor([[2.0, 0.5, 1.0]]))
    torch.manual_seed(1)
    in_voxels = aug(disk)  # the same angle, ignoring the spacing: the disk turns into another ellipse
    assert (in_mm - disk).abs().mean() < 0.03 < 0.1 < (in_voxels - disk).abs().mean()


def test_offset_really_moves_the_crop(luna_root):
    pytest.importorskip("SimpleITK")
    data = luna("train", root=luna_root, augment=False, test_fraction=0.25, val_fraction=0.25)
    ids = np.arange(len(data))
    margin = torch.from_numpy(data.crops(ids, margin=True)).float()
    base = torch.from_numpy(data._start - data._margin_start - np.asarray(CROP_MARGIN)).float()
    hu = {k: read_ct(mhd)[0] for k, mhd in enumerate(data.scan_paths.values())}
    shift = torch.tensor([2.0, -3.0, 4.0])
    moved = affine_resample(margin, torch.eye(3).repeat(len(ids), 1, 1), base + shift, CROP_SIZE)
    for i in ids[:: max(1, len(ids) // 10)]:
        z, r, c = data._start[i] + shift.long().numpy()
        volume = hu[int(data._sample_series[i])]
        if z < 0 or r < 0 or c < 0 or z + 32 > volume.shape[0] or r + 48 > volume.shape[1] or c + 48 > volume.shape[2]:
            continue  # beyond the scan: the border is repeated instead
        np.testing.assert_allclose(moved[i, 0].numpy(), volume[z : z + 32, r : r + 48, c : c + 48], atol=0.05)
    # Through the dataset: no augmentation reproduces the plain crop exactly (even at the borders) ...
    identity = LunaAugment(flip=False, offset=0, scale=0, rotate=False, noise=0)
    data.augment = identity
    plain, _ = data.batch(torch.from_numpy(ids))
    same, _ = data.batch(torch.from_numpy(ids), augment=True)
    assert torch.allclose(plain, same, atol=0.05)  # HU, up to float rounding of the sampling grid
    # ... and an offset brings in voxels from outside the plain crop.
    data.augment = LunaAugment(flip=False, offset=0.25, scale=0, rotate=False, noise=0)
    torch.manual_seed(0)
    shifted, _ = data.batch(torch.from_numpy(ids), augment=True)
    assert (shifted - plain).abs().amax(dim=(1, 2, 3, 4)).gt(1).float().mean() > 0.9


def test_augmented_batches(luna_root):
    pytest.importorskip("SimpleITK")
    data = luna("train", root=luna_root, balance_ratio=1, test_fraction=0.25, val_fraction=0.25)
    assert isinstance(data.augment, LunaAugment)
    torch.manual_seed(0)
    x, y = data.batch(torch.arange(8), augment=True)
    plain, _ = data.batch(torch.arange(8))
    assert x.shape == (8, 1, 32, 48, 48) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert not torch.equal(x, plain)
    noise_only = LunaAugment(flip=False, offset=0, scale=0, rotate=False, noise=25.0)
    assert abs(float((noise_only(plain) - plain).std()) - 25.0) < 1.0
    with pytest.raises(DataError, match="unknown augmentation"):
        luna("train", root=luna_root, augment={"flips": True})
    # Malignancy keeps the nodules' size: its default augmentation does not rescale.
    assert luna_malignancy("train", root=luna_root, test_fraction=0.25, val_fraction=0.25).augment.scale == 0


def test_segmentation_augmentation_moves_image_and_mask_together():
    torch.manual_seed(0)
    masks = torch.zeros(6, 48, 48, dtype=torch.int64)
    masks[:, 10:30, 14:22] = 1
    masks[:, 30:36, 20:40] = 1  # an asymmetric shape: an L
    images = (masks[:, None].float() * 1500 - 1000).repeat(1, 7, 1, 1)
    flip = SegmentationAugment(flip=True, offset=0, scale=0, rotate=False, noise=0)
    x, y = flip(images, masks)
    assert torch.equal((x[:, 3] > -250).long(), y) and y.sum() == masks.sum() and not torch.equal(y, masks)
    full = SegmentationAugment(noise=0)  # flip, offset, scale and rotation at the book's settings
    x, y = full(images, masks, out_size=(40, 40))
    assert x.shape == (6, 7, 40, 40) and y.shape == (6, 40, 40) and y.dtype == torch.int64
    agree = ((x[:, 3] > -250).long() == y).float().mean()
    assert agree > 0.97 and torch.equal(x[:, 0], x[:, 6])  # every slice of a stack moves the same way
    noisy, _ = SegmentationAugment(flip=False, offset=0, scale=0, rotate=False, noise=25)(images, masks)
    assert 20 < float((noisy - images).std()) < 30
    with pytest.raises(DataError, match="unknown augmentation option"):
        SegmentationAugment.from_option({"elastic": True})
