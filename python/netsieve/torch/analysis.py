"""Whole-model spectral reports: one row per weight matrix with the Marchenko–Pastur noise fit,
spikes, Porter–Thomas boundary, level statistics, norms, ranks and the power-law tail exponent α.

Inputs: an ``nn.Module``, a state dict, a ``.safetensors`` file or folder of shards, or a torch
checkpoint (loaded with ``weights_only=True``). Files are read one tensor at a time; tensors are
gathered into groups of bounded total size and each group is analysed by one parallel Rust call
with the GIL released, so peak memory stays near max(largest layer, ``max_group_bytes``).

Units: σ, the bulk edges and the spike threshold are in singular-value units (netsieve's
convention, see :mod:`netsieve.spectral`); the power-law tail is fitted to the eigenvalues λ = s²
of WᵀW, as weightwatcher does, and α does not depend on that scale.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from .. import _netsieve as _core
from .._arrays import as_matrix
from .._netsieve import InvalidInputError
from ..spectral import MPFit, _tw_margin
from ._weights import (
    Skipped,
    WeightMatrix,
    module_weight_matrices,
    select_weight_matrices,
)
from .._files import check_output_folder, check_outputs
from .checkpoints import TensorSource, atomic_write, open_weights

__all__ = ["analyze", "Report", "LayerResult"]

# Fields written to CSV / JSON rows and the DataFrame, in order.
_SCALAR_FIELDS = (
    "name", "tensor_name", "layer_type", "rows", "cols", "N", "M", "beta",
    "sigma", "bulk_min", "bulk_max", "spike_threshold", "n_spikes", "n_low_outliers",
    "mp_soft_rank", "mp_ks_distance", "mp_ks_pvalue", "porter_thomas_boundary", "mean_r",
    "spectral_norm", "frobenius_norm", "stable_rank", "effective_rank", "entropy",
    "alpha", "alpha_stderr", "alpha_xmin", "alpha_xmax", "alpha_n_tail", "alpha_ks_distance",
    "alpha_likelihood_ratio", "power_law_like", "alpha_note", "error",
)  # fmt: skip


@dataclass(frozen=True)
class LayerResult:
    """The report row of one weight matrix. Numbers are None where a layer failed (see ``error``).

    σ, ``bulk_min``/``bulk_max`` (s₋, s₊) and ``spike_threshold`` are in singular-value units;
    ``mp_soft_rank`` = λ₊/λmax = (s₊/s₁)²; ``mp_ks_distance`` compares the bulk with the fitted MP
    law; ``porter_thomas_boundary`` is the number of leading singular-vector pairs that are not
    random; ``mean_r`` is ⟨r⟩ of the bulk (GOE 0.5307, Poisson 0.3863); ``alpha`` is the
    power-law exponent of the tail of λ = s² (CSN MLE, xmin by KS), ``power_law_like`` the verdict
    of :func:`netsieve`'s tail test (tail ≥ ``min_tail`` levels spanning ≥ ``min_span`` in λ and
    likelihood ratio against an exponential tail > −1.645).
    """

    name: str
    tensor_name: str
    layer_type: str
    rows: int
    cols: int
    N: int
    M: int
    beta: float
    sigma: float | None = None
    bulk_min: float | None = None
    bulk_max: float | None = None
    spike_threshold: float | None = None
    n_spikes: int | None = None
    n_low_outliers: int | None = None
    mp_soft_rank: float | None = None
    mp_ks_distance: float | None = None
    mp_ks_pvalue: float | None = None
    porter_thomas_boundary: int | None = None
    mean_r: float | None = None
    spectral_norm: float | None = None
    frobenius_norm: float | None = None
    stable_rank: float | None = None
    effective_rank: float | None = None
    entropy: float | None = None
    alpha: float | None = None
    alpha_stderr: float | None = None
    alpha_xmin: float | None = None
    alpha_xmax: float | None = None
    alpha_n_tail: int | None = None
    alpha_ks_distance: float | None = None
    alpha_likelihood_ratio: float | None = None
    power_law_like: bool | None = None
    alpha_note: str | None = None
    error: str | None = None
    singular_values: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def spikes(self) -> np.ndarray:
        return self.singular_values[: self.n_spikes or 0]

    def to_dict(self, include_spectrum: bool = False) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in _SCALAR_FIELDS}
        if include_spectrum:
            d["singular_values"] = self.singular_values.tolist()
        return d


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


class Report:
    """Per-layer rows, the skipped tensors with their reasons, and a model-level summary."""

    def __init__(self, rows: list[LayerResult], skipped: list[Skipped], source: str, elapsed_s: float, options: dict,
                 inputs: Sequence[str | os.PathLike] = ()):
        self.rows = rows
        self.skipped = skipped
        self.source = source
        self.elapsed_s = elapsed_s
        self.options = options
        self.inputs = tuple(inputs)  # the files or folders analysed: exports refuse to write over them

    # -- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[LayerResult]:
        return iter(self.rows)

    def __getitem__(self, key: int | str) -> LayerResult:
        if isinstance(key, str):
            for r in self.rows:
                if r.name == key:
                    return r
            raise KeyError(f"no analysed layer named {key!r}")
        return self.rows[key]

    @property
    def analysed(self) -> list[LayerResult]:
        return [r for r in self.rows if r.ok]

    @property
    def errors(self) -> list[LayerResult]:
        return [r for r in self.rows if not r.ok]

    @property
    def summary(self) -> dict[str, Any]:
        ok = self.analysed
        pl = [r for r in ok if r.power_law_like]

        def med(values: list) -> float | None:
            vals = [v for v in values if v is not None and math.isfinite(v)]
            return float(np.median(vals)) if vals else None

        return {
            "source": self.source,
            "n_layers": len(ok),
            "n_errors": len(self.errors),
            "n_skipped": len(self.skipped),
            "n_parameters": int(sum(r.rows * r.cols for r in ok)),
            "n_spikes_total": int(sum(r.n_spikes for r in ok)),
            "n_power_law_like": len(pl),
            "alpha_median": med([r.alpha for r in pl]),
            "alpha_mean": float(np.mean([r.alpha for r in pl])) if pl else None,
            "mp_soft_rank_median": med([r.mp_soft_rank for r in ok]),
            "stable_rank_median": med([r.stable_rank for r in ok]),
            "mean_r_median": med([r.mean_r for r in ok]),
            "heavy_tailed_layers": [r.name for r in pl if r.alpha < 2],
            "noise_like_layers": [r.name for r in ok if r.n_spikes == 0],
            "elapsed_s": self.elapsed_s,
        }

    # -- export ---------------------------------------------------------------------------------
    def to_dict(self, include_spectra: bool = False) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "options": dict(self.options),
            "layers": [{k: _json_safe(v) for k, v in r.to_dict(include_spectra).items()} for r in self.rows],
            "skipped": [s.to_dict() for s in self.skipped],
        }

    def to_json(self, path: str | os.PathLike | None = None, *, include_spectra: bool = False, indent: int = 2) -> str:
        """The report as JSON; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(include_spectra), indent=indent, ensure_ascii=False, allow_nan=False)
        if path is not None:
            check_outputs([("output", path)], self.inputs)
            atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return text

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """One CSV row per layer (failed layers included, with ``error``); atomic when ``path`` is given."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(_SCALAR_FIELDS)
        for r in self.rows:
            writer.writerow(["" if v is None else v for v in (getattr(r, k) for k in _SCALAR_FIELDS)])
        text = buf.getvalue()
        if path is not None:
            check_outputs([("output", path)], self.inputs)
            atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline=""))
        return text

    def to_dataframe(self):
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("Report.to_dataframe() needs pandas (pip install pandas)") from exc
        return pd.DataFrame([r.to_dict() for r in self.rows], columns=list(_SCALAR_FIELDS))

    def __str__(self) -> str:
        head = ("layer", "shape", "σ", "spikes", "softrank", "KS_MP", "PT", "⟨r⟩", "‖W‖₂", "srank", "erank", "α")
        lines = []
        for r in self.rows:
            shape = f"{r.rows}×{r.cols}"
            if not r.ok:
                lines.append((r.name, shape, f"error: {r.error}"))
                continue
            alpha = "—" if r.alpha is None else (f"{r.alpha:.2f}" if r.power_law_like else f"({r.alpha:.1f})")
            lines.append((
                r.name, shape, f"{r.sigma:.4g}", str(r.n_spikes), f"{r.mp_soft_rank:.3f}",
                f"{r.mp_ks_distance:.3f}", "—" if r.porter_thomas_boundary is None else str(r.porter_thomas_boundary),
                "—" if r.mean_r is None else f"{r.mean_r:.3f}", f"{r.spectral_norm:.4g}",
                f"{r.stable_rank:.1f}", f"{r.effective_rank:.1f}", alpha,
            ))  # fmt: skip
        full = [ln for ln in lines if len(ln) == len(head)]
        widths = [max([len(h)] + [len(ln[i]) for ln in full]) for i, h in enumerate(head)]
        widths[0] = max([widths[0]] + [len(ln[0]) for ln in lines])
        out = [f"netsieve analysis of {self.source}"]
        out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        out.append("  ".join("─" * w for w in widths))
        for ln in lines:
            if len(ln) == len(head):
                out.append("  ".join(v.ljust(w) for v, w in zip(ln, widths)))
            else:
                out.append(f"{ln[0].ljust(widths[0])}  {ln[1].ljust(widths[1])}  {ln[2]}")
        out.append("α in parentheses: the tail is not power-law-like (bounded, noise-like); see alpha_note")
        if self.skipped:
            out.append(f"skipped ({len(self.skipped)}):")
            out.extend(f"  {s}" for s in self.skipped)
        s = self.summary
        alpha = "—" if s["alpha_median"] is None else f"{s['alpha_median']:.2f}"
        out.append(
            f"{s['n_layers']} layers analysed ({s['n_parameters']:,} weights), {s['n_errors']} failed, "
            f"{s['n_skipped']} skipped; {s['n_spikes_total']} spikes in total; "
            f"{s['n_power_law_like']} power-law-like tails, median α {alpha}; {s['elapsed_s']:.2f} s"
        )
        return "\n".join(out)

    def __repr__(self) -> str:
        s = self.summary
        return f"<Report {self.source}: {s['n_layers']} layers, {s['n_errors']} errors, {s['n_skipped']} skipped>"

    # -- plots ----------------------------------------------------------------------------------
    def plot_esd(self, layer: str | int, ax=None):
        """Histogram of the singular values with the fitted MP density; spikes in red."""
        from ..spectral import mp_pdf

        r = self._plottable(layer)
        plt = _pyplot()
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        s = r.singular_values
        bulk = s[r.n_spikes : len(s)]
        ax.hist(bulk, bins=min(100, max(10, len(bulk) // 5)), density=True, color="0.7", label="singular values (bulk)")
        xs = np.linspace(r.bulk_min, r.bulk_max, 400)
        # density of the whole spectrum, drawn over the bulk histogram: scale by the bulk share
        frac = len(s) / max(1, len(bulk))
        ax.plot(xs, mp_pdf(xs, (r.rows, r.cols), r.sigma) * frac, "b-", label=f"MP fit σ={r.sigma:.3g}")
        ax.axvline(r.spike_threshold, color="b", ls=":", lw=1, label="spike threshold")
        for i, v in enumerate(r.spikes):
            ax.axvline(v, color="r", lw=1, label=f"{r.n_spikes} spikes" if i == 0 else None)
        ax.set_xlabel("singular value")
        ax.set_ylabel("density")
        ax.set_title(f"{r.name} ({r.rows}×{r.cols})", fontsize=9)
        ax.legend(fontsize=7)
        return ax

    def plot_tail(self, layer: str | int, ax=None):
        """Log-log complementary CDF of λ = s² with the fitted power law above xmin."""
        r = self._plottable(layer)
        plt = _pyplot()
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        lam = np.sort(r.singular_values[r.singular_values > 0] ** 2)
        ccdf = 1.0 - np.arange(len(lam)) / len(lam)
        ax.loglog(lam, ccdf, "k.", ms=3, label="empirical P(λ ≥ x)")
        if r.alpha is not None:
            xs = np.geomspace(r.alpha_xmin, r.alpha_xmax, 100)
            share = r.alpha_n_tail / len(lam)
            verdict = "power-law-like" if r.power_law_like else "not power-law-like"
            ax.loglog(xs, share * (xs / r.alpha_xmin) ** (1 - r.alpha), "r-", label=f"α={r.alpha:.2f} ({verdict})")
            ax.axvline(r.alpha_xmin, color="r", ls=":", lw=1, label="xmin")
        ax.set_xlabel("λ = s²")
        ax.set_ylabel("CCDF")
        ax.set_title(r.name, fontsize=9)
        ax.legend(fontsize=7)
        return ax

    def plot_summary(self, fig=None):
        """Per-layer α, spikes, MP soft rank and stable rank."""
        plt = _pyplot()
        ok = self.analysed
        if not ok:
            raise InvalidInputError("no analysed layers to plot")
        if fig is None:
            fig = plt.figure(figsize=(max(6, 0.25 * len(ok) + 2), 9))
        axes = fig.subplots(4, 1, sharex=True)
        x = np.arange(len(ok))
        alpha = np.array([np.nan if r.alpha is None else r.alpha for r in ok])
        like = np.array([bool(r.power_law_like) for r in ok])
        axes[0].scatter(x[like], alpha[like], c="r", s=12, label="power-law-like")
        axes[0].scatter(x[~like], alpha[~like], c="0.6", s=12, label="not power-law-like")
        axes[0].axhspan(2, 6, color="g", alpha=0.08)
        axes[0].set_ylabel("α")
        axes[0].legend(fontsize=7)
        axes[1].bar(x, [r.n_spikes for r in ok])
        axes[1].set_ylabel("MP spikes")
        axes[2].bar(x, [min(r.mp_soft_rank, 2.0) for r in ok])
        axes[2].set_ylabel("λ₊/λmax")
        axes[3].bar(x, [r.stable_rank for r in ok])
        axes[3].set_ylabel("stable rank")
        axes[3].set_xticks(x)
        axes[3].set_xticklabels([r.name for r in ok], rotation=90, fontsize=6)
        fig.tight_layout()
        return fig

    def save_plots(self, folder: str | os.PathLike) -> list[Path]:
        """Writes summary.png and, per analysed layer, <name>.esd.png and <name>.tail.png (atomically)."""
        plt = _pyplot()
        folder = Path(folder)
        check_output_folder("plots folder", folder, self.inputs)
        folder.mkdir(parents=True, exist_ok=True)
        written = []

        def save(fig, name: str) -> None:
            path = folder / name
            atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
            plt.close(fig)
            written.append(path)

        save(self.plot_summary(), "summary.png")
        for r in self.analysed:
            stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in r.name)
            fig, axes = plt.subplots(1, 2, figsize=(11, 4))
            self.plot_esd(r.name, axes[0])
            self.plot_tail(r.name, axes[1])
            fig.tight_layout()
            save(fig, f"{stem}.png")
        return written

    def _plottable(self, layer: str | int) -> LayerResult:
        r = self[layer]
        if not r.ok:
            raise InvalidInputError(f"layer {r.name!r} was not analysed: {r.error}")
        return r


def _pyplot():
    try:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'netsieve[plot]'") from exc
    return plt


# -- input handling -----------------------------------------------------------------------------


def _open_input(model_or_path: Any, select: dict) -> tuple[list[WeightMatrix], list[Skipped], Callable, str, Callable]:
    """(chosen matrices, skipped, getter name→tensor, description, close); the description of a
    file input is its path."""
    if isinstance(model_or_path, torch.nn.Module):
        chosen, skipped, get = module_weight_matrices(model_or_path, **select)
        return chosen, skipped, get, type(model_or_path).__name__, lambda: None
    if isinstance(model_or_path, Mapping):
        tensors = {str(k): v for k, v in model_or_path.items() if isinstance(v, torch.Tensor)}
        skipped = [
            Skipped(str(k), (), f"not a tensor ({type(v).__name__})")
            for k, v in model_or_path.items()
            if not isinstance(v, torch.Tensor)
        ]
        chosen, more = select_weight_matrices(((n, tuple(t.shape)) for n, t in tensors.items()), **select)
        return chosen, skipped + more, tensors.__getitem__, "state dict", lambda: None
    if isinstance(model_or_path, TensorSource):
        src, close = model_or_path, (lambda: None)
    elif isinstance(model_or_path, (str, os.PathLike)):
        src = open_weights(model_or_path)
        close = src.close
    else:
        raise TypeError(
            "analyze() takes an nn.Module, a state dict, a TensorSource or a path to .safetensors / "
            f"a folder of shards / a torch checkpoint, got {type(model_or_path).__name__}"
        )
    try:
        chosen, skipped = select_weight_matrices(((n, src.shape(n)) for n in src.names()), **select)
    except BaseException:
        close()
        raise
    return chosen, src.skipped + skipped, src.get, str(src.path), close


def _prepare(entry: WeightMatrix, tensor: torch.Tensor) -> tuple[np.ndarray | None, str | None]:
    """The float32/64 numpy matrix of an entry, or the reason it cannot be analysed."""
    m = entry.extract(tensor).detach()
    if m.is_meta:
        return None, "on the meta device: the tensor holds no values"
    if m.device.type != "cpu":
        m = m.cpu()
    if not (m.is_floating_point() and not m.is_complex()):
        return None, f"dtype {m.dtype} is not a real floating-point type"
    # A finite float64 sum proves every entry finite in one fast pass; count only when it is not.
    if not bool(torch.isfinite(m.sum(dtype=torch.float64))):
        bad = int((~torch.isfinite(m)).sum())
        if bad:
            n_nan = int(torch.isnan(m).sum())
            return None, f"contains {bad} non-finite values ({n_nan} NaN, {bad - n_nan} ±Inf) of {m.numel()}"
    try:
        return as_matrix(m, name=entry.name), None
    except (InvalidInputError, TypeError, ValueError) as exc:
        return None, str(exc)


def _row(entry: WeightMatrix, shape: tuple[int, int], d: Any) -> LayerResult:
    rows, cols = shape
    base = dict(
        name=entry.name, tensor_name=entry.tensor_name, layer_type=entry.layer_type, rows=rows, cols=cols,
        N=max(rows, cols), M=min(rows, cols), beta=min(rows, cols) / max(rows, cols),
    )  # fmt: skip
    if isinstance(d, (BaseException, str)):
        return LayerResult(**base, error=str(d))
    s = d["singular_values"]
    fit = MPFit._from_core(d["fit"], shape, s)
    norms = d["norms"]
    ls = d["level_spacing"]
    pt = d["porter_thomas"]
    pl = d["power_law"]
    extra: dict[str, Any] = {}
    if isinstance(pl, dict):
        extra = dict(
            alpha=pl["alpha"], alpha_stderr=pl["alpha_stderr"], alpha_xmin=pl["xmin"], alpha_xmax=pl["xmax"],
            alpha_n_tail=pl["n_tail"], alpha_ks_distance=pl["ks_distance"],
            alpha_likelihood_ratio=pl["likelihood_ratio"], power_law_like=pl["power_law_like"],
            alpha_note=None if pl["power_law_like"] else "tail is bounded or too short: not a power law",
        )  # fmt: skip
    else:
        extra = dict(power_law_like=False, alpha_note=str(pl))
    return LayerResult(
        **base,
        sigma=fit.sigma,
        bulk_min=fit.bulk_edges[0],
        bulk_max=fit.bulk_edges[1],
        spike_threshold=fit.spike_threshold,
        n_spikes=fit.n_spikes,
        n_low_outliers=fit.n_low_outliers,
        mp_soft_rank=d["mp_soft_rank"],
        mp_ks_distance=fit.ks_distance,
        mp_ks_pvalue=fit.ks_pvalue,
        porter_thomas_boundary=None if pt is None else pt["boundary"],
        mean_r=None if ls is None else ls["mean_ratio"],
        spectral_norm=norms["spectral_norm"],
        frobenius_norm=norms["frobenius_norm"],
        stable_rank=norms["stable_rank"],
        effective_rank=norms["effective_rank"],
        entropy=norms["entropy"],
        singular_values=s,
        **extra,
    )


def _progress(total: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="netsieve analyze", unit="layer", leave=False)


def analyze(
    model_or_path: Any,
    layers: str | Sequence[str] | None = None,
    *,
    conv_slices: bool = False,
    embeddings: bool = True,
    porter_thomas: bool = True,
    level_statistics: bool = True,
    spike_confidence: float = 0.99,
    min_tail: int = 10,
    min_span: float = 1.5,
    max_group_bytes: int = 256 * 2**20,
    progress: bool | None = None,
) -> Report:
    """Analyses every weight matrix of a model or checkpoint; see the module docstring.

    ``layers``: globs on tensor names (``"encoder.*.attention.*"``); ``conv_slices``: one matrix per
    kernel position instead of the out × (in·k) reshape; ``embeddings``: include embedding tables;
    ``porter_thomas``: singular-vector test (needs a thin SVD, the slowest part); ``min_tail`` and
    ``min_span``: the power-law verdict's rule (see :mod:`netsieve` docs, ``power_law.rs``);
    ``max_group_bytes``: tensors are read and analysed in groups of at most this many bytes (a
    larger single layer forms its own group); ``progress``: a tqdm bar (default: when stderr is a
    terminal). Layers that fail (NaN/Inf, too small for the MP fit) become rows with ``error``.
    """
    if int(min_tail) < 2:
        raise InvalidInputError(f"min_tail must be at least 2, got {min_tail!r}")
    if not float(min_span) >= 1.0:
        raise InvalidInputError(f"min_span must be at least 1, got {min_span!r}")
    if int(max_group_bytes) <= 0:
        raise InvalidInputError(f"max_group_bytes must be positive, got {max_group_bytes!r}")
    tw = _tw_margin(spike_confidence)
    start = time.perf_counter()
    select = dict(layers=layers, embeddings=bool(embeddings), conv_slices=bool(conv_slices))
    chosen, skipped, get, source, close = _open_input(model_or_path, select)
    inputs = (source,) if isinstance(model_or_path, (str, os.PathLike, TensorSource)) else ()
    options = dict(
        layers=layers, conv_slices=bool(conv_slices), embeddings=bool(embeddings),
        porter_thomas=bool(porter_thomas), level_statistics=bool(level_statistics),
        spike_confidence=spike_confidence, min_tail=int(min_tail), min_span=float(min_span),
    )  # fmt: skip
    by_tensor: dict[str, list[WeightMatrix]] = {}
    for e in chosen:
        by_tensor.setdefault(e.tensor_name, []).append(e)
    results: dict[str, LayerResult] = {}
    bar = _progress(len(chosen), progress)
    group: list[tuple[WeightMatrix, np.ndarray]] = []
    group_bytes = 0

    def flush() -> None:
        nonlocal group, group_bytes
        if not group:
            return
        raw = _core.analyze_layers(
            [m for _, m in group], tw, "auto", bool(level_statistics), bool(porter_thomas), 15, 0.05,
            int(min_tail), float(min_span),
        )  # fmt: skip
        for (entry, m), d in zip(group, raw):
            results[entry.name] = _row(entry, m.shape, d)
        if bar is not None:
            bar.update(len(group))
        group, group_bytes = [], 0

    try:
        for tensor_name, entries in by_tensor.items():
            try:
                tensor = get(tensor_name)
            except Exception as exc:  # a corrupt tensor in a readable file: report it, go on
                for e in entries:
                    results[e.name] = _row(e, e.shape, f"cannot read tensor: {exc}")
                continue
            for e in entries:
                m, reason = _prepare(e, tensor)
                if reason is not None:
                    results[e.name] = _row(e, e.shape, reason)
                    if bar is not None:
                        bar.update(1)
                    continue
                if group and group_bytes + m.nbytes > max_group_bytes:
                    flush()
                group.append((e, m))
                group_bytes += m.nbytes
            del tensor
        flush()
    finally:
        if bar is not None:
            bar.close()
        close()
    rows = [results[e.name] for e in chosen]
    return Report(rows, skipped, source, time.perf_counter() - start, options, inputs)


# -- command line ---------------------------------------------------------------------------------


def run_cli(args: Any) -> int:
    """``netsieve analyze``: prints the table; exit code 1 when no layer could be analysed."""
    if not os.path.exists(args.path):
        raise FileNotFoundError(f"no such file or folder: {args.path}")
    # Every output is checked before the analysis: none may be the input or lie in an input folder.
    check_outputs([("--csv", args.csv), ("--json", args.json)], [args.path])
    check_output_folder("--plots", args.plots, [args.path])
    if args.plots:
        _pyplot()  # matplotlib missing: say so now, not after the analysis
    report = analyze(
        args.path,
        layers=args.layers or None,
        conv_slices=args.conv_slices,
        embeddings=not args.no_embeddings,
        porter_thomas=not args.no_porter_thomas,
        progress=None if not args.quiet else False,
    )
    if not args.quiet:
        print(report)
    else:  # files of the folder that were not read are worth a line even when quiet
        files = [s for s in report.skipped if s.kind == "file"]
        if files:
            print(f"netsieve analyze: {len(files)} files not read: " + "; ".join(str(s) for s in files), file=sys.stderr)
    if args.csv:
        report.to_csv(args.csv)
    if args.json:
        report.to_json(args.json)
    if args.plots and report.analysed:
        report.save_plots(args.plots)
    if not report.analysed:
        reasons = [f"{r.name}: {r.error}" for r in report.errors] + [f"{s.name}: {s.reason}" for s in report.skipped]
        detail = "; ".join(reasons[:10]) or "no tensors matched"
        print(f"netsieve analyze: error: nothing could be analysed in {report.source} ({detail})", file=sys.stderr)
        return 1
    return 0
