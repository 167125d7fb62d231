"""The shared small I/O helpers (zoo/files.py): one home and data root, atomic writes with the usual
permissions, strict JSON, hashes, locks."""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import threading
import time

import numpy as np
import pytest
import torch

from zoo import files


def test_home_and_data_root_honour_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZOO_DATA")
    assert files.zoo_home() == tmp_path / "home" and files.data_root() == tmp_path / "home" / "data"
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "data"))
    assert files.data_root() == tmp_path / "data"
    monkeypatch.delenv("ZOO_HOME")
    assert files.zoo_home() == files.Path.home() / ".cache" / "zoo"


def test_atomic_writes_get_the_usual_permissions_and_leave_nothing_on_failure(tmp_path):
    old = os.umask(0o022)
    try:
        files.atomic_write_bytes(tmp_path / "a" / "x.bin", b"data")
        assert (tmp_path / "a" / "x.bin").read_bytes() == b"data"
        assert stat.S_IMODE((tmp_path / "a" / "x.bin").stat().st_mode) == 0o644  # not mkstemp's 0600

        def chunks():
            yield b"part"
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            files.atomic_write_chunks(tmp_path / "a" / "x.bin", chunks())
        assert (tmp_path / "a" / "x.bin").read_bytes() == b"data"  # the old file stays whole
        assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.bin"]
    finally:
        os.umask(old)


def test_json_is_strict(tmp_path):
    data = {"nan": float("nan"), "inf": math.inf, 1: (np.float32(0.5), torch.tensor(2), np.int64(3)), "path": tmp_path}
    files.write_json(tmp_path / "r.json", data)
    assert json.loads((tmp_path / "r.json").read_text()) == {"nan": None, "inf": None, "1": [0.5, 2, 3], "path": str(tmp_path)}


def test_sha256_and_lock(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * (3 << 20))
    assert files.sha256_file(tmp_path / "f") == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
    order = []

    def second():
        with files.file_lock(tmp_path / "lock"):
            order.append("second")

    with files.file_lock(tmp_path / "lock"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.2)
        order.append("first")
    thread.join()
    assert order == ["first", "second"]


WHAT = "a UTF-8 text file with one text per line"


@pytest.mark.parametrize("data, text", [
    (b"\xef\xbb\xbfhello\nworld\n", "hello\nworld\n"),  # a byte-order mark is dropped (utf-8-sig), not kept in the first text
    ("déjà vu\r\n".encode(), "déjà vu\r\n"),
    (b"", ""),
])
def test_read_user_text_decodes_utf8_without_its_byte_order_mark(tmp_path, data, text):
    (tmp_path / "f.txt").write_bytes(data)
    assert files.read_user_text(tmp_path / "f.txt", name="f.txt", expected=WHAT) == text


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "F: no such file"),
    (lambda p: p.mkdir(), f"F is a folder: expected {WHAT}"),
    (lambda p: p.write_bytes(b"\x00\x01\x02abc"), f"F is not a text file (it holds NUL bytes): expected {WHAT}"),
    (lambda p: p.write_bytes("hi\n".encode("utf-16-le")), "F is not a text file (it holds NUL bytes)"),  # no mark: bytes
    (lambda p: p.write_bytes("hi\n".encode("utf-16")), "F is UTF-16 text: re-save it as UTF-8"),
    (lambda p: p.write_bytes("ok\nd\xe9j\xe0\n".encode("cp1252")), "F is not UTF-8 text (byte 0xe9 on line 2): re-save it "
                                                                    "as UTF-8 (for example: iconv -f CP1252 -t UTF-8"),
], ids=["missing", "folder", "nul", "utf-16-without-mark", "utf-16", "cp1252"])
def test_read_user_text_refuses_what_is_not_utf8_text(tmp_path, make, message):
    from zoo.errors import DataError

    make(tmp_path / "f")
    with pytest.raises(DataError) as raised:
        files.read_user_text(tmp_path / "f", name="F", expected=WHAT)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_read_user_text_reads_standard_input_and_pipes(tmp_path, monkeypatch):
    """``-`` is standard input; a pipe (``--file <(grep ...)``, ``/dev/stdin``) is read like a file, whereas a
    socket is named for what it is."""
    import io
    import socket
    import sys

    from zoo.errors import DataError

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbffrom stdin\n")))
    assert files.read_user_text("-", name="-", expected=WHAT) == "from stdin\n"
    os.mkfifo(tmp_path / "fifo")
    writer = threading.Thread(target=lambda: (tmp_path / "fifo").write_bytes(b"from a pipe\n"))
    writer.start()
    assert files.read_user_text(tmp_path / "fifo", name="P", expected=WHAT) == "from a pipe\n"
    writer.join()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "sock"))
        with pytest.raises(DataError, match=f"S is a socket, not a file: expected {WHAT}"):
            files.read_user_text(tmp_path / "sock", name="S", expected=WHAT)


def test_regular_files_is_the_walk_that_leaves_out_hidden_and_special_files(tmp_path):
    from tests.test_bad_input_images import special_file

    for name in ("a/1.png", "a/.hidden.png", ".cache/x.png", "b/sub/2.png", "a-c.png", "real.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    special_file(tmp_path / "a" / "fifo.png", "fifo")
    special_file(tmp_path / "a" / "null.png", "device")
    (tmp_path / "a" / "broken.png").symlink_to(tmp_path / "nowhere")
    (tmp_path / "a" / "to-b").symlink_to(tmp_path / "b")  # a link to a folder: not followed (no cycles)
    (tmp_path / "b" / "link.png").symlink_to(tmp_path / "real.png")  # a link to a regular file: kept
    found = files.regular_files(tmp_path)
    assert [os.path.relpath(p, tmp_path) for p in found] == ["a/1.png", "a-c.png", "b/link.png", "b/sub/2.png", "real.png"]
    assert all(p.startswith(str(tmp_path) + os.sep) for p in found)  # the folder as given, joined


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "{p}: no such file"),
    (lambda p: p.mkdir(), "{p} is a folder: expected an image file"),
    (lambda p: os.mkfifo(p), "{p} is a FIFO (named pipe), not a regular file: expected an image file"),
    (lambda p: p.symlink_to(os.devnull), "{p} is a character device, not a regular file: expected an image file"),
], ids=["missing", "folder", "fifo", "device"])
def test_open_regular_file_names_what_the_path_is_instead(tmp_path, make, message):
    from tests.test_bad_input_images import without_hanging
    from zoo.errors import DataError

    make(tmp_path / "x")
    with pytest.raises(DataError) as raised:  # opening the FIFO would block: it is not opened
        without_hanging(lambda: files.open_regular_file(tmp_path / "x", "an image file"), [tmp_path / "x"], seconds=30)
    assert str(raised.value) == message.format(p=tmp_path / "x")
    (tmp_path / "ok.png").write_bytes(b"pixels")
    fd = files.open_regular_file(tmp_path / "ok.png", "an image file")
    try:
        assert os.read(fd, 100) == b"pixels"
    finally:
        os.close(fd)
