"""Fetching files whose sha256 is known: a plain URL into hubzoo's cache, or a file of a Hugging Face
Hub repository through ``huggingface_hub`` (the ``hub`` extra, imported only when needed).

Nothing is trusted before its hash matches: a URL download goes to a temporary file that is renamed
into place only then, and a Hub file is checked after ``hf_hub_download`` returns it. This module
knows nothing of manifests or models; ``zoo.weights`` decides what to fetch.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from zoo.errors import WeightsError, ZooError, first_line
from zoo.files import remove_stale_temporaries, sha256_file, zoo_home
from zoo.progress import interactive

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def cache_dir() -> Path:
    """Where downloaded and imported weights live: ``$ZOO_HOME/weights`` (default ``~/.cache/zoo/weights``)."""
    return zoo_home() / "weights"


def huggingface_hub() -> Any:
    """The ``huggingface_hub`` module, or an error that names the extra to install."""
    try:
        import huggingface_hub as hf
    except ImportError:
        raise ZooError("the Hugging Face Hub needs the 'hub' extra: pip install 'hubzoo[hub]'") from None
    return hf


@contextmanager
def hub_progress_bars(show: bool) -> Iterator[None]:
    """huggingface_hub's own progress bars, on only while ``show`` (hubzoo's rule: a terminal or a notebook)."""
    huggingface_hub()
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    hide = not show and not are_progress_bars_disabled()
    if hide:
        disable_progress_bars()
    try:
        yield
    finally:
        if hide:
            enable_progress_bars()


@contextmanager
def _quiet_hub_logs() -> Iterator[None]:
    """huggingface_hub's warnings off meanwhile: offline, its retries log two lines a try ("... thrown while
    requesting HEAD ...", "Retrying in 1s [Retry 1/5]."), and what they end in is one error line here."""
    from huggingface_hub.utils import logging as hub_logging

    saved = hub_logging.get_verbosity()
    hub_logging.set_verbosity_error()
    try:
        yield
    finally:
        hub_logging.set_verbosity(saved)


def hub_refusal(exc: BaseException) -> str:
    """What an HTTP error answer of the Hub (``HfHubHTTPError``) means and what to do, in one phrase. The token is
    never in it: the client's messages name the URL, not the Authorization header."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status == 401:
        return "the Hub refused the token (401): set HF_TOKEN to a valid token, or log in with `hf auth login`"
    if status == 403:
        return ("forbidden (403): the repository or namespace is another account's, or the token lacks the right "
                "(read-only, or not granted that repository)")
    if status == 429:
        return "the Hub's rate limit (429) outlasted the client's retries: wait a few minutes"
    if status is not None and status >= 500:
        return f"the Hub failed ({first_line(exc)})"
    return f"the Hub answered {first_line(exc)}"


def _transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP library's own errors, which huggingface_hub lets through (a connection cut mid-body after its
    retries): httpx2's for huggingface_hub 2.x, httpx's for 1.x; requests' (0.x) are OSErrors already."""
    return tuple(sys.modules[name].HTTPError for name in ("httpx2", "httpx") if name in sys.modules)


def cached_download(url: str, sha256: str) -> Path:
    """Where :func:`fetch_url_to_cache` keeps the file of ``url``: ``<sha256>.safetensors``, or ``<sha256>.pth`` (the
    URL's suffix) for a pickle such as torchvision's."""
    suffix = Path(url.split("?")[0]).suffix.lower()
    return cache_dir() / f"{sha256}{suffix if suffix in ('.pth', '.pt', '.bin', '.ckpt') else '.safetensors'}"


def fetch_url_to_cache(url: str, sha256: str, *, progress: bool = True) -> Path:
    """Download ``url`` into the cache as ``<sha256>.safetensors`` (``<sha256>.pth`` for a pickle such as
    torchvision's ``.pth`` files) unless it is already there.

    The download goes to a temporary file that is renamed into place only after its hash matches,
    so an interrupted or corrupt download never leaves a file that a later load would trust.
    """
    target = cached_download(url, sha256)
    if target.is_file() and sha256_file(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent, ".download.*.tmp")  # downloads killed mid-way
    fd, tmp = tempfile.mkstemp(prefix=".download.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        from torch.hub import download_url_to_file

        try:
            download_url_to_file(url, tmp, progress=progress)
        except Exception as exc:  # urllib raises many kinds; all mean "could not download"
            raise WeightsError(f"could not download weights from {url} ({exc}); they are fetched once into the "
                               f"cache: without a network, copy the file there as {target}") from None
        actual = sha256_file(tmp)
        if actual != sha256:
            raise WeightsError(f"downloaded {url} has sha256 {actual}, expected {sha256}; nothing was cached")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def fetch_hf(repo_id: str, filename: str, *, revision: str | None = None, sha256: str | None = None,
             progress: bool = True) -> Path:
    """Download (or find in the Hub cache) ``filename`` of ``repo_id`` at ``revision`` and check its sha256.

    ``sha256`` wins when given; without it the file must hash to the name of its cached blob, which for
    files stored with Git LFS is their sha256. A blob that does not hash to that name is removed from the cache
    (a wrong body), so the next call downloads it again. No request is made when the file is already cached
    at a commit-hash revision, or at any revision with a pinned ``sha256`` that the cached file has (offline-first:
    pinned bytes cannot change, so the Hub is not asked whether a branch moved; offline that question cost the
    client's retries, about 25 s). The Hub's refusals and a broken download end as one-line :class:`WeightsError`.
    """
    hf = huggingface_hub()
    from huggingface_hub import errors

    if sha256 is not None:
        cached = hf.try_to_load_from_cache(repo_id, filename, revision=revision)
        if isinstance(cached, str) and sha256_file(cached) == sha256:
            return Path(cached)
    where = f"{repo_id}@{revision or 'main'}"
    unreachable = (f"cannot get {filename} from {where}: it is not in the Hub cache and the Hub cannot be reached "
                   "({}). Fetch it once online, or `zoo unbundle` a bundle.")
    try:
        with hub_progress_bars(progress and interactive()), _quiet_hub_logs():
            path = Path(hf.hf_hub_download(repo_id, filename, revision=revision))
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled) as exc:  # before EntryNotFoundError, its base
        raise WeightsError(unreachable.format(type(exc).__name__)) from None
    except errors.RevisionNotFoundError:
        raise WeightsError(f"revision {revision!r} does not exist in {repo_id}") from None
    except errors.RepositoryNotFoundError:
        raise WeightsError(f"repository {repo_id} does not exist on the Hub (or is private: set HF_TOKEN)") from None
    except errors.EntryNotFoundError:
        raise WeightsError(f"{where} has no file {filename}") from None
    except errors.HfHubHTTPError as exc:  # the Hub was reached and said no: a refused token, a rate limit, an outage
        raise WeightsError(f"cannot get {filename} from {where}: {hub_refusal(exc)}") from None
    except (OSError, *_transport_errors()) as exc:  # the body came short or the connection broke, after the retries
        raise WeightsError(f"could not download {filename} from {where} ({type(exc).__name__}: {first_line(exc)}); "
                           "nothing was kept in the cache: run it again") from None
    blob = Path(os.path.realpath(path))
    lfs_hash = blob.name if _SHA256.match(blob.name) else None  # an LFS file's blob is named by the sha256 the Hub gave
    expected = sha256 or lfs_hash
    if expected is None:
        raise WeightsError(f"{repo_id}/{filename} has no pinned sha256 and is not an LFS file; pin one with #sha256=...")
    actual = sha256_file(path)
    if lfs_hash is not None and actual != lfs_hash:  # not what the Hub sent: dropped, so that the next try downloads it
        blob.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise WeightsError(f"{repo_id}/{filename}@{revision or 'main'} in the Hub cache is corrupt (sha256 {actual}, the "
                           f"Hub's is {lfs_hash}): a wrong or damaged download; it was removed from the Hub cache and nothing "
                           "was loaded: run it again")
    if actual != expected:
        raise WeightsError(
            f"{repo_id}/{filename}@{revision or 'main'} has sha256 {actual}, expected {expected}: "
            "the download is corrupt or the file was replaced; nothing was loaded"
        )
    return path
