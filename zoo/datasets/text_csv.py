"""``text_csv``: the user's own labelled texts, from a CSV, TSV or JSONL file or a folder of them.

``--root`` is either

* one file (``data.csv``, ``data.tsv`` or ``data.jsonl``), split seeded and stratified into ``train``,
  ``val`` (``val_fraction``, default 0.1) and ``test`` (``test_fraction``, default 0.2), or
* a folder with ``train.csv`` (or ``.tsv``, ``.jsonl``) and optionally ``val.*`` and ``test.*``: the
  splits it has are used as they are, the ones it lacks are held out from its train file the same way.

Every row has a text column and a label column (``text_column="text"``, ``label_column="label"``). The
class names are the distinct labels of all the files, sorted (numerically when every label is a number),
so label ``i`` means the same in every split; ``dataset.class_names`` holds them and the trainer writes
them into ``report.json``, from where the predictor reads them. Items are ``(text: str, label: int)`` in a
:class:`~zoo.datasets.text.TextDataset`: the LSTM builds its vocabulary from the train split, BERT/BART
tokenize with their own tokenizer.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path
from typing import Any

from zoo.datasets.common import check_split, held_out_positions
from zoo.datasets.text import TextDataset
from zoo.errors import DataError
from zoo.families.text import decode_utf8
from zoo.splits import check_fractions

__all__ = ["text_csv", "SUFFIXES"]

SPLITS = ("train", "val", "test")
SUFFIXES = (".csv", ".tsv", ".jsonl")


def text_csv(split: str = "train", root: str | None = None, download: bool = False, *, text_column: str = "text",
             label_column: str = "label", val_fraction: float = 0.1, test_fraction: float = 0.2,
             split_seed: int = 0) -> TextDataset:
    """The ``split`` (``train``, ``val`` or ``test``) of the labelled texts at ``root`` (see the module
    docstring for the layouts). ``download`` is accepted for a uniform signature and ignored: the files
    are the user's own. Rows with an empty text or label, a file without the named columns, fewer than two
    classes, or a class too small to split are a :class:`DataError` naming the file (and the line)."""
    check_split(split, SPLITS, "text_csv")
    check_fractions(val_fraction=val_fraction, test_fraction=test_fraction, what="dataset 'text_csv'")
    files = _split_files(_root(root))
    tables = {name: _read_table(path, text_column, label_column) for name, path in files.items()}
    class_names = _class_names([label for _, labels in tables.values() for label in labels])
    if len(class_names) < 2:
        found = f"one label ({class_names[0]!r})" if class_names else "no rows"
        raise DataError(f"{_describe(files)} has {found}: a classifier needs at least two classes in column {label_column!r}")
    index = {name: i for i, name in enumerate(class_names)}
    if split in ("val", "test") and split in tables:  # the folder's own file for this split
        texts, labels = tables[split]
        return TextDataset(texts, [index[label] for label in labels], class_names=class_names)
    base = "all" if "all" in tables else "train"  # the splits the folder lacks are held out from this file
    texts, labels = tables[base]
    positions = held_out_positions(labels, split, tables, val_fraction=val_fraction, test_fraction=test_fraction,
                                   split_seed=split_seed, what=str(files[base]))
    return TextDataset([texts[i] for i in positions], [index[labels[i]] for i in positions], class_names=class_names)


def _root(root: str | None) -> Path:
    if root is None:
        raise DataError("dataset 'text_csv' needs --root: a .csv/.tsv/.jsonl file with 'text' and 'label' columns, "
                        "or a folder with train.csv (and optionally val.csv, test.csv)")
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"text_csv: {path} does not exist")
    return path


def _split_files(root: Path) -> dict[str, Path]:
    """``{"all": file}`` for a single file, else ``{"train": ..., "val": ..., "test": ...}`` (those present)."""
    if root.is_file():
        if root.suffix.lower() not in SUFFIXES:
            raise DataError(f"text_csv: {root} is not a {', '.join(SUFFIXES)} file")
        return {"all": root}
    files: dict[str, Path] = {}
    for split in SPLITS:
        found = sorted(p for p in root.iterdir() if p.stem == split and p.suffix.lower() in SUFFIXES and p.is_file())
        if len(found) > 1:
            raise DataError(f"text_csv: {root} has more than one {split} file ({', '.join(p.name for p in found)}); keep one")
        if found:
            files[split] = found[0]
    if "train" not in files:
        present = sorted(p.name for p in root.iterdir() if p.suffix.lower() in SUFFIXES) or ["no .csv/.tsv/.jsonl file"]
        raise DataError(f"text_csv: {root} has no train.csv, train.tsv or train.jsonl (it has: {', '.join(present)}); "
                        "pass one file as --root to have it split")
    return files


def _describe(files: dict[str, Path]) -> str:
    paths = list(files.values())
    return str(paths[0]) if len(paths) == 1 else f"{paths[0].parent} ({', '.join(p.name for p in paths)})"


def _read_table(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """``(texts, labels)`` of one file, labels as strings; read once per file version (the three splits share it)."""
    stat = path.stat()
    return _read_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, text_column, label_column)


@functools.lru_cache(maxsize=4)
def _read_cached(path: str, mtime_ns: int, size: int, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    content = decode_utf8(Path(path).read_bytes(), f"text_csv file {path}").removeprefix("\ufeff")
    rows = _jsonl_rows(path, content) if path.lower().endswith(".jsonl") else _csv_rows(path, content)
    texts, labels = [], []
    for line, row in rows:
        missing = [c for c in (text_column, label_column) if c not in row]
        if missing:
            option = "text_column" if text_column in missing else "label_column"
            raise DataError(f"{path} has no column {missing[0]!r} (its columns: {', '.join(map(repr, row)) or 'none'}); "
                            f"name the right one with -d {option}=NAME")
        text, label = row[text_column], row[label_column]
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path} line {line}: the text in column {text_column!r} is empty or not a string: {text!r:.60}")
        if label is None or isinstance(label, (dict, list)) or not str(label).strip():
            raise DataError(f"{path} line {line}: the label in column {label_column!r} is missing or not a value: {label!r:.60}")
        texts.append(text)
        labels.append(str(label).strip())
    return texts, labels


def _csv_rows(path: str, content: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter="\t" if path.lower().endswith(".tsv") else ",")
    try:
        rows = [(reader.line_num, row) for row in reader]
        columns = reader.fieldnames or []
    except csv.Error as exc:
        raise DataError(f"{path} line {reader.line_num} is not valid CSV: {exc}") from None
    if not columns:
        raise DataError(f"{path} is empty: expected a header line naming the columns, then one row per text")
    bad = next(((line, row) for line, row in rows if None in row or None in row.values()), None)
    if bad is not None:
        raise DataError(f"{path} line {bad[0]} has {'more' if None in bad[1] else 'fewer'} fields than the header "
                        f"({len(columns)}: {', '.join(columns)}); quote texts that hold the delimiter")
    if not rows:
        raise DataError(f"{path} has a header ({', '.join(columns)}) but no rows")
    return rows


def _jsonl_rows(path: str, content: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for line, text in enumerate(content.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {line} is not JSON ({exc.msg}); a .jsonl file holds one JSON object per line") from None
        if not isinstance(row, dict):
            raise DataError(f"{path} line {line} is a JSON {type(row).__name__}, not an object with the columns as keys")
        rows.append((line, row))
    if not rows:
        raise DataError(f"{path} is empty: expected one JSON object per line")
    return rows


def _class_names(labels: list[str]) -> tuple[str, ...]:
    """The distinct labels, sorted: as numbers when every label is one (``2`` before ``10``), else as text."""
    distinct = set(labels)
    try:
        return tuple(sorted(distinct, key=float))
    except ValueError:
        return tuple(sorted(distinct))
