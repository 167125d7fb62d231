"""Every dataset indexes like a Python list: ``ds[-1]`` is the last item, ``ds[len(ds)]`` and
``ds[-len(ds) - 1]`` raise ``IndexError`` (so iterating with ``dataset[i]`` stops). The datasets built
from files (mnist, cifar10, LUNA16) are checked beside their readers, in tests/families and tests/luna."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.datasets.common import ImageTensorDataset, check_index
from zoo.datasets.text import TextDataset


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def assert_indexes_like_a_list(ds) -> None:
    n = len(ds)
    assert n > 0
    assert _same(ds[-1], ds[n - 1]) and _same(ds[-n], ds[0])
    for bad in (n, -n - 1):
        with pytest.raises(IndexError, match=f"index {bad} is out of range for a dataset of {n} items"):
            ds[bad]


def _images(n: int = 5) -> ImageTensorDataset:
    images = torch.arange(n * 4, dtype=torch.uint8).view(n, 1, 2, 2)
    return ImageTensorDataset(images, torch.arange(n) % 2, mean=[0.5], std=[0.25], class_names=["a", "b"])


@pytest.mark.parametrize("name, split", [("digits", "test"), ("reviews", "test")])
def test_registered_offline_datasets(name, split):
    assert_indexes_like_a_list(zoo.get_dataset(name, split=split))


def test_image_tensor_dataset_items_batches_and_iteration():
    ds = _images()
    assert_indexes_like_a_list(ds)
    assert ds[-2][1] == int(ds.labels[3])
    assert [label for _, label in ds] == ds.labels.tolist()  # iteration stops at the IndexError
    images, labels = ds.batch(torch.tensor([-1, 0]))
    assert torch.equal(images[0], ds[4][0]) and labels.tolist() == [int(ds.labels[4]), 0]
    assert ds[torch.tensor(-1)][1] == ds[4][1] and ds[torch.tensor(4)][1] == ds[4][1]  # 0-dim tensors are indices too


def test_text_dataset_items_and_iteration():
    ds = TextDataset(["bad", "good", "fine"], [0, 1, 1])
    assert_indexes_like_a_list(ds)
    assert list(ds) == [("bad", 0), ("good", 1), ("fine", 1)]
    assert ds.batch(torch.tensor([-1]))[0] == ["fine"]


def test_empty_datasets_and_non_integer_indices():
    empty = TextDataset([], [])
    with pytest.raises(IndexError, match="out of range for a dataset of 0 items"):
        empty[0]
    assert list(empty) == []
    with pytest.raises(TypeError, match="must be integers, not float"):
        _images()[1.0]
    assert check_index(-3, 3) == 0
