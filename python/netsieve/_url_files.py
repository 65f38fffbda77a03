"""Outputs at fsspec URLs (``s3://bucket/out``, ``gs://…``, ``memory://…``): what netsieve's
writers do where there is no atomic rename.

- One file (a CSV or JSON report, a single ``.safetensors``): serialised in memory, then written
  with one ``pipe`` — on an object store one PUT, which creates the object whole or not at all, so
  a failure leaves the previous object (or none). ``file://`` URLs go to :func:`atomic_write`.
- A folder (the filtered shards of a model folder): every object is first written under a staging
  prefix beside OUT (``.{name}.netsieve-staging-{random}``), so nothing appears at OUT until every
  tensor has succeeded; a failure deletes the staging prefix. Then the staged objects are copied to
  OUT (server-side on S3 and GCS) with the index ``model.safetensors.index.json`` last: a reader that
  waits for the index sees the whole folder. This publishing step is not atomic: while it runs a
  lister of OUT sees shards without the index, and a failure in it deletes what it copied to OUT
  and keeps the complete staging prefix, named in the error. With ``overwrite=True`` the old index
  at OUT is deleted first (the old folder stops being complete), old objects that the new folder
  does not have are deleted before the new index is written (so a failed publish over an old folder
  leaves it incomplete: without its index).

Credentials and endpoints are fsspec's (environment variables such as ``AWS_ENDPOINT_URL``, or
``fsspec.config``), the same on every Dask worker. Needs ``fsspec`` and the file system's own
package (``s3fs``, ``gcsfs``); nothing else in ``netsieve`` imports them.
"""

from __future__ import annotations

import os
import secrets
from typing import Any, Callable, Iterable

from ._netsieve import InvalidInputError

__all__ = ["is_url", "filesystem", "call", "check_bucket", "local_path_of", "write_url_via", "check_url_output", "write_url",
           "staging_for", "publish", "remove_tree", "join"]  # fmt: skip


def is_url(path: Any) -> bool:
    """Whether a path argument is an fsspec URL (a string with ``://``) rather than a local path."""
    return isinstance(path, str) and "://" in path


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec file system, path within it) of ``url``."""
    try:
        import fsspec
    except ImportError as exc:
        raise ImportError(
            f"{url} is an fsspec URL: it needs fsspec (pip install fsspec, plus the file system's own "
            "package, e.g. s3fs for s3://)"
        ) from exc
    try:
        return fsspec.core.url_to_fs(url)
    except ValueError as exc:  # an unknown protocol
        raise InvalidInputError(f"{url}: {exc}") from exc


def join(base: str, name: str) -> str:
    """``name`` inside the folder ``base`` (a URL or a local path)."""
    return f"{base.rstrip('/')}/{name}" if is_url(base) else os.path.join(base, name)


def local_path_of(url: str) -> str | None:
    """The local path of a ``file://`` URL, else None."""
    fs, path = filesystem(url)
    return path if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)) else None


def _unreachable(url: str, exc: BaseException) -> OSError:
    err = OSError(f"cannot reach {url}: {type(exc).__name__}: {exc}")
    err.errno = getattr(exc, "errno", None)
    return err


def call(url: str, action: Callable[[], Any]) -> Any:
    """``action()`` with failures of the store (an unreachable endpoint, refused credentials) as an
    OSError naming ``url``; FileNotFoundError and InvalidInputError pass unchanged."""
    try:
        return action()
    except (FileNotFoundError, InvalidInputError, ImportError):
        raise
    except Exception as exc:  # botocore's and aiohttp's errors are not OSErrors
        raise _unreachable(url, exc) from exc


def check_bucket(fs: Any, path: str, url: str, label: str = "") -> None:
    """On an object store (no root folder), the bucket of ``path`` must exist."""
    if getattr(fs, "root_marker", "/") != "":
        return
    bucket = path.split("/", 1)[0]
    if call(url, lambda: fs.exists(bucket)):
        return
    try:  # exists() says False for an unreachable endpoint too (s3fs): listing tells them apart
        call(url, lambda: fs.ls(bucket, detail=False))
        return
    except FileNotFoundError:
        pass
    raise FileNotFoundError(f"{label + ': ' if label else ''}the bucket {bucket!r} of {url} does not exist")


def check_url_output(label: str, url: str, inputs: Iterable[Any] = (), *, overwrite: bool = True, folder: bool = False) -> None:
    """Checks an output URL before any work: a known, importable protocol, an existing bucket, not
    an input (nor inside an input folder, nor containing one), a file not a folder (or the reverse
    for ``folder=True``), and, without ``overwrite``, not already there."""
    fs, path = filesystem(url)
    local = local_path_of(url)
    for inp in inputs:
        other = str(inp)
        if is_url(other):
            other = local_path_of(other) or other
        mine = local if local is not None and not is_url(other) else url.rstrip("/")
        if mine == other.rstrip("/") or mine.startswith(other.rstrip("/") + "/") or other.startswith(mine + "/"):
            raise InvalidInputError(f"{label} {url} overlaps the input {inp}; write it elsewhere")
    check_bucket(fs, path, url, label)
    exists = call(url, lambda: fs.exists(path))
    if exists and call(url, lambda: fs.isdir(path)) != folder:
        raise InvalidInputError(f"{label} {url} exists and is {'not ' if folder else ''}a folder")
    if exists and not overwrite:
        raise InvalidInputError(f"{label} {url} exists; pass overwrite=True (--overwrite) to replace it")


def write_url(url: str, data: bytes) -> None:
    """Writes one object whole (module docs); ``file://`` atomically through a temporary file."""
    local = local_path_of(url)
    if local is not None:
        from ._files import atomic_write_bytes

        atomic_write_bytes(local, data)
        return
    fs, path = filesystem(url)
    try:
        fs.pipe_file(path, data)
    except Exception as exc:
        raise OSError(f"cannot write {url}: {type(exc).__name__}: {exc}") from exc


def write_url_via(url: str, write: Callable[[str], object]) -> None:
    """Calls ``write(tmp_path)`` on a local temporary file, then writes its bytes to ``url`` as one
    object (``file://``: :func:`netsieve._files.atomic_write` on its path)."""
    local = local_path_of(url)
    if local is not None:
        from ._files import atomic_write

        atomic_write(local, write)
        return
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="netsieve-upload-")
    try:
        tmp = os.path.join(folder, "out" + os.path.splitext(url)[1][:16])
        write(tmp)
        with open(tmp, "rb") as fh:
            data = fh.read()
        write_url(url, data)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def staging_for(url: str) -> str:
    """A fresh staging prefix beside the folder URL ``url`` (module docs)."""
    base = url.rstrip("/")
    parent, _, name = base.rpartition("/")
    return f"{parent}/.{name[:80]}.netsieve-staging-{secrets.token_hex(6)}"


def remove_tree(url: str) -> list[str]:
    """Deletes every object under ``url`` (best effort); returns what could not be deleted."""
    fs, path = filesystem(url)
    try:
        if not fs.exists(path):
            return []
        fs.rm(path, recursive=True)
    except Exception:  # noqa: BLE001 - what remains is listed below
        pass
    try:
        fs.invalidate_cache()
        return list(fs.find(path)) if fs.exists(path) else []
    except Exception:  # noqa: BLE001
        return [path]


def _copy_object(fs: Any, source: str, target: str) -> None:
    """One object copied within a file system (server-side on S3 and GCS)."""
    fs.copy(source, target)


def publish(staging: str, url: str, index_name: str | None) -> None:
    """Copies the finished folder at ``staging`` to ``url``, ``index_name`` last (module docs),
    deletes objects of an old folder at ``url`` that the new one does not have, then the staging
    prefix. A failure deletes what was copied and keeps ``staging``, naming it."""
    fs, src = filesystem(staging)
    _, dst = filesystem(url)
    src, dst = src.rstrip("/"), dst.rstrip("/")
    names = sorted(p[len(src) + 1 :] for p in fs.find(src))
    order = [n for n in names if n != index_name] + ([index_name] if index_name in names else [])
    fs.invalidate_cache()
    old = [p[len(dst) + 1 :] for p in fs.find(dst)] if fs.exists(dst) else []
    copied: list[str] = []
    try:
        if index_name is not None and index_name in old:
            fs.rm_file(f"{dst}/{index_name}")  # the old folder stops being complete before it changes
        for name in order:
            if name == index_name:
                for stale in sorted(set(old) - set(names)):
                    fs.rm_file(f"{dst}/{stale}")
            _copy_object(fs, f"{src}/{name}", f"{dst}/{name}")
            copied.append(name)
    except Exception as exc:
        for name in copied:
            try:
                fs.rm_file(f"{dst}/{name}")
            except Exception:  # noqa: BLE001 - best effort; the error below says what happened
                pass
        raise OSError(
            f"cannot publish the filtered folder to {url} ({type(exc).__name__}: {exc}); the objects copied "
            f"there were deleted and the complete output is kept at {staging}"
        ) from exc
    remove_tree(staging)
