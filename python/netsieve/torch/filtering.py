"""Filtering the weight matrices of torch models, state dicts and checkpoint files.

Which tensors are filtered, and how each becomes a matrix, follows :mod:`netsieve.torch._weights`:
``nn.Linear`` and other 2-D weights as stored (out × in); ``Conv1d/2d/3d`` reshaped to
out × (in/groups·∏kernel), or with ``conv_slices=True`` one out × in/groups matrix per kernel
position; ``nn.Embedding`` only with ``embeddings=True``; fused attention projections
(``in_proj_weight``) only with ``attention=True``, split into their query, key and value blocks.
Biases, norm parameters and other 1-D tensors are never touched, and matrices whose smaller side is
below ``min_dim`` (default :data:`MIN_DIM` = 16) are skipped: with fewer singular values the
Marchenko–Pastur fit cannot tell a bulk from spikes.

All matrices are filtered first, in parallel (one Rust task per matrix, GIL released); weights are
written only when every one succeeded, through each tensor's own strides (channels_last, transposed
and sliced weights included), and every write is checked: if a tensor does not then hold its filtered
matrix (an expanded tensor, memory shared between tensors) the call raises and the model (or state
dict) is left exactly as it was. float16/bfloat16 weights are computed in float64 and cast back to their dtype.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from .._netsieve import InvalidInputError
from ..shrink import METHODS, ShrinkRecord, _check_method, _core_options
from .. import _netsieve as _core
from ._weights import Skipped, WeightMatrix, check_writable, module_weight_matrices, state_dict_weight_matrices

__all__ = ["MIN_DIM", "FilterReport", "LayerFilter", "filter_model", "filter_state_dict", "filter_checkpoint"]

MIN_DIM = 16


@dataclass(frozen=True)
class LayerFilter:
    """One filtered matrix: where it came from and what the filter did to it."""

    name: str
    tensor_name: str
    layer_type: str
    dtype: str
    record: ShrinkRecord = field(repr=False)

    def to_dict(self, spectra: bool = False) -> dict[str, Any]:
        return {"name": self.name, "tensor": self.tensor_name, "layer_type": self.layer_type, "dtype": self.dtype, **self.record.to_dict(spectra=spectra)}


@dataclass(frozen=True)
class FilterReport:
    """One row per filtered matrix, plus the tensors that were skipped and why."""

    method: str
    options: Mapping[str, Any]
    layers: tuple[LayerFilter, ...]
    skipped: tuple[Skipped, ...]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, name: str) -> LayerFilter:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def to_dict(self, spectra: bool = False) -> dict[str, Any]:
        return {
            "method": self.method,
            "options": dict(self.options),
            "layers": [layer.to_dict(spectra=spectra) for layer in self.layers],
            "skipped": [s.to_dict() for s in self.skipped],
        }

    def to_dataframe(self):
        """The per-layer table as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is a test dependency
            raise ImportError("to_dataframe needs pandas (pip install pandas)") from exc
        rows = [layer.to_dict() for layer in self.layers]
        return pd.DataFrame(rows).set_index("name") if rows else pd.DataFrame()

    def __str__(self) -> str:
        head = f"{'layer':<40} {'shape':>13} {'σ':>10} {'spikes':>6} {'kept':>5} {'energy':>7} {'Δ‖W‖':>7}"
        lines = [f"netsieve filter, method={self.method!r}", head, "-" * len(head)]
        for layer in self.layers:
            r = layer.record
            sigma = "-" if r.sigma is None else f"{r.sigma:.4g}"
            spikes = "-" if r.n_spikes is None else str(r.n_spikes)
            shape = f"{r.shape[0]}×{r.shape[1]}"
            lines.append(
                f"{layer.name[:40]:<40} {shape:>13} {sigma:>10} {spikes:>6} {r.kept_rank:>5} {r.kept_energy:>7.3f} {r.relative_change:>7.3f}"
            )
        if self.skipped:
            tensors = [s for s in self.skipped if s.kind != "file"]
            files = [s for s in self.skipped if s.kind == "file"]
            if tensors:
                lines.append(f"skipped {len(tensors)}: " + ", ".join(f"{s.name} ({s.reason})" for s in tensors))
            if files:  # their tensors are not in the output either
                lines.append(f"files not read ({len(files)}): " + "; ".join(f"{s.name} ({s.reason})" for s in files))
        return "\n".join(lines)


def _selection_options(embeddings: bool, attention: bool, conv_slices: bool, min_dim: int) -> dict[str, Any]:
    if isinstance(min_dim, bool) or not isinstance(min_dim, int) or min_dim < 2:
        raise InvalidInputError(f"min_dim must be an integer ≥ 2, got {min_dim!r}")
    return {"embeddings": bool(embeddings), "conv_slices": bool(conv_slices), "min_dim": min_dim, "_attention": bool(attention)}


def _select(entries: list[WeightMatrix], skipped: list[Skipped], attention: bool) -> tuple[list[WeightMatrix], list[Skipped]]:
    if attention:
        return entries, skipped
    kept, seen = [], set()
    for e in entries:
        if e.kind == "attention_in_proj":
            if e.tensor_name not in seen:
                skipped.append(Skipped(e.tensor_name, e.tensor_shape, "fused attention projection (pass attention=True to include it)"))
                seen.add(e.tensor_name)
        else:
            kept.append(e)
    return kept, skipped


def _as_compute_array(matrix: torch.Tensor, name: str) -> np.ndarray:
    if matrix.is_meta:
        raise InvalidInputError(f"{name}: the tensor is on the meta device and holds no values; load the weights first")
    if matrix.is_complex() or not matrix.is_floating_point():
        raise TypeError(f"{name}: weights must be floating point, got {matrix.dtype}")
    t = matrix.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)  # exact for float16/bfloat16; the kernel computes in float64
    return t.numpy()


def _filter_entries(
    entries: Sequence[WeightMatrix], get, method: str, core_options: Mapping[str, Any]
) -> list[tuple[WeightMatrix, np.ndarray, ShrinkRecord]]:
    """Filters every entry in one parallel call; raises (naming the matrix) if any fails."""
    arrays = [_as_compute_array(e.extract(get(e.tensor_name)), e.name) for e in entries]
    if not arrays:
        return []
    raw = _core.shrink_matrices(arrays, method, **core_options)
    out = []
    for e, r in zip(entries, raw):
        if isinstance(r, BaseException):
            raise type(r)(f"layer {e.name!r}: {r}")
        arr, rec = r
        out.append((e, arr, ShrinkRecord._from_core(rec)))
    return out


def _check_targets(results, get) -> None:
    """Before any write, so that a tensor that cannot be written leaves everything untouched."""
    for e, _, _ in results:
        check_writable(get(e.tensor_name), e.tensor_name)


def _write(results, get) -> None:
    """Writes every filtered matrix back and verifies each; callers roll back when this raises."""
    for e, arr, _ in results:
        e.insert(get(e.tensor_name), torch.from_numpy(arr))
    for e, arr, _ in results:  # again at the end: a later write into shared memory may undo an earlier one
        e.verify(get(e.tensor_name), torch.from_numpy(arr))


def _report(method, options, results, skipped, get) -> FilterReport:
    layers = tuple(
        LayerFilter(e.name, e.tensor_name, e.layer_type, str(get(e.tensor_name).dtype).replace("torch.", ""), rec)
        for e, _, rec in results
    )
    shown = {k: v for k, v in options.items() if not k.startswith("_")}
    return FilterReport(method, shown, layers, tuple(skipped))


def _prepare(method: str, sigma: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    method = _check_method(method)
    return method, _core_options(method, sigma, options)


def _filter_selected(choose, get, layers, method, sigma, options, embeddings, attention, conv_slices, min_dim):
    """The shared front half of filter_model / filter_state_dict: check the method and options, select
    the matrices (``choose(**selection) -> (entries, skipped)``) and filter them; nothing is written."""
    method, core_options = _prepare(method, sigma, options)
    sel = _selection_options(embeddings, attention, conv_slices, min_dim)
    entries, skipped = choose(layers=layers, embeddings=sel["embeddings"], conv_slices=sel["conv_slices"], min_dim=min_dim)
    entries, skipped = _select(entries, skipped, attention)
    _check_layers_matched(layers, entries, skipped)
    return method, sel, skipped, _filter_entries(entries, get, method, core_options)


def filter_model(
    model: torch.nn.Module,
    method: str = "operator",
    layers: str | Sequence[str] | None = None,
    inplace: bool = False,
    *,
    sigma: float | None = None,
    embeddings: bool = False,
    attention: bool = False,
    conv_slices: bool = False,
    min_dim: int = MIN_DIM,
    **options: Any,
) -> tuple[torch.nn.Module, FilterReport]:
    """Filters the weight matrices of ``model`` with :func:`netsieve.shrink`'s ``method``.

    Returns (model, report): with ``inplace=False`` (default) a filtered deep copy and the input is
    never touched; with ``inplace=True`` the input itself. ``layers`` selects tensors by name or glob
    (``"fc1"``, ``"encoder.*"``; the ``.weight`` suffix is optional). ``options`` go to the method
    (e.g. ``fraction=0.8``). Atomic: if any matrix fails, the model is exactly as before.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    method, sel, skipped, results = _filter_selected(
        lambda **kw: module_weight_matrices(model, **kw)[:2], dict(model.named_parameters()).__getitem__,
        layers, method, sigma, options, embeddings, attention, conv_slices, min_dim,
    )
    target = model if inplace else copy.deepcopy(model)
    target_params = dict(target.named_parameters())
    touched = {e.tensor_name for e, _, _ in results}
    _check_targets(results, target_params.__getitem__)
    backup = {n: target_params[n].detach().clone() for n in touched} if inplace else {}
    try:
        _write(results, target_params.__getitem__)
    except BaseException:
        with torch.no_grad():
            for n, t in backup.items():
                target_params[n].copy_(t)
        raise
    report = _report(method, {"layers": layers, "sigma": sigma, **options, **sel}, results, skipped, target_params.__getitem__)
    return target, report


def _check_layers_matched(layers, entries, skipped) -> None:
    if layers is not None and not entries and not skipped:
        raise InvalidInputError(f"layers={layers!r} matches no tensor")


def filter_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    method: str = "operator",
    layers: str | Sequence[str] | None = None,
    inplace: bool = False,
    *,
    sigma: float | None = None,
    embeddings: bool = False,
    attention: bool = False,
    conv_slices: bool = False,
    min_dim: int = MIN_DIM,
    **options: Any,
) -> tuple[dict[str, torch.Tensor], FilterReport]:
    """Filters the weight matrices of a state dict (layer types inferred from names and shapes).

    Returns (state_dict, report). With ``inplace=False`` a new dict whose filtered entries are new
    tensors (the others are the input's tensors, untouched); with ``inplace=True`` the input's
    tensors are overwritten. Atomic like :func:`filter_model`.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to tensors, got {type(state_dict).__name__}")
    method, sel, skipped, results = _filter_selected(
        lambda **kw: state_dict_weight_matrices(state_dict, **kw), state_dict.__getitem__,
        layers, method, sigma, options, embeddings, attention, conv_slices, min_dim,
    )
    out = state_dict if inplace else dict(state_dict)
    touched = {e.tensor_name for e, _, _ in results}
    if inplace:
        backup = {n: state_dict[n].detach().clone() for n in touched}
    else:
        for n in touched:
            out[n] = state_dict[n].detach().clone()
    _check_targets(results, out.__getitem__)
    try:
        _write(results, out.__getitem__)
    except BaseException:
        if inplace:
            with torch.no_grad():
                for n, t in backup.items():
                    state_dict[n].copy_(t)
        raise
    report = _report(method, {"layers": layers, "sigma": sigma, **options, **sel}, results, skipped, out.__getitem__)
    return out, report  # type: ignore[return-value]


_SELECTION_KEYS = ("embeddings", "attention", "conv_slices", "min_dim")


def _check_arguments(method: str, options: Mapping[str, Any]) -> None:
    """Validates what filter_state_dict will be given, without any tensors."""
    rest = {k: v for k, v in options.items() if k not in _SELECTION_KEYS and k != "sigma"}
    _prepare(method, options.get("sigma"), rest)
    _selection_options(*(options.get(k, d) for k, d in zip(_SELECTION_KEYS, (False, False, False, MIN_DIM))))


def filter_checkpoint(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    method: str = "operator",
    layers: str | Sequence[str] | None = None,
    *,
    overwrite: bool = False,
    **options: Any,
) -> FilterReport:
    """Reads a ``.safetensors`` file (or folder of shards) or a torch checkpoint (``weights_only=True``),
    filters it like :func:`filter_state_dict` and writes all its tensors to ``destination``
    atomically (temporary file + rename): ``.safetensors`` by suffix, otherwise ``torch.save``.

    Refuses to overwrite an existing file, and to write over the input file, unless ``overwrite=True``;
    never writes into an input folder of shards (see :func:`netsieve._files.check_outputs`).
    Nothing is written when anything fails.
    """
    from .._files import atomic_write, check_outputs
    from .checkpoints import _unwrap_state_dict, load_checkpoint_object, open_weights, replace_state_dict, save_weights

    src, dst = Path(source), Path(destination)
    if not src.exists():
        raise FileNotFoundError(f"no such file or folder: {src}")
    check_outputs([("output", dst)], [src], overwrite=overwrite, in_place=("output",))
    _check_arguments(method, options)  # before reading a possibly large file
    if src.is_file() and src.suffix != ".safetensors" and dst.suffix != ".safetensors":
        # A torch checkpoint to a torch checkpoint keeps everything besides the weights (epoch,
        # optimizer state, metadata); only the state dict's tensors are replaced.
        obj, path = load_checkpoint_object(src)
        tensors = _unwrap_state_dict(obj)
        filtered, report = filter_state_dict(tensors, method, layers, **options)
        whole = replace_state_dict(obj, path, filtered)
        atomic_write(dst, lambda tmp: torch.save(whole, tmp))
        return report
    with open_weights(src) as weights:
        tensors = {name: weights.get(name) for name in weights.names()}
        not_read = weights.skipped
    # Not in place: tensors of a torch checkpoint may be memory-mapped views of the input file.
    filtered, report = filter_state_dict(tensors, method, layers, **options)
    metadata = {"netsieve_filter": method}
    save_weights(filtered, dst, metadata=metadata)
    return dataclasses.replace(report, skipped=tuple(not_read) + report.skipped)
