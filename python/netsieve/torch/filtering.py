"""Filtering the weight matrices of torch models, state dicts and checkpoint files.

Which tensors are filtered, and how each becomes a matrix, follows :mod:`netsieve.torch._weights`:
``nn.Linear`` and other 2-D weights as stored (out × in); ``Conv1d/2d/3d`` reshaped to
out × (in/groups·∏kernel), or with ``conv_slices=True`` one out × in/groups matrix per kernel
position; ``nn.Embedding`` only with ``embeddings=True``; fused attention projections
(``in_proj_weight``) only with ``attention=True``, split into their query, key and value blocks.
Biases, norm parameters and other 1-D tensors are never touched, and matrices whose smaller side is
below ``min_dim`` (default ``netsieve.DEFAULTS["min_dim"]`` = 16) are skipped: with fewer singular
values the Marchenko–Pastur fit cannot tell a bulk from spikes.

The filter is :func:`netsieve.shrink_many`: one parallel call over every selected matrix (GIL
released, within a memory budget), each option checked by the core before any tensor is read.
Weights are written only when every one succeeded (``errors="collect"`` writes the successful ones
and lists the failures), through each tensor's own strides (channels_last, transposed and sliced
weights included), and every write is checked: if a tensor does not then hold its filtered matrix
(an expanded tensor, memory shared between tensors) the call raises and the model (or state dict)
is left exactly as it was. float16/bfloat16 weights are computed in float64 and cast back.

Filtering is per matrix, never per attention head (``per_head=True`` is refused): a projection
filtered head block by head block and reassembled is not the filtered projection (its singular
values are not the shrunk ones), and a head's block has too few singular values (head_dim) for a
reliable noise fit. :func:`netsieve.torch.analyze` and :func:`~netsieve.torch.compare` look per head.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

import netsieve as ns
from netsieve import DEFAULTS, InvalidInputError, ShrinkRecord

from ._weights import (
    Skipped,
    WeightMatrix,
    check_min_dim,
    check_writable,
    module_weight_matrices,
    state_dict_weight_matrices,
)
from .device_filter import shrink_matrices
from .filter_report import FilterReport, LayerFilter
from .sharded_filter import filter_folder, is_folder_output

__all__ = ["MIN_DIM", "FilterReport", "LayerFilter", "filter_model", "filter_state_dict", "filter_checkpoint"]

MIN_DIM: int = DEFAULTS["min_dim"]


@dataclass
class _Plan:
    """What filter_model and filter_state_dict share: the checked request, the selected matrices,
    and their filtered values (nothing is written yet)."""

    method: str
    options: dict[str, Any]  # shown in the report
    entries: list[WeightMatrix]
    skipped: list[Skipped]
    results: list[tuple[WeightMatrix, torch.Tensor, ShrinkRecord]]
    failed: list[tuple[str, str]]


def _check_request(method: str, sigma: Any, errors: str, options: Mapping[str, Any], device: Any = None) -> None:
    """Every option is checked by the core before any tensor is read: an empty batch validates."""
    if device is not None:
        from .device_route import check_device

        check_device(device)
    if "per_head" in options:
        raise InvalidInputError(
            "per_head= does not apply to filtering: the shrinkers act on the singular values of the whole "
            "projection, and blocks filtered head by head and put back together form a different matrix (its "
            "singular values are not the shrunk ones, each head's noise fit has only head_dim values); "
            "analyse per head (analyze/compare per_head=True), filter whole matrices"
        )
    ns.shrink_many([], method, sigma, errors=errors, **options)


def _drop_attention(entries: list[WeightMatrix], skipped: list[Skipped], attention: bool) -> list[WeightMatrix]:
    if attention:
        return entries
    kept, seen = [], set()
    for e in entries:
        if e.kind == "attention_in_proj":
            if e.tensor_name not in seen:
                skipped.append(Skipped(e.tensor_name, e.tensor_shape, "fused attention projection (pass attention=True to include it)"))
                seen.add(e.tensor_name)
        else:
            kept.append(e)
    return kept


def _plan(
    choose: Callable[..., tuple[list[WeightMatrix], list[Skipped]]],
    get: Callable[[str], torch.Tensor],
    layers: Any,
    method: str,
    sigma: Any,
    options: dict[str, Any],
    *,
    embeddings: bool,
    attention: bool,
    conv_slices: bool,
    min_dim: int,
    errors: str,
    device: Any = None,
) -> _Plan:
    _check_request(method, sigma, errors, options, device)
    min_dim = check_min_dim(min_dim)
    entries, skipped = choose(layers=layers, embeddings=bool(embeddings), conv_slices=bool(conv_slices), min_dim=min_dim)
    entries = _drop_attention(entries, skipped, attention)
    if layers is not None and not entries and not skipped:
        raise InvalidInputError(f"layers={layers!r} matches no tensor")
    matrices = {e.name: e.extract(get(e.tensor_name)).detach() for e in entries}
    out = shrink_matrices(matrices, method, sigma, errors=errors, device=device, **options) if matrices else {}
    results, failed = [], []
    for e in entries:
        filtered, record = out[e.name]
        if filtered is None:
            failed.append((e.name, f"{type(record).__name__}: {record}"))
        else:
            results.append((e, filtered, record))
    shown = {"layers": layers, "sigma": sigma, **options, "embeddings": bool(embeddings),
             "attention": bool(attention), "conv_slices": bool(conv_slices), "min_dim": min_dim}  # fmt: skip
    return _Plan(method, shown, entries, skipped, results, failed)


def _write(plan: _Plan, get: Callable[[str], torch.Tensor]) -> None:
    """Writes every filtered matrix back and verifies each; callers roll back when this raises."""
    for e, filtered, _ in plan.results:
        e.insert(get(e.tensor_name), filtered)
    for e, filtered, _ in plan.results:  # again at the end: a later write into shared memory may undo an earlier one
        e.verify(get(e.tensor_name), filtered)


def _apply(plan: _Plan, get: Callable[[str], torch.Tensor], backup: Mapping[str, torch.Tensor]) -> None:
    # Before any write, so that a tensor that cannot be written leaves everything untouched.
    for e, _, _ in plan.results:
        check_writable(get(e.tensor_name), e.tensor_name)
    try:
        _write(plan, get)
    except BaseException:
        with torch.no_grad():
            for n, t in backup.items():
                get(n).copy_(t)
        raise


def _report(plan: _Plan, get: Callable[[str], torch.Tensor]) -> FilterReport:
    layers = tuple(
        LayerFilter(e.name, e.tensor_name, e.layer_type, str(get(e.tensor_name).dtype).replace("torch.", ""), rec)
        for e, _, rec in plan.results
    )
    return FilterReport(plan.method, plan.options, layers, tuple(plan.skipped), tuple(plan.failed))


def filter_model(
    model: torch.nn.Module,
    method: str = DEFAULTS["method"],
    layers: str | Sequence[str] | None = None,
    inplace: bool = False,
    *,
    sigma: float | None = None,
    embeddings: bool = DEFAULTS["embeddings"],
    attention: bool = False,
    conv_slices: bool = False,
    min_dim: int = MIN_DIM,
    errors: str = DEFAULTS["errors"],
    device: str | None = None,
    **options: Any,
) -> tuple[torch.nn.Module, FilterReport]:
    """Filters the weight matrices of ``model`` with :func:`netsieve.shrink`'s ``method``.

    Parameters
    ----------
    model : torch.nn.Module
    method : str, default "operator"
        One of :data:`netsieve.SHRINK_METHODS`.
    layers : str or sequence of str, optional
        Tensor names or globs (``"fc1"``, ``"encoder.*"``; the ``.weight`` suffix is optional).
    inplace : bool, default False
        False: a filtered deep copy, the input is never touched; True: the input itself.
    sigma : float, optional
        Known noise level per entry (fitted per matrix when None).
    embeddings, attention, conv_slices : bool
        Which matrices are selected (module docs); ``embeddings`` defaults to
        ``DEFAULTS["embeddings"]`` (False).
    min_dim : int, default 16
        Skip matrices with a side below this.
    errors : {"raise", "collect"}, default "raise"
        ``"collect"``: layers that fail are left as they were and listed in ``report.failed``.
    device : str, optional
        ``"cuda"`` (or ``"cpu"``): the decompositions with ``torch.linalg`` on that device, the
        noise fit and shrunk values from the core (:mod:`netsieve.torch.device_filter`; equal to
        the default route to its documented tolerance). Default: the core's own route on the CPU.
    **options
        The method's options (``fraction=0.8``, ``sigma_method=``, ...; see
        :data:`netsieve.SHRINK_METHOD_OPTIONS`).

    Returns
    -------
    (torch.nn.Module, FilterReport)

    Raises
    ------
    InvalidInputError
        Bad options (before any weight is read), unreadable weights, a failing layer with
        ``errors="raise"``; the model is then exactly as it was.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    >>> filtered, report = nt.filter_model(net, "hard")
    >>> [layer.name for layer in report], [s.name for s in report.skipped if s.name.endswith("weight")]
    (['0.weight'], ['2.weight'])
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = dict(model.named_parameters())
    plan = _plan(
        lambda **kw: module_weight_matrices(model, **kw)[:2], params.__getitem__, layers, method, sigma, options,
        embeddings=embeddings, attention=attention, conv_slices=conv_slices, min_dim=min_dim, errors=errors, device=device,
    )  # fmt: skip
    target = model if inplace else copy.deepcopy(model)
    target_params = dict(target.named_parameters())
    touched = {e.tensor_name for e, _, _ in plan.results}
    backup = {n: target_params[n].detach().clone() for n in touched} if inplace else {}
    _apply(plan, target_params.__getitem__, backup)
    return target, _report(plan, target_params.__getitem__)


def filter_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    method: str = DEFAULTS["method"],
    layers: str | Sequence[str] | None = None,
    inplace: bool = False,
    *,
    sigma: float | None = None,
    embeddings: bool = DEFAULTS["embeddings"],
    attention: bool = False,
    conv_slices: bool = False,
    min_dim: int = MIN_DIM,
    errors: str = DEFAULTS["errors"],
    device: str | None = None,
    **options: Any,
) -> tuple[dict[str, torch.Tensor], FilterReport]:
    """Filters the weight matrices of a state dict (layer types inferred from names and shapes).

    Parameters
    ----------
    state_dict : mapping of str to torch.Tensor
    method, layers, sigma, embeddings, attention, conv_slices, min_dim, errors, device, **options
        As for :func:`filter_model`.
    inplace : bool, default False
        False: a new dict whose filtered entries are new tensors (the others are the input's
        tensors, untouched); True: the input's tensors are overwritten.

    Returns
    -------
    (dict, FilterReport)

    Raises
    ------
    InvalidInputError
        As for :func:`filter_model`; the state dict is then exactly as it was.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> sd = {"w": torch.randn(64, 32, generator=torch.Generator().manual_seed(0)), "b": torch.zeros(64)}
    >>> out, report = nt.filter_state_dict(sd, "operator")
    >>> report["w"].record.kept_rank, out["b"] is sd["b"]
    (0, True)
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    plan = _plan(
        lambda **kw: state_dict_weight_matrices(state_dict, **kw), state_dict.__getitem__, layers, method, sigma,
        options, embeddings=embeddings, attention=attention, conv_slices=conv_slices, min_dim=min_dim, errors=errors,
        device=device,
    )  # fmt: skip
    out = state_dict if inplace else dict(state_dict)
    touched = {e.tensor_name for e, _, _ in plan.results}
    backup: dict[str, torch.Tensor] = {}
    if inplace:
        backup = {n: state_dict[n].detach().clone() for n in touched}
    else:
        for n in touched:
            out[n] = state_dict[n].detach().clone()
    _apply(plan, out.__getitem__, backup)
    return out, _report(plan, out.__getitem__)  # type: ignore[arg-type]


_SELECTION = {"embeddings": DEFAULTS["embeddings"], "attention": False, "conv_slices": False, "min_dim": MIN_DIM, "errors": DEFAULTS["errors"]}


def filter_checkpoint(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    method: str = DEFAULTS["method"],
    layers: str | Sequence[str] | None = None,
    *,
    overwrite: bool = False,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    client: Any = None,
    device: str | None = None,
    **options: Any,
) -> FilterReport:
    """Filters a checkpoint file into another, or a folder of shards into another folder.

    Reads a ``.safetensors`` file (or folder of shards) or a torch checkpoint
    (``weights_only=True``), filters it like :func:`filter_state_dict` and writes all its tensors
    to ``destination`` atomically (temporary file + rename): ``.safetensors`` by suffix, otherwise
    ``torch.save``. A torch checkpoint written as a torch checkpoint keeps its other entries
    (epoch, optimizer state); only the state dict's tensors are replaced.

    A folder of ``.safetensors`` shards (a Hugging Face model folder) filtered to a ``destination``
    without a suffix (or an existing folder, with ``overwrite``) becomes a folder of the same
    shards, index and other files, read and written one shard at a time and renamed into place
    only when every tensor succeeded (:mod:`netsieve.torch.sharded_filter`).

    Parameters
    ----------
    source, destination : path
        ``source`` may also be a Hugging Face id ``org/name``, read offline from the local cache
        (:mod:`netsieve.hub`).
    method, layers
        As for :func:`filter_model`.
    overwrite : bool, default False
        Replace an existing output (or the input file itself); an input folder of shards is never
        written into.
    revision, cache_dir : optional
        For a hub id: the branch, tag or commit (default ``"main"``) and the cache folder.
    client : dask.distributed.Client, optional
        For a folder written as a folder: one task per tensor on this Dask cluster, each worker
        reading its tensor from its shard and writing the filtered one (:mod:`netsieve.torch.cluster`;
        the folders must be readable and writable by every worker). The output is the in-process one.
    device : str, optional
        As for :func:`filter_model`; with ``client`` each worker decomposes on its own device.
    **options
        ``sigma``, the selection options and ``errors`` of :func:`filter_state_dict`, and the
        method's options.

    Returns
    -------
    FilterReport
        Its ``skipped`` also lists the files of a folder that were not read.

    Raises
    ------
    InvalidInputError, FileNotFoundError, OSError
        Bad options or outputs (checked before the input is read), unreadable input, write
        failures; nothing is written when anything fails.

    Examples
    --------
    >>> import tempfile, pathlib, torch, netsieve.torch as nt
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> torch.save({"w": torch.randn(64, 32, generator=torch.Generator().manual_seed(1))}, folder / "in.pt")
    >>> report = nt.filter_checkpoint(folder / "in.pt", folder / "out.safetensors", "hard")
    >>> [layer.name for layer in report], (folder / "out.safetensors").exists()
    (['w'], True)
    """
    from .._files import atomic_write, check_outputs
    from ..hub import locate
    from .checkpoints import _unwrap_state_dict, load_checkpoint_object, replace_state_dict, save_weights

    from .._url_files import is_url, local_path_of

    url = is_url(source)  # an fsspec URL (netsieve.torch.remote): read through fsspec, written locally
    if url and (revision is not None or cache_dir is not None):
        raise InvalidInputError(f"{source} is a URL: revision= and cache_dir= apply only to hub ids")
    src, hub = (source, None) if url else locate(source, revision, cache_dir=cache_dir)  # a path, or a cached hub model
    dst = destination if is_url(destination) else Path(destination)  # an fsspec URL: written through fsspec
    if is_folder_output(src, dst):
        return _filter_folder(src, dst, hub, method, layers, overwrite, client, dict(options, device=device))
    if client is not None:
        raise InvalidInputError("client= filters a folder of .safetensors shards into a folder (a destination without a suffix)")
    # A cached hub model is never written: its snapshot folder counts as an input folder, and the
    # output may not be the input even with overwrite (it would change a blob of the cache).
    if url:
        local = [p] if (p := local_path_of(src)) else []
    else:
        local = [src] if hub is None else [src, hub.snapshot]
    check_outputs([("output", dst)], local, overwrite=overwrite, in_place=("output",) if hub is None else ())
    method_options = {k: v for k, v in options.items() if k not in _SELECTION and k != "sigma"}
    _check_request(method, options.get("sigma"), options.get("errors", DEFAULTS["errors"]), method_options, device)
    check_min_dim(options.get("min_dim", MIN_DIM))  # before reading a possibly large file
    if not url and src.is_file() and src.suffix != ".safetensors" and Path(str(dst)).suffix != ".safetensors":
        obj, path = load_checkpoint_object(src)
        tensors = _unwrap_state_dict(obj)
        filtered, report = filter_state_dict(tensors, method, layers, device=device, **options)
        whole = replace_state_dict(obj, path, filtered)
        atomic_write(dst, lambda tmp: torch.save(whole, tmp))
        return dataclasses.replace(report, inputs=(str(src),))
    with _open(src, hub) as weights:
        tensors = {name: weights.get(name) for name in weights.names()}
        not_read = weights.skipped
    # Not in place: tensors of a torch checkpoint may be memory-mapped views of the input file.
    filtered, report = filter_state_dict(tensors, method, layers, device=device, **options)
    save_weights(filtered, dst, metadata={"netsieve_filter": method})
    return dataclasses.replace(report, skipped=tuple(not_read) + report.skipped, inputs=(str(src),))


def _open(src: Path | str, hub: Any) -> Any:
    """The TensorSource of a local input (a cached hub model's files) or of an fsspec URL."""
    from .checkpoints import TensorSource, open_weights

    if isinstance(src, str):  # a URL
        return open_weights(src)
    return TensorSource(src, files=hub.files if hub is not None and src.is_dir() else None)


def _filter_folder(src: Path | str, dst: Path, hub: Any, method: str, layers: Any, overwrite: bool, client: Any,
                   options: dict[str, Any]) -> FilterReport:  # fmt: skip
    device = options.pop("device", None)
    selection = {k: options.get(k, v) for k, v in _SELECTION.items()}
    method_options = {k: v for k, v in options.items() if k not in _SELECTION and k != "sigma"}
    _check_request(method, options.get("sigma"), selection["errors"], method_options, device)
    check_min_dim(selection["min_dim"])
    with _open(src, hub) as weights:
        return filter_folder(weights, dst, method, layers, options.get("sigma"), method_options, overwrite=overwrite,
                             client=client, device=device, **selection)  # fmt: skip
