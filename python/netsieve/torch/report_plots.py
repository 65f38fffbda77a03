"""Plots of an analysis :class:`~netsieve.torch.report.Report`: each layer's spectrum against its
fitted MP law (the shared :func:`netsieve._plotting.plot_esd`), the tail of λ = s² with the fitted
power law, and a per-layer summary."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from netsieve import InvalidInputError, LayerReport

from .._files import atomic_write, check_output_folder
from .._plotting import plot_esd as _esd
from .._plotting import pyplot

__all__ = ["plot_esd", "plot_tail", "plot_summary", "save_plots"]


def _plottable(report: Any, layer: str | int) -> LayerReport:
    r = report[layer]
    if not r.ok:
        raise InvalidInputError(f"layer {r.name!r} was not analysed: {r.error}")
    return r


def _axes(ax: Any) -> Any:
    if ax is None:
        _, ax = pyplot().subplots(figsize=(6, 4))
    return ax


def plot_esd(report: Any, layer: str | int, ax: Any = None) -> Any:
    """Histogram of the bulk singular values with the fitted bulk density (and the white-noise fit
    when they differ); spikes in red."""
    r = _plottable(report, layer)
    verdict = "" if r.bulk_is_mp is None else (", bulk is MP" if r.bulk_is_mp else f", not MP (p={r.mp_ks_pvalue:.2g})")
    return _esd(_axes(ax), r.singular_values, (r.rows, r.cols), r.sigma, r.n_spikes, r.spike_threshold,
                title=f"{r.name} ({r.rows}×{r.cols}{verdict})", spread=r.spread or 0.0,
                population_shape=r.population_shape or (1.0, 1.0))  # fmt: skip


def plot_tail(report: Any, layer: str | int, ax: Any = None) -> Any:
    """Log-log complementary CDF of λ = s² with the fitted power law above xmin."""
    r = _plottable(report, layer)
    ax = _axes(ax)
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


def plot_summary(report: Any, fig: Any = None) -> Any:
    """Per-layer α, spikes, MP soft rank and stable rank."""
    plt = pyplot()
    ok = report.analysed
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


def save_plots(report: Any, folder: str | os.PathLike) -> list[Path]:
    """Writes summary.png and one <layer>.png (ESD and tail) per analysed layer, atomically; the
    folder may not be (or lie in) an input of the report."""
    plt = pyplot()
    check_output_folder("plots folder", folder, report.inputs)  # before Path(), which would mangle a URL
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig: Any, name: str) -> None:
        path = folder / name
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
        plt.close(fig)
        written.append(path)

    save(plot_summary(report), "summary.png")
    if len({s.block for s in report.by_block()}) >= 2:
        from .depth import plot_depth

        save(plot_depth(report), "depth.png")
    for r in report.analysed:
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in r.name)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        plot_esd(report, r.name, axes[0])
        plot_tail(report, r.name, axes[1])
        fig.tight_layout()
        save(fig, f"{stem}.png")
    return written
