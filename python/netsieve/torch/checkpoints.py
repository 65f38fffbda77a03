"""Reading and writing weight files: ``.safetensors`` files or folders of shards (memory-mapped, one
tensor at a time) and torch checkpoints loaded with ``weights_only=True``; writes are atomic."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import torch

from .._files import atomic_write
from ._state_dicts import _is_zip, _trainer_state, _unwrap_state_dict, load_checkpoint_object, replace_state_dict  # noqa: F401
from .hf_layout import INDEX_FILE, read_layout
from netsieve import InvalidInputError

__all__ = ["TensorSource", "open_weights", "save_weights"]

_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")


class TensorSource:
    """Named tensors of a checkpoint, read lazily. Use as a context manager or call ``close()``.

    A folder is read as one checkpoint: its ``.safetensors`` files, or, when it has none, its torch
    checkpoints. Every other file is listed in ``skipped_files`` as (path, reason); a tensor name
    found in two files is an error naming both.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` file (memory-mapped, each tensor read when asked for), a torch checkpoint
        (any other suffix; loaded with ``weights_only=True``, memory-mapped when it is a zip file),
        or a folder of either. A torch checkpoint holds a state dict, bare or under one of the keys
        ``"state_dict"``, ``"model_state_dict"``, ``"model"``, ``"module"``.
    files : iterable of str, optional
        For a folder: read only these files of it (e.g. the shards of a Hub snapshot).

    Attributes
    ----------
    path : pathlib.Path
        The file or folder.
    skipped_files : list of (pathlib.Path, str)
        Files of a folder that were not read, and why (trainer state, an index, other files).
    skipped : list of Skipped
        ``skipped_files`` as report entries (``kind="file"``).
    layout : Layout
        A model folder's ``config.json`` and shard index (:mod:`netsieve.torch.hf_layout`): with an
        index only the shards it names are read, and each must hold the tensors it lists.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    InvalidInputError
        A missing shard or a tensor absent from its shard (as the index names them); a file that
        cannot be read (a corrupt safetensors header; a truncated torch file, or one that
        holds arbitrary pickled objects, which are never executed), a torch file with no state dict,
        a folder without weight files, a tensor name in two files, or no tensors at all.

    Examples
    --------
    >>> import pathlib, tempfile, torch, netsieve.torch as nt
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
    >>> nt.save_weights({"fc.weight": torch.ones(4, 3), "fc.bias": torch.zeros(4)}, path)
    >>> with nt.TensorSource(path) as source:
    ...     print(source.names(), source.shape("fc.weight"), source.skipped)
    ['fc.bias', 'fc.weight'] (4, 3) []
    """

    def __init__(self, path: str | os.PathLike, *, files: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self._only = None if files is None else [self.path / f for f in files]  # of a folder: these alone
        self._handles: list = []
        self._where: dict[str, object] = {}  # name → safetensors handle, or the loaded tensor
        self._origin: dict[str, Path] = {}  # name → the file holding it
        self.skipped_files: list[tuple[Path, str]] = []
        self.layout = read_layout(None)
        if not self.path.exists():
            raise FileNotFoundError(f"no such file or folder: {self.path}")
        if self.path.is_dir():
            self._open_folder()
        elif self.path.suffix == ".safetensors":
            self._open_safetensors(self.path)
        else:
            self._load_torch(self.path)
        if not self._where:
            raise InvalidInputError(f"{self.path} contains no tensors")

    def _open_folder(self) -> None:
        entries = sorted(self.path.iterdir())
        safetensors = [p for p in entries if p.is_file() and p.suffix == ".safetensors"]
        torch_files = [p for p in entries if p.is_file() and p.suffix in _TORCH_SUFFIXES and not _trainer_state(p)]
        read = safetensors or torch_files
        self.layout = read_layout(self.path)  # config.json and the shard index, when present
        if self._only is None and self.layout.shards is not None:  # the index says which shards
            self._only = [self.path / f for f in self.layout.shards]
        if self._only is not None:  # chosen by the caller (a Hub snapshot's weight files) or the index
            read = self._only
            safetensors = [p for p in read if p.suffix == ".safetensors"]
            torch_files = [p for p in read if p.suffix != ".safetensors"]
        if not read:
            held = ", ".join(p.name for p in entries[:8]) + (", …" if len(entries) > 8 else "")
            raise InvalidInputError(
                f"{self.path} holds no .safetensors or torch checkpoint files" + (f" (it holds {held})" if held else " (it is empty)")
            )
        for p in entries:
            if p in read:
                continue
            if not p.exists():
                reason = "broken symbolic link"
            elif p.name in (INDEX_FILE, "config.json"):
                reason = "shard index (the shards it names are read)" if p.name == INDEX_FILE else "model config (read for the layout)"
            elif self._only is not None:
                reason = "not one of the model's weight files" if p.is_file() else "a folder (sub-folders are not read)"
            elif p.is_dir():
                reason = "a folder (sub-folders are not read)"
            elif _trainer_state(p):
                reason = "trainer state, not model weights"
            elif p.suffix in _TORCH_SUFFIXES:
                reason = "torch checkpoint beside .safetensors files: only the .safetensors files are read"
            elif p.name.endswith(".index.json"):
                reason = "shard index (the shards themselves are read)"
            else:
                reason = "not a weight file"
            self.skipped_files.append((p, reason))
        for f in safetensors:
            self._open_safetensors(f)
        if not safetensors:
            for f in torch_files:
                self._load_torch(f, in_folder=True)
        self.layout.check_index(self._origin)

    def _add(self, names, file: Path, where) -> None:
        for n in names:
            if n in self._origin:
                raise InvalidInputError(
                    f"tensor {n!r} is in both {self._origin[n]} and {file}; the files of a folder must hold "
                    "different tensors (remove or move the duplicate file)"
                )
            self._origin[n] = file
            self._where[n] = where if where is not None else names[n]

    def _open_safetensors(self, file: Path) -> None:
        from safetensors import safe_open

        try:
            handle = safe_open(str(file), framework="pt", device="cpu")
            names = list(handle.keys())
        except Exception as exc:  # safetensors raises its own error types for corrupt headers
            raise InvalidInputError(f"cannot read {file} as safetensors: {exc}") from exc
        self._handles.append(handle)
        self._add(names, file, handle)

    def _load_torch(self, file: Path, in_folder: bool = False) -> None:
        try:
            obj = torch.load(str(file), map_location="cpu", weights_only=True, mmap=_is_zip(file))
        except Exception as exc:
            raise InvalidInputError(
                f"cannot load {file} with weights_only=True (a truncated file, or a pickle holding "
                f"arbitrary objects, which netsieve refuses to execute): {exc}"
            ) from exc
        state = _unwrap_state_dict(obj)
        if state is None:
            if in_folder:  # loaded safely, but not weights (e.g. an optimizer state): list it, go on
                self.skipped_files.append((file, "holds no state dict of tensors"))
                return
            raise InvalidInputError(f"{file} does not hold a state dict of tensors")
        self._add(state, file, None)

    @property
    def skipped(self) -> list:
        """``skipped_files`` as :class:`Skipped` entries (``kind="file"``) for reports."""
        from ._weights import Skipped

        return [Skipped(str(p), (), f"file not read: {reason}", kind="file") for p, reason in self.skipped_files]

    def names(self) -> list[str]:
        """The tensor names, file by file (a folder's files in sorted order).

        Returns
        -------
        list of str
            Empty after :meth:`close`.

        Raises
        ------
        Nothing
            The names are read when the source is opened.

        Examples
        --------
        >>> import pathlib, tempfile, torch, netsieve.torch as nt
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save({"state_dict": {"a": torch.zeros(2), "b": torch.zeros(3)}, "epoch": 7}, path)
        >>> source = nt.open_weights(path)
        >>> source.names()
        ['a', 'b']
        >>> source.close(); source.names()
        []
        """
        return list(self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of tensor ``name``, without reading its values (from a safetensors header).

        Parameters
        ----------
        name : str
            One of :meth:`names`.

        Returns
        -------
        tuple of int

        Raises
        ------
        KeyError
            No tensor of that name (or the source is closed).

        Examples
        --------
        >>> import pathlib, tempfile, torch, netsieve.torch as nt
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> nt.save_weights({"w": torch.zeros(5, 2)}, path)
        >>> with nt.open_weights(path) as source:
        ...     source.shape("w")
        (5, 2)
        """
        src = self._where[name]
        if isinstance(src, torch.Tensor):
            return tuple(src.shape)
        return tuple(src.get_slice(name).get_shape())

    def get(self, name: str) -> torch.Tensor:
        """Tensor ``name``, read from its file now (safetensors) or as loaded (torch checkpoints).

        Parameters
        ----------
        name : str
            One of :meth:`names`.

        Returns
        -------
        torch.Tensor
            On the CPU, in its stored dtype. A tensor of a torch checkpoint is the loaded one (the
            same object on every call, memory-mapped from a zip file): ``.clone()`` it before
            changing it.

        Raises
        ------
        KeyError
            No tensor of that name (or the source is closed).
        InvalidInputError
            The tensor's data cannot be read (a truncated or corrupt file).

        Examples
        --------
        >>> import pathlib, tempfile, torch, netsieve.torch as nt
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> nt.save_weights({"w": torch.arange(6.0).reshape(2, 3)}, path)
        >>> with nt.open_weights(path) as source:
        ...     source.get("w").tolist()
        [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        """
        src = self._where[name]
        if isinstance(src, torch.Tensor):
            return src
        try:
            return src.get_tensor(name)
        except Exception as exc:
            raise InvalidInputError(f"cannot read tensor {name!r} from {self.path}: {exc}") from exc

    def file_of(self, name: str) -> Path:
        """The file holding tensor ``name`` (raises KeyError when there is none)."""
        return self._origin[name]

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, tensor) pairs, each tensor read when it is reached (see :meth:`get`)."""
        for n in self._where:
            yield n, self.get(n)

    def close(self) -> None:
        """Releases the files; :meth:`names` is then empty. Tensors already read stay valid."""
        self._handles.clear()
        self._where.clear()
        self._origin.clear()

    def __enter__(self) -> "TensorSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_weights(
    path: str | os.PathLike, *, revision: str | None = None, cache_dir: str | os.PathLike | None = None
) -> TensorSource:
    """Opens a weight file or folder for reading, one tensor at a time: ``TensorSource(path)``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` file, a torch checkpoint, or a folder of either (see
        :class:`TensorSource`); an fsspec URL of a ``.safetensors`` file or folder
        (:mod:`netsieve.torch.remote`); or a Hugging Face id ``org/name``, read offline from the
        local cache (:mod:`netsieve.hub`; an existing path wins).
    revision, cache_dir : optional
        For a hub id: the branch, tag or commit (default ``"main"``) and the cache folder.

    Returns
    -------
    TensorSource
        Close it (or use it as a context manager) when done.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist and is not a hub id.
    ValueError
        A hub id or revision that is not in the cache (naming the folder searched).
    InvalidInputError
        Unreadable files, a folder without weight files, duplicate tensor names, no tensors.

    Examples
    --------
    >>> import pathlib, tempfile, torch, netsieve.torch as nt
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> nt.save_weights({"a": torch.zeros(2, 2)}, folder / "part1.safetensors")
    >>> nt.save_weights({"b": torch.zeros(3)}, folder / "part2.safetensors")
    >>> (folder / "notes.txt").write_text("hello")
    5
    >>> with nt.open_weights(folder) as source:
    ...     print(source.names(), [reason for _, reason in source.skipped_files])
    ['a', 'b'] ['not a weight file']
    """
    from ..hub import locate
    from .remote import UrlTensorSource, is_url

    if is_url(path):  # an fsspec URL (netsieve.torch.remote)
        if revision is not None or cache_dir is not None:
            raise InvalidInputError(f"{path} is a URL: revision= and cache_dir= apply only to hub ids")
        return UrlTensorSource(str(path))
    where, hub = locate(path, revision, cache_dir=cache_dir)
    return TensorSource(where, files=hub.files if hub is not None and where.is_dir() else None)


def save_weights(
    tensors: Mapping[str, torch.Tensor],
    path: str | os.PathLike,
    *,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Writes tensors atomically: ``.safetensors`` by suffix, otherwise ``torch.save``.

    The file is written to a temporary next to ``path`` and renamed into place, so a failure never
    leaves a partial file (:func:`netsieve._files.atomic_write`).

    Parameters
    ----------
    tensors : mapping of str to torch.Tensor
        For ``.safetensors`` each is written as a contiguous copy (safetensors refuses tensors that
        share memory); ``torch.save`` writes ``dict(tensors)`` as it is.
    path : str or os.PathLike
        The output file; an existing file is replaced.
    metadata : mapping of str to str, optional
        The safetensors header's metadata; not written by ``torch.save``.

    Returns
    -------
    None

    Raises
    ------
    OSError
        The file cannot be written (any failure of the writer, named with the file and its cause);
        the target is then as it was.
    FileNotFoundError
        The output folder does not exist.
    InvalidInputError
        ``path`` is a folder or another non-file.

    Examples
    --------
    >>> import pathlib, tempfile, torch, netsieve.torch as nt
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> nt.save_weights({"w": torch.eye(3)}, folder / "w.safetensors", metadata={"note": "identity"})
    >>> nt.save_weights({"w": torch.eye(3)}, folder / "w.pt")
    >>> sorted(p.name for p in folder.iterdir())
    ['w.pt', 'w.safetensors']
    """
    if Path(str(path)).suffix == ".safetensors":  # a path or an fsspec URL (atomic_write writes both)
        from safetensors.torch import save_file

        # safetensors wants contiguous tensors that share no storage.
        clean = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
        atomic_write(path, lambda tmp: save_file(clean, tmp, metadata=dict(metadata or {})))
    else:
        atomic_write(path, lambda tmp: torch.save(dict(tensors), tmp))
