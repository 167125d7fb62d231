"""``text_csv``: the user's own labelled texts, from a CSV, TSV or JSONL file or a folder of them.

``--root`` is either

* one file (``data.csv``, ``data.tsv`` or ``data.jsonl``), split seeded and stratified into ``train``,
  ``val`` (``val_fraction``, default 0.1) and ``test`` (``test_fraction``, default 0.2), or
* a folder with ``train.csv`` (or ``.tsv``, ``.jsonl``) and optionally ``val.*`` and ``test.*``: the
  splits it has are used as they are, the ones it lacks are held out from its train file the same way.

Every row has a text column and a label column (``text_column="text"``, ``label_column="label"``); a
column named twice in a CSV header, or a key twice in a JSON line, is an error. Files are UTF-8, a leading
byte-order mark dropped (:func:`zoo.files.read_user_text`).

The class names are the distinct labels of all the files, in one order that depends on the labels alone
(not on the rows' order, the files' or the process), so label ``i`` means the same in every split and run:

* a label is its cell as written, whitespace stripped (a JSON number or boolean as Python writes it: ``1``,
  ``1.0``, ``True``); an empty label, and one that is NaN (``nan``, ``NaN``, JSON ``null`` or ``NaN``), is an
  error naming the file and line;
* when every label is a decimal number (``7``, ``-1``, ``0.5``, ``1e3``), the classes are in numeric order
  (``2`` before ``10``), and two labels that are one number written two ways (``1`` and ``01``, ``1`` and
  ``1.0``) are an error naming the line of each;
* otherwise they are in the order of the text, by Unicode code point (``10`` < ``9`` < ``B`` < ``a``; ``01``
  and ``1`` are then two classes).

``dataset.class_names`` holds them and the trainer writes them into ``report.json`` and its checkpoints (a
``--resume`` on data with other classes is refused), from where the predictor reads them. Items are
``(text: str, label: int)`` in a :class:`~zoo.datasets.text.TextDataset`: the LSTM builds its vocabulary from
the train split, BERT/BART tokenize with their own tokenizer.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from zoo.datasets.common import check_split, held_out_positions
from zoo.datasets.text import TextDataset
from zoo.errors import DataError
from zoo.files import read_user_text
from zoo.splits import check_fractions

__all__ = ["text_csv", "SUFFIXES"]

SPLITS = ("train", "val", "test")
SUFFIXES = (".csv", ".tsv", ".jsonl")
#: A label that is a decimal number (ASCII digits only: ``Decimal`` would take other scripts' digits too).
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
#: The delimiters a header may use, how the messages name them, and the file suffix that reads each.
_DELIMITERS = {"\t": ("tab-separated", "tab", "tabs", ".tsv"), ",": ("comma-separated", "comma", "commas", ".csv"),
               ";": ("semicolon-separated", "semicolon", "semicolons", None)}


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
    class_names = _class_names(_first_lines(files, tables))
    if len(class_names) < 2:
        found = f"one label ({class_names[0]!r})" if class_names else "no rows"
        raise DataError(f"{_describe(files)} has {found}: a classifier needs at least two classes in column {label_column!r}")
    index = {name: i for i, name in enumerate(class_names)}
    if split in ("val", "test") and split in tables:  # the folder's own file for this split
        texts, labels, _ = tables[split]
        return TextDataset(texts, [index[label] for label in labels], class_names=class_names)
    base = "all" if "all" in tables else "train"  # the splits the folder lacks are held out from this file
    texts, labels, _ = tables[base]
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


def _read_table(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str], list[int]]:
    """``(texts, labels, lines)`` of one file, labels as strings, ``lines`` the line of each row; read once per file
    version (the three splits share it)."""
    stat = path.stat()
    return _read_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, text_column, label_column)


@functools.lru_cache(maxsize=4)
def _read_cached(path: str, mtime_ns: int, size: int, text_column: str,
                 label_column: str) -> tuple[list[str], list[str], list[int]]:
    content = read_user_text(path, name=path, expected="a .csv, .tsv or .jsonl file of labelled texts")
    rows = _jsonl_rows(path, content) if path.lower().endswith(".jsonl") else _csv_rows(path, content)
    texts, labels, lines = [], [], []
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
        if str(label).strip().lower() == "nan" or (isinstance(label, float) and not math.isfinite(label)):
            raise DataError(f"{path} line {line}: the label in column {label_column!r} is "
                            f"{'infinite' if label in (math.inf, -math.inf) else 'NaN'}: every row needs its class "
                            "(leave out the rows without one)")
        texts.append(text)
        labels.append(str(label).strip())
        lines.append(line)
    return texts, labels, lines


def _csv_rows(path: str, content: str) -> list[tuple[int, dict[str, Any]]]:
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    # csv refuses a cell over 131,072 characters ("field larger than field limit"): a long review is a valid cell,
    # and the whole file is in memory already, so no cell can be longer than the file.
    csv.field_size_limit(max(csv.field_size_limit(), len(content)))
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        rows = [(reader.line_num, row) for row in reader]
        columns = reader.fieldnames or []
    except csv.Error as exc:
        raise DataError(f"{path} line {reader.line_num} is not valid CSV: {exc}") from None
    if not columns:
        raise DataError(f"{path} is empty: expected a header line naming the columns, then one row per text")
    _check_header(path, columns, delimiter)
    bad = next(((line, row) for line, row in rows if None in row or None in row.values()), None)
    if bad is not None:
        raise DataError(f"{path} line {bad[0]} has {'more' if None in bad[1] else 'fewer'} fields than the header "
                        f"({len(columns)}: {', '.join(columns)}); quote texts that hold the delimiter")
    if not rows:
        raise DataError(f"{path} has a header ({', '.join(columns)}) but no rows")
    return rows


def _check_header(path: str, columns: list[str], delimiter: str) -> None:
    """A header read with another delimiter than the file's (one column holding another delimiter), and a column
    named twice (``csv.DictReader`` would keep the last silently), are errors saying what to do."""
    if len(columns) == 1:
        used = next((d for d in _DELIMITERS if d != delimiter and d in columns[0]), None)
        if used is not None:
            read_as, one, _, suffix = _DELIMITERS[delimiter]
            _, _, found, fits = _DELIMITERS[used]
            fix = f"rename the file to {fits}" if fits else "re-save it with commas (.csv) or tabs (.tsv)"
            raise DataError(f"{path} is read as {read_as} ({suffix}), but its header {columns[0]!r} has no {one} and seems "
                            f"to use {found}: {fix}")
    twice = next((c for i, c in enumerate(columns) if c and c in columns[:i]), None)  # empty names: trailing delimiters
    if twice is not None:
        raise DataError(f"{path} has the column {twice!r} twice in its header ({', '.join(columns)}): rename one of them")


def _jsonl_rows(path: str, content: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    # Lines end at \n, \r\n or \r only: str.splitlines() would also cut at U+2028, U+2029 and U+0085, which JSON
    # strings may hold as they are (json.dumps(..., ensure_ascii=False) writes them so).
    for line, text in enumerate(re.split(r"\r\n|\r|\n", content), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text, object_pairs_hook=functools.partial(_json_object, f"{path} line {line}"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {line} is not JSON ({exc.msg}); a .jsonl file holds one JSON object per line") from None
        if not isinstance(row, dict):
            raise DataError(f"{path} line {line} is a JSON {type(row).__name__}, not an object with the columns as keys")
        rows.append((line, row))
    if not rows:
        raise DataError(f"{path} is empty: expected one JSON object per line")
    return rows


def _json_object(where: str, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict; a key twice (``json.loads`` would keep the last silently) is an error."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise DataError(f"{where} has the key {key!r} twice: keep one")
        seen.add(key)
    return dict(pairs)


def _first_lines(files: dict[str, Path], tables: dict[str, tuple[list[str], list[str], list[int]]]) -> dict[str, str]:
    """Each distinct label -> where it first appears (``path line N``), for the messages of :func:`_class_names`."""
    where: dict[str, str] = {}
    for name, (_, labels, lines) in tables.items():
        for label, line in zip(labels, lines):
            where.setdefault(label, f"{files[name]} line {line}")
    return where


def _class_names(where: dict[str, str]) -> tuple[str, ...]:
    """The labels (the keys of ``where``, label -> its first line) in the module docstring's order: by numeric value
    when every label is a decimal number (one number written two ways is an error), else by code point."""
    labels = sorted(where)  # by code point: a total order on distinct strings, whatever order they came in
    if not labels or not all(_NUMBER.fullmatch(label) for label in labels):
        return tuple(labels)
    by_value: dict[Decimal, str] = {}
    for label in labels:
        first = by_value.setdefault(Decimal(label), label)
        if first != label:
            raise DataError(f"labels {first!r} ({where[first]}) and {label!r} ({where[label]}) are the same number "
                            "written two ways: write it one way, so that they are one class")
    return tuple(sorted(labels, key=Decimal))
