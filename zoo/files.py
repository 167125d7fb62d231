"""Small file helpers every layer shares: where hubzoo keeps things, atomic writes, JSON, hashes, locks.

Nothing here imports torch or numpy (numpy scalars are recognised by duck typing), so the bottom of
the stack stays cheap to import.

* :func:`zoo_home`: ``$ZOO_HOME``, default ``~/.cache/zoo`` (downloaded weights, caches);
* :func:`data_root`: ``$ZOO_DATA``, default ``$ZOO_HOME/data`` (data sets);
* :func:`atomic_write_bytes` / :func:`atomic_write_chunks`: write to a temporary file beside the target,
  give it the usual permissions (``0666 & ~umask``), then rename it over the target;
* :func:`write_json`: strict JSON (NaN and infinities become ``null``), written atomically;
* :func:`remove_stale_temporaries`: what killed writers left behind, removed at the next write;
* :func:`sha256_file`, :func:`file_lock`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator


def zoo_home() -> Path:
    """``$ZOO_HOME``, else ``~/.cache/zoo``: downloaded weights, the user manifest and caches live here."""
    return Path(os.environ.get("ZOO_HOME") or Path.home() / ".cache" / "zoo")


def data_root() -> Path:
    """``$ZOO_DATA``, else ``$ZOO_HOME/data``: where data sets are looked for when no root is given."""
    data = os.environ.get("ZOO_DATA")
    return Path(data) if data else zoo_home() / "data"


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_chunks(path: str | os.PathLike, chunks: Iterable[bytes | memoryview]) -> None:
    """Write ``chunks`` to a temporary file beside ``path``, then rename it over ``path``.

    Readers see the old file or the whole new one, never a part; the file gets the permissions a plain
    ``open(path, "w")`` would give it (``mkstemp`` alone makes it private). A failure removes the
    temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, f".{path.name}.*.tmp")  # left by a writer that was killed
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: A temporary file not modified for this long belongs to a process that is gone (a live writer touches it).
STALE_AFTER_S = 3600.0


def remove_stale_temporaries(folder: str | os.PathLike, pattern: str, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete the files in ``folder`` matching ``pattern`` (a glob such as ``.model.safetensors.*.tmp``)
    that nobody has written to for ``older_than_s`` seconds: what a killed process left behind. Returns them."""
    removed = []
    now = time.time()
    for candidate in Path(folder).glob(pattern):
        try:
            if candidate.is_file() and now - candidate.stat().st_mtime > older_than_s:
                candidate.unlink()
                removed.append(candidate)
        except OSError:  # another process removed or replaced it meanwhile
            continue
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_chunks`)."""
    atomic_write_chunks(path, (data,))


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that strict JSON can hold: NaN/inf floats become ``None``, numpy scalars plain
    Python numbers, tuples lists, keys strings."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "item") and getattr(obj, "shape", None) == ():  # numpy / torch scalars
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def to_json(data: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``data`` (see :func:`jsonable`); other objects are written as ``str``."""
    return json.dumps(jsonable(data), indent=indent, default=str, allow_nan=False)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented strict JSON to ``path`` atomically."""
    atomic_write_bytes(path, (to_json(data) + "\n").encode())


def read_json_object(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """The JSON object in ``path``, or a ``ZooError`` saying the file (``what`` it should be) is damaged."""
    from zoo.errors import ZooError

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ZooError(f"{path} is not valid JSON ({exc}); the run folder is damaged") from None
    except UnicodeDecodeError:
        raise ZooError(f"{path} is not text; the run folder is damaged") from None
    if not isinstance(data, dict):
        raise ZooError(f"{path} is not {what} (a JSON object)")
    return data


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive lock between processes on the file ``path`` (created if missing), released on exit.

    A no-op where ``fcntl`` is missing (Windows): atomic renames alone still keep files whole there.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
