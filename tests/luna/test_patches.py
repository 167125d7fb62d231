"""CT inference with patch models: patch classification over a whole CT checked against the classifier on
the same crops, slice-by-slice segmentation checked against a hand-built 7-channel stack, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo.errors import DataError
from zoo.luna.patches import classify_patches, segment_slices


@pytest.fixture(autouse=True)
def _one_thread():
    """These tensors are tiny: with two threads on a busy machine each call waits on the other thread
    (about 1 s a call here instead of 10 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------ patch classification


@pytest.mark.parametrize("shape,patch,stride", [((20, 30, 26), (8, 12, 10), (5, 7, 6)), ((9, 13, 10), (9, 4, 4), 4)])
def test_classify_patches_covers_the_volume(shape, patch, stride):
    calls = []

    def model(batch):  # logits from each patch's mean, and a record of what it saw
        calls.append(batch.clone())
        mean = batch.mean(dim=(1, 2, 3, 4))
        return torch.stack([mean, -mean, 2 * mean], dim=1)

    volume = torch.randn(shape)
    found = classify_patches(volume, model, patch_size=patch, stride=stride, batch_size=7)
    assert found.starts.dtype == found.centers.dtype == torch.int64 and found.starts.shape[1] == 3
    assert torch.equal(found.centers, found.starts + torch.tensor(patch) // 2)
    assert (found.starts >= 0).all() and (found.starts + torch.tensor(patch) <= torch.tensor(shape)).all()
    assert len(torch.unique(found.starts, dim=0)) == len(found.starts)
    covered = torch.zeros(shape, dtype=torch.int64)
    for i, r, c in found.starts.tolist():
        covered[i:i + patch[0], r:r + patch[1], c:c + patch[2]] += 1
    assert (covered >= 1).all()
    seen = torch.cat(calls)
    assert seen.shape == (len(found.starts), 1, *patch)
    for k, (i, r, c) in enumerate(found.starts.tolist()):
        assert torch.equal(seen[k, 0], volume[i:i + patch[0], r:r + patch[1], c:c + patch[2]])
    assert torch.allclose(found.probabilities, torch.softmax(model(seen), dim=1), atol=1e-6)
    assert torch.allclose(found.probabilities.sum(dim=1), torch.ones(len(found.starts)))


def test_classify_patches_with_luna_classifier_matches_direct_crops():
    torch.manual_seed(0)
    model = zoo.get_model("luna_classifier").eval()
    volume = np.random.default_rng(0).integers(-1000, 1000, size=(40, 60, 56), dtype=np.int16)  # as read_ct returns
    found = classify_patches(volume, model, patch_size=(32, 48, 48), stride=(16, 24, 24), batch_size=3)
    assert found.starts.tolist() == [[i, r, c] for i in (0, 8) for r in (0, 12) for c in (0, 8)]
    assert found.probabilities.shape == (8, 2) and found.probabilities.dtype == torch.float32
    crops = torch.stack([torch.from_numpy(volume[i:i + 32, r:r + 48, c:c + 48]).float() for i, r, c in found.starts.tolist()])
    with torch.no_grad():
        direct = torch.softmax(model(crops[:, None]), dim=1)
    assert torch.allclose(found.probabilities, direct, atol=1e-5)


def test_classify_patches_pads_a_short_axis_with_air():
    seen = []
    volume = torch.randn(5, 8, 8)
    found = classify_patches(volume, lambda b: seen.append(b) or torch.zeros(len(b), 2), patch_size=(8, 4, 4), stride=4)
    assert found.starts[:, 0].unique().tolist() == [-1]  # 3 voxels of padding: 1 before, 2 after
    assert found.centers[:, 0].unique().tolist() == [3]
    first = seen[0][0, 0]
    assert (first[0] == -1000).all() and (first[-2:] == -1000).all() and torch.equal(first[1:6], volume[:, :4, :4])


@pytest.mark.parametrize("kwargs,message", [
    (dict(volume=torch.zeros(1, 10, 10, 10)), r"classify_patches needs a CT \[index, row, column\] of real numbers, got shape \[1, 10, 10, 10\]"),
    (dict(volume=np.full((10, 10, 10), np.nan, dtype=np.float32)), r"volume holds non-finite values"),
    (dict(patch_size=(4, 4)), r"patch_size must be a positive int or 3 positive ints \(one per spatial axis\), got \(4, 4\)"),
    (dict(stride=0), r"stride must be a positive int or 3 positive ints"),
    (dict(stride=(2, 2)), r"stride must be a positive int or 3 positive ints"),
    (dict(stride=1.5), r"stride must be a positive int or 3 positive ints"),
    (dict(model=lambda b: b), r"needs a classifier: patches \[4, 1, 4, 4, 4\] gave shape \[4, 1, 4, 4, 4\], not logits \[4, num_classes\]"),
])
def test_classify_patches_errors(kwargs, message):
    args = dict(volume=torch.zeros(10, 10, 10), model=lambda b: torch.zeros(len(b), 2), patch_size=(4, 4, 4), stride=3,
                batch_size=4) | kwargs
    with pytest.raises(DataError, match=message):
        classify_patches(args.pop("volume"), args.pop("model"), **args)


# ------------------------------------------------------------------------------------------ slice by slice


def test_segment_slices_matches_a_manual_stack_with_clamped_edges():
    torch.manual_seed(0)
    model = nn.Conv2d(7, 1, 3, padding=1)
    volume = torch.randn(5, 8, 9) * 500
    logits = segment_slices(volume, model, batch_size=2)
    assert logits.shape == (5, 8, 9) and logits.dtype == torch.float32
    neighbours = {0: [0, 0, 0, 0, 1, 2, 3], 1: [0, 0, 0, 1, 2, 3, 4], 2: [0, 0, 1, 2, 3, 4, 4], 3: [0, 1, 2, 3, 4, 4, 4],
                  4: [1, 2, 3, 4, 4, 4, 4]}
    with torch.no_grad():
        for d, channels in neighbours.items():
            stack = torch.stack([volume[k] for k in channels])[None]  # [1, 7, H, W]
            assert torch.allclose(logits[d], model(stack)[0, 0], atol=1e-4)
    assert torch.allclose(segment_slices(volume, model, batch_size=16), logits)


def test_segment_slices_context_zero_and_int16():
    volume = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    assert torch.equal(segment_slices(volume, nn.Identity(), context=0), torch.from_numpy(volume).float())


@pytest.mark.parametrize("kwargs,message", [
    (dict(volume=torch.zeros(6, 8)), r"segment_slices needs a CT \[index, row, column\] of real numbers, got shape \[6, 8\]"),
    (dict(volume=torch.tensor(float("nan")).expand(4, 6, 8)), r"volume holds non-finite values"),
    (dict(context=-1), r"context must be an int >= 0"),
    (dict(batch_size=0), r"batch_size must be an int >= 1"),
    (dict(model=nn.Conv2d(7, 2, 3, padding=1)), r"from \[B, 7, H, W\] to \[B, 1, H, W\]: slices \[4, 7, 6, 8\] gave shape \[4, 2, 6, 8\]"),
    (dict(model=nn.Conv2d(7, 1, 3)), r"to \[B, 1, H, W\]"),
])
def test_segment_slices_errors(kwargs, message):
    args = dict(volume=torch.zeros(4, 6, 8), model=nn.Conv2d(7, 1, 3, padding=1)) | kwargs
    with pytest.raises(DataError, match=message):
        segment_slices(args.pop("volume"), args.pop("model"), **args)
