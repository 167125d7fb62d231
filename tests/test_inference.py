"""Whole-volume inference (issue 8): sliding windows checked against MONAI's, patch classification over a
whole CT checked against the classifier on the same crops, slice-by-slice segmentation checked against
a hand-built 7-channel stack, and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from zoo.errors import DataError
from zoo.inference import classify_patches, importance_map, segment_slices, sliding_window_inference, window_starts


@pytest.fixture(autouse=True)
def _one_thread():
    """These tensors are tiny: with two threads on a busy machine each call waits on the other thread
    (about 1 s a call here instead of 10 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _conv_net(ndim: int, in_channels: int = 2, out_channels: int = 3) -> nn.Module:
    """A small fully convolutional net; its zero padding makes each window's edges differ from the
    whole-volume convolution, so the blending shows."""
    conv = nn.Conv3d if ndim == 3 else nn.Conv2d
    torch.manual_seed(0)
    return nn.Sequential(conv(in_channels, 4, 3, padding=1), nn.ReLU(), conv(4, out_channels, 3, padding=1)).eval()


# ------------------------------------------------------------------------------------------ sliding windows


def test_window_starts_by_hand():
    assert window_starts(96, 32, 24) == [0, 24, 48, 64]  # the last one flush with the far edge
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(7, 7, 5) == [0]
    assert window_starts(9, 4, 100) == [0, 5]


def test_importance_map_by_hand():
    assert torch.equal(importance_map((2, 3)), torch.ones(2, 3))
    g = importance_map((3,), blending="gaussian", sigma_scale=0.5)  # sigma 1.5, x = -1, 0, 1
    assert torch.allclose(g, torch.tensor([math.exp(-1 / 4.5), 1.0, math.exp(-1 / 4.5)]))
    g2 = importance_map((3, 5), blending="gaussian", sigma_scale=(0.5, 1.0))
    assert g2.shape == (3, 5) and torch.allclose(g2[:, 2], g)  # a product over axes
    corner = importance_map((64, 64), blending="gaussian")  # edge weight exp(-31.5**2 / 128) < 1e-3 per axis
    assert corner.min() == pytest.approx(1e-3) and corner.max() < 1


def test_mean_model_by_hand():
    # windows [0:4] and [2:6] (step int(4 * 0.5) = 2); each window's output is its mean
    x = torch.arange(6, dtype=torch.float32).reshape(1, 1, 1, 6)
    out = sliding_window_inference(x, lambda w: w.mean(dim=(2, 3), keepdim=True).expand_as(w), patch_size=(1, 4), overlap=0.5)
    assert torch.allclose(out, torch.tensor([1.5, 1.5, 2.5, 2.5, 3.5, 3.5]).reshape(1, 1, 1, 6))


@pytest.mark.parametrize("blending", ["constant", "gaussian"])
@pytest.mark.parametrize("shape,patch", [((2, 3, 13, 17, 11), (6, 8, 5)), ((1, 1, 9, 20), (4, 7)), ((1, 2, 3, 10, 12), (5, 4, 12))])
def test_identity_model_returns_the_input(blending, shape, patch):
    x = torch.randn(shape)
    out = sliding_window_inference(x, nn.Identity(), patch_size=patch, overlap=0.6, blending=blending)
    assert out.dtype == torch.float32 and out.shape == x.shape and out.is_contiguous()
    assert torch.allclose(out, x, atol=1e-6)


@pytest.mark.parametrize("blending", ["constant", "gaussian"])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.8, (0.1, 0.6, 0.3)])
@pytest.mark.parametrize("shape,patch,batch_size", [
    ((2, 2, 13, 17, 11), (6, 8, 5), 3),  # sizes not divisible by the steps, 2 volumes sharing batches
    ((1, 2, 4, 17, 11), (6, 8, 5), 4),  # smaller than the patch along the first axis: padded
    ((1, 2, 3, 5, 20), (6, 8, 7), 1),  # smaller along two axes (one of them by an odd count)
    ((2, 2, 19, 23), (8, 6), 5),  # 2-D
    ((1, 2, 3, 23), (8, 6), 2),  # 2-D, padded
])
def test_same_as_monai(blending, overlap, shape, patch, batch_size):
    monai_inferers = pytest.importorskip("monai.inferers")
    net = _conv_net(len(patch))
    overlap = overlap[:len(patch)] if isinstance(overlap, tuple) else overlap
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = monai_inferers.sliding_window_inference(x, patch, batch_size, net, overlap=overlap, mode=blending,
                                                           sigma_scale=0.125, padding_mode="constant", cval=0)
    ours = sliding_window_inference(x, net, patch_size=patch, overlap=overlap, blending=blending, batch_size=batch_size)
    assert ours.shape == expected.shape == (shape[0], 3, *shape[2:])
    assert (ours - expected).abs().max() < 1e-5


def test_same_as_monai_with_per_axis_sigma():
    monai_inferers = pytest.importorskip("monai.inferers")
    net = _conv_net(3)
    x = torch.randn(1, 2, 12, 14, 16)
    expected = monai_inferers.sliding_window_inference(x, (5, 6, 7), 4, net, overlap=0.4, mode="gaussian", sigma_scale=(0.1, 0.3, 0.2))
    ours = sliding_window_inference(x, net, patch_size=(5, 6, 7), overlap=0.4, blending="gaussian", sigma_scale=(0.1, 0.3, 0.2))
    assert (ours - expected).abs().max() < 1e-5


def test_one_int_patch_size_means_every_axis():
    x = torch.randn(1, 1, 7, 9, 6)
    net = _conv_net(3, in_channels=1)
    assert torch.equal(sliding_window_inference(x, net, patch_size=4), sliding_window_inference(x, net, patch_size=(4, 4, 4)))


def test_model_mode_restored_and_integer_volume():
    net = _conv_net(2, in_channels=1).train()
    x = torch.randint(-1000, 1000, (1, 1, 10, 12), dtype=torch.int16)
    out = sliding_window_inference(x, net, patch_size=(4, 5))
    assert net.training and out.dtype == torch.float32 and not out.requires_grad


@pytest.mark.parametrize("kwargs,message", [
    (dict(volume=torch.zeros(3, 8, 8)), r"needs a tensor \[N, C, H, W\] or \[N, C, D, H, W\], got shape \[3, 8, 8\]"),
    (dict(patch_size=(4, 4, 4)), r"patch_size must be a positive int or 2 positive ints"),
    (dict(patch_size=(4, 0)), r"patch_size must be a positive int or 2 positive ints"),
    (dict(patch_size=(4, 2.5)), r"patch_size must be a positive int or 2 positive ints"),
    (dict(overlap=1.0), r"overlap must be a fraction in \[0, 1\), got 1.0"),
    (dict(overlap=-0.1), r"overlap must be a fraction in \[0, 1\)"),
    (dict(overlap=(0.1, 0.2, 0.3)), r"overlap must be a number or 2 numbers"),
    (dict(blending="linear"), r"blending must be one of \('constant', 'gaussian'\), got 'linear'"),
    (dict(blending="gaussian", sigma_scale=0), r"sigma_scale must be > 0"),
    (dict(batch_size=0), r"batch_size must be an int >= 1"),
    (dict(volume=torch.full((1, 1, 8, 8), float("nan"))), r"volume holds non-finite values"),
    (dict(volume=torch.tensor([[[[0.0, float("inf")]]]])), r"volume holds non-finite values"),
    (dict(model=nn.Conv2d(1, 1, 3)), r"output has its input's spatial size: windows \[2, 1, 4, 4\] gave shape \[2, 1, 2, 2\]"),
    (dict(model=lambda w: w.flatten(1)), r"output has its input's spatial size"),
])
def test_sliding_window_errors(kwargs, message):
    args = dict(volume=torch.zeros(1, 1, 8, 8), model=nn.Identity(), patch_size=(4, 4), batch_size=2) | kwargs
    with pytest.raises(DataError, match=message):
        sliding_window_inference(args.pop("volume"), args.pop("model"), **args)


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
    import zoo

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
