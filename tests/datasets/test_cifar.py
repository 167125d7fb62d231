"""``zoo/datasets/cifar.py``: the CIFAR-10 reader on a folder in the release's pickle format (written by the
test as Python 2 wrote it), its errors, the helper that writes such a folder, and the batched crop-and-flip
augmentation."""

from __future__ import annotations

import io
import pickle
import struct

import numpy as np
import pytest
import torch

import zoo
from zoo.datasets.cifar import random_crop_flip, write_cifar10_folder
from zoo.errors import DataError
from zoo.families.cifar import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD


class _Python2Pickler(pickle._Pickler):
    """Writes ``bytes`` the way Python 2's cPickle wrote ``str`` (SHORT_BINSTRING/BINSTRING), as in the
    official CIFAR-10 batches: read with ``encoding="latin1"`` (as torchvision does) the keys are ``"data"``,
    ``"labels"``; with ``encoding="bytes"`` they are ``b"data"``, ``b"labels"``."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256 else pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _python2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def write_release_format(root, images: torch.Tensor, labels: torch.Tensor, per_batch: int) -> None:
    """``root/cifar-10-batches-py`` with data_batch_1..5 (``per_batch`` images each) and test_batch (the rest):
    dicts of b"batch_label", b"labels" (list of int), b"data" (uint8 [N, 3072]: 1024 red, 1024 green, 1024 blue
    values per image, rows first), b"filenames"; batches.meta holds b"label_names"."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for i, name in enumerate(names):
        part = slice(i * per_batch, (i + 1) * per_batch if i < 5 else None)
        entry = {b"batch_label": name.encode(), b"labels": labels[part].tolist(),
                 b"data": images[part].reshape(-1, 3072).numpy(), b"filenames": [b"img.png"] * len(images[part])}
        (folder / name).write_bytes(_python2_pickle(entry))
    meta = {b"label_names": [n.encode() for n in CIFAR10_CLASSES], b"num_cases_per_batch": per_batch, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(_python2_pickle(meta))


@pytest.fixture
def cifar_root(tmp_path):
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.arange(16) % 10
    write_release_format(tmp_path, images, labels, per_batch=2)  # 10 train, 6 test
    return tmp_path, images, labels


def test_cifar10_reads_the_release_format_through_torchvision(cifar_root):
    root, images, labels = cifar_root
    with open(root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        assert b"data" in pickle.load(f, encoding="bytes")  # the keys as the release's readme shows them
    train = zoo.get_dataset("cifar10", split="train", root=str(root), verify_md5=False)
    test = zoo.get_dataset("cifar10", split="test", root=str(root), verify_md5=False)
    assert (len(train), len(test)) == (10, 6) and train.class_names == CIFAR10_CLASSES
    assert torch.equal(train.images, images[:10]) and torch.equal(test.images, images[10:])
    assert train.labels.tolist() == labels[:10].tolist() and test.labels.dtype == torch.int64
    image, label = test[1]
    mean, std = torch.tensor(CIFAR10_MEAN).view(3, 1, 1), torch.tensor(CIFAR10_STD).view(3, 1, 1)
    assert label == int(labels[11]) and torch.allclose(image, (images[11] / 255 - mean) / std, atol=1e-5)
    assert train.augment is random_crop_flip and test.augment is None
    x, y = train.batch(torch.tensor([0, 1, 2]), augment=True)
    assert x.shape == (3, 3, 32, 32) and y.tolist() == labels[:3].tolist()
    assert torch.equal(test.batch(torch.tensor([1]), augment=True)[0][0], image)  # the test split is never augmented
    assert test[-5][1] == label and torch.equal(test[-5][0], image) and test[-1][1] == int(labels[15])
    for bad in (6, -7):
        with pytest.raises(IndexError, match=f"index {bad} is out of range for a dataset of 6 items"):
            test[bad]


def test_cifar10_helper_writes_a_folder_the_reader_accepts(tmp_path):
    images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(12) % 10
    write_cifar10_folder(tmp_path, train=(images[:10], labels[:10]), test=(images[10:], labels[10:]))
    train = zoo.get_dataset("cifar10", root=str(tmp_path), verify_md5=False)
    assert torch.equal(train.images, images[:10]) and train.labels.tolist() == labels[:10].tolist()


def test_cifar10_checks_md5s_by_default(cifar_root):
    with pytest.raises(DataError, match=r"data_batch_1 is corrupt or not the official release \(md5 mismatch\).*verify_md5=False"):
        zoo.get_dataset("cifar10", split="test", root=str(cifar_root[0]))


def test_missing_cifar_root_says_what_is_expected(tmp_path):
    with pytest.raises(DataError, match=r"CIFAR-10 not found: .*cifar-10-batches-py does not exist; expected .*data_batch_1\.\.5.*pass download=True when online, or root=DIR"):
        zoo.get_dataset("cifar10", root=str(tmp_path / "nowhere"))


def test_missing_batch_file_is_named(cifar_root):
    root = cifar_root[0]
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    for split in ("train", "test"):  # torchvision wants every file, whichever split is read
        with pytest.raises(DataError, match="incomplete: missing data_batch_3; expected"):
            zoo.get_dataset("cifar10", split=split, root=str(root), verify_md5=False)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_keys", "wrong_width"])
def test_corrupt_batch_file_is_named(cifar_root, damage):
    root = cifar_root[0]
    path = root / "cifar-10-batches-py" / "data_batch_2"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:500])
    elif damage == "garbage":
        path.write_bytes(b"not a pickle at all" * 10)
    elif damage == "wrong_keys":
        path.write_bytes(_python2_pickle({b"images": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}))
    else:
        path.write_bytes(_python2_pickle({b"data": np.zeros((2, 1000), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match=r"CIFAR-10 folder is malformed: .*data_batch_2 (cannot be read|has no 'data'|holds data uint8 \[2, 1000\])"):
        zoo.get_dataset("cifar10", split="train", root=str(root), verify_md5=False)


# -- the batched augmentation ------------------------------------------------------------------------


def _reference_views(image: torch.Tensor, padding: int) -> list[tuple[int, int, bool, torch.Tensor]]:
    """Every crop of the zero-padded image, flipped or not, by plain slicing."""
    c, h, w = image.shape
    padded = torch.zeros(c, h + 2 * padding, w + 2 * padding)
    padded[:, padding : padding + h, padding : padding + w] = image
    views = []
    for top in range(2 * padding + 1):
        for left in range(2 * padding + 1):
            crop = padded[:, top : top + h, left : left + w]
            views += [(top, left, False, crop), (top, left, True, crop.flip(-1))]
    return views


def test_random_crop_flip_shifts_and_flips_with_zero_padding():
    image = torch.arange(1, 3 * 10 * 12 + 1, dtype=torch.float32).view(3, 10, 12)  # every pixel non-zero and distinct
    batch = image.expand(300, -1, -1, -1)
    torch.manual_seed(0)
    out = random_crop_flip(batch, padding=4)
    assert out.shape == batch.shape and out.dtype == torch.float32 and torch.equal(batch[0], image)  # input untouched
    views = _reference_views(image, 4)
    seen = []
    for crop in out:
        match = [(top, left, flip) for top, left, flip, view in views if torch.equal(crop, view)]
        assert len(match) == 1, "every output is exactly one shifted (and maybe flipped) copy of the input"
        seen.append(match[0])
    tops, lefts, flips = zip(*seen)
    assert set(tops) == set(lefts) == set(range(9)) and 100 < sum(flips) < 200
    assert (out == 0).any(dim=(1, 2, 3)).float().mean() > 0.5  # padding zeros appear where the shift is not 4/4
    assert not (out[[i for i, s in enumerate(seen) if s[:2] == (4, 4)]] == 0).any()  # the centred crop has none


def test_random_crop_flip_is_reproducible_under_manual_seed():
    images = torch.rand(8, 3, 32, 32) * 255
    torch.manual_seed(7)
    first = random_crop_flip(images)
    torch.manual_seed(7)
    assert torch.equal(first, random_crop_flip(images))
    assert not torch.equal(first, random_crop_flip(images))
    with pytest.raises(DataError, match=r"random_crop_flip expects images \[B, C, H, W\]"):
        random_crop_flip(images[0])

