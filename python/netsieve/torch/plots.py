"""PNG plots of a run: accuracy/loss curves, margin distributions over epochs, and each layer's ESD
(singular-value histogram) with the fitted Marchenko–Pastur density. Skipped when matplotlib is
missing; files are written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .rundir import atomic_write_bytes

__all__ = ["plot_run", "plot_curves", "plot_margins", "plot_esd"]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def _safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def plot_curves(history: Sequence[Mapping[str, Any]], path: Path) -> bool:
    plt = _pyplot()
    if plt is None or not history:
        return False
    ep = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("train_acc", "train (given labels)"), ("train_acc_clean", "train, clean subset"),
                       ("train_acc_noisy", "train, noisy subset (memorised)"), ("test_acc", "test")):
        if key in history[0]:
            ax1.plot(ep, [r.get(key, np.nan) for r in history], label=label)
    ax1.set_xlabel("epoch"), ax1.set_ylabel("accuracy"), ax1.set_ylim(0, 1.02), ax1.legend(fontsize=8)
    for key, label in (("loss", "train loss (mini-batch mean)"), ("train_loss_eval", "train loss (eval)"),
                       ("test_loss", "test loss")):
        if key in history[0]:
            ax2.plot(ep, [r.get(key, np.nan) for r in history], label=label)
    flagged = [r["epoch"] for r in history if r.get("accuracy_instability")]
    for e in flagged:
        ax2.axvline(e, color="red", alpha=0.15, lw=1)
    ax2.set_xlabel("epoch"), ax2.set_ylabel("cross-entropy"), ax2.set_yscale("log")
    ax2.set_title(f"{len(flagged)} accuracy-instability epochs (red)" if flagged else "", fontsize=9)
    ax2.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)
    return True


def plot_margins(epochs: Sequence[int], margins: Sequence[np.ndarray], noisy_mask: np.ndarray, path: Path,
                 max_panels: int = 6) -> bool:
    plt = _pyplot()
    if plt is None or not margins:
        return False
    pick = np.unique(np.linspace(0, len(margins) - 1, min(max_panels, len(margins))).round().astype(int))
    fig, axes = plt.subplots(1, len(pick), figsize=(3.2 * len(pick), 3), sharey=False, squeeze=False)
    for ax, i in zip(axes[0], pick):
        m = np.asarray(margins[i], dtype=np.float64)
        bins = np.linspace(m.min(), m.max(), 50) if m.max() > m.min() else 10
        ax.hist(m[~noisy_mask], bins=bins, alpha=0.6, label="clean labels")
        if noisy_mask.any():
            ax.hist(m[noisy_mask], bins=bins, alpha=0.6, label="corrupted labels")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(f"epoch {epochs[i]}", fontsize=9)
        ax.set_xlabel("logit margin")
    axes[0][0].legend(fontsize=7)
    _save(fig, path)
    plt.close(fig)
    return True


def plot_esd(name: str, s: np.ndarray, shape: tuple[int, int], sigma: float, n_spikes: int, path: Path) -> bool:
    plt = _pyplot()
    if plt is None or s.size < 2:
        return False
    from netsieve import mp_pdf

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(s, bins=min(80, max(10, s.size // 5)), density=True, alpha=0.6, label="singular values")
    grid = np.linspace(0.0, float(s.max()) * 1.02, 600)
    ax.plot(grid, mp_pdf(grid, shape, sigma), "r-", lw=1.5, label=f"MP fit, σ={sigma:.3g}")
    ax.set_title(f"{name} {shape[0]}×{shape[1]}: {n_spikes} spikes", fontsize=9)
    ax.set_xlabel("singular value"), ax.legend(fontsize=8)
    _save(fig, path)
    plt.close(fig)
    return True


def plot_run(run_dir: Path, history: Sequence[Mapping[str, Any]], margin_epochs: Sequence[int],
             margins: Sequence[np.ndarray], noisy_mask: np.ndarray, spectra: Mapping[str, Mapping[str, Any]]) -> bool:
    """All plots of a run under ``run_dir/plots``; returns False when matplotlib is unavailable."""
    if _pyplot() is None:
        return False
    out = Path(run_dir) / "plots"
    out.mkdir(exist_ok=True)
    plot_curves(history, out / "curves.png")
    plot_margins(margin_epochs, margins, noisy_mask, out / "margins.png")
    for name, sp in spectra.items():
        plot_esd(name, np.asarray(sp["s"]), tuple(sp["shape"]), sp["sigma"], sp["n_spikes"], out / f"esd_{_safe_name(name)}.png")
    return True
