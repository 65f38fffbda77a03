"""matplotlib, imported only when a plot is drawn (the ``plot`` extra), and the plot of a spectrum
against its fitted Marchenko–Pastur density that the reports and the training runs share."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

__all__ = ["pyplot", "plot_esd"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` with a file backend unless one was chosen; ImportError names the extra."""
    try:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install 'netsieve[plot]'") from exc
    return plt


def plot_esd(
    ax: Any,
    singular_values: np.ndarray,
    shape: tuple[int, int],
    sigma: float,
    n_spikes: int,
    spike_threshold: float | None = None,
    title: str | None = None,
    spread: float = 0.0,
    population_shape: tuple[float, float] = (1.0, 1.0),
) -> Any:
    """Histogram of the bulk singular values with the fitted bulk density (scaled to the bulk's
    share of the spectrum), the spike threshold, and each spike as a red line. A deformed fit
    (``spread`` > 0) is drawn solid with the white-noise MP fit of the same spectrum dashed."""
    from netsieve import fit_mp, mp_pdf

    s = np.asarray(singular_values, dtype=np.float64)
    bulk = s[n_spikes:]
    if bulk.size:
        ax.hist(bulk, bins=min(100, max(10, bulk.size // 5)), density=True, color="0.7", label="singular values (bulk)")
    hi = float(np.max(s, initial=1.0))
    grid = np.linspace(0.0, max(hi, 1e-300) * 1.02 if bulk.size == 0 else float(bulk.max()) * 1.05, 600)
    share = s.size / max(1, bulk.size)
    if spread > 0:
        density = mp_pdf(grid, shape, sigma, spread=spread, population_shape=population_shape)
        ax.plot(grid, density * share, "b-", lw=1.5, label=f"deformed fit σ={sigma:.3g} τ={spread:.2f} shape {tuple(population_shape)}")
        try:
            white = fit_mp(s, shape, bulk="mp")
            k = white.n_spikes
            ax.plot(grid, mp_pdf(grid, shape, white.sigma) * s.size / max(1, s.size - k), "g--", lw=1,
                    label=f"MP fit σ={white.sigma:.3g} ({k} spikes)")
        except ValueError:
            pass  # the white-noise fit is refused (a low-rank spectrum): nothing to compare
    else:
        ax.plot(grid, mp_pdf(grid, shape, sigma) * share, "b-", lw=1.5, label=f"MP fit σ={sigma:.3g}")
    if spike_threshold is not None:
        ax.axvline(spike_threshold, color="b", ls=":", lw=1, label="spike threshold")
    for i, v in enumerate(s[:n_spikes]):
        ax.axvline(v, color="r", lw=1, label=f"{n_spikes} spikes" if i == 0 else None)
    ax.set_xlabel("singular value")
    ax.set_ylabel("density")
    ax.set_title(title or f"{shape[0]}×{shape[1]}: {n_spikes} spikes", fontsize=9)
    ax.legend(fontsize=7)
    return ax
