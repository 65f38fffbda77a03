"""The doubling condition of a training set: how much a thin slab of the data gains when doubled.

Berlyand, Jabin & Safsten (arXiv 2002.04122) show that accuracy stays high once it is high when the
training data satisfy a doubling condition on slabs, and name flat portions of the data as the
source of instability; Shmalo (arXiv 2210.08415) makes the condition uniform over slabs, which
makes it checkable on a data set, and extends it to piecewise-linear activations (Leaky ReLU).
Only the abstracts were readable: the definitions below are ours, derived from their statements
(docs/doubling.md has the derivation and what was measured).

* A slab is the open set S(w, b, δ) = {x : |w·x + b| < δ}, ‖w‖ = 1; a point on a face is outside.
* The doubling ratio of a slab is #(T ∩ S(w, b, 2δ)) / #(T ∩ S(w, b, δ)).
* The uniform doubling constant with cut m:
  Ĉ_m(δ₀) = sup { ratio(w, b, δ) : ‖w‖ = 1, b ∈ ℝ, δ ≤ δ₀, #(T ∩ S(w, b, δ)) ≥ m }.

:func:`slab_counts` counts exactly; :func:`doubling_condition` computes a lower bound of Ĉ_m over
random, data-driven and searched directions, slabs centred on the data and a grid of widths. The
functions and result classes are the Rust core's (``netsieve._netsieve``); this module adds the
first-layer rows of a model (duck-typed, torch is never imported here) and the plots.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._netsieve import DIRECTION_SOURCES, DoublingResult, InvalidInputError, Slab, doubling_condition, slab_counts

__all__ = [
    "DIRECTION_SOURCES",
    "DoublingResult",
    "Slab",
    "doubling_condition",
    "slab_counts",
    "first_layer_rows",
    "plot_doubling",
]


def first_layer_rows(model: Any, dim: int) -> np.ndarray:
    """The weight rows of ``model``'s first layer that reads ``dim`` inputs, as an (n, dim) float64
    array: the first 2-D parameter with ``dim`` columns of an object with ``named_parameters``
    (a torch module), or ``model`` itself as an (n, dim) array of rows.

    Examples
    --------
    >>> import numpy as np
    >>> from netsieve.doubling import first_layer_rows
    >>> first_layer_rows(np.eye(3)[:2], 3).shape
    (2, 3)
    """
    if hasattr(model, "named_parameters"):
        for _, p in model.named_parameters():
            if p.dim() == 2 and p.shape[1] == dim:
                return p.detach().cpu().double().numpy()
        raise InvalidInputError(f"model has no weight matrix with {dim} input columns (the points have {dim})")
    rows = np.asarray(model, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != dim:
        raise InvalidInputError(f"model must be a module or an (n, {dim}) array of rows, got shape {rows.shape}")
    return rows


def plot_doubling(result: DoublingResult, X: Any = None, path: Any = None) -> Any:
    """Ĉ against δ (the whole set, without the searched directions, the mean ratio, and each class),
    and, given the points ``X``, the worst slab: a histogram of the data projected on its
    direction with the slab and its double shaded. Returns the figure; ``path`` saves it
    (``DoublingResult.plot`` calls this).

    Examples
    --------
    >>> import numpy as np, netsieve as ns
    >>> X = np.random.default_rng(0).normal(size=(500, 3))
    >>> fig = ns.doubling_condition(X, n_directions=16).plot(X)
    >>> len(fig.axes)
    2
    """
    from ._plotting import pyplot

    plt = pyplot()
    panels = 2 if X is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(result.deltas, result.constant_by_delta, "o-", color="C3", label="Ĉ (largest ratio)")
    ax.plot(result.deltas, result.mean_ratio_by_delta, "--", color="0.4", label="mean ratio")
    if result.by_class:
        for label, r in result.by_class.items():
            if r is not None:
                ax.plot(r.deltas, r.constant_by_delta, ":", lw=1, label=f"class {label}")
    ax.set_xscale("log")
    ax.set_xlabel("slab half-width δ")
    ax.set_ylabel("doubling ratio #S(2δ) / #S(δ)")
    ax.set_title(f"Ĉ = {result.constant:.3g} (m = {result.min_points}, N = {result.n_points})")
    ax.legend(fontsize=7)
    if X is not None:
        from ._coerce import as_float_array

        points = as_float_array(X, "X").astype(np.float64, copy=False)
        w = result.worst
        if points.ndim != 2 or points.shape[1] != w.direction.shape[0]:
            raise InvalidInputError(f"X must be (N, {w.direction.shape[0]}) like the analysed points")
        p = points @ w.direction
        ax = axes[0, 1]
        centre = -w.offset
        ax.hist(p, bins=200, color="0.6")
        ax.axvspan(centre - 2 * w.delta, centre + 2 * w.delta, color="C0", alpha=0.25, label=f"2δ: {w.outer} points")
        ax.axvspan(centre - w.delta, centre + w.delta, color="C3", alpha=0.4, label=f"δ: {w.inner} points")
        ax.set_xlabel(f"w·x (w from {w.source})")
        ax.set_title(f"worst slab: ratio {w.ratio:.3g} at δ = {w.delta:.3g}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(os.fspath(path), dpi=120)
    return fig
