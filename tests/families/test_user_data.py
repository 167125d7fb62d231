"""The user's own data (``zoo/families/user.py``): ``imagefolder`` (``zoo/datasets/imagefolder.py``) and
``text_csv`` (``zoo/datasets/text_csv.py``), on small PNG/JPEG folders and CSV/JSONL files written here,
and end to end through ``zoo train`` and ``zoo eval``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main
from zoo.errors import DataError
from zoo.preprocess import Preprocessing

GRAY_28 = {"channels": 1, "size": [28, 28], "mean": [0.5], "std": [0.25], "resize": "bilinear"}


def write_image(path: Path, *, size=(10, 12), mode="RGB", value=128, fmt=None) -> Path:
    """An image of ``size`` (H, W) whose pixels are ``value`` plus a small gradient (so resizing matters)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    pixels = (torch.arange(h * w).view(h, w) % 7 + value).clamp(0, 255).to(torch.uint8)
    image = Image.fromarray(pixels.numpy(), mode="L")
    image.convert(mode).save(path, format=fmt)
    return path


def image_folder(root: Path, counts: dict[str, int], *, size=(10, 12), mode="RGB", suffix=".png") -> Path:
    """``root/<class>/<i><suffix>``; class ``k`` (in the dict's order) is darker than class ``k + 1``."""
    for k, (name, n) in enumerate(counts.items()):
        for i in range(n):
            write_image(root / name / f"{i:03d}{suffix}", size=size, mode=mode, value=40 + 150 * k + i % 5)
    return root


# ---------------------------------------------------------------------------------------- splits


def test_a_class_too_small_to_split_names_the_class_and_the_folder(tmp_path):
    # The split itself is tests/test_splits.py's; here: the user's data reaches it with the class names.
    root = image_folder(tmp_path / "imgs", {"a": 10, "c": 2})
    with pytest.raises(DataError, match=r"image folder .*imgs: class 'c' has 2 item\(s\), too few for 1 test \+ 1 val"):
        zoo.get_dataset("imagefolder", root=str(root), preprocessing=GRAY_28)
    with pytest.raises(DataError, match=r"imgs: the val split is empty \(val_fraction=0\)"):
        zoo.get_dataset("imagefolder", split="val", root=str(root), preprocessing=GRAY_28, val_fraction=0, test_fraction=0.5)


# ----------------------------------------------------------------------------------- imagefolder


def test_imagefolder_splits_a_class_layout_seeded_and_stratified(tmp_path):
    root = image_folder(tmp_path / "pets", {"dog": 10, "cat": 20})
    splits = {s: zoo.get_dataset("imagefolder", split=s, root=str(root), preprocessing=GRAY_28) for s in ("train", "val", "test")}
    assert all(d.class_names == ("cat", "dog") for d in splits.values())  # the folder names, sorted
    assert {s: torch.bincount(d.labels).tolist() for s, d in splits.items()} == {"train": [14, 7], "val": [2, 1], "test": [4, 2]}
    files = [set(d.files) for d in splits.values()]
    assert set.union(*files) == {str(p) for p in root.rglob("*.png")} and sum(map(len, files)) == 30
    assert all(Path(f).parent.name == d.class_names[int(label)] for d in splits.values() for f, label in zip(d.files, d.labels))
    again = zoo.get_dataset("imagefolder", split="test", root=str(root), preprocessing=GRAY_28)
    assert again.files == splits["test"].files
    other = zoo.get_dataset("imagefolder", split="test", root=str(root), preprocessing=GRAY_28, split_seed=1, test_fraction=0.5)
    assert other.files != splits["test"].files and len(other) == 15


def test_imagefolder_uses_the_split_folders_it_has_and_holds_out_the_others(tmp_path):
    root = tmp_path / "data"
    image_folder(root / "train", {"a": 10, "b": 10})
    image_folder(root / "test", {"a": 2, "b": 3})
    (root / "README.txt").write_text("ignored: plain files beside the split folders")
    train, val, test = (zoo.get_dataset("imagefolder", split=s, root=str(root), preprocessing=GRAY_28) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (18, 2, 5)
    assert all("/test/" in f for f in test.files) and all("/train/" in f for f in train.files + val.files)
    image_folder(root / "val", {"a": 1, "b": 1})
    train, val = (zoo.get_dataset("imagefolder", split=s, root=str(root), preprocessing=GRAY_28) for s in ("train", "val"))
    assert (len(train), len(val)) == (20, 2) and all("/val/" in f for f in val.files)


def test_imagefolder_applies_the_models_preprocessing_to_images_of_another_size_and_colour(tmp_path):
    root = tmp_path / "imgs"
    image_folder(root, {"x": 3}, size=(30, 40), mode="RGB")
    image_folder(root, {"y": 3}, size=(8, 8), mode="L", suffix=".jpg")
    data = zoo.get_dataset("imagefolder", split="train", root=str(root), preprocessing=GRAY_28, val_fraction=0.2, test_fraction=0.2)
    prep = Preprocessing.from_dict(GRAY_28)
    assert data.images.shape == (2, 1, 28, 28) and data.images.dtype == torch.uint8
    for i, path in enumerate(data.files):
        assert torch.equal(data.images[i], prep.to_uint8(path))
        assert torch.allclose(data[i][0], prep(path))  # normalised with the preprocessing's mean/std
    assert data.preprocessing.to_dict() == GRAY_28
    inputs, labels = data.batch(torch.tensor([1, 0]))  # the trainer's fast path
    assert inputs.shape == (2, 1, 28, 28) and labels.tolist() == [int(data.labels[1]), int(data.labels[0])]


def test_imagefolder_without_a_model_keeps_the_images_own_size_and_colour(tmp_path):
    root = image_folder(tmp_path / "gray", {"a": 3, "b": 3}, size=(6, 9), mode="L")
    data = zoo.get_dataset("imagefolder", split="test", root=str(root))
    assert data.images.shape == (2, 1, 6, 9) and data.preprocessing.mean == (0.0,)
    assert 0 <= float(data[0][0].min()) and float(data[0][0].max()) <= 1  # scaled to 0..1
    write_image(root / "b" / "colour.png", size=(6, 9), mode="RGB")
    assert zoo.get_dataset("imagefolder", split="test", root=str(root)).images.shape[1:] == (3, 6, 9)
    write_image(root / "b" / "big.png", size=(7, 9))
    with pytest.raises(DataError, match=r"the images differ in size \(.* is 6x9, .*big.png is 7x9\)"):
        zoo.get_dataset("imagefolder", split="test", root=str(root))


@pytest.mark.parametrize("make, message", [
    (lambda r: image_folder(r, {"only": 4}), r"has one class folder \('only'\): a classifier needs at least two"),
    (lambda r: image_folder(r / "train", {"only": 4}), r"train has one class folder"),
    (lambda r: (image_folder(r, {"a": 4}), (r / "b").mkdir()), r"class folder .*/b holds no images"),
    (lambda r: (image_folder(r, {"a": 4, "b": 4}), (r / "b" / "notes.txt").write_text("x")), r"b/notes.txt is not an image \(images end in"),
    (lambda r: ([image_folder(r / s, {"a": 2, "b": 2}) for s in ("train", "val", "test")], (r / "train" / "a" / "broken.png").write_bytes(b"not a png")),
     r"train/a/broken.png: not an image file PIL can read"),
    (lambda r: r.mkdir(), r"has no class folders"),
])
def test_imagefolder_bad_folders_are_one_clear_error(tmp_path, make, message):
    root = tmp_path / "data"
    make(root)
    with pytest.raises(DataError, match=message):
        zoo.get_dataset("imagefolder", split="train", root=str(root), preprocessing=GRAY_28)


def test_imagefolder_ignores_hidden_files_and_checks_its_options(tmp_path):
    root = image_folder(tmp_path / "d", {"a": 4, "b": 4})
    (root / "a" / ".DS_Store").write_bytes(b"\0\0")
    (root / ".cache").mkdir()
    assert len(zoo.get_dataset("imagefolder", split="train", root=str(root), preprocessing=GRAY_28)) == 4
    with pytest.raises(DataError, match=r"val_fraction=0.7 \+ test_fraction=0.3 leaves nothing for training"):
        zoo.get_dataset("imagefolder", root=str(root), val_fraction=0.7, test_fraction=0.3)
    with pytest.raises(DataError, match="needs --root"):
        zoo.get_dataset("imagefolder")
    with pytest.raises(DataError, match="does not exist"):
        zoo.get_dataset("imagefolder", root=str(tmp_path / "nowhere"))


# -------------------------------------------------------------------------------------- text_csv


def write_csv(path: Path, rows: list[tuple[str, object]], header=("text", "label"), delimiter=",") -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def spam_rows(n: int) -> list[tuple[str, str]]:
    return [(f"win money now, offer {i}, click here", "spam") if i % 3 == 0 else (f"see you at lunch, item {i}", "ham")
            for i in range(n)]


def test_text_csv_splits_one_file_seeded_and_stratified(tmp_path):
    path = write_csv(tmp_path / "sms.csv", spam_rows(30) + [('a text with "quotes", commas\nand a newline', "ham")])
    splits = {s: zoo.get_dataset("text_csv", split=s, root=str(path)) for s in ("train", "val", "test")}
    assert all(d.class_names == ("ham", "spam") for d in splits.values())
    assert {s: torch.bincount(d.labels).tolist() for s, d in splits.items()} == {"train": [15, 7], "val": [2, 1], "test": [4, 2]}
    texts = [t for d in splits.values() for t in d.texts]
    assert len(set(texts)) == 31 and 'a text with "quotes", commas\nand a newline' in texts
    assert all(d.class_names[label] == ("spam" if "money" in text else "ham")
               for d in splits.values() for text, label in zip(d.texts, d.labels.tolist()))
    assert zoo.get_dataset("text_csv", split="test", root=str(path), split_seed=3).texts != splits["test"].texts


def test_text_csv_reads_jsonl_tsv_named_columns_and_sorts_numeric_labels_as_numbers(tmp_path):
    rows = [{"body": f"text number {i}", "stars": [2, 10, 1][i % 3], "id": i} for i in range(30)]
    data = zoo.get_dataset("text_csv", split="train", root=str(write_jsonl(tmp_path / "r.jsonl", rows)),
                           text_column="body", label_column="stars")
    assert data.class_names == ("1", "2", "10")
    assert all(data.class_names[label] == str([2, 10, 1][int(t.split()[-1]) % 3]) for t, label in zip(data.texts, data.labels.tolist()))
    tsv = write_csv(tmp_path / "r.tsv", [(f"t{i}, with a comma", i % 2) for i in range(20)], delimiter="\t")
    assert zoo.get_dataset("text_csv", split="test", root=str(tsv)).class_names == ("0", "1")


def test_text_csv_folder_uses_its_files_and_holds_out_the_missing_val_split(tmp_path):
    folder = tmp_path / "sms"
    write_csv(folder / "train.csv", spam_rows(20))
    write_jsonl(folder / "test.jsonl", [{"text": "free money", "label": "spam"}, {"text": "lunch?", "label": "ham"},
                                        {"text": "a new class only here", "label": "other"}])
    train, val, test = (zoo.get_dataset("text_csv", split=s, root=str(folder)) for s in ("train", "val", "test"))
    assert train.class_names == val.class_names == test.class_names == ("ham", "other", "spam")
    assert (len(train), len(val), len(test)) == (18, 2, 3) and test.labels.tolist() == [2, 0, 1]
    write_csv(folder / "val.csv", [("hello", "ham")])
    assert len(zoo.get_dataset("text_csv", split="train", root=str(folder))) == 20


@pytest.mark.parametrize("content, message", [
    ("message,category\nhi,ham\n", r"has no column 'text' \(its columns: 'message', 'category'\); name the right one with -d text_column=NAME"),
    ("text,category\nhi,ham\n", r"has no column 'label' \(its columns: 'text', 'category'\); .* -d label_column=NAME"),
    ("text,label\nhi,ham\nho,spam,extra\n", r"line 3 has more fields than the header \(2: text, label\)"),
    ("text,label\n,ham\n", r"line 2: the text in column 'text' is empty"),
    ("text,label\nhi,\n", r"line 2: the label in column 'label' is missing"),
    ("text,label\nhi,ham\nho,ham\n", r"has one label \('ham'\): a classifier needs at least two classes"),
    ("text,label\n", r"has a header \(text, label\) but no rows"),
    ("", r"is empty: expected a header line"),
])
def test_text_csv_bad_files_are_one_clear_error(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        zoo.get_dataset("text_csv", root=str(path))


def test_text_csv_bad_jsonl_bytes_and_roots(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": 1}\nnot json\n')
    with pytest.raises(DataError, match=r"bad.jsonl line 2 is not JSON"):
        zoo.get_dataset("text_csv", root=str(bad))
    binary = tmp_path / "bytes.csv"
    binary.write_bytes(b"text,label\n\xff\xfe\x00,1\n")
    with pytest.raises(DataError, match=r"bytes.csv is not valid UTF-8 \(byte 0xff"):
        zoo.get_dataset("text_csv", root=str(binary))
    with pytest.raises(DataError, match=r"is not a .csv, .tsv, .jsonl file"):
        zoo.get_dataset("text_csv", root=str(write_image(tmp_path / "x.png")))
    with pytest.raises(DataError, match=r"has no train.csv, train.tsv or train.jsonl \(it has: x.csv\)"):
        write_csv(tmp_path / "folder" / "x.csv", spam_rows(4))
        zoo.get_dataset("text_csv", root=str(tmp_path / "folder"))
    with pytest.raises(DataError, match="needs --root"):
        zoo.get_dataset("text_csv")


def test_the_model_or_its_weights_decide_the_preprocessing_of_an_image_folder():
    from zoo.api import dataset_preprocessing, describe_weights

    assert dataset_preprocessing("imagefolder", "mnist_cnn") == describe_weights("mnist_cnn", False)["preprocessing"]
    assert dataset_preprocessing("imagefolder", "mnist_cnn", "digits") == describe_weights("mnist_cnn", "digits")["preprocessing"]
    assert dataset_preprocessing("imagefolder", "vgg16_cifar")["channels"] == 3
    assert dataset_preprocessing("digits", "mnist_cnn") is None and dataset_preprocessing("text_csv", "lstm_sentiment") is None


# ------------------------------------------------------------------------------------ end to end


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_train_and_eval_mnist_cnn_on_an_image_folder(tmp_path, capsys):
    root = image_folder(tmp_path / "shapes", {"dark": 12, "light": 12}, size=(16, 20))  # RGB, not 28x28
    run = tmp_path / "run"
    run_cli(capsys, "train", "mnist_cnn", "--data", "imagefolder", "--root", root, "-k", "num_classes=2", "--epochs", "2",
            "--batch-size", "8", "--out", run, "--quiet")
    report = json.loads((run / "report.json").read_text())
    assert report["class_names"] == ["dark", "light"] and report["metrics"]["num_samples"] == 4
    assert "the imagefolder val split" in report["validation"]
    out = run_cli(capsys, "eval", "mnist_cnn", "--data", "imagefolder", "--root", root, "--weights", run / "model.safetensors",
                  "-k", "num_classes=2", "--json")
    assert json.loads(out)["class_names"] == ["dark", "light"]
    assert json.loads(out)["confusion_matrix"] == report["metrics"]["confusion_matrix"]
    # The weights carry the folder names and the preprocessing the images went through (mnist_cnn's: 1x28x28).
    facts = zoo.api.describe_weights(str(run / "model.safetensors"))
    assert facts["class_names"] == ("dark", "light")
    assert facts["preprocessing"] == zoo.api.describe_weights("mnist_cnn", False)["preprocessing"]
    assert facts["preprocessing"]["channels"] == 1 and facts["preprocessing"]["size"] == [28, 28]


@pytest.mark.slow
def test_train_lstm_on_a_csv_file(tmp_path, capsys):
    path = write_csv(tmp_path / "sms.csv", spam_rows(40))
    run = tmp_path / "run"
    run_cli(capsys, "train", "lstm_sentiment", "--data", "text_csv", "--root", path, "--epochs", "2", "--batch-size", "8",
            "-k", "embedding_dim=8", "-k", "hidden_dim=8", "-k", "vocab_size=100", "--out", run, "--quiet")
    report = json.loads((run / "report.json").read_text())
    assert report["class_names"] == ["ham", "spam"] and report["metrics"]["num_samples"] == 8
    assert (run / "tokenizer.json").is_file()
    out = run_cli(capsys, "eval", "lstm_sentiment", "--data", "text_csv", "--root", path, "--weights", run / "model.safetensors", "--json")
    assert json.loads(out)["class_names"] == ["ham", "spam"]
    assert json.loads(out)["confusion_matrix"] == report["metrics"]["confusion_matrix"]
