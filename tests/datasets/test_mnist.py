"""``zoo/datasets/mnist.py``: the digits data and its fixed split, the pixel permutation, the IDX reader,
MNIST and Fashion-MNIST on small IDX files the tests write (never the installed Debian package: its folder is
monkeypatched away), where Fashion-MNIST is looked for, and its train-split flip."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

import zoo
import zoo.datasets.mnist as mnist_data
from zoo.datasets.mnist import digits_split, read_idx
from zoo.errors import DataError
from zoo.families.mnist import FASHION_MEAN, FASHION_NAMES, FASHION_STD


def test_digits_splits_are_fixed_and_disjoint():
    train, test = zoo.get_dataset("digits", split="train"), zoo.get_dataset("digits", split="test")
    assert (len(train), len(test)) == (1438, 359)
    train_idx, test_idx = digits_split(__import__("sklearn.datasets").datasets.load_digits().target)
    assert set(train_idx).isdisjoint(test_idx) and len(train_idx) + len(test_idx) == 1797
    assert torch.bincount(test.labels).tolist() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    image, label = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and label == 0
    assert train.images[:, :, :4].max() == 0  # the MNIST-like 4-pixel border
    x, y = train.batch(torch.tensor([0, 1]))
    assert torch.equal(x[0], image) and y.tolist() == [0, 1]
    with pytest.raises(DataError, match="no split 'validation'"):
        zoo.get_dataset("digits", split="validation")


def test_permute_pixels_is_one_fixed_permutation():
    plain = zoo.get_dataset("digits", split="test")
    shuffled = zoo.get_dataset("digits", split="test", permute_pixels=3)
    again = zoo.get_dataset("digits", split="test", permute_pixels=3)
    assert torch.equal(shuffled.images, again.images)
    assert not torch.equal(shuffled.images, plain.images)
    assert torch.equal(shuffled.images.flatten(1).sort(1).values, plain.images.flatten(1).sort(1).values)


def write_mnist_idx(folder, images, labels, prefix, *, gz=False):
    """Write uint8 images ``[N, 28, 28]`` and labels ``[N]`` as two IDX files in ``folder`` (``.gz`` when ``gz``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in ((f"{prefix}-images-idx3-ubyte", struct.pack(">IIII", 2051, len(images), 28, 28) + images.numpy().tobytes()),
                       (f"{prefix}-labels-idx1-ubyte", struct.pack(">II", 2049, len(labels)) + labels.numpy().tobytes())):
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
    return folder


def small_images(n, seed=0):
    """``n`` random uint8 images and labels ``0..9`` cycling."""
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    return images, torch.arange(n, dtype=torch.uint8) % 10


@pytest.fixture
def no_system_fashion(tmp_path, monkeypatch):
    """The installed Debian package's folder replaced by an empty one the test may fill."""
    system = tmp_path / "system" / "fashion-mnist"
    monkeypatch.setattr(mnist_data, "FASHION_SYSTEM_DIR", system)
    return system


def test_mnist_reads_real_idx_files(tmp_path):
    digits = zoo.get_dataset("digits", split="test")
    images, labels = digits.images[:20, 0].contiguous(), digits.labels[:20].to(torch.uint8)
    write_mnist_idx(tmp_path / "MNIST" / "raw", images, labels, "t10k")  # torchvision's layout
    write_mnist_idx(tmp_path / "MNIST" / "raw", images[:5], labels[:5], "train", gz=True)
    mnist = zoo.get_dataset("mnist", split="test", root=str(tmp_path))
    assert len(mnist) == 20 and torch.equal(mnist.images[:, 0], images) and mnist.labels.tolist() == labels.tolist()
    assert len(zoo.get_dataset("mnist", split="train", root=str(tmp_path))) == 5
    assert mnist[-1][1] == mnist[19][1] == int(labels[19]) and torch.equal(mnist[-20][0], mnist[0][0])
    for bad in (20, -21):
        with pytest.raises(IndexError, match=f"index {bad} is out of range for a dataset of 20 items"):
            mnist[bad]


def test_missing_mnist_root_says_what_is_expected(tmp_path):
    with pytest.raises(DataError, match="MNIST not found under .*train-images-idx3-ubyte.*pass download=True when online, or root=DIR"):
        zoo.get_dataset("mnist", split="train", root=str(tmp_path / "nowhere"))


def test_read_idx_reads_plain_and_gzipped_files_by_their_content(tmp_path):
    images, labels = small_images(7)
    write_mnist_idx(tmp_path / "plain", images, labels, "train")
    write_mnist_idx(tmp_path / "gz", images, labels, "train", gz=True)
    (tmp_path / "gz" / "train-images-idx3-ubyte.gz").rename(tmp_path / "gz" / "no-suffix")  # told by the magic bytes
    for path in (tmp_path / "plain" / "train-images-idx3-ubyte", tmp_path / "gz" / "no-suffix"):
        array = read_idx(path)
        assert array.shape == (7, 28, 28) and array.dtype == np.uint8 and np.array_equal(array, images.numpy())
    assert read_idx(tmp_path / "gz" / "train-labels-idx1-ubyte.gz").tolist() == labels.tolist()
    array = read_idx(tmp_path / "plain" / "train-images-idx3-ubyte")
    array[0, 0, 0] = 1  # a writable array: torch.from_numpy takes it without a warning


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n", "is not an IDX file"),
    (struct.pack(">IIII", 2051, 5, 28, 28) + bytes(100), r"needs 3936: truncated or damaged"),
    (gzip.compress(struct.pack(">II", 2049, 3) + bytes(3))[:-6], "not a readable gzip file"),
])
def test_read_idx_names_a_bad_file(tmp_path, content, message):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_idx(path)


@pytest.mark.parametrize("layout", ["FashionMNIST/raw", "fashion-mnist", "."])
@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_reads_idx_files_in_each_layout(tmp_path, no_system_fashion, layout, gz):
    images, labels = small_images(12)
    write_mnist_idx(tmp_path / "data" / layout, images, labels, "t10k", gz=gz)
    test = zoo.get_dataset("fashion_mnist", split="test", root=str(tmp_path / "data"))
    assert len(test) == 12 and test.images.shape == (12, 1, 28, 28) and test.images.dtype == torch.uint8
    assert torch.equal(test.images[:, 0], images) and test.labels.tolist() == labels.tolist()
    assert test.class_names == FASHION_NAMES and test.class_names[9] == "Ankle boot"
    x, y = test.batch(torch.tensor([3]))  # normalised with Fashion-MNIST's own mean and std
    assert torch.allclose(x[0], (images[3].float() / 255 - FASHION_MEAN[0]) / FASHION_STD[0], atol=1e-5) and y.tolist() == [3]
    with pytest.raises(DataError, match="looked for train-images-idx3-ubyte"):  # only the test split was written
        zoo.get_dataset("fashion_mnist", split="train", root=str(tmp_path / "data"))


def test_fashion_mnist_looks_in_root_then_zoo_data_then_the_system_folder(tmp_path, monkeypatch, no_system_fashion):
    for n, folder in ((3, tmp_path / "root"), (4, tmp_path / "zoo-data" / "FashionMNIST" / "raw"), (5, no_system_fashion)):
        write_mnist_idx(folder, *small_images(n), "t10k", gz=True)
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "zoo-data"))
    assert len(zoo.get_dataset("fashion_mnist", split="test", root=str(tmp_path / "root"))) == 3
    assert len(zoo.get_dataset("fashion_mnist", split="test")) == 4
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "empty"))
    assert len(zoo.get_dataset("fashion_mnist", split="test")) == 5
    # ZOO_DATA pointing at the parent of the Debian folder works too (its folder name is a known layout).
    monkeypatch.setattr(mnist_data, "FASHION_SYSTEM_DIR", tmp_path / "elsewhere")
    monkeypatch.setenv("ZOO_DATA", str(no_system_fashion.parent))
    assert len(zoo.get_dataset("fashion_mnist", split="test")) == 5
    # An explicit --root is the only place looked at: a wrong one is an error, not a quiet fallback.
    with pytest.raises(DataError, match="not found under .*missing"):
        zoo.get_dataset("fashion_mnist", split="test", root=str(tmp_path / "missing"))


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, no_system_fashion):
    with pytest.raises(DataError) as caught:
        zoo.get_dataset("fashion_mnist", split="train")
    message = str(caught.value)
    assert "Fashion-MNIST not found" in message and "apt-get install dataset-fashion-mnist" in message and "download=True" in message
    assert str(no_system_fashion) in message and "train-labels-idx1-ubyte[.gz]" in message


def test_fashion_mnist_permute_pixels(tmp_path, no_system_fashion):
    write_mnist_idx(tmp_path, *small_images(6), "t10k")
    plain = zoo.get_dataset("fashion_mnist", split="test", root=str(tmp_path))
    shuffled = zoo.get_dataset("fashion_mnist", split="test", root=str(tmp_path), permute_pixels=1)
    again = zoo.get_dataset("fashion_mnist", split="test", root=str(tmp_path), permute_pixels=1)
    assert torch.equal(shuffled.images, again.images) and not torch.equal(shuffled.images, plain.images)
    perm = torch.randperm(784, generator=torch.Generator().manual_seed(1))  # the same permutation as digits and mnist
    assert torch.equal(shuffled.images.flatten(1), plain.images.flatten(1)[:, perm])


def test_fashion_mnist_train_split_flips_unless_permuted(tmp_path, no_system_fashion):
    images, labels = small_images(16)
    write_mnist_idx(tmp_path, images, labels, "train")
    write_mnist_idx(tmp_path, images, labels, "t10k")
    train = zoo.get_dataset("fashion_mnist", split="train", root=str(tmp_path))
    assert train.augment is mnist_data.random_flip and zoo.get_dataset("fashion_mnist", split="test", root=str(tmp_path)).augment is None
    assert zoo.get_dataset("fashion_mnist", split="train", root=str(tmp_path), permute_pixels=0).augment is None
    torch.manual_seed(0)
    x, _ = train.batch(torch.arange(16), augment=True)
    plain, _ = train.batch(torch.arange(16))
    flipped = [bool(torch.equal(a, b.flip(-1))) for a, b in zip(x, plain)]
    kept = [bool(torch.equal(a, b)) for a, b in zip(x, plain)]
    assert all(f != k for f, k in zip(flipped, kept)) and 0 < sum(flipped) < 16  # each image mirrored or kept, both happen

