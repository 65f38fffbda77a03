"""Comparing two checkpoints of one model (before and after fine-tuning, two epochs of a run): for
every weight matrix present in both, the update Δ = W_B − W_A analysed as a weight matrix (its MP
fit; its spikes, the effective rank of the update above its own noise; its norms), the change of
σ, α and the spike count, and the overlap of the leading singular subspaces of W_A and W_B
(:func:`netsieve.subspace_overlap`). Each row is the core's :class:`netsieve.LayerComparison`.

Matrices are matched by name (as :func:`netsieve.torch.analyze` names them) and read one pair at a
time; Δ is formed in float64. Layers in one side only are rows with status ``only_a``/``only_b``,
shape mismatches rows with status ``shape_mismatch``, a tensor that cannot be read or analysed a
row with status ``error``: none of these stops the comparison. An unchanged matrix (Δ = 0) has every
update quantity 0; an update without a noise bulk to fit (exactly low-rank, e.g. a merged LoRA
adapter) keeps its status ``compared`` and A/B fields, with the reason in ``error``. Two
checkpoints without a single matrix name in common are an error (unrelated models).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

import netsieve as ns
from netsieve import DEFAULTS, InvalidInputError, LayerComparison

from .._coerce import positive_integer
from .._progress import progress_bar
from .._report import LayerTable
from ._weights import check_min_dim
from .analysis import _open_input, block_role
from .checkpoints import TensorSource
from .hf_layout import order_key

__all__ = ["Comparison", "compare"]


class Comparison(LayerTable):
    """The rows of a comparison (one :class:`netsieve.LayerComparison` per matrix name of either
    side, in checkpoint order), a summary, the text table, CSV/JSON exports and plots.

    Attributes
    ----------
    rows : list of LayerComparison
    compared, only_a, only_b, mismatched, errors : list of LayerComparison
        The rows by status.
    source_a, source_b : str
    summary : dict
        Counts by status, the median relative update ‖Δ‖_F/‖W_A‖_F and the total update spikes,
        over all compared layers and per role.
    columns : sequence of str
        The CSV columns, ``LayerComparison.SCALAR_FIELDS`` (JSON rows also hold the ``update`` report).

    Raises
    ------
    KeyError, IndexError
        ``comparison["name"]`` of a name in neither checkpoint, ``comparison[i]`` out of range.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> g = torch.Generator().manual_seed(1)
    >>> a = {"fc.weight": torch.randn(120, 60, generator=g)}
    >>> b = {"fc.weight": a["fc.weight"] + 0.1 * torch.randn(120, 60, generator=g)}
    >>> c = nt.compare(a, b)
    >>> len(c), c.summary["n_compared"], c.to_csv().splitlines()[0].split(",")[:5]
    (1, 1, ['name', 'block', 'role', 'head', 'status'])
    >>> c["fc.weight"].update_spikes, round(c["fc.weight"].relative_update, 2)
    (0, 0.1)
    """

    def __init__(self, rows: list[LayerComparison], skipped: list, sources: tuple[str, str], elapsed_s: float,
                 options: dict, inputs: Sequence[str | os.PathLike] = ()):  # fmt: skip
        self.rows = rows
        self.skipped = skipped
        self.source_a, self.source_b = sources
        self.elapsed_s = elapsed_s
        self.options = options
        self.inputs = tuple(inputs)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[LayerComparison]:
        return iter(self.rows)

    def __getitem__(self, key: int | str) -> LayerComparison:
        if isinstance(key, str):
            for r in self.rows:
                if r.name == key:
                    return r
            raise KeyError(f"no layer named {key!r} in either checkpoint")
        return self.rows[key]

    def _status(self, status: str) -> list[LayerComparison]:
        return [r for r in self.rows if r.status == status]

    compared = property(lambda self: self._status("compared"))
    only_a = property(lambda self: self._status("only_a"))
    only_b = property(lambda self: self._status("only_b"))
    mismatched = property(lambda self: self._status("shape_mismatch"))
    errors = property(lambda self: self._status("error"))

    @property
    def summary(self) -> dict[str, Any]:
        ok = self.compared

        def stats(rows: list[LayerComparison]) -> dict[str, Any]:
            rel = [r.relative_update for r in rows if r.relative_update is not None and math.isfinite(r.relative_update)]
            return {"n_layers": len(rows), "relative_update_median": float(np.median(rel)) if rel else None,
                    "update_spikes_total": int(sum(r.update_spikes or 0 for r in rows))}  # fmt: skip

        roles = list(dict.fromkeys(r.role for r in ok))
        return {
            "source_a": self.source_a, "source_b": self.source_b, **{f"n_{s}": len(self._status(s)) for s in ns.COMPARISON_STATUSES},
            **stats(ok), "by_role": {role: stats([r for r in ok if r.role == role]) for role in roles},
            "elapsed_s": self.elapsed_s,
        }  # fmt: skip

    @property
    def columns(self) -> Sequence[str]:
        return LayerComparison.SCALAR_FIELDS

    def layer_rows(self, arrays: bool = False) -> list[dict[str, Any]]:
        from .._json import plain

        return [plain(r.to_dict(arrays)) for r in self.rows]

    def summary_dict(self) -> dict[str, Any]:
        return self.summary

    def __str__(self) -> str:
        head = ("layer", "block", "role", "σ A→B", "α A→B", "spikes A→B", "Δ spikes", "‖Δ‖/‖W‖", "overlap L/R")
        lines = []
        for r in self.rows:
            block = "" if r.block is None else str(r.block)
            if not r.ok:
                why = r.error or r.status.replace("_", " ")
                lines.append((r.name, block, r.role, why))
                continue
            alpha = "—" if r.alpha_a is None or r.alpha_b is None else f"{r.alpha_a:.2f}→{r.alpha_b:.2f}"
            lines.append((
                r.name, block, r.role, f"{r.sigma_a:.3g}→{r.sigma_b:.3g}", alpha, f"{r.n_spikes_a}→{r.n_spikes_b}",
                str(r.update_spikes), f"{r.relative_update:.3g}", f"{r.overlap_left:.2f}/{r.overlap_right:.2f}",
            ))  # fmt: skip
        widths = [max([len(h)] + [len(ln[i]) for ln in lines if len(ln) > i]) for i, h in enumerate(head)]
        out = [f"netsieve comparison: A = {self.source_a}, B = {self.source_b}"]
        out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        out.append("  ".join("─" * w for w in widths))
        for ln in lines:
            out.append("  ".join(v.ljust(w) for v, w in zip(ln, widths)))
        s = self.summary
        rel = "—" if s["relative_update_median"] is None else f"{s['relative_update_median']:.3g}"
        out.append(
            f"{s['n_compared']} layers compared, {s['n_only_a']} only in A, {s['n_only_b']} only in B, "
            f"{s['n_shape_mismatch']} shape mismatches, {s['n_error']} failed; median ‖Δ‖/‖W‖ {rel}; "
            f"{s['update_spikes_total']} update spikes in total; {s['elapsed_s']:.2f} s"
        )
        return "\n".join(out)

    def __repr__(self) -> str:
        s = self.summary
        return f"<Comparison {self.source_a} → {self.source_b}: {s['n_compared']} compared>"

    def plot(self, fig: Any = None) -> Any:
        """Relative update, update spikes and the left subspace overlap against the block index (or
        the layer index when there are no blocks), one line per role."""
        from .._plotting import pyplot

        ok = self.compared
        if not ok:
            raise InvalidInputError("no compared layers to plot")
        plt = pyplot()
        fig = fig or plt.figure(figsize=(12, 8))
        axes = fig.subplots(3, 1, sharex=True)
        x_of = {id(r): (r.block if r.block is not None else i) for i, r in enumerate(ok)}
        panels = [("‖Δ‖_F / ‖W_A‖_F", "relative_update"), ("update spikes", "update_spikes"), ("overlap (left)", "overlap_left")]
        for ax, (label, field) in zip(axes, panels):
            for role in dict.fromkeys(r.role for r in ok):
                mine = sorted((x_of[id(r)], getattr(r, field)) for r in ok if r.role == role)
                ax.plot([x for x, _ in mine], [y for _, y in mine], "o-", ms=3, label=role)
            ax.set_ylabel(label)
        axes[-1].set_xlabel("block" if any(r.block is not None for r in ok) else "layer")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        return fig

    def save_plots(self, folder: str | os.PathLike) -> list[Path]:
        """Writes comparison.png into ``folder`` (created; not an input), atomically."""
        from .._files import atomic_write, check_output_folder
        from .._plotting import pyplot

        folder = Path(folder)
        check_output_folder("plots folder", folder, self.inputs)
        folder.mkdir(parents=True, exist_ok=True)
        fig = self.plot()
        path = folder / "comparison.png"
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
        pyplot().close(fig)
        return [path]


def _empty(name: str, status: str, e: Any, shape_a=None, shape_b=None, error=None) -> LayerComparison:
    block, role = block_role(e)
    blank = {f: None for f in LayerComparison.FIELDS}
    return LayerComparison(**{**blank, "name": name, "block": block, "role": role, "head": e.head, "status": status,
                              "shape_a": shape_a, "shape_b": shape_b, "error": error})  # fmt: skip


def compare_pair(e: Any, a: torch.Tensor, b: torch.Tensor, core: dict, overlap_k: int,
                 device: torch.device | str | None = None) -> LayerComparison:  # fmt: skip
    """The row of one matrix name found in both sides (``a``, ``b``: its matrices); ``device``: the
    torch route of the decompositions (:func:`netsieve.torch.device_route.compare_spectra`)."""
    sa, sb = tuple(a.shape), tuple(b.shape)
    if sa != sb:
        return _empty(e.name, "shape_mismatch", e, sa, sb, f"shapes differ: {sa[0]}×{sa[1]} in A, {sb[0]}×{sb[1]} in B")
    a64, b64 = a.detach().to(torch.float64), b.detach().to(torch.float64)
    delta = b64 - a64
    unchanged = not bool(torch.any(delta))
    matrices = {"A": a64, "B": b64} if unchanged else {"A": a64, "B": b64, "Δ": delta}
    finite = device is not None and all(bool(torch.isfinite(m).all()) for m in matrices.values())
    if finite:  # a non-finite matrix goes to the core route, which names the problem in its row
        from .device_route import check_device, compare_spectra

        rows, overlap = compare_spectra(matrices, check_device(device), core, overlap_k)
    else:
        rows = ns.analyze_layers(matrices, errors="collect", **core)
    ra, rb, rd = rows["A"], rows["B"], rows.get("Δ")
    failed = [f"{side}: {r.error}" for side, r in (("A", ra), ("B", rb)) if not r.ok]
    if failed:
        return _empty(e.name, "error", e, sa, sb, "; ".join(failed))
    left, right, k = overlap if finite else ns.subspace_overlap(a64, b64, k=overlap_k)
    block, role = block_role(e)
    if unchanged:  # no update: nothing to fit, every update quantity is zero
        update = dict(update_spikes=0, update_sigma=0.0, update_spectral_norm=0.0, update_frobenius=0.0, relative_update=0.0,
                      error=None, update=None)  # fmt: skip
    elif not rd.ok:  # e.g. an exactly low-rank update (a merged LoRA adapter): no bulk to fit
        update = dict(update_spikes=None, update_sigma=None, update_spectral_norm=None, update_frobenius=None,
                      relative_update=None, error=f"update: {rd.error}", update=rd)  # fmt: skip
    else:
        rel = rd.frobenius_norm / ra.frobenius_norm if ra.frobenius_norm else math.inf
        update = dict(update_spikes=rd.n_spikes, update_sigma=rd.sigma, update_spectral_norm=rd.spectral_norm,
                      update_frobenius=rd.frobenius_norm, relative_update=rel, error=None, update=rd)  # fmt: skip
    return LayerComparison(
        name=e.name, block=block, role=role, head=e.head, status="compared", shape_a=sa, shape_b=sb, sigma_a=ra.sigma,
        sigma_b=rb.sigma, alpha_a=ra.alpha, alpha_b=rb.alpha, n_spikes_a=ra.n_spikes, n_spikes_b=rb.n_spikes,
        overlap_left=left, overlap_right=right, overlap_k=k, **update,
    )  # fmt: skip


def compare(
    a: Any,
    b: Any,
    layers: str | Sequence[str] | None = None,
    *,
    embeddings: bool = DEFAULTS["embeddings"],
    split_fused: bool = False,
    per_head: bool = False,
    min_dim: int = DEFAULTS["min_dim"],
    overlap_k: int = DEFAULTS["overlap_k"],
    spike_confidence: float = DEFAULTS["spike_confidence"],
    bulk: str = DEFAULTS["bulk"],
    decomposition: str = DEFAULTS["decomposition"],
    progress: bool | None = None,
    client: Any = None,
    device: str | None = None,
) -> Comparison:
    """Compares every weight matrix of two checkpoints of one model (see the module docs).

    Parameters
    ----------
    a, b : nn.Module, state dict, TensorSource, path or hub id
        The two checkpoints (as :func:`netsieve.torch.analyze` takes them); Δ = W_B − W_A.
    layers : str or sequence of str, optional
        Globs on tensor names.
    embeddings, split_fused, per_head, min_dim
        As for :func:`netsieve.torch.analyze`: with ``per_head`` each attention head's block of the
        q/k/v/o projections is compared on its own (rows ``name[head=h]``; key/value heads of
        grouped-query shapes by ``num_key_value_heads``; with ``split_fused`` the parts of a fused
        projection per head, ``name[q][head=h]``), the head counts read from A's ``config.json``.
    overlap_k : int, default 10
        Leading singular directions compared (:func:`netsieve.subspace_overlap`).
    spike_confidence, bulk, decomposition
        As for :func:`netsieve.analyze_layers` (the Porter–Thomas test and level statistics are off).
    progress : bool, optional
        A tqdm bar (default: when stderr is a terminal).
    client : dask.distributed.Client, optional
        One task per matching pair on this Dask cluster, each worker reading both matrices from
        their ``.safetensors`` shards (:mod:`netsieve.torch.cluster`; both inputs must be paths).
    device : str, optional
        ``"cuda"`` (or ``"cpu"``): the decompositions of W_A, W_B and Δ with ``torch.linalg`` on
        that device, every field from the core (:mod:`netsieve.torch.device_route`; equal to the
        default route to its documented tolerance); with ``client`` each worker uses its device.

    Returns
    -------
    Comparison

    Raises
    ------
    InvalidInputError
        Bad options, unreadable inputs, or no matrix name in common (unrelated models).

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> g = torch.Generator().manual_seed(0)
    >>> w = torch.randn(200, 100, generator=g) * 0.02
    >>> u, v = torch.randn(200, 1, generator=g), torch.randn(1, 100, generator=g)
    >>> a = {"mlp.weight": w, "old.weight": torch.randn(30, 20, generator=g)}
    >>> b = {"mlp.weight": w + 0.01 * u @ v + 0.001 * torch.randn(200, 100, generator=g),  # a rank-one update
    ...      "new.weight": torch.randn(30, 20, generator=g)}
    >>> c = nt.compare(a, b)
    >>> [(r.name, r.status) for r in c]
    [('mlp.weight', 'compared'), ('new.weight', 'only_b'), ('old.weight', 'only_a')]
    >>> r = c["mlp.weight"]
    >>> r.update_spikes, r.n_spikes_a, r.n_spikes_b
    (1, 0, 1)
    """
    check_min_dim(min_dim)
    if device is not None:
        from .device_route import check_device

        check_device(device)
        positive_integer(overlap_k, "overlap_k")
    core = dict(spike_confidence=spike_confidence, bulk=bulk, decomposition=decomposition, porter_thomas=False,
                level_statistics=False)  # fmt: skip
    ns.analyze_layers([], **core)  # options checked before anything is read
    start = time.perf_counter()
    select = dict(layers=layers, embeddings=bool(embeddings), conv_slices=False, min_dim=min_dim, split_fused=bool(split_fused),
                  per_head=bool(per_head))  # fmt: skip
    opened = []
    try:
        for side in (a, b):
            opened.append(_open_input(side, select, dict(revision=None, cache_dir=None)))
        (chosen_a, skip_a, get_a, src_a, *_), (chosen_b, skip_b, get_b, src_b, *_) = opened
        by_a, by_b = {e.name: e for e in chosen_a}, {e.name: e for e in chosen_b}
        if chosen_a and chosen_b and not set(by_a) & set(by_b):
            raise InvalidInputError(
                f"{src_a} and {src_b} have no weight matrix name in common (unrelated models?): "
                f"A has {', '.join(list(by_a)[:3])}, …; B has {', '.join(list(by_b)[:3])}, …"
            )
        names = sorted(dict.fromkeys([*by_a, *by_b]), key=lambda n: order_key((by_a.get(n) or by_b[n]).tensor_name))
        rows = []
        bar = progress_bar(len(names), "netsieve compare", progress, unit="layer")
        remote: dict = {}
        if client is not None:
            if opened[0][5] is None or opened[1][5] is None:
                raise InvalidInputError("client= needs paths to .safetensors files for both checkpoints")
            from .cluster import compare_layers

            pairs = [(by_a[n], by_b[n]) for n in names if n in by_a and n in by_b]
            remote = compare_layers(client, (opened[0][5], opened[1][5]), pairs, core, overlap_k, bar, device)
        try:
            for name in names:
                if name in remote:
                    rows.append(remote[name])
                    continue
                ea, eb = by_a.get(name), by_b.get(name)
                if ea is None or eb is None:
                    e = ea or eb
                    rows.append(_empty(name, "only_a" if eb is None else "only_b", e,
                                       ea.shape if ea else None, eb.shape if eb else None))  # fmt: skip
                else:
                    try:
                        ma, mb = ea.extract(get_a(ea.tensor_name)), eb.extract(get_b(eb.tensor_name))
                        rows.append(compare_pair(ea, ma, mb, core, overlap_k, device))
                    except InvalidInputError as exc:
                        rows.append(_empty(name, "error", ea, ea.shape, eb.shape, str(exc)))
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    finally:
        for opening in opened:
            opening[4]()
    inputs = tuple(str(s) for side, s in ((a, src_a), (b, src_b)) if isinstance(side, (str, os.PathLike, TensorSource)))
    options = dict(select, overlap_k=overlap_k, **core, **({"device": str(device)} if device is not None else {}))
    tagged = [type(s)(f"A: {s.name}", s.shape, s.reason, s.kind) for s in skip_a] + [
        type(s)(f"B: {s.name}", s.shape, s.reason, s.kind) for s in skip_b
    ]
    return Comparison(rows, tagged, (src_a, src_b), time.perf_counter() - start, options, inputs)
