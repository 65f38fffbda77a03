"""Matrices with known structure, for tests, examples and the ``netsieve spectrum`` command: i.i.d.
noise plus planted rank-one spikes θₖ·uₖvₖᵀ with unit uₖ, vₖ.

The BBP threshold σ(NM)^¼ (:func:`bbp_threshold`) is the signal strength above which a spike
separates from the Marchenko–Pastur bulk of N×M noise with entry std σ.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

__all__ = ["planted_spikes", "bbp_threshold"]

NOISES = ("gaussian", "rademacher", "uniform")
VECTORS = ("random", "localized")


def _check_size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {type(value).__name__}")
    if int(value) < 1:
        raise ValueError(f"{what} must be positive, got {value}")
    return int(value)


def _check_sigma(sigma: object) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"sigma must be a real number, got {type(sigma).__name__}")
    if not (math.isfinite(float(sigma)) and float(sigma) > 0.0):
        raise ValueError(f"sigma must be positive and finite, got {sigma}")
    return float(sigma)


def bbp_threshold(rows: int, cols: int, sigma: float = 1.0) -> float:
    """σ(NM)^¼: planted strengths above it are detectable as spikes.

    A rank-one signal θ·u·vᵀ (unit u, v) added to N×M noise of entry std σ gives a singular value
    outside the Marchenko–Pastur bulk when θ exceeds this threshold (in singular-value units, the
    convention of :mod:`netsieve.spectral`).

    Parameters
    ----------
    rows, cols : int
        N and M (the order does not matter).
    sigma : float, default 1.0
        The noise's entry standard deviation.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        Sizes that are not integers, a σ that is not a real number.
    ValueError
        Sizes below 1, a σ that is not positive and finite.

    Examples
    --------
    >>> from netsieve.synthetic import bbp_threshold
    >>> round(bbp_threshold(400, 100), 4), round(bbp_threshold(400, 100, sigma=0.1), 4)
    (14.1421, 1.4142)

    References
    ----------
    .. [1] Baik, Ben Arous & Péché: the "BBP" transition of spiked random matrices.
    """
    rows, cols, sigma = _check_size(rows, "rows"), _check_size(cols, "cols"), _check_sigma(sigma)
    return sigma * (rows * cols) ** 0.25


def planted_spikes(
    rng: np.random.Generator,
    rows: int,
    cols: int,
    strengths: Sequence[float],
    sigma: float = 1.0,
    noise: str = "gaussian",
    vectors: str = "random",
    support: int = 10,
    return_signal: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Noise with entry std ``sigma`` (``noise`` in "gaussian", "rademacher", "uniform") plus one
    spike θ·u·vᵀ per strength. ``vectors="random"`` draws Gaussian directions; ``"localized"``
    puts spike k on ``support`` disjoint coordinates with random signs (the structure a
    Porter–Thomas test tells from random vectors). ``return_signal=True`` also returns the planted
    low-rank part.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the directions, signs and noise.
    rows, cols : int
        The matrix's shape.
    strengths : sequence of float
        θ of each spike (compare with :func:`bbp_threshold`).
    sigma : float, default 1.0
        The noise's entry standard deviation.
    noise : {"gaussian", "rademacher", "uniform"}, default "gaussian"
    vectors : {"random", "localized"}, default "random"
    support : int, default 10
        Coordinates per localized spike.
    return_signal : bool, default False

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, numpy.ndarray)
        The (rows, cols) float64 matrix, and with ``return_signal`` the planted part Σ θₖuₖvₖᵀ.

    Raises
    ------
    ValueError
        An unknown ``noise`` or ``vectors``, sizes or ``support`` below 1, a ``sigma`` that is not
        positive and finite, a strength that is not finite, or localized spikes that need more
        than ``min(rows, cols)`` coordinates.
    TypeError
        Sizes or ``support`` that are not integers, ``rng`` that is not a numpy Generator.

    Examples
    --------
    >>> import numpy as np, netsieve as ns
    >>> from netsieve.synthetic import planted_spikes, bbp_threshold
    >>> W = planted_spikes(np.random.default_rng(0), 400, 200, [3 * bbp_threshold(400, 200)])
    >>> ns.fit_mp(W).n_spikes
    1
    >>> W, S = planted_spikes(np.random.default_rng(1), 50, 40, [5.0, 3.0], vectors="localized",
    ...                       support=5, return_signal=True)
    >>> W.shape, np.linalg.svd(S, compute_uv=False)[:3].round(6).tolist()
    ((50, 40), [5.0, 3.0, 0.0])

    References
    ----------
    .. [1] Baik, Ben Arous & Péché: the "BBP" transition that :func:`bbp_threshold` locates.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    rows, cols, sigma = _check_size(rows, "rows"), _check_size(cols, "cols"), _check_sigma(sigma)
    support = _check_size(support, "support")
    strengths = [float(t) for t in strengths]
    if not all(math.isfinite(t) for t in strengths):
        raise ValueError(f"strengths must be finite, got {strengths}")
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
    if vectors not in VECTORS:
        raise ValueError(f"vectors must be one of {VECTORS}, got {vectors!r}")
    if vectors == "localized" and support * len(strengths) > min(rows, cols):
        raise ValueError(
            f"{len(strengths)} localized spikes on {support} coordinates each need at least "
            f"{support * len(strengths)} rows and columns"
        )
    signal = np.zeros((rows, cols))
    for k, theta in enumerate(strengths):
        if vectors == "random":
            u, v = rng.normal(size=rows), rng.normal(size=cols)
        else:
            u, v = np.zeros(rows), np.zeros(cols)
            u[k * support : (k + 1) * support] = rng.choice([-1.0, 1.0], size=support)
            v[k * support : (k + 1) * support] = rng.choice([-1.0, 1.0], size=support)
        signal += theta * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    if noise == "gaussian":
        W = rng.normal(0.0, sigma, size=(rows, cols))
    elif noise == "rademacher":
        W = sigma * rng.choice([-1.0, 1.0], size=(rows, cols))
    else:
        a = sigma * np.sqrt(3.0)
        W = rng.uniform(-a, a, size=(rows, cols))
    W += signal
    return (W, signal) if return_signal else W
