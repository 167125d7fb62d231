"""Labelled text for sentiment classification: ``imdb`` (the aclImdb folders) and ``reviews`` (a tiny
hand-written corpus shipped with hubzoo, the offline default for tests and the demo).

Both give ``(text: str, label: int)`` pairs with ``class_names = ("neg", "pos")``; a ``DataLoader``'s
default collate turns a batch of them into ``(list[str], int64 [B])``, and ``dataset.batch(indices)``
gives the same without one. Text models turn the strings into tensors themselves
(``model.encode_batch``), so nothing here tokenizes.

The labels and :func:`~zoo.families.text.check_texts` (the one definition of valid text input, shared
by the text models and the predictor) live in ``zoo.families.text``; both are re-exported here.
"""

from __future__ import annotations

import json
import tarfile
import urllib.request
from pathlib import Path
from typing import Any, Sequence

import torch

from zoo.datasets.common import check_index, check_split
from zoo.errors import DataError
from zoo.families.text import SENTIMENT_NAMES, check_texts
from zoo.files import data_root as default_data_root
from zoo.files import read_user_text

__all__ = ["TextDataset", "imdb", "reviews", "check_texts", "SENTIMENT_NAMES", "IMDB_URL", "REVIEWS_PATH"]

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
REVIEWS_PATH = Path(__file__).with_name("reviews.jsonl")


class TextDataset(torch.utils.data.Dataset):
    """Texts with integer labels: ``dataset[i] -> (str, int)``; ``dataset.batch(indices) -> (list[str], int64 [B])``."""

    def __init__(self, texts: Sequence[str], labels: Sequence[int], *, class_names: Sequence[str] = SENTIMENT_NAMES) -> None:
        if len(texts) != len(labels):
            raise DataError(f"{len(texts)} texts but {len(labels)} labels")
        self.texts = list(texts)
        self.labels = torch.as_tensor(list(labels), dtype=torch.int64)
        self.class_names = tuple(class_names)
        if len(self.labels) and not (0 <= int(self.labels.min()) and int(self.labels.max()) < len(self.class_names)):
            raise DataError(f"labels must lie in 0..{len(self.class_names) - 1}")

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> tuple[str, int]:
        index = check_index(index, len(self))
        return self.texts[index], int(self.labels[index])

    def batch(self, indices: torch.Tensor, augment: bool = False, device: torch.device | str | None = None) -> tuple[list[str], torch.Tensor]:
        """The texts of ``indices`` and their labels (on ``device``); ``augment`` is accepted and ignored."""
        labels = self.labels[indices]
        return [self.texts[i] for i in indices.tolist()], labels.to(device) if device is not None else labels


def _find_imdb(root: Path) -> Path | None:
    for candidate in (root / "aclImdb", root):
        if (candidate / "train" / "pos").is_dir() and (candidate / "test" / "pos").is_dir():
            return candidate
    return None


def _download_imdb(root: Path) -> None:
    """Fetch the aclImdb tarball into ``root`` (through a temporary file) and extract it there."""
    root.mkdir(parents=True, exist_ok=True)
    tarball = root / "aclImdb_v1.tar.gz"
    if not tarball.exists():
        tmp = tarball.with_name(tarball.name + ".part")
        try:
            with urllib.request.urlopen(IMDB_URL, timeout=60) as response, open(tmp, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise DataError(f"could not download IMDB from {IMDB_URL}: {exc}") from None
        tmp.replace(tarball)
    try:
        with tarfile.open(tarball) as archive:
            if not hasattr(tarfile, "data_filter"):  # Python < 3.10.12 / 3.11.4
                raise DataError(f"extracting {tarball} safely needs Python >= 3.11.4; extract it by hand into {root}")
            archive.extractall(root, filter="data")  # refuses absolute paths and links out of root
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"{tarball} is not a readable tarball ({exc}); delete it and download again") from None


def imdb(split: str = "train", root: str | None = None, download: bool = False) -> TextDataset:
    """The IMDB movie-review sentiment set (Maas et al. 2011): 25,000 ``train`` / 25,000 ``test`` reviews,
    balanced, read from the aclImdb layout ``ROOT/aclImdb/{train,test}/{pos,neg}/*.txt`` (``ROOT`` may
    also be the ``aclImdb`` folder itself). ``download=True`` fetches and extracts the 84 MB tarball
    from Stanford into ``ROOT``. The unlabelled ``unsup`` folder is not read. Label 0 is ``neg``, 1 ``pos``;
    files are read in sorted order, so the dataset's order is fixed.
    """
    check_split(split, ("train", "test"), "imdb")
    root_path = Path(root).expanduser() if root is not None else default_data_root()
    folder = _find_imdb(root_path)
    if folder is None and download:
        _download_imdb(root_path)
        folder = _find_imdb(root_path)
    if folder is None:
        raise DataError(
            f"IMDB not found under {root_path}: expected {root_path}/aclImdb/{split}/pos/*.txt and .../neg/*.txt. "
            f"Pass download=True (--download) when online, or --root DIR with the extracted {IMDB_URL.rsplit('/', 1)[-1]}."
        )
    texts, labels = [], []
    for label, name in enumerate(SENTIMENT_NAMES):
        files = sorted((folder / split / name).glob("*.txt"))
        if not files:
            raise DataError(f"IMDB folder {folder / split / name} holds no .txt files")
        for path in files:
            texts.append(read_user_text(path, name=f"IMDB file {path}", expected="one review in UTF-8 text"))
            labels.append(label)
    return TextDataset(texts, labels)


def _read_reviews(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataError(f"the reviews corpus {path} is missing from this installation (package data)") from None
    return [json.loads(line) for line in lines if line.strip()]


def reviews(split: str = "train", root: str | None = None, download: bool = False) -> TextDataset:
    """``reviews``: a tiny English movie-review corpus hand-written for hubzoo and shipped with it
    (``zoo/datasets/reviews.jsonl``), the offline stand-in for IMDB in tests and demos.

    600 short reviews (one to four sentences), balanced: ``train`` 450 (225 neg / 225 pos) and ``test``
    150 (75 / 75), a fixed split stored in the file (every fourth review of each class is a test one).
    They were written for this project, not collected from anywhere, so they are far shorter, easier and
    more uniform than real reviews: numbers on it say that a pipeline works, not how good a model is. ``root`` and ``download`` are accepted for a
    uniform signature and ignored.
    """
    check_split(split, ("train", "test"), "reviews")
    rows = [r for r in _read_reviews(REVIEWS_PATH) if r["split"] == split]
    return TextDataset([r["text"] for r in rows], [int(r["label"]) for r in rows])
