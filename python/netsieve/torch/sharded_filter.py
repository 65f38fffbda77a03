"""Filtering a folder of ``.safetensors`` shards (a Hugging Face model folder) into a new folder of
the same layout: every shard rewritten under its own name with its tensors in their order and dtype
(the weight matrices filtered, everything else copied), ``model.safetensors.index.json`` rewritten
last, and the folder's other files (``config.json``, tokenizer files) copied.

The output is built in a temporary folder next to OUT and renamed to OUT only when every tensor has
succeeded, so nothing appears at OUT before that and a failure leaves no partial output (the
temporary folder is removed); the input folder is only read. With ``client=`` (a Dask
``distributed.Client``) the work is one task per tensor, each worker reading its tensor from its
shard and writing its filtered tensor to a part file of the temporary folder, then one task per
shard assembling the shard from its parts; in process the same per-tensor function runs shard by
shard. Both give the same bytes (tested).

OUT may be an fsspec URL (``s3://bucket/model-filtered``, ``memory://…``). Object stores have no
atomic rename, so there the folder is built under a staging prefix beside OUT (nothing appears at
OUT until every tensor has succeeded; a failure deletes the staging prefix), then copied to OUT with
the index last (:mod:`netsieve._url_files` says what that step does and does not promise). Each
shard is assembled in memory and written as one object.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from netsieve import InvalidInputError
from netsieve._url_files import (check_url_output, filesystem, is_url, join, local_path_of, publish, remove_tree, staging_for,
                                 write_url)  # fmt: skip

from ._weights import WeightMatrix, select_weight_matrices
from .device_filter import shrink_matrices
from .filter_report import FilterReport, LayerFilter
from .hf_layout import INDEX_FILE

__all__ = ["filter_folder", "is_folder_output"]


def is_folder_output(source: Path | str, destination: Path | str) -> bool:
    """A folder of ``.safetensors`` shards (a path or an fsspec URL) filtered to a name without a
    suffix (or an existing folder; either a path or an fsspec URL) is written as a folder of shards."""
    from .remote import is_folder

    source_is_folder = is_folder(source) if is_url(source) else Path(source).is_dir()
    if not source_is_folder:
        return False
    if is_url(destination):
        name = destination.rstrip("/").rsplit("/", 1)[-1]
        return Path(name).suffix == "" or is_folder(destination)
    destination = Path(destination)
    return destination.is_dir() or destination.suffix == ""


def _check_destination(src: Path | str, dst: Path, overwrite: bool) -> None:
    local = local_path_of(src) if is_url(src) else src  # an input at a remote URL cannot overlap a local folder
    real_dst = Path(os.path.realpath(dst))
    real_src = Path(os.path.realpath(local)) if local is not None else None
    if real_src is not None and (real_dst == real_src or real_src in real_dst.parents or real_dst in real_src.parents):
        raise InvalidInputError(f"output folder {dst} overlaps the input folder {src}; write it elsewhere")
    if dst.exists() and not dst.is_dir():
        raise InvalidInputError(f"output {dst} exists and is not a folder")
    if dst.exists() and not overwrite:
        raise InvalidInputError(f"output folder {dst} exists; pass overwrite=True (--overwrite) to replace it")
    parent = real_dst.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"output folder's parent does not exist: {dst.parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder's parent {dst.parent} is not writable")


def filter_tensor(tensor: torch.Tensor, entries: list[WeightMatrix], method: str, sigma: Any, options: Mapping[str, Any],
                  errors: str, device: Any = None) -> tuple[torch.Tensor, list[tuple[str, Any]], list[tuple[str, str]]]:  # fmt: skip
    """One tensor's filtered copy, its (matrix name, ShrinkRecord) pairs and its failed matrices
    (decomposed on the torch ``device`` when given: :mod:`netsieve.torch.device_filter`)."""
    matrices = {e.name: e.extract(tensor).detach() for e in entries}
    out = shrink_matrices(matrices, method, sigma, errors=errors, device=device, **options)
    new = tensor.detach().clone()
    records, failed = [], []
    for e in entries:
        filtered, record = out[e.name]
        if filtered is None:
            failed.append((e.name, f"{type(record).__name__}: {record}"))
        else:
            e.insert(new, filtered)
            records.append((e.name, record))
    return new, records, failed


def _read(file: str, name: str) -> torch.Tensor:
    from .remote import read_tensor

    try:
        return read_tensor(file, name)
    except Exception as exc:
        raise InvalidInputError(f"cannot read tensor {name!r} from {file}: {exc}") from exc


def _shard_metadata(file: str, method: str) -> dict[str, str]:
    from .remote import read_metadata

    meta = read_metadata(file)
    meta["netsieve_filter"] = method
    return meta


def _tensor_task(file: str, name: str, entries: list, method: str, sigma: Any, options: dict, errors: str, part: str,
                 device: str | None = None) -> tuple:  # fmt: skip
    """On a worker: filters one tensor and writes it to ``part`` (a one-tensor safetensors file)."""
    new, records, failed = filter_tensor(_read(file, name), entries, method, sigma, options, errors, device)
    _save({name: new.contiguous()}, part)
    return records, failed


def _shard_task(src_file: str, dst_file: str, names: list[str], parts: dict[str, str], method: str) -> int:
    """On a worker: writes one output shard, its filtered tensors from their parts, the others copied."""
    tensors = {n: (_read(parts[n], n) if n in parts else _read(src_file, n)) for n in names}
    _save(tensors, dst_file, _shard_metadata(src_file, method))
    for p in parts.values():
        if is_url(p):
            fs, path = filesystem(p)
            fs.rm_file(path)
        else:
            os.unlink(p)
    return len(names)


def _save(tensors: dict[str, torch.Tensor], location: str, metadata: dict[str, str] | None = None) -> None:
    """A safetensors file at a local path, or one object at an fsspec URL."""
    if is_url(location):
        from safetensors.torch import save

        write_url(location, save(tensors, metadata=metadata))
    else:
        from safetensors.torch import save_file

        save_file(tensors, location, metadata=metadata)


def filter_folder(src: Any, dst: Path, method: str, layers: Any, sigma: Any, method_options: dict, *, embeddings: bool,
                  attention: bool, conv_slices: bool, min_dim: int, errors: str, overwrite: bool,
                  client: Any = None, device: Any = None) -> FilterReport:  # fmt: skip
    """Filters the open :class:`TensorSource` ``src`` (a folder of ``.safetensors`` shards) into the
    folder ``dst`` (module docs). Options as for :func:`netsieve.torch.filter_checkpoint`."""
    from .filtering import _drop_attention

    folder = src.path
    remote_out = is_url(dst) and local_path_of(str(dst)) is None
    if remote_out:
        check_url_output("output folder", str(dst), [folder], overwrite=overwrite, folder=True)
    else:
        dst = Path(local_path_of(str(dst)) if is_url(dst) else dst)
        _check_destination(folder, dst, overwrite)
    names = src.names()
    shard_of = {n: src.file_of(n) for n in names}
    not_safetensors = sorted({str(f) for f in shard_of.values() if Path(str(f)).suffix != ".safetensors"})
    if not_safetensors:
        raise InvalidInputError(f"a folder output needs .safetensors shards; {not_safetensors[0]} is not one")
    select = dict(layers=layers, embeddings=bool(embeddings), conv_slices=bool(conv_slices), min_dim=min_dim)
    chosen, skipped = select_weight_matrices(((n, src.shape(n)) for n in names), heads=src.layout.heads, **select)
    chosen = _drop_attention(chosen, skipped, attention)
    if layers is not None and not chosen and not skipped:
        raise InvalidInputError(f"layers={layers!r} matches no tensor")
    by_tensor: dict[str, list[WeightMatrix]] = {}
    for e in chosen:
        by_tensor.setdefault(e.tensor_name, []).append(e)
    shards: dict[Any, list[str]] = {}  # input shard (a path or URL) → its tensor names
    for n in names:
        shards.setdefault(shard_of[n], []).append(n)
    dtypes = {n: _stored_dtype(src, n) for n in by_tensor}
    if remote_out:
        tmp = staging_for(str(dst))
    else:
        tmp = tempfile.mkdtemp(prefix=f".{dst.name[:80]}.netsieve-", dir=Path(os.path.realpath(dst)).parent)
    try:
        if client is None:
            results = _run_in_process(src, tmp, shards, by_tensor, method, sigma, method_options, errors, device)
        else:
            from .cluster import filter_on_cluster

            results = filter_on_cluster(client, tmp, shards, by_tensor, method, sigma, method_options, errors,
                                        _tensor_task, _shard_task, None if device is None else str(device))  # fmt: skip
        has_index = _finish_folder(folder, tmp, src)
        if not remote_out:
            _replace(Path(tmp), dst)
    except BaseException:
        remove_tree(tmp) if remote_out else shutil.rmtree(tmp, ignore_errors=True)
        raise
    if remote_out:  # keeps the staging prefix when it fails (named in the error)
        publish(tmp, str(dst), INDEX_FILE if has_index else None)
    layers_done, failed = [], []
    for e in chosen:  # in the input's order
        records, fails = results[e.tensor_name]
        record = dict(records).get(e.name)
        if record is not None:
            layers_done.append(LayerFilter(e.name, e.tensor_name, e.layer_type, dtypes[e.tensor_name], record))
    for n in by_tensor:
        failed += results[n][1]
    shown = {"layers": layers, "sigma": sigma, **method_options, "embeddings": bool(embeddings),
             "attention": bool(attention), "conv_slices": bool(conv_slices), "min_dim": min_dim}  # fmt: skip
    return FilterReport(method, shown, tuple(layers_done), tuple(list(src.skipped) + list(skipped)), tuple(failed),
                        inputs=(str(folder),))  # fmt: skip


def _stored_dtype(src: Any, name: str) -> str:
    """The dtype of a tensor as its safetensors header says it (without reading its values)."""
    from safetensors import safe_open

    from .remote import SAFETENSORS_DTYPES

    if hasattr(src, "stored_dtype"):  # at an fsspec URL: from the header already read
        code = src.stored_dtype(name)
    else:
        with safe_open(str(src.file_of(name)), framework="pt", device="cpu") as handle:
            code = handle.get_slice(name).get_dtype()
    return SAFETENSORS_DTYPES.get(code, code.lower())


def _run_in_process(src: Any, tmp: str, shards: dict, by_tensor: dict, method: str, sigma: Any, options: dict,
                    errors: str, device: Any = None) -> dict[str, tuple]:  # fmt: skip
    results: dict[str, tuple] = {}
    for shard, names in shards.items():
        tensors: dict[str, torch.Tensor] = {}
        for n in names:
            tensor = src.get(n)
            if n in by_tensor:
                tensor, records, failed = filter_tensor(tensor, by_tensor[n], method, sigma, options, errors, device)
                results[n] = (records, failed)
            tensors[n] = tensor.contiguous()
        _save(tensors, join(tmp, Path(str(shard)).name), _shard_metadata(str(shard), method))
        del tensors
    return results


def _folder_files(folder: Path | str, src: Any) -> dict[str, Path | Callable[[], bytes]]:
    """Name → its path, or a function returning its bytes (at a URL), of each file directly in the input folder."""
    if hasattr(src, "folder_files"):  # at an fsspec URL
        return dict(src.folder_files())
    return {p.name: p for p in Path(folder).iterdir() if p.is_file()}


def _read_bytes(item: Path | Callable[[], bytes]) -> bytes:
    return item.read_bytes() if isinstance(item, Path) else item()


def _finish_folder(folder: Path | str, tmp: str, src: Any) -> bool:
    """Copies the folder's other files, then writes the index (last, when the input has one);
    returns whether it did."""
    weights = {Path(str(src.file_of(n))).name for n in src.names()}
    files = _folder_files(folder, src)
    for name in sorted(files):  # config.json, tokenizer files; not sub-folders, not other weights
        if name in weights or name == INDEX_FILE or name.endswith(".safetensors"):
            continue
        item = files[name]
        if not is_url(tmp) and isinstance(item, Path):
            shutil.copyfile(item, join(tmp, name))
        else:
            _write(join(tmp, name), _read_bytes(item))
    if INDEX_FILE in files:
        index = json.loads(_read_bytes(files[INDEX_FILE]).decode("utf-8"))
        meta = dict(index.get("metadata") or {})
        if "total_size" in meta:
            meta["total_size"] = sum(_size(join(tmp, s)) for s in dict.fromkeys(index["weight_map"].values()))
        index["metadata"] = meta
        _write(join(tmp, INDEX_FILE), (json.dumps(index, indent=2) + "\n").encode("utf-8"))
    if not is_url(tmp):
        for p in Path(tmp).iterdir():  # every byte on disk before the folder is renamed into place
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    return INDEX_FILE in files


def _write(location: str, data: bytes) -> None:
    write_url(location, data) if is_url(location) else Path(location).write_bytes(data)


def _size(location: str) -> int:
    if is_url(location):
        fs, path = filesystem(location)
        return int(fs.size(path))
    return os.path.getsize(location)


def _replace(tmp: Path, dst: Path) -> None:
    """Renames the finished folder to ``dst``; an existing ``dst`` (overwrite) is moved aside first
    and removed only after the new folder is in place."""
    os.chmod(tmp, 0o777 & ~_umask())
    if not dst.exists():
        os.rename(tmp, dst)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{dst.name[:80]}.old-", dir=Path(os.path.realpath(dst)).parent))
    os.rmdir(aside)
    os.rename(dst, aside)
    try:
        os.rename(tmp, dst)
    except BaseException:
        os.rename(aside, dst)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _umask() -> int:
    from .._files import _umask as read

    return read()
