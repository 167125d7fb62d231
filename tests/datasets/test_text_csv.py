"""``zoo/datasets/text_csv.py``: one CSV/TSV/JSONL file split seeded and stratified, or a folder of split files
(the missing val split held out), named columns, labels sorted as numbers when they are, and one clear error
per bad file, byte or root."""

from __future__ import annotations

import pytest
import torch

import zoo
from zoo.errors import DataError

from ..user_data import spam_rows, write_csv, write_image, write_jsonl


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
    with pytest.raises(DataError, match=r"bytes.csv is not a text file \(it holds NUL bytes\)"):
        zoo.get_dataset("text_csv", root=str(binary))
    with pytest.raises(DataError, match=r"is not a .csv, .tsv, .jsonl file"):
        zoo.get_dataset("text_csv", root=str(write_image(tmp_path / "x.png")))
    with pytest.raises(DataError, match=r"has no train.csv, train.tsv or train.jsonl \(it has: x.csv\)"):
        write_csv(tmp_path / "folder" / "x.csv", spam_rows(4))
        zoo.get_dataset("text_csv", root=str(tmp_path / "folder"))
    with pytest.raises(DataError, match="needs --root"):
        zoo.get_dataset("text_csv")



def _class_names(tmp_path, labels):
    """The class names of a folder whose train.csv has these labels in this row order (val and test: its first row)."""
    folder = tmp_path / f"data{len(list(tmp_path.iterdir()))}"
    rows = [(f"text {i}", label) for i, label in enumerate(labels)]
    for split, split_rows in {"train": rows, "val": rows[:1], "test": rows[:1]}.items():
        write_csv(folder / f"{split}.csv", split_rows)
    return zoo.get_dataset("text_csv", split="train", root=str(folder)).class_names


@pytest.mark.parametrize("labels, order", [
    (["2", "10", "1"], ("1", "2", "10")),                             # every label a number: by value
    (["-1", "1e1", "0.5", " 3 "], ("-1", "0.5", "3", "1e1")),          # whitespace stripped, any decimal notation
    (["b", "B", "a", "10", "9"], ("10", "9", "B", "a", "b")),         # not all numbers: by code point, as written
    (["1", "01", "cat"], ("01", "1", "cat")),                          # as text, 1 and 01 are two labels
])
def test_text_csv_class_order_is_one_rule_of_the_labels_alone(tmp_path, labels, order):
    """The order depends on the set of labels and nothing else (not the rows' order, not the process's hash
    seed): the same for every ordering of the rows."""
    import itertools

    orders = {_class_names(tmp_path, list(rows)) for rows in itertools.islice(itertools.permutations(labels), 6)}
    assert orders == {order}


@pytest.mark.parametrize("labels, message", [
    (["1", "2", "01"], r"labels '01' \(.*train.csv line 4\) and '1' \(.*train.csv line 2\) are the same number written two ways"),
    (["2", "1.0", "1"], r"labels '1' \(.*line 4\) and '1.0' \(.*line 3\) are the same number"),
    (["1", "nan", "2"], r"train.csv line 3: the label in column 'label' is NaN"),
])
def test_text_csv_labels_that_cannot_be_ordered_one_way_name_their_lines(tmp_path, labels, message):
    with pytest.raises(DataError, match=message):
        _class_names(tmp_path, labels)


def test_text_csv_drops_a_byte_order_mark_and_refuses_a_column_twice(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(20)), encoding="utf-8-sig")
    assert zoo.get_dataset("text_csv", root=str(path)).class_names == ("0", "1")
    path.write_text("text,label,text\nhi,0,ho\nhe,1,ha\n")
    with pytest.raises(DataError, match=r"has the column 'text' twice in its header \(text, label, text\)"):
        zoo.get_dataset("text_csv", root=str(path))
