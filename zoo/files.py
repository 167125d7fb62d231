"""Small file helpers every layer shares: where hubzoo keeps things, atomic writes, JSON, hashes, locks.

Nothing here imports torch or numpy (numpy scalars are recognised by duck typing), so the bottom of
the stack stays cheap to import.

* :func:`zoo_home`: ``$ZOO_HOME``, default ``~/.cache/zoo`` (downloaded weights, caches);
* :func:`data_root`: ``$ZOO_DATA``, default ``$ZOO_HOME/data`` (data sets);
* :func:`atomic_write_bytes` / :func:`atomic_write_chunks`: write to a temporary file beside the target,
  give it the usual permissions (``0666 & ~umask``), then rename it over the target;
* :func:`write_json`: strict JSON (NaN and infinities become ``null``), written atomically;
* :func:`remove_stale_temporaries`: what killed writers left behind, removed at the next write;
* :func:`sha256_file`, :func:`file_lock`;
* :func:`read_user_text`: the one reader of the user's text files (``zoo predict --file``, ``text_csv``, IMDB,
  LUNA16's CSV files): UTF-8 with its byte-order mark dropped, or one line saying what the file is instead;
* :func:`check_regular_file`, :func:`open_regular_file` and :func:`regular_files`: the user's files for the
  image and scan readers, never a FIFO, socket or device (opening one may block forever), and the one walk
  over the user's folders.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import os
import stat
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from zoo.errors import DataError


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
    temporary file; an ``OSError`` names ``path``, never the temporary.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, f".{path.name}.*.tmp")  # left by a writer that was killed
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None and (
                exc.filename is None or Path(exc.filename).name.startswith(f".{path.name}.")):
            # A full disk names no file, a failed mkstemp or rename the temporary: name the file asked for.
            raise OSError(exc.errno, exc.strerror, str(path)) from None
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
    if path.exists():  # a FIFO in its place (`--resume` reads config.json) would block the read forever
        check_regular_file(path, f"{what} (a JSON file)")
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


def read_user_text(path: str | os.PathLike, *, name: str, expected: str) -> str:
    """The text of the user's file ``path`` (``-``: standard input; a pipe such as ``/dev/stdin`` or ``<(...)`` is
    read like a file), decoded as UTF-8 with a leading byte-order mark dropped (Python's ``utf-8-sig``), line ends
    kept as written. Anything else is a one-line :class:`~zoo.errors.DataError` that starts with ``name`` (the file
    as the user gave it: ``--file texts.txt``), says what the file is instead (missing, a folder, a socket, bytes
    with NUL in them, UTF-16, not UTF-8 from a given line on) and what to do about it, or what was ``expected``."""
    data = _user_bytes(path, name, expected)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Notepad's "Unicode", PowerShell's `>`
        raise DataError(f"{name} is UTF-16 text: re-save it as UTF-8")
    if b"\0" in data:
        raise DataError(f"{name} is not a text file (it holds NUL bytes): expected {expected}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): re-save it as UTF-8 "
                        "(for example: iconv -f CP1252 -t UTF-8 OLD > NEW, with its real encoding for CP1252)") from None


def _user_bytes(path: str | os.PathLike, name: str, expected: str) -> bytes:
    if os.fspath(path) == "-":
        return sys.stdin.buffer.read()
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise DataError(f"{name} is a folder: expected {expected}")
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):  # a terminal or a pipe is read
            kind = "a socket" if stat.S_ISSOCK(mode) else "a block device" if stat.S_ISBLK(mode) else "a special file"
            raise DataError(f"{name} is {kind}, not a file: expected {expected}")
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except OSError as exc:  # no permission, a path through a file, ...
        raise DataError(f"{name} cannot be read ({exc.strerror or exc})") from None


#: The environment variable with the most pixels an image file may declare (``zoo.preprocess.max_image_pixels``);
#: here, where the command line (which must not import torch) can name it too.
MAX_IMAGE_PIXELS_VARIABLE = "ZOO_MAX_IMAGE_PIXELS"
_READ_WITHOUT_WAITING = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
#: What a path is that is not a regular file, by the file type bits of its mode (``stat.S_IFMT``).
_FILE_TYPES = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket",
               stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


def _check_regular(path: str | os.PathLike, mode: int, expected: str) -> None:
    if stat.S_ISDIR(mode):
        raise DataError(f"{os.fspath(path)} is a folder: expected {expected}")
    if not stat.S_ISREG(mode):
        kind = _FILE_TYPES.get(stat.S_IFMT(mode), "a special file")
        raise DataError(f"{os.fspath(path)} is {kind}, not a regular file: expected {expected}")


def check_regular_file(path: str | os.PathLike, expected: str) -> None:
    """Nothing when ``path`` is a regular file or a link to one (checked with ``os.stat``, without opening it);
    else a one-line :class:`~zoo.errors.DataError` naming the path, what it is and what was ``expected``
    (``x.png is a FIFO (named pipe), not a regular file: expected an image file``; ``x.png: no such file``)."""
    try:
        _check_regular(path, os.stat(path).st_mode, expected)
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"{os.fspath(path)}: no such file") from None
    except OSError as exc:  # no permission to a folder on the way, ...
        raise DataError(f"{os.fspath(path)} cannot be read ({exc.strerror or exc})") from None


def open_regular_file(path: str | os.PathLike, expected: str) -> int:
    """A read-only file descriptor of ``path`` (the caller closes it), which must be a regular file or a link to one.

    Anything else is a one-line :class:`~zoo.errors.DataError` (:func:`check_regular_file`) and is not opened:
    opening a FIFO waits for a writer, opening a device may do anything. The descriptor is opened without
    waiting (``O_NONBLOCK``, which regular files ignore), so a FIFO swapped in after the check cannot block
    either: it reads as empty. A file that cannot be opened is a ``DataError`` too."""
    check_regular_file(path, expected)
    try:
        return os.open(path, _READ_WITHOUT_WAITING)
    except OSError as exc:  # no permission, removed meanwhile, ...
        raise DataError(f"{os.fspath(path)} cannot be read ({exc.strerror or exc})") from None


def regular_files(folder: str | os.PathLike) -> list[str]:
    """The one walk over the user's folders (``zoo predict DIR``, ``imagefolder``): the regular files under
    ``folder`` (and links to them), recursively, sorted as paths (a folder's files together), each ``folder``
    joined with its path below it. Hidden files and folders (``.name``) are left out, and so are FIFOs, sockets,
    devices, broken links and links to folders, which are never opened. A folder that cannot be listed is a
    one-line :class:`~zoo.errors.DataError` naming it."""
    found, pending = [], [os.fspath(folder)]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    elif entry.is_file():  # S_ISREG, through links
                        found.append(entry.path)
        except OSError as exc:
            raise DataError(f"{current}: this folder cannot be read ({exc.strerror or exc})") from None
    return sorted(found, key=lambda path: path.split(os.sep))
