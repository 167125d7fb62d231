"""The MNIST family (``zoo/families/mnist.py``, ``zoo/models/mnist.py``, ``zoo/datasets/mnist.py``): shapes,
clear shape errors, the digits data and the MNIST IDX reader."""

from __future__ import annotations

import struct

import pytest
import torch

import zoo
from zoo.datasets.mnist import digits_split
from zoo.errors import DataError


@pytest.mark.parametrize("name", ["mnist_cnn", "mnist_mlp"])
def test_models_map_a_batch_of_images_to_logits(name):
    model = zoo.get_model(name)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_course_widths():
    assert sum(p.numel() for p in zoo.get_model("mnist_cnn").parameters()) == 6 * 25 + 6 + 6 * 6 * 25 + 6 + 96 * 50 + 50 + 510
    assert zoo.get_model("mnist_mlp").network[0].out_features == 8


@pytest.mark.parametrize("shape", [(3, 28, 28), (3, 3, 28, 28), (3, 1, 32, 32)])
def test_wrong_input_shapes_name_the_expected_shape(shape):
    with pytest.raises(DataError, match=r"mnist_cnn expects input of shape \[N, 1, 28, 28\], got"):
        zoo.get_model("mnist_cnn")(torch.zeros(shape))
    if shape[-1] == 32:
        with pytest.raises(DataError, match=r"mnist_mlp expects \[N, 1, 28, 28\]"):
            zoo.get_model("mnist_mlp")(torch.zeros(shape))


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


def write_mnist_idx(root, images, labels, prefix):
    """Write images/labels in MNIST's IDX format, where torchvision's reader looks for them."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, len(images), 28, 28) + images.numpy().tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, len(labels)) + labels.numpy().tobytes())


def test_mnist_reads_real_idx_files(tmp_path):
    digits = zoo.get_dataset("digits", split="test")
    images, labels = digits.images[:20, 0].contiguous(), digits.labels[:20].to(torch.uint8)
    write_mnist_idx(tmp_path, images, labels, "t10k")
    write_mnist_idx(tmp_path, images[:5], labels[:5], "train")  # torchvision wants all four files
    mnist = zoo.get_dataset("mnist", split="test", root=str(tmp_path))
    assert len(mnist) == 20 and torch.equal(mnist.images[:, 0], images) and mnist.labels.tolist() == labels.tolist()
    assert len(zoo.get_dataset("mnist", split="train", root=str(tmp_path))) == 5
    assert mnist[-1][1] == mnist[19][1] == int(labels[19]) and torch.equal(mnist[-20][0], mnist[0][0])
    for bad in (20, -21):
        with pytest.raises(IndexError, match=f"index {bad} is out of range for a dataset of 20 items"):
            mnist[bad]


def test_missing_mnist_root_says_what_is_expected(tmp_path):
    with pytest.raises(DataError, match="MNIST not found under .*train-images-idx3-ubyte.*--download"):
        zoo.get_dataset("mnist", split="train", root=str(tmp_path / "nowhere"))
