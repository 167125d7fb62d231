"""CIFAR-10 (``cifar10``), read by torchvision from ``ROOT/cifar-10-batches-py``, and the course's training
augmentation done on whole batches of tensors (:func:`random_crop_flip`).

The dataset holds its 32x32 images as one ``uint8 [N, 3, 32, 32]`` tensor; batches are normalised with
CIFAR-10's mean (0.4914, 0.4822, 0.4465) and std (0.2023, 0.1994, 0.2010) (the course's values). The train
split's ``augment`` is :func:`random_crop_flip`, the course's ``RandomCrop(32, padding=4)`` and
``RandomHorizontalFlip()`` without the per-image PIL round trip; the test split is only normalised.

The batch files are Python pickles, as in the official release: like any pickle, a file from an
untrusted source can run code when it is read. Only read folders you trust.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zoo.datasets.common import ImageTensorDataset, check_split, download_advice
from zoo.errors import DataError, DataNotFoundError, advice
from zoo.families.cifar import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
from zoo.files import data_root as default_data_root

__all__ = ["cifar10", "random_crop_flip", "write_cifar10_folder", "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD",
           "CIFAR10_FOLDER", "CIFAR10_FILES"]

CIFAR10_FOLDER = "cifar-10-batches-py"
#: The files of the official release and their md5s (as torchvision lists them). torchvision's reader
#: wants all of them, whichever split is read.
CIFAR10_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}


def random_crop_flip(images: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """The course's ``RandomCrop(size, padding)`` + ``RandomHorizontalFlip()`` on a whole batch.

    ``images``: ``float [B, C, H, W]`` in pixel units (0..255, before normalisation), on any device.
    Each image is zero-padded by ``padding`` pixels on every side, cropped back to ``H x W`` at an
    offset drawn uniformly from ``0..2*padding`` in each direction, and flipped left-right with
    probability 1/2. Returns a new ``[B, C, H, W]`` tensor. The offsets and flips come from the global
    CPU generator (``torch.manual_seed``), so a seeded run gives the same batches on every device.
    """
    if images.dim() != 4:
        raise DataError(f"random_crop_flip expects images [B, C, H, W], got {list(images.shape)}")
    b, _, h, w = images.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, b))
    flips = torch.rand(b) < 0.5
    device = images.device
    rows = (offsets[0, :, None] + torch.arange(h)).to(device)              # [B, H] rows of the padded image
    cols = offsets[1, :, None] + torch.arange(w)                          # [B, W]
    cols = torch.where(flips[:, None], cols.flip(1), cols).to(device)     # a flip reads the columns backwards
    padded = F.pad(images, (padding, padding, padding, padding))
    batch = torch.arange(b, device=device)[:, None, None]
    # Advanced indices around the channel slice put their broadcast dims first: [B, H, W, C].
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def write_cifar10_folder(root: str | Path, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
                         class_names: Sequence[str] = CIFAR10_CLASSES) -> Path:
    """Write ``uint8 [N, 3, 32, 32]`` images and labels as a CIFAR-10 folder in the release's format
    (``ROOT/cifar-10-batches-py``: the train images split over ``data_batch_1..5``, ``test_batch``,
    ``batches.meta``), for tests, benchmarks and offline demos; read it with ``verify_md5=False``. Returns the folder."""
    folder = Path(root) / CIFAR10_FOLDER
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, images: torch.Tensor, labels: torch.Tensor) -> None:
        entry = {"batch_label": name, "labels": [int(v) for v in labels],
                 "data": images.reshape(len(images), 3 * 32 * 32).numpy().astype(np.uint8),
                 "filenames": [f"{name}_{i}.png" for i in range(len(images))]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))

    for i, part in enumerate(torch.tensor_split(torch.arange(len(train[0])), 5)):
        dump(f"data_batch_{i + 1}", train[0][part], train[1][part])
    dump("test_batch", *test)
    meta = {"label_names": list(class_names), "num_cases_per_batch": len(train[0]) // 5, "num_vis": 3 * 32 * 32}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_folder(folder: Path, verify_md5: bool) -> None:
    """Raise one clear error for a missing folder, missing files, or files that are not the release's."""
    expected = f"expected {folder}/{{data_batch_1..5, test_batch, batches.meta}} (the python version of CIFAR-10)"
    hint = download_advice()
    if not folder.is_dir():
        raise DataNotFoundError(f"CIFAR-10 not found: {folder} does not exist; {expected}; {hint}.")
    missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"CIFAR-10 folder {folder} is incomplete: missing {', '.join(missing)}; {expected}; {hint}.")
    if verify_md5:
        for name, md5 in CIFAR10_FILES.items():
            if _md5(folder / name) != md5:
                raise DataError(
                    f"CIFAR-10 file {folder / name} is corrupt or not the official release (md5 mismatch); delete it "
                    f"and download again, or {advice('pass verify_md5=False', 'add -d verify_md5=false')} for CIFAR-format "
                    "files of your own."
                )


def _find_unreadable(folder: Path) -> str:
    """Name the first batch file that does not hold what the reader needs, and why."""
    for name in CIFAR10_FILES:
        try:
            with open(folder / name, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            keys = ("label_names",) if name == "batches.meta" else ("data", "labels")
            absent = [k for k in keys if not isinstance(entry, dict) or k not in entry]
            if absent:
                return f"{folder / name} has no {', '.join(repr(k) for k in absent)} entry"
            if name != "batches.meta":
                data = np.asarray(entry["data"])
                if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(entry["labels"]) != len(data):
                    return (f"{folder / name} holds data {data.dtype} {list(data.shape)} with {len(entry['labels'])} labels; "
                            "expected uint8 [N, 3072] and N labels")
        except Exception as exc:  # anything unpickling garbage can raise
            return f"{folder / name} cannot be read ({type(exc).__name__}: {exc})"
    return f"a file in {folder} is malformed"


@functools.cache
def _reader() -> type:
    """torchvision's ``CIFAR10`` with the md5s taken out of its file lists: its ``check_integrity(path,
    md5=None)`` then only checks that each file exists. The md5s are checked once, by :func:`_check_folder`,
    so that CIFAR-format folders other than the official release can be read with ``verify_md5=False``."""
    from torchvision.datasets import CIFAR10

    class CIFAR10Reader(CIFAR10):
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return CIFAR10Reader


def cifar10(split: str = "train", root: str | None = None, download: bool = False, *, verify_md5: bool = True) -> ImageTensorDataset:
    """CIFAR-10: 50,000 train / 10,000 test images ``[3, 32, 32]`` of 10 classes, read by torchvision's
    ``CIFAR10`` from ``ROOT/cifar-10-batches-py`` (``ROOT`` defaults to ``$ZOO_DATA``); ``download=True`` fetches it.

    The train split's ``augment`` is :func:`random_crop_flip`, applied by ``batch(indices, augment=True)``
    (``zoo train --augment none`` switches it off); the test split has none. ``verify_md5=False`` accepts
    CIFAR-format folders other than the official release (see :func:`write_cifar10_folder`). A missing
    folder or file, a file whose md5 differs, or one that cannot be unpickled is a
    :class:`~zoo.errors.DataError` that names it.
    """
    check_split(split, ("train", "test"), "cifar10")
    root_path = Path(root) if root is not None else default_data_root()
    folder = root_path / CIFAR10_FOLDER
    if download and not all((folder / name).is_file() for name in CIFAR10_FILES):
        from torchvision.datasets import CIFAR10
        from torchvision.datasets.utils import download_and_extract_archive

        try:  # the archive's md5 is checked before it is extracted
            download_and_extract_archive(CIFAR10.url, str(root_path), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)
        except Exception as exc:  # network errors, a bad archive
            raise DataError(f"downloading CIFAR-10 into {root_path} failed: {type(exc).__name__}: {exc}") from None
    _check_folder(folder, verify_md5)
    try:
        data = _reader()(str(root_path), train=split == "train")
    except Exception:  # unpickling errors, missing keys, wrong sizes: name the file instead
        raise DataError(f"CIFAR-10 folder is malformed: {_find_unreadable(folder)}") from None
    labels = torch.as_tensor(data.targets, dtype=torch.int64)
    if len(data.classes) != 10 or (len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < 10)):
        raise DataError(f"CIFAR-10 folder {folder} is malformed: expected 10 class names and labels 0..9")
    images = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()  # torchvision holds HWC
    dataset = ImageTensorDataset(images, labels, mean=CIFAR10_MEAN, std=CIFAR10_STD, class_names=data.classes)
    if split == "train":
        dataset.augment = random_crop_flip
    return dataset
