"""``zoo/datasets/text.py``: the bundled reviews corpus and its fixed split, IMDB in the aclImdb layout (read,
downloaded from a fake URL, its errors), and ``TextDataset``'s items, batches and iteration."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
import torch

import zoo
from zoo.datasets import text as text_data
from zoo.datasets.text import REVIEWS_PATH, TextDataset
from zoo.errors import DataError

from .conftest import assert_indexes_like_a_list


def test_reviews_corpus_is_balanced_with_a_fixed_split():
    rows = [json.loads(line) for line in REVIEWS_PATH.read_text(encoding="utf-8").splitlines()]
    assert all(set(r) == {"text", "label", "split"} and r["label"] in (0, 1) and r["split"] in ("train", "test") for r in rows)
    train, test = zoo.get_dataset("reviews", split="train"), zoo.get_dataset("reviews", split="test")
    assert (len(train), len(test)) == (450, 150)
    assert torch.bincount(train.labels).tolist() == [225, 225] and torch.bincount(test.labels).tolist() == [75, 75]
    assert set(train.texts).isdisjoint(test.texts) and len(set(train.texts)) == 450
    text, label = train[0]
    assert isinstance(text, str) and isinstance(label, int) and train.class_names == ("neg", "pos")
    words = {w.strip(".,!?").lower() for t in train.texts + test.texts for w in t.split()}
    assert len(words) > 800  # varied vocabulary, not a template
    texts, labels = train.batch(torch.tensor([2, 0]))
    assert texts == [train.texts[2], train.texts[0]] and labels.tolist() == [train[2][1], train[0][1]]
    with pytest.raises(DataError, match="no split 'validation'"):
        zoo.get_dataset("reviews", split="validation")


def _write_aclimdb(root, reviews_per_folder=2, bad_file=False):
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(reviews_per_folder):
                (folder / f"{i}_{7 if label == 'pos' else 2}.txt").write_text(f"{split} {label} review {i}<br /><br />Café.", encoding="utf-8")
    (root / "aclImdb" / "train" / "unsup").mkdir()
    if bad_file:
        (root / "aclImdb" / "test" / "neg" / "9_1.txt").write_bytes("très mauvais".encode("latin-1"))


def test_imdb_reads_the_aclimdb_layout(tmp_path):
    _write_aclimdb(tmp_path)
    train = zoo.get_dataset("imdb", split="train", root=str(tmp_path))
    assert len(train) == 4 and train.labels.tolist() == [0, 0, 1, 1] and train[0][0] == "train neg review 0<br /><br />Café."
    assert len(zoo.get_dataset("imdb", split="test", root=str(tmp_path / "aclImdb"))) == 4  # the folder itself works too


def test_imdb_download_extracts_the_tarball(tmp_path, monkeypatch):
    _write_aclimdb(tmp_path / "src")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(tmp_path / "src" / "aclImdb", arcname="aclImdb")
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return io.BytesIO(archive.getvalue())

    monkeypatch.setattr(text_data.urllib.request, "urlopen", fake_urlopen)
    data = zoo.get_dataset("imdb", split="test", root=str(tmp_path / "data"), download=True)
    assert urls == [text_data.IMDB_URL] and len(data) == 4


def test_imdb_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(DataError, match=r"IMDB not found under .*aclImdb/train/pos/\*\.txt.*download=True"):
        zoo.get_dataset("imdb", split="train", root=str(tmp_path / "nowhere"))
    _write_aclimdb(tmp_path, bad_file=True)
    with pytest.raises(DataError, match=r"9_1\.txt is not UTF-8 text \(byte 0xe8 on line 1\): re-save it as UTF-8"):
        zoo.get_dataset("imdb", split="test", root=str(tmp_path))


def test_text_dataset_items_batches_and_iteration():
    ds = TextDataset(["bad", "good", "fine"], [0, 1, 1])
    assert_indexes_like_a_list(ds)
    assert list(ds) == [("bad", 0), ("good", 1), ("fine", 1)]
    assert ds.batch(torch.tensor([-1]))[0] == ["fine"]
