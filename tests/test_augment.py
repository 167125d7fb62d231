"""Batch augmentation presets (``zoo.augment``): shapes kept, seeded, flips only where allowed."""

from __future__ import annotations

import pytest
import torch

from zoo.augment import make_augment, random_affine, random_brightness_contrast, random_crop, random_hflip
from zoo.errors import ZooError


def _batch(b=16, c=1, size=28):
    return torch.arange(b * c * size * size, dtype=torch.float32).reshape(b, c, size, size) % 256


@pytest.mark.parametrize("preset", ["light", "strong"])
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32)])
def test_presets_keep_shape_and_range_and_repeat_under_a_seed(preset, channels, size):
    images = _batch(c=channels, size=size)
    augment = make_augment(preset, flips=True, size=size)
    torch.manual_seed(3)
    first = augment(images)
    torch.manual_seed(3)
    again = augment(images)
    assert first.shape == images.shape and first.dtype == torch.float32
    assert torch.equal(first, again) and not torch.equal(first, images)
    assert first.min() >= 0 and first.max() <= 255


def test_random_crop_shifts_each_image_within_the_padding():
    images = torch.zeros(64, 1, 8, 8)
    images[:, :, 4, 4] = 1  # one lit pixel: where it lands tells the offset
    torch.manual_seed(0)
    shifted = random_crop(images, 2)
    where = [divmod(int(i.flatten().argmax()), 8) for i in shifted]
    assert {abs(r - 4) for r, _ in where} <= {0, 1, 2} and {abs(c - 4) for _, c in where} <= {0, 1, 2}
    assert len(set(where)) > 5 and all(i.sum() == 1 for i in shifted)  # several offsets, never cut off


def test_flips_happen_only_where_the_dataset_allows_them():
    images = torch.zeros(32, 1, 4, 4)
    images[..., 0] = 255  # left column lit: a flip moves it to the right
    torch.manual_seed(1)
    flipped = random_hflip(images)
    moved = (flipped[..., -1] == 255).all(-1).flatten()
    assert 0 < int(moved.sum()) < 32
    light = make_augment("light", flips=False, size=4)
    torch.manual_seed(1)
    out = light(images)
    assert not (out[..., 3] == 255).all(-1).any()  # a crop shift of 0..1 pixels never brings it to the right edge


def test_the_identity_affine_and_jitter_bounds():
    images = _batch(b=4)
    same = random_affine(images, scale=(1.0, 1.0), ratio=(1.0, 1.0), degrees=0.0)
    assert torch.allclose(same, images, atol=1e-3)
    jittered = random_brightness_contrast(images, strength=0.0)
    assert torch.allclose(jittered, images, atol=1e-4)


def test_none_is_no_augmentation_and_unknown_presets_are_refused():
    assert make_augment("none", flips=True, size=28) is None
    with pytest.raises(ZooError, match="unknown augmentation preset 'heavy'"):
        make_augment("heavy", flips=True, size=28)
