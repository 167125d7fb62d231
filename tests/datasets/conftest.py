"""What every dataset test checks the same way: a dataset indexes like a Python list."""

from __future__ import annotations

import pytest
import torch


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def assert_indexes_like_a_list(ds) -> None:
    """``ds[-1]`` is the last item, ``ds[len(ds)]`` and ``ds[-len(ds) - 1]`` raise ``IndexError`` (so iterating
    with ``dataset[i]`` stops)."""
    n = len(ds)
    assert n > 0
    assert _same(ds[-1], ds[n - 1]) and _same(ds[-n], ds[0])
    for bad in (n, -n - 1):
        with pytest.raises(IndexError, match=f"index {bad} is out of range for a dataset of {n} items"):
            ds[bad]
