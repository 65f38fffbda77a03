"""PNG plots of a run: accuracy/loss curves, margin distributions over epochs, and each layer's ESD
(singular-value histogram) with the fitted Marchenko–Pastur density, drawn by the one ESD plot
(:func:`netsieve._plotting.plot_esd`). Skipped (the functions return False) when matplotlib is
missing; files are written atomically. Histories read back from ``metrics.jsonl`` may hold None
(strict JSON's NaN) or "inf": they plot as gaps and infinities."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._files import atomic_write_bytes
from .._plotting import plot_esd as _draw_esd
from .._plotting import pyplot

__all__ = ["plot_run", "plot_curves", "plot_margins", "plot_esd"]


def _figure(**subplots: Any) -> tuple[Any, Any, Any] | None:
    """(pyplot, figure, axes), or None without matplotlib: plots are optional."""
    try:
        plt = pyplot()
    except ImportError:
        return None
    fig, axes = plt.subplots(**subplots)
    return plt, fig, axes


def _save(plt: Any, fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _value(row: Mapping[str, Any], key: str) -> float:
    v = row.get(key)
    return np.nan if v is None else float(v)  # float("inf") reads strict JSON's "inf"


def plot_curves(history: Sequence[Mapping[str, Any]], path: Path) -> bool:
    if not history:
        return False
    made = _figure(ncols=2, figsize=(11, 4))
    if made is None:
        return False
    plt, fig, (ax1, ax2) = made
    ep = [r["epoch"] for r in history]
    for key, label in (("train_acc", "train (given labels)"), ("train_acc_clean", "train, clean subset"),
                       ("train_acc_noisy", "train, noisy subset (memorised)"), ("test_acc", "test")):
        if key in history[0]:
            ax1.plot(ep, [_value(r, key) for r in history], label=label)
    ax1.set_xlabel("epoch"), ax1.set_ylabel("accuracy"), ax1.set_ylim(0, 1.02), ax1.legend(fontsize=8)
    for key, label in (("loss", "train loss (mini-batch mean)"), ("train_loss_eval", "train loss (eval)"),
                       ("test_loss", "test loss")):
        if key in history[0]:
            ax2.plot(ep, [_value(r, key) for r in history], label=label)
    flagged = [r["epoch"] for r in history if r.get("accuracy_instability")]
    for e in flagged:
        ax2.axvline(e, color="red", alpha=0.15, lw=1)
    ax2.set_xlabel("epoch"), ax2.set_ylabel("cross-entropy"), ax2.set_yscale("log")
    ax2.set_title(f"{len(flagged)} accuracy-instability epochs (red)" if flagged else "", fontsize=9)
    ax2.legend(fontsize=8)
    _save(plt, fig, path)
    return True


def plot_margins(epochs: Sequence[int], margins: Sequence[np.ndarray], noisy_mask: np.ndarray, path: Path,
                 max_panels: int = 6) -> bool:
    if not margins:
        return False
    pick = np.unique(np.linspace(0, len(margins) - 1, min(max_panels, len(margins))).round().astype(int))
    made = _figure(ncols=len(pick), figsize=(3.2 * len(pick), 3), sharey=False, squeeze=False)
    if made is None:
        return False
    plt, fig, axes = made
    for ax, i in zip(axes[0], pick):
        m = np.asarray(margins[i], dtype=np.float64)
        finite = m[np.isfinite(m)]
        bins = np.linspace(finite.min(), finite.max(), 50) if finite.size and finite.max() > finite.min() else 10
        ax.hist(m[~noisy_mask], bins=bins, alpha=0.6, label="clean labels")
        if noisy_mask.any():
            ax.hist(m[noisy_mask], bins=bins, alpha=0.6, label="corrupted labels")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"epoch {epochs[i]}", fontsize=9)
        ax.set_xlabel("logit margin")
    axes[0][0].legend(fontsize=7)
    _save(plt, fig, path)
    return True


def plot_esd(name: str, s: np.ndarray, shape: tuple[int, int], sigma: float, n_spikes: int, path: Path,
             spike_threshold: float | None = None, spread: float = 0.0, population_shape: tuple[float, float] = (1.0, 1.0)) -> bool:
    """One layer's spectrum against its bulk fit (and the white-noise fit), written to ``path``."""
    if np.size(s) < 2:
        return False
    made = _figure(figsize=(5, 3.5))
    if made is None:
        return False
    plt, fig, ax = made
    _draw_esd(ax, s, shape, sigma, n_spikes, spike_threshold=spike_threshold,
              title=f"{name} {shape[0]}×{shape[1]}: {n_spikes} spikes", spread=spread,
              population_shape=population_shape)
    _save(plt, fig, path)
    return True


def plot_run(run_dir: Path, history: Sequence[Mapping[str, Any]], margin_epochs: Sequence[int],
             margins: Sequence[np.ndarray], noisy_mask: np.ndarray, spectra: Mapping[str, Mapping[str, Any]]) -> bool:
    """All plots of a run under ``run_dir/plots``; returns False when matplotlib is unavailable."""
    try:
        pyplot()
    except ImportError:
        return False
    out = Path(run_dir) / "plots"
    out.mkdir(exist_ok=True)
    plot_curves(history, out / "curves.png")
    plot_margins(margin_epochs, margins, noisy_mask, out / "margins.png")
    for name, sp in spectra.items():
        plot_esd(name, np.asarray(sp["s"]), tuple(sp["shape"]), sp["sigma"], sp["n_spikes"],
                 out / f"esd_{_safe_name(name)}.png", spike_threshold=sp.get("spike_threshold"),
                 spread=sp.get("spread", 0.0), population_shape=tuple(sp.get("population_shape", (1.0, 1.0))))
    return True
