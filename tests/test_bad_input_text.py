"""What hubzoo guarantees on bad text input (README, "What hubzoo guarantees"), on the command line: a text file
given to ``zoo predict --file`` or to ``--data text_csv`` that cannot be used, or labels that cannot be ordered
one way, end as one ``zoo: error:`` line with exit status 2, nothing written; a run resumed on data whose
classes changed is refused instead of swapping labels. One row per cause."""

from __future__ import annotations

import json

import pytest

from tests.test_bad_input import assert_one_error_line, run_cli, tree

PREDICT = ["predict", "lstm_sentiment"]


def _file(path, write=None):
    """``--file path``, after ``write(path)`` made it (nothing: it does not exist)."""
    if write is not None:
        write(path)
    return ["--file", path]


@pytest.mark.parametrize("make, message", [
    (lambda p: _file(p, lambda p: p.mkdir()), "--file {p} is a folder: expected a UTF-8 text file with one text per line"),
    (lambda p: _file(p, lambda p: p.write_bytes("Great film.\n".encode("utf-16"))), "--file {p} is UTF-16 text: re-save it as UTF-8"),
    (lambda p: _file(p, lambda p: p.write_bytes("Un film déjà vu\n".encode("latin-1"))),
     "--file {p} is not UTF-8 text (byte 0xe9 on line 1): re-save it as UTF-8"),
    (lambda p: _file(p), "--file {p}: no such file"),
    # an argument from a terminal that is not UTF-8: Python hands it over with the byte escaped (surrogateescape)
    (lambda p: ["Un film d\udce9j\udce0 vu"], "text #0 holds a byte that is not UTF-8 (0xe9 at position 9): give UTF-8 text"),
], ids=["folder", "utf-16", "latin-1", "missing", "argument-not-utf-8"])
def test_predict_texts_that_are_not_utf8_text(capsys, tmp_path, make, message):
    path = tmp_path / "texts.txt"
    code, _, err = run_cli(capsys, *PREDICT, *make(path))
    assert_one_error_line(code, err, message.format(p=path))
    assert "decode" not in err  # command-line advice, not Python's


@pytest.mark.parametrize("name, content, message", [
    # the file's delimiter is not the one its suffix says
    ("texts.tsv", "text,label\nhi,ham\nho,spam\n", "texts.tsv is read as tab-separated (.tsv), but its header 'text,label' "
                                                   "has no tab and seems to use commas: rename the file to .csv"),
    ("texts.csv", "text\tlabel\nhi\tham\nho\tspam\n", "texts.csv is read as comma-separated (.csv), but its header "
                                                      "'text\\tlabel' has no comma and seems to use tabs: rename the file to .tsv"),
    ("texts.csv", "text;label\nhi;ham\nho;spam\n", "texts.csv is read as comma-separated (.csv), but its header 'text;label' "
                                                  "has no comma and seems to use semicolons: re-save it with commas (.csv) or tabs (.tsv)"),
    # a column named twice: which one is the label?
    ("texts.csv", "text,label,label\nhi,ham,spam\nho,spam,ham\n", "texts.csv has the column 'label' twice in its header "
                                                                  "(text, label, label): rename one of them"),
    ("texts.jsonl", '{"text": "hi", "label": "ham", "label": "spam"}\n{"text": "ho", "label": "spam"}\n',
     "texts.jsonl line 1 has the key 'label' twice: keep one"),
    # labels that are no class, or one class written two ways
    ("texts.csv", "text,label\nhi,1\nho,nan\nhe,2\n", "texts.csv line 3: the label in column 'label' is NaN"),
    ("texts.csv", "text,label\nhi,1\nho,NaN\nhe,2\n", "texts.csv line 3: the label in column 'label' is NaN"),
    ("texts.jsonl", '{"text": "hi", "label": 1}\n{"text": "ho", "label": NaN}\n', "texts.jsonl line 2: the label in column "
                                                                                   "'label' is NaN"),
    ("texts.jsonl", '{"text": "hi", "label": 1}\n{"text": "ho", "label": null}\n', "texts.jsonl line 2: the label in column "
                                                                                    "'label' is missing"),
    ("texts.csv", "text,label\nhi,1\nho,2\nhe,01\n", "labels '01' (texts.csv line 4) and '1' (texts.csv line 2) are the same "
                                                     "number written two ways"),
    ("texts.jsonl", '{"text": "hi", "label": 1}\n{"text": "ho", "label": 2}\n{"text": "he", "label": 1.0}\n',
     "labels '1' (texts.jsonl line 1) and '1.0' (texts.jsonl line 3) are the same number written two ways"),
    # bytes that are not UTF-8: what to do on the command line, not in Python
    ("texts.csv", "text,label\ndéjà vu,ham\nho,spam\n".encode("latin-1"), "texts.csv is not UTF-8 text (byte 0xe9 on line 2): "
                                                                          "re-save it as UTF-8"),
], ids=["tsv-with-commas", "csv-with-tabs", "csv-with-semicolons", "csv-column-twice", "jsonl-key-twice", "nan", "NaN", "json-NaN",
        "json-null", "1-and-01", "1-and-1.0", "latin-1"])
def test_text_csv_files_that_cannot_be_read_one_way(capsys, tmp_path, name, content, message):
    path = tmp_path / "data" / name
    path.parent.mkdir()
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, _, err = run_cli(capsys, "train", "lstm_sentiment", "--data", "text_csv", "--root", path, "--out", tmp_path / "run",
                           "--quiet")
    assert_one_error_line(code, err.replace(f"{path.parent}/", ""), message)  # the messages name the file by its path
    assert "decode(" not in err and tree(tmp_path) == {"data", f"data/{name}"}


_ROWS = [(f"lunch at noon {i}", "ham") if i % 2 else (f"win money now {i}", "spam") for i in range(20)]


@pytest.mark.parametrize("name, content", [
    # JSON strings may hold U+2028, U+2029 and U+0085 as they are (json.dumps(ensure_ascii=False) writes them so);
    # str.splitlines() cut the line there ("line 1 is not JSON")
    ("texts.jsonl", "".join(f'{{"text": "{t}\u2028more\u0085and\u2029more", "label": "{label}"}}\n' for t, label in _ROWS)),
    # a cell over csv's default limit of 131,072 characters ("line 1 is not valid CSV: field larger than field limit")
    ("texts.csv", "text,label\n" + "".join(f"{t} {'x' * 140_000 if i == 0 else ''},{label}\n" for i, (t, label) in enumerate(_ROWS))),
], ids=["jsonl-line-separators", "csv-long-cell"])
def test_text_csv_files_that_are_valid_are_read(capsys, tmp_path, name, content):
    (tmp_path / name).write_text(content, encoding="utf-8")
    code, out, err = run_cli(capsys, "eval", "lstm_sentiment", "--weights", "reviews", "--data", "text_csv", "--root",
                             tmp_path / name, "--json")
    assert code == 0, err
    assert json.loads(out)["num_samples"] == 4  # 20% of the 20 rows, stratified


def test_resume_on_data_whose_classes_changed_is_refused(capsys, tmp_path):
    """Relabelling ``spam`` as ``ad`` reorders the classes (``ad`` < ``ham``): resuming would train label 0 as
    another class than the checkpoint's and name the weights' outputs wrongly, so it is refused, nothing changed."""
    data, run = tmp_path / "texts.csv", tmp_path / "run"
    rows = [(f"win money now {i}", "spam") if i % 2 else (f"lunch at noon {i}", "ham") for i in range(20)]
    data.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    train = ["train", "lstm_sentiment", "--data", "text_csv", "--root", data, "--out", run, "--quiet",
             "-k", "embedding_dim=8", "-k", "hidden_dim=8", "--batch-size", "8"]
    code, _, err = run_cli(capsys, *train, "--epochs", "1")
    assert code == 0, err
    data.write_text(data.read_text().replace(",spam", ",ad"))
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"}
    code, _, err = run_cli(capsys, *train, "--epochs", "2", "--resume")
    assert_one_error_line(code, err, f"cannot resume {run}: its checkpoint was trained with the classes ['ham', 'spam'], "
                                     "but the data now has ['ad', 'ham']")
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".lock"} == before
