"""``zoo/datasets/snippets.py``: ``sentiment_snippets``, the VADER study's rated sentences. On a small slice written
here in the real format (four ``*_GroundTruth.txt`` files, CRLF, Latin-1, in a ``hutto_ICWSM_2014.tar.gz`` inside a
``vaderSentiment-3.3.2.tar.gz``): counts, labels, the zero-rated snippets left out, the split, every domain, every
form of root, ``download=True`` with pip faked, and each bad input; then the real sdist when ``make`` fetched it."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.datasets import snippets
from zoo.datasets.snippets import SDIST_NAME, INNER_NAME, sentiment_snippets
from zoo.errors import DataError
from zoo.plugins import get_registry
from zoo.splits import split_indices

from .conftest import assert_indexes_like_a_list

REPO = Path(__file__).resolve().parents[2]
REAL_SDIST = REPO / "data" / SDIST_NAME  # where `make` puts it
PIP = "pip download --no-binary :all: --no-deps vaderSentiment==3.3.2"

# (positive, negative, zero-rated) snippets per domain in the slice: different in each, so a mixed-up file shows.
SLICE = {"movies": (6, 5, 1), "amazon": (5, 5, 2), "nyt": (4, 6, 3), "tweets": (7, 4, 0)}
FILES = {"movies": "movieReviewSnippets", "amazon": "amazonReviewSnippets", "nyt": "nytEditorialSnippets",
         "tweets": "tweets"}


def _file_bytes(domain: str) -> bytes:
    """One ``*_GroundTruth.txt`` in the real format: ``id<TAB>rating<TAB>text`` lines, CRLF, Latin-1 (``é`` is 0xe9)."""
    positive, negative, zero = SLICE[domain]
    ratings = [1.5 + i / 10 for i in range(positive)] + [-2.25 + i / 10 for i in range(negative)] + [0.0] * zero
    lines = [f"{i + 1}\t{r:g}\t{domain} snippet {i + 1}: très {'bon' if r > 0 else 'mauvais' if r < 0 else 'neutre'}"
             for i, r in enumerate(ratings)]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n"


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _inner(files: dict[str, bytes] | None = None) -> bytes:
    files = files if files is not None else {f"{FILES[d]}_GroundTruth.txt": _file_bytes(d) for d in FILES}
    return _tar_gz({f"hutto_ICWSM_2014/{name}": data for name, data in files.items()}
                   | {"hutto_ICWSM_2014/_README_.txt": b"the study's readme"})


def _sdist(inner: bytes | None = None) -> bytes:
    top = "vaderSentiment-3.3.2"
    return _tar_gz({f"{top}/setup.py": b"", f"{top}/additional_resources/{INNER_NAME}": inner or _inner()})


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _extract_inner(folder: Path) -> Path:
    for name, data in ((f"{FILES[d]}_GroundTruth.txt", _file_bytes(d)) for d in FILES):
        _write(folder / "hutto_ICWSM_2014" / name, data)
    return folder


@pytest.fixture
def sdist(tmp_path) -> Path:
    return _write(tmp_path / "downloads" / SDIST_NAME, _sdist())


def _files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


# ------------------------------------------------------------------------------ items, counts, splits


@pytest.mark.parametrize("domain", list(SLICE))
def test_each_domain_counts_labels_and_left_out_zero_ratings(sdist, domain):
    positive, negative, zero = SLICE[domain]
    parts = {split: sentiment_snippets(split, root=str(sdist), domain=domain) for split in ("train", "val", "test")}
    assert sum(len(p) for p in parts.values()) == positive + negative
    assert sum(int(p.labels.sum()) for p in parts.values()) == positive
    for split, part in parts.items():
        assert part.class_names == ("negative", "positive") and part.domain == domain and part.split == split
        assert part.dropped_neutral == zero and f"{zero:,} zero-rated" in repr(part) and domain in part.description
        assert all((rating > 0) == bool(label) and rating != 0 for rating, label in zip(part.ratings, part.labels.tolist()))
        text, label = part[0]
        assert isinstance(text, str) and isinstance(label, int)
        assert all(t.startswith(f"{domain} snippet ") and "très" in t for t in part.texts)  # Latin-1 decoded
        assert_indexes_like_a_list(part)


def test_the_split_is_the_projects_split_function_seeded_stratified_and_disjoint(sdist):
    domain, (positive, negative, _) = "movies", SLICE["movies"]
    parts = {split: zoo.get_dataset("sentiment_snippets", split=split, root=str(sdist)) for split in ("train", "val", "test")}
    ids = {split: part.ids for split, part in parts.items()}
    assert sum(map(len, ids.values())) == len(set().union(*ids.values())) == positive + negative  # disjoint, complete
    # exactly split_indices over the rated snippets in file order, labels as strata, val 0.1 / test 0.2 / seed 0
    labels = [1] * positive + [0] * negative
    expected = split_indices(len(labels), val_fraction=0.1, test_fraction=0.2, seed=0, labels=labels)
    for split, part in parts.items():
        assert part.ids == [str(i + 1) for i in expected[split]]
        assert set(part.labels.tolist()) == {0, 1}  # stratified: each class in every part
    again = sentiment_snippets("test", root=str(sdist))
    assert again.ids == parts["test"].ids and again.texts == parts["test"].texts  # deterministic
    moved = [sentiment_snippets("test", root=str(sdist), split_seed=seed).ids for seed in range(1, 6)]
    assert any(m != parts["test"].ids for m in moved)  # the seed is used
    wide = sentiment_snippets("test", root=str(sdist), test_fraction=0.5, val_fraction=0.2)
    assert len(wide) == round(positive * 0.5) + round(negative * 0.5)


def test_registration_declares_val_and_the_domain_option():
    spec = get_registry().dataset("sentiment_snippets")
    assert spec.splits == ("train", "val", "test") and spec.class_names == ("negative", "positive")
    assert spec.num_classes == 2 and spec.task == "text-classification" and PIP in spec.description
    with pytest.raises(DataError, match="no split 'validation'"):
        zoo.get_dataset("sentiment_snippets", split="validation")


def test_a_utf8_file_is_read_as_utf8(tmp_path):
    # The real 3.3.2 files are UTF-8 (Münch, español, £): decoded as such, not as Latin-1 mojibake.
    line = "1\t2.5\tMünch's insight\r\n2\t-1\tnot £1 of fun\r\n3\t1\tfine\r\n4\t-2\tdull\r\n5\t3\tgreat\r\n6\t-3\tbad\r\n"
    _write(tmp_path / "movieReviewSnippets_GroundTruth.txt", line.encode("utf-8"))
    texts = {t for split in ("train", "val", "test") for t in sentiment_snippets(split, root=str(tmp_path)).texts}
    assert "Münch's insight" in texts and "not £1 of fun" in texts


# ------------------------------------------------------------------------------ where the data is found


def _forms(tmp_path: Path) -> dict[str, Path]:
    inner = _write(tmp_path / "inner" / INNER_NAME, _inner())
    sdist = _write(tmp_path / "sdist" / SDIST_NAME, _sdist())
    extracted_sdist = tmp_path / "extracted_sdist" / "vaderSentiment-3.3.2"
    _write(extracted_sdist / "additional_resources" / INNER_NAME, _inner())
    return {
        "sdist archive": sdist, "folder holding the sdist": sdist.parent,
        "inner archive": inner, "folder holding the inner archive": inner.parent,
        "extracted sdist": extracted_sdist, "folder holding the extracted sdist": extracted_sdist.parent,
        "folder holding the extracted inner archive": _extract_inner(tmp_path / "extracted_inner"),
        "extracted inner archive": tmp_path / "extracted_inner" / "hutto_ICWSM_2014",
    }


@pytest.mark.parametrize("form", ["sdist archive", "folder holding the sdist", "inner archive",
                                  "folder holding the inner archive", "extracted sdist",
                                  "folder holding the extracted sdist", "folder holding the extracted inner archive",
                                  "extracted inner archive"])
def test_every_form_of_root_gives_the_same_items(tmp_path, form):
    root = _forms(tmp_path)[form]
    test = sentiment_snippets("test", root=str(root), domain="nyt")
    reference = sentiment_snippets("test", root=str(_write(tmp_path / "ref" / SDIST_NAME, _sdist())), domain="nyt")
    assert (test.ids, test.texts, test.labels.tolist()) == (reference.ids, reference.texts, reference.labels.tolist())
    assert "nytEditorialSnippets_GroundTruth.txt" in test.source


def test_without_root_it_reads_zoo_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "zoo_data"))
    _write(tmp_path / "zoo_data" / SDIST_NAME, _sdist())
    assert len(sentiment_snippets("train", domain="tweets")) + len(sentiment_snippets("val", domain="tweets")) + \
        len(sentiment_snippets("test", domain="tweets")) == 11


# ------------------------------------------------------------------------------ download=True (pip faked)


class _FakePip:
    """Stands in for ``subprocess.run`` of ``pip download``: writes ``data`` as the sdist into the ``-d`` folder."""

    def __init__(self, data: bytes | None, returncode: int = 0) -> None:
        self.data, self.returncode, self.commands = data, returncode, []

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        if self.data is not None:
            _write(Path(command[command.index("-d") + 1]) / SDIST_NAME, self.data)
        return type("Done", (), {"returncode": self.returncode, "stderr": "ERROR: no network" if self.returncode else ""})()


def test_download_runs_pip_into_the_folder_and_checks_the_hash(tmp_path, monkeypatch):
    data = _sdist()
    fake = _FakePip(data)
    monkeypatch.setattr(snippets.subprocess, "run", fake)
    monkeypatch.setattr(snippets, "SDIST_SHA256", hashlib.sha256(data).hexdigest())
    folder = tmp_path / "new"
    assert len(sentiment_snippets("test", root=str(folder), download=True)) == 2
    assert [p.name for p in folder.iterdir()] == [SDIST_NAME]  # no temporary folder left
    assert fake.commands[0][1:] == ["-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                                    "vaderSentiment==3.3.2", "-d", fake.commands[0][-1]]
    sentiment_snippets("val", root=str(folder), download=True)
    assert len(fake.commands) == 1  # found: not fetched again


@pytest.mark.parametrize("fake, message", [
    (_FakePip(None, returncode=1), "pip download failed \\(ERROR: no network\\)"),
    (_FakePip(b"not the real sdist"), "has sha256 [0-9a-f]{64}, expected 5d7c06e0"),
])
def test_a_failed_or_wrong_download_keeps_nothing(tmp_path, monkeypatch, fake, message):
    monkeypatch.setattr(snippets.subprocess, "run", fake)
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError, match=message):
        sentiment_snippets("train", root=str(tmp_path / "data"), download=True)
    assert list((tmp_path / "data").iterdir()) == []


# ------------------------------------------------------------------------------ bad input: one line each, nothing written


def _one_line_error(tmp_path, call, *fragments) -> str:
    before = _files_under(tmp_path)
    with pytest.raises(DataError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and all(f in message for f in fragments), message
    assert _files_under(tmp_path) == before
    return message


def test_no_data_names_the_pip_command_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    _one_line_error(tmp_path, lambda: sentiment_snippets(), PIP, str(tmp_path / "empty"))
    _one_line_error(tmp_path, lambda: sentiment_snippets(root=str(tmp_path / "nowhere")), PIP, "does not exist")


@pytest.mark.parametrize("damage", ["garbage", "truncated sdist", "truncated inner", "empty", "other archive"])
def test_a_damaged_archive_is_one_line_naming_it(tmp_path, damage):
    whole = _sdist()
    data = {"garbage": b"\x00\x01 not a tar at all" * 50, "truncated sdist": whole[: len(whole) // 2],
            "truncated inner": _sdist(_inner()[:200]), "empty": b"",
            "other archive": _tar_gz({"something/else.txt": b"x"})}[damage]
    path = _write(tmp_path / SDIST_NAME, data)
    expected = "holds neither" if damage == "other archive" else "is not a readable tar archive"
    _one_line_error(tmp_path, lambda: sentiment_snippets(root=str(path)), str(path), expected)


def test_an_unknown_domain_lists_the_valid_ones(sdist, tmp_path):
    _one_line_error(tmp_path, lambda: sentiment_snippets(root=str(sdist), domain="imdb"),
                    "no domain 'imdb'", "movies, amazon, nyt, tweets")


@pytest.mark.parametrize("line, message", [
    (b"7\t1.5", "line 3: expected 3 tab-separated fields (id, mean rating, text), found 2"),
    (b"7\t1.5\ta\tb", "line 3: expected 3 tab-separated fields (id, mean rating, text), found 4"),
    (b"7\tgood\ttext", "line 3: the rating 'good' is not a number"),
    (b"7\t4.5\ttext", "line 3: the rating 4.5 is outside -4..4"),
    (b"7\tnan\ttext", "line 3: the rating nan is outside -4..4"),
    (b"7\t-1\t  ", "line 3: snippet '7' has no text"),
])
def test_a_malformed_line_is_named_by_file_and_line(tmp_path, line, message):
    good = _file_bytes("movies").split(b"\r\n")
    broken = b"\r\n".join(good[:2] + [line] + good[2:])
    for form, root in (("archive", _write(tmp_path / "a" / SDIST_NAME, _sdist(_inner({"movieReviewSnippets_GroundTruth.txt": broken})))),
                       ("folder", _write(tmp_path / "f" / "movieReviewSnippets_GroundTruth.txt", broken).parent)):
        text = _one_line_error(tmp_path, lambda: sentiment_snippets(root=str(root)), message, "movieReviewSnippets_GroundTruth.txt")
        assert str(root) in text, form


def test_a_folder_without_the_domains_file_says_what_it_holds(tmp_path):
    _write(tmp_path / "tweets_GroundTruth.txt", _file_bytes("tweets"))
    _one_line_error(tmp_path, lambda: sentiment_snippets(root=str(tmp_path)), "has no movieReviewSnippets_GroundTruth.txt",
                    "tweets_GroundTruth.txt")


# ------------------------------------------------------------------------------ the real sdist


@pytest.fixture
def real_sdist() -> Path:
    if not REAL_SDIST.is_file():
        pytest.skip(f"{REAL_SDIST} is absent: `make` fetches it ({PIP} -d data)")
    return REAL_SDIST


def test_the_real_files_have_the_counts_of_the_issue(real_sdist):
    table = {"movies": (10_605, 5_242, 5_326, 37), "amazon": (3_708, 2_128, 1_482, 98),
             "nyt": (5_190, 2_204, 2_742, 244), "tweets": (4_200, 2_897, 1_299, 4)}
    for domain, (total, positive, negative, zero) in table.items():
        _, rows = snippets.read_snippets(real_sdist, domain)
        ratings = np.array([rating for _, rating, _ in rows])
        assert (len(rows), (ratings > 0).sum(), (ratings < 0).sum(), (ratings == 0).sum()) == (total, positive, negative, zero)
    parts = {split: sentiment_snippets(split, root=str(real_sdist)) for split in ("train", "val", "test")}
    assert {s: len(p) for s, p in parts.items()} == {"train": 7_398, "val": 1_057, "test": 2_113}
    assert parts["test"].dropped_neutral == 37 and int(parts["test"].labels.sum()) == 1_048
    assert any("Münch" in t for p in parts.values() for t in p.texts)  # UTF-8, not Latin-1 mojibake
