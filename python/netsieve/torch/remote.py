"""Checkpoints at fsspec URLs (``s3://bucket/model``, ``gs://…``, ``file:///data/model``,
``memory://…``): a ``.safetensors`` file, or a model folder of ``.safetensors`` shards with its
``config.json`` and index, read without copying the checkpoint: the folder's JSON files and each
shard's header when it is opened, then only the bytes of each tensor when it is asked for.

Anything that takes a checkpoint path takes such a URL: :func:`netsieve.torch.analyze` (also with
``client=``, whose workers read the shards at their URLs), :func:`netsieve.torch.compare` and
:func:`netsieve.torch.filter_checkpoint` (outputs may be URLs too: :mod:`netsieve._url_files`).
A URL is a string holding ``://``; a missing bucket or object is a FileNotFoundError naming the URL,
an unreachable endpoint an OSError ``cannot reach URL``. Torch checkpoints (pickles) are read from local paths only. Needs ``fsspec`` (and the file
system's own package, e.g. ``s3fs``); nothing else in netsieve imports it.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import torch

from netsieve import InvalidInputError
from netsieve._url_files import call, check_bucket, filesystem, is_url

from .checkpoints import TensorSource
from .hf_layout import CONFIG_FILE, INDEX_FILE, layout_of

__all__ = ["is_url", "UrlTensorSource", "read_tensor", "read_metadata", "is_folder", "SAFETENSORS_DTYPES"]

SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                      "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}  # fmt: skip
_MAX_HEADER = 100 * 2**20  # safetensors' own limit on the header's JSON


def _header(fh: Any, where: str) -> tuple[dict, dict, int]:
    """(tensor name → header entry, metadata, offset of the data) of an open safetensors file."""
    try:
        head = fh.read(8)
        if len(head) != 8:
            raise ValueError("shorter than its 8-byte header size")
        size = struct.unpack("<Q", head)[0]
        if size > _MAX_HEADER:
            raise ValueError(f"header size {size} is not plausible")
        header = json.loads(fh.read(size))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        meta = header.pop("__metadata__", None) or {}
        for name, info in header.items():
            if not isinstance(info, dict) or info.get("dtype") not in SAFETENSORS_DTYPES or len(info.get("data_offsets", ())) != 2:
                raise ValueError(f"tensor {name!r} has no valid dtype and data_offsets")
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise InvalidInputError(f"cannot read {where} as safetensors: {exc}") from exc
    return header, meta, 8 + size


def _tensor(fh: Any, info: dict, start: int, name: str, where: str) -> torch.Tensor:
    """The tensor of header entry ``info`` from an open file whose data begins at ``start``."""
    begin, end = info["data_offsets"]
    fh.seek(start + begin)
    data = bytearray(fh.read(end - begin))
    if len(data) != end - begin:
        raise InvalidInputError(f"cannot read tensor {name!r} from {where}: the file is truncated")
    dtype = getattr(torch, SAFETENSORS_DTYPES[info["dtype"]])
    flat = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
    return flat.reshape(info["shape"])


def read_tensor(location: str, name: str) -> torch.Tensor:
    """Tensor ``name`` of the safetensors file at ``location``: a path (memory-mapped), or an fsspec
    URL, of which only the header and the tensor's bytes are read."""
    if not is_url(location):
        from safetensors import safe_open

        with safe_open(location, framework="pt", device="cpu") as handle:
            return handle.get_tensor(name)
    fs, path = filesystem(location)
    with fs.open(path, "rb") as fh:
        header, _, start = _header(fh, location)
        if name not in header:
            raise InvalidInputError(f"{location} holds no tensor {name!r}")
        return _tensor(fh, header[name], start, name, location)


class UrlTensorSource(TensorSource):
    """A :class:`TensorSource` of a ``.safetensors`` file or model folder at an fsspec URL (module
    docs): the same methods, :meth:`file_of` giving the URL of a tensor's shard.

    Examples
    --------
    >>> import fsspec, torch, netsieve.torch as nt
    >>> from safetensors.torch import save
    >>> with fsspec.open("memory://doc/w.safetensors", "wb") as fh:
    ...     _ = fh.write(save({"fc.weight": torch.ones(4, 3)}))
    >>> with nt.open_weights("memory://doc/w.safetensors") as source:
    ...     print(source.names(), source.shape("fc.weight"), source.get("fc.weight").sum().item())
    ['fc.weight'] (4, 3) 12.0
    """

    def __init__(self, url: str) -> None:  # noqa: super().__init__ reads local files
        self.path = url[:-1] if url.endswith("/") and not url.endswith("://") else url
        self._only = None
        self._handles: list = []
        self._where: dict[str, Any] = {}  # name → (file system path, data offset, header entry)
        self._origin: dict[str, Any] = {}  # name → the URL of its file
        self.skipped_files: list[tuple[Any, str]] = []
        self._fs, root = filesystem(url)
        from .hf_layout import Layout

        self.layout = Layout()
        check_bucket(self._fs, root, url)
        if not call(url, lambda: self._fs.exists(root)):
            raise FileNotFoundError(f"no such file or folder: {url}")
        if call(url, lambda: self._fs.isdir(root)):
            self._open_folder_at(root.rstrip("/"))
        elif root.endswith(".safetensors"):
            self._open_file(root, self.path)
        else:
            raise InvalidInputError(f"{url}: only .safetensors files and folders of them are read from URLs "
                                    "(torch checkpoints from local paths)")  # fmt: skip
        if not self._where:
            raise InvalidInputError(f"{url} contains no tensors")

    def _open_folder_at(self, root: str) -> None:
        entries = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self._fs.ls(root, detail=False))
        url_of = lambda name: f"{self.path}/{name}"  # noqa: E731

        def read(name: str) -> str | None:
            if name not in entries:
                return None
            try:
                return self._fs.cat_file(f"{root}/{name}").decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidInputError(f"cannot read {url_of(name)}: {exc}") from exc

        self.layout = layout_of(self.path, read, lambda name: name in entries and self._fs.isfile(f"{root}/{name}"))
        shards = self.layout.shards or [n for n in entries if n.endswith(".safetensors") and self._fs.isfile(f"{root}/{n}")]
        if not shards:
            raise InvalidInputError(f"{self.path} holds no .safetensors files (at a URL only .safetensors shards are read)")
        for name in entries:
            if name in shards:
                continue
            reason = {INDEX_FILE: "shard index (the shards it names are read)", CONFIG_FILE: "model config (read for the layout)"}
            self.skipped_files.append((url_of(name), reason.get(name, "not one of the model's .safetensors files")))
        for name in shards:
            self._open_file(f"{root}/{name}", url_of(name))
        self.layout.check_index(self._origin)

    def _open_file(self, path: str, url: str) -> None:
        try:
            with call(url, lambda: self._fs.open(path, "rb")) as fh:
                header, _, start = _header(fh, url)
        except (OSError, FileNotFoundError) as exc:
            raise InvalidInputError(f"cannot read {url}: {exc}") from exc
        self._add({n: (path, start, info) for n, info in header.items()}, url, None)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of tensor ``name`` (from its shard's header; KeyError when there is none)."""
        return tuple(int(v) for v in self._where[name][2]["shape"])

    def get(self, name: str) -> torch.Tensor:
        """Tensor ``name``, its bytes read now (KeyError when there is none; InvalidInputError when
        they cannot be read)."""
        path, start, info = self._where[name]
        try:
            with call(self._origin[name], lambda: self._fs.open(path, "rb")) as fh:
                return _tensor(fh, info, start, name, self._origin[name])
        except OSError as exc:
            raise InvalidInputError(f"cannot read tensor {name!r} from {self._origin[name]}: {exc}") from exc

    def file_of(self, name: str) -> Any:
        """The URL of the shard holding tensor ``name`` (a string)."""
        return self._origin[name]

    def stored_dtype(self, name: str) -> str:
        """The safetensors dtype code of tensor ``name`` ("BF16", "F32", …)."""
        return str(self._where[name][2]["dtype"])

    def folder_files(self) -> dict[str, Any]:
        """For a folder: name → a function returning the bytes, of each file directly in it."""
        if self.layout.folder is None:
            return {}
        _, root = filesystem(self.path)
        listed = [p for p in self._fs.ls(root, detail=True) if p.get("type") == "file"]
        return {p["name"].rstrip("/").rsplit("/", 1)[-1]: (lambda path=p["name"]: self._fs.cat_file(path)) for p in listed}


def read_metadata(location: str) -> dict[str, str]:
    """The ``__metadata__`` of the safetensors file at ``location`` (a path or an fsspec URL)."""
    if not is_url(location):
        from safetensors import safe_open

        with safe_open(location, framework="pt", device="cpu") as handle:
            return dict(handle.metadata() or {})
    fs, path = filesystem(location)
    with fs.open(path, "rb") as fh:
        return dict(_header(fh, location)[1])


def is_folder(location: str) -> bool:
    """Whether the fsspec URL ``location`` is a folder."""
    fs, path = filesystem(location)
    return bool(fs.isdir(path))

