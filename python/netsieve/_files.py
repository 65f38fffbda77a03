"""Writing files without losing data. Every file netsieve writes goes through :func:`atomic_write`.

- A regular file (or a path that does not exist yet) is written to a temporary file in the same
  folder, flushed to disk, given the mode a plain ``open()`` would give it (``0o666 & ~umask`` for
  a new file; a replaced file keeps its mode), then renamed into place, so a failure never leaves
  a partial file behind. Symbolic links are followed: the file they point to is replaced, the link
  stays.
- Character devices and FIFOs (``/dev/null``, ``/dev/stdout``, a named pipe) are written directly,
  as are paths that name an open descriptor (``/dev/stdout``, ``/dev/fd/N``); nothing is ever
  renamed over them. Folders, block devices and sockets are refused.
- Temporary files are named ``.<name>.<pid>@<host>.<random>.tmp``. A run killed in the middle of a
  write (SIGKILL, power loss) leaves its temporary behind; the next write to the same target removes
  those of processes of this host that no longer exist. Temporaries of other hosts (a shared folder)
  or of netsieve versions before 0.2 (``.<name>.<random>.tmp``) are left alone: delete them by hand.

:func:`check_outputs` is what commands and library writers call before doing any work: it refuses
an output that is one of the inputs, lies in an input folder, or is another output of the same call
(compared by device and inode, so symbolic and hard links count), and outputs whose folder is
missing or not writable.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import stat
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ._netsieve import InvalidInputError

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "check_outputs", "check_output_folder"]

# -- atomic writes --------------------------------------------------------------------------------

_umask_lock = threading.Lock()


def _umask() -> int:
    """The process umask, read from /proc (os.umask can only be read by setting it, which races
    with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        old = os.umask(0o022)
        os.umask(old)
    return old


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _temp_prefix(name: str) -> str:
    return f".{name[:100]}."  # short enough that the temporary's name stays below NAME_MAX


def _remove_stale_temporaries(folder: Path, name: str) -> None:
    """Removes temporaries for ``name`` left by dead processes of this host (see the module docs)."""
    prefix, host = _temp_prefix(name), _host_tag()
    pattern = re.compile(re.escape(prefix) + r"(\d+)@([0-9a-f]{8})\.[a-z0-9_]+\.tmp")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or m.group(2) != host:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a pid this system cannot have): leave it
    return True


def _names_open_descriptor(path: Path) -> bool:
    """True for ``/dev/stdout``, ``/dev/fd/1``, ``/proc/self/fd/1`` and links to them: an already-open
    file, which is written through (renaming over it would detach it from the descriptor)."""
    fd_folders = ("/proc/self/fd", f"/proc/{os.getpid()}/fd")
    p = os.path.abspath(path)
    for _ in range(40):  # the link chain, one hop at a time (realpath would resolve "pipe:[…]" away)
        if os.path.realpath(os.path.dirname(p)) in fd_folders:
            return True
        try:
            p = os.path.join(os.path.dirname(p), os.readlink(p))
        except OSError:
            return False
    return False


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _write_error(path: Path, exc: BaseException) -> OSError:
    """One clear OSError for any failure of a writer (safetensors and torch raise their own types)."""
    code = getattr(exc, "errno", None)
    if not isinstance(code, int):
        m = re.search(r"code: (\d+)", str(exc))  # safetensors: IoError(Os { code: 28, ... })
        code = int(m.group(1)) if m else None
    detail = os.strerror(code) if code else " ".join(str(exc).split()) or type(exc).__name__
    err = OSError(f"cannot write {path}: {detail}")  # one argument: str() is the message alone
    err.errno = code
    return err


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Calls ``write(tmp_path)`` on a temporary file next to ``path``, then renames it into place
    (see the module docs for modes, links, devices and stale temporaries). On failure the target is
    as it was, the temporary is removed and an OSError names the file and the cause. An fsspec URL
    (``s3://…``) is written as one object (:func:`netsieve._url_files.write_url_via`)."""
    from ._url_files import is_url

    if is_url(path):
        from ._url_files import write_url_via

        write_url_via(str(path), write)
        return
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _write_error(path, exc) from exc
    if _names_open_descriptor(path) or (st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode))):
        try:
            write(str(path))
        except Exception as exc:
            raise _write_error(path, exc) from exc
        return
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InvalidInputError(f"output {path} is {_kind(st.st_mode)}; give a file name")
    target = Path(os.path.realpath(path))  # through symbolic links (also dangling ones)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {path.parent}")
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    _remove_stale_temporaries(folder, target.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(target.name)}{os.getpid()}@{_host_tag()}.", suffix=".tmp", dir=folder)
    except OSError as exc:  # a read-only folder, no free inodes
        raise _write_error(path, exc) from exc
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                pass  # only root may give a file away; the mode is kept regardless
        os.chmod(tmp, mode)  # after writing (a read-only mode must not stop the writer) and chown (it clears setuid)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, Exception) and not isinstance(exc, InvalidInputError):
            raise _write_error(path, exc) from exc
        raise
    _sync_folder(folder)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # not every file system syncs folders; the rename itself has happened
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# -- checking outputs against inputs ----------------------------------------------------------------


def _stat(path: str | os.PathLike) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _folder_of(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path)).parent


def _input_ids(inputs: Iterable[str | os.PathLike]) -> tuple[dict[tuple, str], dict[tuple, str]]:
    """(file id → input path, folder id → input folder) of every input; a folder's files count as inputs."""
    files: dict[tuple, str] = {}
    folders: dict[tuple, str] = {}
    for inp in inputs:
        st = _stat(inp)
        if st is None:
            continue  # the command reports a missing input itself
        if stat.S_ISDIR(st.st_mode):
            folders[(st.st_dev, st.st_ino)] = str(inp)
            try:
                entries = list(os.scandir(inp))
            except OSError:
                entries = []
            for e in entries:
                try:
                    s = e.stat()
                except OSError:
                    continue
                files[(s.st_dev, s.st_ino)] = e.path
        else:
            files[(st.st_dev, st.st_ino)] = str(inp)
    return files, folders


def check_outputs(
    outputs: Sequence[tuple[str, str | os.PathLike | None]],
    inputs: Iterable[str | os.PathLike] = (),
    *,
    overwrite: bool = True,
    in_place: Sequence[str] = (),
    overwrite_hint: str = "pass overwrite=True (--overwrite) to replace it",
) -> None:
    """Checks the files a call will write before it does any work; raises naming the problem.

    ``outputs``: (label, path) pairs, e.g. ``[("--csv", "r.csv"), ("--json", None)]`` (None: not
    written); ``inputs``: the files and folders the call reads. Refused: an output that is an input
    file, a file of an input folder or lies in one, or another output (by device and inode, so links
    count; paths that do not exist yet by their folder and name); a folder, block device or socket;
    an existing file when ``overwrite`` is False; a missing or read-only folder. Outputs labelled in
    ``in_place`` may be the input file itself when ``overwrite`` is True (``netsieve filter IN IN
    --overwrite``). Character devices and FIFOs are written through and never clash with each other.
    """
    from ._url_files import check_url_output, is_url

    files, folders = _input_ids(inputs)
    seen: dict[tuple, str] = {}
    for label, path in outputs:
        if path is None:
            continue
        if is_url(path):  # an fsspec URL: checked by its file system (netsieve._url_files)
            check_url_output(label, str(path), inputs, overwrite=overwrite)
            continue
        path = Path(path)
        st = _stat(path)
        if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            continue
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise InvalidInputError(f"{label} {path} is {_kind(st.st_mode)}; give a file name")
        folder = _folder_of(path)
        fst = _stat(folder)
        if fst is None or not stat.S_ISDIR(fst.st_mode):
            raise FileNotFoundError(f"{label}: output folder does not exist: {path.parent}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"{label}: output folder {path.parent} is not writable")
        # A file that does not exist yet is known by its folder and name (after following links).
        key = (st.st_dev, st.st_ino) if st is not None else (fst.st_dev, fst.st_ino, Path(os.path.realpath(path)).name)
        if key in seen:
            raise InvalidInputError(f"{label} {path} and {seen[key]} are the same file; give each output its own name")
        seen[key] = f"{label} {path}"
        if (fst.st_dev, fst.st_ino) in folders:
            raise InvalidInputError(
                f"{label} {path} is inside the input folder {folders[(fst.st_dev, fst.st_ino)]}, where it "
                "would be taken for part of the input; write it elsewhere"
            )
        if key in files:
            if label not in in_place:
                raise InvalidInputError(f"{label} {path} is the input {files[key]}; writing it would destroy the input")
            if not overwrite:
                raise InvalidInputError(f"{label} {path} is the input file; {overwrite_hint}")
            continue
        if st is not None and not overwrite:
            raise InvalidInputError(f"{label} {path} exists; {overwrite_hint}")


def check_output_folder(label: str, folder: str | os.PathLike | None, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Checks a folder that a call will create (if needed) and fill: not a file, not an input folder,
    and its nearest existing ancestor writable."""
    if folder is None:
        return
    from ._url_files import is_url

    if is_url(folder):
        raise InvalidInputError(f"{label} {folder}: plots are written to a local folder, not to a URL")
    folder = Path(folder)
    st = _stat(folder)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise InvalidInputError(f"{label} {folder} exists and is not a folder")
    _, folders = _input_ids(inputs)
    if st is not None and (st.st_dev, st.st_ino) in folders:
        raise InvalidInputError(f"{label} {folder} is the input folder {folders[(st.st_dev, st.st_ino)]}; write it elsewhere")
    probe = Path(os.path.realpath(folder))
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise InvalidInputError(f"{label} {folder}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(f"{label}: {probe} is not writable")
