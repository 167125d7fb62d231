"""Whole-volume inference (issue 8): sliding windows checked against MONAI's, and the errors. The CT parts
(patch classification, slice-by-slice segmentation) are tested in ``tests/luna/test_patches.py``."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zoo.errors import DataError
from zoo.inference import importance_map, sliding_window_inference, window_starts


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
