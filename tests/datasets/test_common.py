"""``zoo/datasets/common.py``: list-like indexing (``check_index``) for every registered offline dataset, split
names, the held-out splits of data without its own, and ``ImageTensorDataset``: items, whole-batch
normalisation, augmentation, its preprocessing and its errors. The datasets built from files (mnist, cifar10,
LUNA16) are checked beside their readers."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.datasets.common import ImageTensorDataset, check_index, check_split, held_out_positions
from zoo.datasets.text import TextDataset
from zoo.errors import DataError
from zoo.preprocess import Preprocessing

from .conftest import assert_indexes_like_a_list


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


def test_empty_datasets_and_non_integer_indices():
    empty = TextDataset([], [])
    with pytest.raises(IndexError, match="out of range for a dataset of 0 items"):
        empty[0]
    assert list(empty) == []
    with pytest.raises(TypeError, match="must be integers, not float"):
        _images()[1.0]
    assert check_index(-3, 3) == 0 and check_index(2, 3) == 2


def test_images_are_normalised_per_channel_in_pixel_units():
    images = torch.tensor([[[[0, 255]], [[51, 102]], [[0, 0]]]], dtype=torch.uint8)  # [1, 3, 1, 2]
    ds = ImageTensorDataset(images, torch.tensor([1]), mean=[0.5, 0.2, 0.0], std=[0.5, 0.1, 1.0], class_names=["a", "b"])
    x, label = ds[0]
    assert x.dtype == torch.float32 and label == 1
    torch.testing.assert_close(x, torch.tensor([[[-1.0, 1.0]], [[0.0, 2.0]], [[0.0, 0.0]]]))  # (pixel / 255 - mean) / std
    assert ds.preprocessing == Preprocessing(channels=3, size=(1, 2), mean=(0.5, 0.2, 0.0), std=(0.5, 0.1, 1.0))
    assert ds.labels.dtype == torch.int64 and ds.class_names == ("a", "b")


def test_augmentation_applies_to_training_batches_in_pixel_units_before_normalising():
    ds = _images()
    seen = []

    def invert(batch):
        seen.append((batch.dtype, float(batch.max())))
        return 255 - batch

    ds.augment = invert
    plain, _ = ds.batch(torch.tensor([1, 2]))
    augmented, _ = ds.batch(torch.tensor([1, 2]), augment=True)
    assert seen == [(torch.float32, 11.0)]  # called once, on the float pixels (0..255), not on normalised values
    torch.testing.assert_close(augmented, ds.normalize(255 - ds.images[1:3]))
    assert not torch.equal(plain, augmented)


@pytest.mark.parametrize("images, labels, message", [
    (torch.zeros(2, 1, 2, 2), torch.zeros(2), r"images must be uint8 \[N, C, H, W\], got torch.float32"),
    (torch.zeros(2, 2, 2, dtype=torch.uint8), torch.zeros(2), r"got torch.uint8 \(2, 2, 2\)"),
    (torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(3), "2 images but 3 labels"),
])
def test_bad_images_or_labels_are_one_clear_error(images, labels, message):
    with pytest.raises(DataError, match=message):
        ImageTensorDataset(images, labels, mean=[0.5], std=[0.5], class_names=["a"])


def test_an_unknown_split_names_the_ones_there_are():
    check_split("test", ("train", "test"), "digits")
    with pytest.raises(DataError, match=r"dataset 'digits' has no split 'val'; choose one of \['train', 'test'\]"):
        check_split("val", ("train", "test"), "digits")


def test_held_out_splits_partition_the_items_and_leave_alone_what_the_data_has():
    labels = ["a"] * 10 + ["b"] * 10
    parts = {s: held_out_positions(labels, s, set(), val_fraction=0.2, test_fraction=0.2, split_seed=0, what="x")
             for s in ("train", "val", "test")}
    assert sorted(sum((p.tolist() for p in parts.values()), [])) == list(range(20))  # disjoint and complete
    assert [len(parts[s]) for s in ("train", "val", "test")] == [12, 4, 4]
    assert all(sum(labels[i] == "a" for i in parts[s]) * 2 == len(parts[s]) for s in parts)  # stratified
    again = held_out_positions(labels, "val", set(), val_fraction=0.2, test_fraction=0.2, split_seed=0, what="x")
    assert again.tolist() == parts["val"].tolist()  # seeded
    own_test = held_out_positions(labels, "train", {"test"}, val_fraction=0.2, test_fraction=0.2, split_seed=0, what="x")
    assert len(own_test) == 16  # the data has its own test split: only val is held out
    with pytest.raises(DataError, match=r"x: the val split is empty \(val_fraction=0\)"):
        held_out_positions(labels, "val", set(), val_fraction=0.0, test_fraction=0.2, split_seed=0, what="x")
