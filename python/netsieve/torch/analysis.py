"""Whole-model spectral analysis: one :class:`netsieve.LayerReport` per weight matrix (the MP noise
fit, spikes, Porter–Thomas boundary, level statistics, norms, ranks and the power-law tail
exponent α), collected into a :class:`~netsieve.torch.report.Report`.

Inputs: an ``nn.Module``, a state dict, a ``.safetensors`` file or folder of shards (a Hugging Face
model folder with its index and config: :mod:`netsieve.torch.hf_layout`; rows of files come in
checkpoint order, block 10 after block 9), or a torch checkpoint (loaded with ``weights_only=True``).
Every row carries its ``block`` and ``role``. Files are read one tensor at a time; tensors are
gathered into groups of at most ``max_group_bytes`` (as the arrays the core reads: bfloat16 matrices
in place, float16 widened to float32; a larger tensor forms a group of its own), and each group is one :func:`netsieve.analyze_layers`
call whose matrices run in parallel with their estimated working sets (float64 copy, Gram matrix,
singular vectors) summing to at most the same ``max_group_bytes``. Peak memory above the model
itself is therefore about ``max_group_bytes`` of inputs plus ``max_group_bytes`` of working sets,
or, when one layer is larger, that layer's input plus its working set: for an N×M matrix
(N ≥ M) with the Porter–Thomas test about 8·(4.5·N·M + 7·M²) bytes, without it 8·(N·M + 3.5·M²)
(the estimates of ``rust/src/linalg/decomposition.rs``, measured; ``benches/bench_memory.py``).

Units: σ, the bulk edges and the spike threshold are in singular-value units (netsieve's
convention, see :mod:`netsieve.spectral`); the power-law tail is fitted to the eigenvalues λ = s²
of WᵀW, as weightwatcher does, and α does not depend on that scale.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping, Sequence

import torch

import netsieve as ns
from netsieve import DEFAULTS, InvalidInputError, LayerReport

from .._coerce import positive_integer
from .._progress import progress_bar
from .._layer_names import block_and_role
from ._weights import SPLIT_KINDS, Skipped, WeightMatrix, attention_heads, check_min_dim, module_weight_matrices, select_weight_matrices
from .checkpoints import TensorSource, open_weights
from .hf_layout import order_key
from .report import LayerResult, Report

__all__ = ["analyze", "Report", "LayerResult", "DEFAULT_MAX_GROUP_BYTES"]

DEFAULT_MAX_GROUP_BYTES = 256 * 2**20


def _open_input(model_or_path: Any, select: dict, hub: dict) -> tuple[list[WeightMatrix], list[Skipped], Callable, str, Callable, Any]:
    """(chosen matrices, skipped, getter name→tensor, description, close, the TensorSource or None);
    the description of a file input is its path. ``hub``: revision and cache folder, for hub ids only."""
    if any(v is not None for v in hub.values()) and not isinstance(model_or_path, (str, os.PathLike)):
        raise InvalidInputError("revision= and cache_dir= apply only to a Hugging Face model id (org/name)")
    select = dict(select)
    per_head = select.pop("per_head", False)
    if isinstance(model_or_path, torch.nn.Module):
        config = getattr(model_or_path, "config", None)  # a transformers model's config: its head counts
        own = per_head and getattr(config, "num_attention_heads", None) is None and bool(attention_heads(model_or_path))
        heads = dict(per_head=True) if own else _head_counts(  # nn.MultiheadAttention modules: their own num_heads
            getattr(config, "num_attention_heads", None), getattr(config, "num_key_value_heads", None), per_head)  # fmt: skip
        chosen, skipped, get = module_weight_matrices(model_or_path, **select, **heads)
        return chosen, skipped, get, type(model_or_path).__name__, lambda: None, None
    if isinstance(model_or_path, Mapping):
        tensors = {str(k): v for k, v in model_or_path.items() if isinstance(v, torch.Tensor)}
        skipped = [
            Skipped(str(k), (), f"not a tensor ({type(v).__name__})")
            for k, v in model_or_path.items()
            if not isinstance(v, torch.Tensor)
        ]
        _head_counts(None, None, per_head)
        chosen, more = select_weight_matrices(((n, tuple(t.shape)) for n, t in tensors.items()), **select)
        return chosen, skipped + more, tensors.__getitem__, "state dict", lambda: None, None
    if isinstance(model_or_path, TensorSource):
        src, close = model_or_path, (lambda: None)
    elif isinstance(model_or_path, (str, os.PathLike)):
        src = open_weights(model_or_path, **hub)
        close = src.close
    else:
        raise TypeError(
            "analyze() takes an nn.Module, a state dict, a TensorSource or a path to .safetensors / "
            f"a folder of shards / a torch checkpoint, got {type(model_or_path).__name__}"
        )
    try:
        layout = src.layout
        names = src.names()
        # A tied head stored beside its embedding is one matrix: analysed once, as the embedding when
        # embeddings are asked for, else as the head.
        tied = layout.tied_heads(names) if select["embeddings"] else {}
        counts = _head_counts(layout.heads, layout.kv_heads, per_head)
        chosen, skipped = select_weight_matrices(
            ((n, src.shape(n)) for n in names if n not in tied), **{"heads": layout.heads, **counts}, **select
        )
    except BaseException:
        close()
        raise
    chosen.sort(key=lambda e: order_key(e.tensor_name))  # stable: the parts of a tensor keep their order
    tied_skips = [Skipped(h, src.shape(h), f"tied to {e} (tie_word_embeddings): the same matrix, analysed once") for h, e in tied.items()]
    return chosen, src.skipped + tied_skips + skipped, src.get, str(src.path), close, src


def _head_counts(heads: Any, kv_heads: Any, per_head: bool) -> dict[str, Any]:
    """The selection options of ``per_head`` (an error when the head count is unknown)."""
    if not per_head:
        return {}
    if not isinstance(heads, int) or heads < 1:
        raise InvalidInputError(
            "per_head=True needs the number of attention heads: num_attention_heads in the model folder's "
            "config.json (or a transformers model's config)"
        )
    return dict(per_head=True, heads=heads, kv_heads=kv_heads if isinstance(kv_heads, int) and kv_heads > 0 else heads)


_PART_ROLES = {"q": "attention.query", "k": "attention.key", "v": "attention.value"}


def block_role(e: WeightMatrix) -> tuple[int | None, str]:
    """The block and role of a matrix (a part of a split projection has its part's role)."""
    block, role = block_and_role(e.tensor_name)
    if e.kind in SPLIT_KINDS:
        role = _PART_ROLES[e.part[0]]
    return block, role


def _unusable(matrix: torch.Tensor) -> str | None:
    """Why a tensor cannot reach the core at all (the core itself checks shapes and values)."""
    if matrix.is_meta:
        return "on the meta device: the tensor holds no values"
    if matrix.is_complex() or not matrix.is_floating_point():
        return f"dtype {matrix.dtype} is not a real floating-point type"
    return None


def _core_bytes(matrix: torch.Tensor) -> int:
    """Bytes of the array the core reads: bfloat16 in place, float16 widened to float32."""
    if matrix.dtype == torch.bfloat16 and matrix.dim() == 2:
        return matrix.numel() * 2
    return matrix.numel() * max(4, matrix.element_size())


def analyze(
    model_or_path: Any,
    layers: str | Sequence[str] | None = None,
    *,
    conv_slices: bool = False,
    split_fused: bool = False,
    per_head: bool = False,
    embeddings: bool = DEFAULTS["embeddings"],
    min_dim: int = DEFAULTS["min_dim"],
    porter_thomas: bool = True,
    level_statistics: bool = DEFAULTS["level_statistics"],
    spike_confidence: float = DEFAULTS["spike_confidence"],
    bulk: str = DEFAULTS["bulk"],
    decomposition: str = DEFAULTS["decomposition"],
    route: str = DEFAULTS["route"],
    window: int = DEFAULTS["window"],
    alpha: float = DEFAULTS["alpha"],
    min_tail: int = DEFAULTS["min_tail"],
    min_span: float = DEFAULTS["min_span"],
    errors: str = DEFAULTS["errors"],
    max_group_bytes: int = DEFAULT_MAX_GROUP_BYTES,
    progress: bool | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    client: Any = None,
    worker_root: str | None = None,
    device: str | None = None,
) -> Report:
    """Analyses every weight matrix of a model or checkpoint (see the module docs).

    Parameters
    ----------
    model_or_path : nn.Module, state dict, TensorSource, path, URL or hub id
        A path, an fsspec URL of a ``.safetensors`` file or model folder (``s3://…``,
        ``file://…``; :mod:`netsieve.torch.remote`), or a Hugging Face id ``"org/name"`` read
        offline from the local cache (:mod:`netsieve.hub`).
    layers : str or sequence of str, optional
        Globs on tensor names (``"encoder.*.attention.*"``).
    conv_slices : bool, default False
        One matrix per kernel position instead of the out × (in·k) reshape.
    split_fused : bool, default False
        Split fused q/k/v projections (GPT-2 ``c_attn``, GPT-NeoX ``query_key_value`` with the
        head count of ``config.json``) into one matrix each (:mod:`netsieve.torch._weights`).
    per_head : bool, default False
        Analyse each attention head's block of the q/k/v/o projections as its own matrix (rows
        ``name[head=h]`` with ``head`` set): query and output by ``num_attention_heads``, key and
        value by ``num_key_value_heads`` (grouped-query shapes), from ``config.json`` (or a
        transformers model's ``config``). Other matrices are analysed whole.
    embeddings : bool, default False
        Include embedding tables (their rows are looked up, not multiplied).
    min_dim : int, default 16
        Skip matrices with a side below this.
    porter_thomas : bool, default True
        The singular-vector test (needs every singular vector, the slowest part).
    level_statistics, spike_confidence, bulk, decomposition, route, window, alpha, min_tail, min_span
        As for :func:`netsieve.analyze_layers` (``bulk``: the noise model, see :func:`netsieve.fit_mp`;
        ``route="partial"`` with ``porter_thomas=False, level_statistics=False``: σ and the spikes
        from the leading singular values where the bulk passes the white-noise check).
    errors : {"raise", "collect"}, default "raise"
        ``"collect"``: layers that fail (NaN/Inf, too low-rank, unreadable) become rows with
        ``error`` set (``netsieve analyze`` collects).
    max_group_bytes : int, default 256 MiB
        Tensors are read and analysed in groups of at most this many bytes (module docs).
    progress : bool, optional
        A tqdm bar (default: when stderr is a terminal).
    revision : str, optional
        For a hub id: a branch, tag or commit in the cache (default ``"main"``).
    cache_dir : str or os.PathLike, optional
        For a hub id: the cache folder (default: ``HF_HUB_CACHE``, ``HF_HOME``, …).
    client : dask.distributed.Client, optional
        Run one task per tensor on this Dask cluster, each worker reading its tensor from the
        ``.safetensors`` shard (:mod:`netsieve.torch.cluster`; needs the ``cluster`` extra and a
        path or URL every worker can read). The rows are those of the in-process run, in the same order.
    worker_root : str, optional
        With ``client``: the model folder as the workers reach it, a path or an fsspec URL
        (``s3://bucket/model``; needs fsspec and its file system's package on the workers), each
        worker reading only the header and its tensor's bytes of the shard. Default: the local path.
    device : str, optional
        ``"cuda"``: the decompositions with ``torch.linalg`` on the GPU, batched by shape, the rows
        computed by the core from them (:mod:`netsieve.torch.device_route`: the same fields, equal
        to a documented tolerance); ``"cpu"`` runs that route on the CPU. Default: the core's own
        decompositions on the CPU. With ``client`` each worker runs this route on its own device
        (``"cuda"`` needs a GPU on every worker).

    Returns
    -------
    Report

    Raises
    ------
    InvalidInputError
        Bad options (before anything is read), or a failing layer with ``errors="raise"``.
    ValueError
        A hub id or revision that is not in the local cache (naming the folder searched).

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> torch.manual_seed(0) and None
    >>> net = torch.nn.Sequential(torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32))
    >>> report = nt.analyze(net, porter_thomas=False)
    >>> [(r.name, r.n_spikes) for r in report]
    [('0.weight', 0), ('2.weight', 0)]
    """
    max_group_bytes = positive_integer(max_group_bytes, "max_group_bytes")
    check_min_dim(min_dim)  # before any file is opened
    core_options = dict(
        spike_confidence=spike_confidence, bulk=bulk, decomposition=decomposition, route=route, level_statistics=bool(level_statistics),
        porter_thomas=bool(porter_thomas), window=window, alpha=alpha, min_tail=min_tail, min_span=min_span,
        errors=errors, max_working_bytes=max_group_bytes,
    )  # fmt: skip
    ns.analyze_layers([], **core_options)  # every option checked by the core before any file is read
    from .device_route import analyze_group, check_device

    torch_device = check_device(device)
    if worker_root is not None and client is None:
        raise InvalidInputError("worker_root= says where the workers of client= read the shards; pass client= too")
    start = time.perf_counter()
    select = dict(layers=layers, embeddings=bool(embeddings), conv_slices=bool(conv_slices), min_dim=min_dim,
                  split_fused=bool(split_fused), per_head=bool(per_head))
    chosen, skipped, get, source, close, src = _open_input(model_or_path, select, dict(revision=revision, cache_dir=cache_dir))
    inputs = (source,) if isinstance(model_or_path, (str, os.PathLike, TensorSource)) else ()
    options = dict(select, **{k: v for k, v in core_options.items() if k != "max_working_bytes"})
    if torch_device is not None:
        options["device"] = str(torch_device)
    by_tensor: dict[str, list[WeightMatrix]] = {}
    for e in chosen:
        by_tensor.setdefault(e.tensor_name, []).append(e)
    results: dict[str, LayerReport] = {}
    bar = progress_bar(len(chosen), "netsieve analyze", progress, unit="layer")
    group: list[tuple[WeightMatrix, torch.Tensor]] = []
    group_bytes = 0

    def fail(e: WeightMatrix, reason: str) -> None:
        if errors == "raise":
            raise InvalidInputError(f"layer {e.name!r}: {reason}")
        rows, cols = e.shape
        block, role = block_role(e)
        results[e.name] = LayerReport.failed(e.name, e.tensor_name, e.layer_type, rows, cols, reason, block=block, role=role,
                                             head=e.head)  # fmt: skip
        if bar is not None:
            bar.update(1)

    def flush() -> None:
        nonlocal group, group_bytes
        if not group:
            return
        labels = [block_role(e) for e, _ in group]
        if torch_device is not None:
            results.update(analyze_group(group, labels, torch_device, core_options))
            if bar is not None:
                bar.update(len(group))
            group, group_bytes = [], 0
            return
        out = ns.analyze_layers(
            {e.name: m for e, m in group}, tensor_names=[e.tensor_name for e, _ in group],
            layer_types=[e.layer_type for e, _ in group], blocks=[b for b, _ in labels], roles=[r for _, r in labels],
            heads=[e.head for e, _ in group], **core_options,
        )  # fmt: skip
        results.update(out)
        if bar is not None:
            bar.update(len(group))
        group, group_bytes = [], 0

    try:
        if client is not None:
            if src is None:
                raise InvalidInputError("client= needs a path to .safetensors files (workers read their own tensors)")
            from .cluster import analyze_tensors

            labels = {e.name: block_role(e) for e in chosen}
            results = analyze_tensors(client, src, by_tensor, labels, core_options, bar, worker_root, device=options.get("device"))
            failed = [r for r in results.values() if not r.ok]
            if failed and errors == "raise":
                raise InvalidInputError(f"layer {failed[0].name!r}: {failed[0].error}")
            by_tensor = {}  # done on the cluster
        for tensor_name, entries in by_tensor.items():
            try:
                tensor = get(tensor_name)
            except Exception as exc:  # a corrupt tensor in a readable file: report it, go on
                for e in entries:
                    fail(e, f"cannot read tensor: {exc}")
                continue
            for e in entries:
                m = e.extract(tensor).detach()
                reason = _unusable(m)
                if reason is not None:
                    fail(e, reason)
                    continue
                if group and group_bytes + _core_bytes(m) > max_group_bytes:
                    flush()
                group.append((e, m))
                group_bytes += _core_bytes(m)
            del tensor
        flush()
    finally:
        if bar is not None:
            bar.close()
        close()
    rows = [results[e.name] for e in chosen]
    return Report(rows, skipped, source, time.perf_counter() - start, options, inputs)
