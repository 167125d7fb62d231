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
