"""Tests for zoo.confusion: the first-max argmax and the fused bincount, against numpy references."""

import numpy as np
import pytest
import torch

from zoo.confusion import MANUAL_ARGMAX_MAX_CLASSES, argmax_dim1, confusion_counts, index_dtype


def reference(p, t, C, keep):
    """[N, C, C] counts of (t, p) pairs per sample, only where ``keep``."""
    out = np.zeros((p.shape[0], C, C), np.int64)
    for n in range(p.shape[0]):
        np.add.at(out[n], (t[n][keep[n]], p[n][keep[n]]), 1)
    return out


@pytest.mark.parametrize("C", [2, 5, MANUAL_ARGMAX_MAX_CLASSES, MANUAL_ARGMAX_MAX_CLASSES + 3])
def test_argmax_dim1_is_torch_argmax_with_ties(C):
    g = torch.Generator().manual_seed(C)
    x = torch.randint(-2, 3, (16, C, 3, 4), generator=g).float()  # heavy ties: the first maximum wins
    assert torch.equal(argmax_dim1(x).long(), torch.argmax(x, dim=1))
    assert torch.equal(argmax_dim1(x[:, :, 0]).long(), torch.argmax(x[:, :, 0], dim=1))  # [N, C]


def test_index_dtype_is_the_narrowest():
    assert index_dtype(1) == index_dtype(256) == torch.uint8
    assert index_dtype(257) == index_dtype(32768) == torch.int16
    assert index_dtype(32769) == index_dtype(2**31) == torch.int32
    assert index_dtype(2**31 + 1) == torch.int64


@pytest.mark.parametrize("ignore", [None, 255, -100, 1])
@pytest.mark.parametrize("N", [1, 3])
def test_counts_in_every_mode(ignore, N):
    C = 3
    g = torch.Generator().manual_seed(N)
    target = torch.randint(0, C, (N, 4, 5), generator=g)
    p = torch.randint(0, C, (N, 4, 5), generator=g).to(torch.uint8)
    mode, mask = "plain", None
    if ignore is not None:
        target[torch.rand(target.shape, generator=g) < 0.3] = ignore
        mask = target == ignore
        mode = "mask" if 0 <= ignore < C else "clamp"
    keep = np.ones(target.shape, bool) if mask is None else ~mask.numpy()
    ref = reference(p.numpy(), target.numpy(), C, keep)
    per_sample = confusion_counts(p, target, C, mode, mask if mode == "mask" else None, per_sample=True)
    assert per_sample.dtype == torch.int64 and per_sample.tolist() == ref.tolist()
    flat = confusion_counts(p.view(-1), target.view(-1), C, mode, mask.view(-1) if mode == "mask" else None)
    assert flat.shape == (C, C) and flat.tolist() == ref.sum(0).tolist()


def test_non_contiguous_inputs():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (2, 6, 5), generator=g)
    p = torch.randint(0, 4, (2, 6, 5), generator=g)
    ref = confusion_counts(p, target, 4, "plain", per_sample=True)
    got = confusion_counts(p.transpose(1, 2), target.transpose(1, 2), 4, "plain", per_sample=True)
    assert torch.equal(got, ref) and int(got.sum()) == 60
