"""Spectra of weight matrices: singular values, the Marchenko–Pastur law, the noise fit, the
Porter–Thomas test of singular vectors and level statistics.

Convention, used everywhere in netsieve: a weight matrix W is N×M after orientation (N ≥ M, so the
transpose of a wide matrix is analysed), β = M/N ≤ 1, and noise entries are i.i.d. with mean 0 and
variance σ². The Marchenko–Pastur law is stated for the **singular values** s of W: the bulk is
[s₋, s₊] = [σ(√N − √M), σ(√N + √M)] and the density is
ρ(s) = √((s₊² − s²)(s² − s₋²)) / (π σ² M s). ``shape`` arguments are (rows, cols) in either order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from . import _netsieve as _core
from ._arrays import as_matrix, as_vector, check_shape, check_sigma, named_matrices
from ._netsieve import InvalidInputError

__all__ = [
    "singular_values",
    "mp_pdf",
    "mp_cdf",
    "mp_quantile",
    "fit_mp",
    "MPFit",
    "porter_thomas",
    "PorterThomasResult",
    "level_spacing",
    "LevelSpacingResult",
    "analyze_spectra",
    "SpectrumAnalysis",
    "GOE_MEAN_RATIO",
    "POISSON_MEAN_RATIO",
]

GOE_MEAN_RATIO = 0.5307
POISSON_MEAN_RATIO = 2 * np.log(2) - 1

# Spike margin above the bulk edge, in Tracy–Widom units, for each confidence level.
_TW1_QUANTILES = {0.9: 0.4501, 0.95: 0.9793, 0.975: 1.4527, 0.99: 2.0234}


def _tw_margin(spike_confidence: float) -> float:
    try:
        return _TW1_QUANTILES[float(spike_confidence)]
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError(
            f"spike_confidence={spike_confidence!r} is not supported; use one of {sorted(_TW1_QUANTILES)}"
        ) from None


def singular_values(W: Any, method: str = "auto") -> np.ndarray:
    """Singular values of a 2-D matrix, descending, as float64.

    ``method``: ``"svd"`` (bidiagonalising SVD of the float64 copy, relative error ≈ ε·s_max/sᵢ),
    ``"gram"`` (eigenvalues of the smaller Gram matrix WᵀW in float64: about twice as fast, relative
    error ≈ ε·(s_max/sᵢ)²/2, so below 1e-6 while sᵢ/s_max ≥ 1e-5; smaller singular values lose
    accuracy), or ``"auto"`` (Gram, redone by SVD when λ_min/λ_max < 1e-10).
    """
    return _core.singular_values(as_matrix(W), method)


def _mp_eval(which: str, x: Any, shape: Any, sigma: Any) -> Any:
    rows, cols = check_shape(shape)
    sigma = check_sigma(sigma)
    if sigma is None:
        raise InvalidInputError("sigma is required")
    arr = np.asarray(x, dtype=np.float64)
    if np.isnan(arr).any():
        raise InvalidInputError(f"the argument of mp_{which} contains NaN")
    out = _core.mp_law(which, np.ascontiguousarray(arr.ravel()), rows, cols, sigma).reshape(arr.shape)
    return float(out) if out.ndim == 0 else out


def mp_pdf(s: Any, shape: Any, sigma: float) -> Any:
    """Density ρ(s) of the singular values of an N×M noise matrix with entry std σ."""
    return _mp_eval("pdf", s, shape, sigma)


def mp_cdf(s: Any, shape: Any, sigma: float) -> Any:
    """P(singular value ≤ s), in closed form."""
    return _mp_eval("cdf", s, shape, sigma)


def mp_quantile(p: Any, shape: Any, sigma: float) -> Any:
    """The singular value below which a fraction ``p`` of the bulk lies."""
    return _mp_eval("quantile", p, shape, sigma)


@dataclass(frozen=True, repr=False)
class MPFit:
    """The Marchenko–Pastur fit of one matrix's singular values."""

    sigma: float
    n_rows: int
    n_cols: int
    bulk_edges: tuple[float, float]
    spike_threshold: float
    n_spikes: int
    spikes: np.ndarray = field(compare=False)
    n_low_outliers: int
    ks_distance: float
    ks_pvalue: float
    method: str
    iterations: int

    @property
    def beta(self) -> float:
        return min(self.n_rows, self.n_cols) / max(self.n_rows, self.n_cols)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, self.n_cols)

    @classmethod
    def _from_core(cls, d: Mapping[str, Any], shape: tuple[int, int], s: np.ndarray) -> "MPFit":
        spikes = s[: d["n_spikes"]].copy()
        spikes.setflags(write=False)
        return cls(
            sigma=d["sigma"],
            n_rows=shape[0],
            n_cols=shape[1],
            bulk_edges=tuple(d["bulk_edges"]),
            spike_threshold=d["spike_threshold"],
            n_spikes=d["n_spikes"],
            spikes=spikes,
            n_low_outliers=d["n_low_outliers"],
            ks_distance=d["ks_distance"],
            ks_pvalue=d["ks_pvalue"],
            method=d["method"],
            iterations=d["iterations"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sigma": self.sigma,
            "n_rows": self.n_rows,
            "n_cols": self.n_cols,
            "beta": self.beta,
            "bulk_edges": list(self.bulk_edges),
            "spike_threshold": self.spike_threshold,
            "n_spikes": self.n_spikes,
            "spikes": self.spikes.tolist(),
            "n_low_outliers": self.n_low_outliers,
            "ks_distance": self.ks_distance,
            "ks_pvalue": self.ks_pvalue,
            "method": self.method,
            "iterations": self.iterations,
        }

    def __repr__(self) -> str:
        lo, hi = self.bulk_edges
        return (
            f"MPFit({self.n_rows}×{self.n_cols}, β={self.beta:.3g}, σ={self.sigma:.6g} [{self.method}], "
            f"bulk=[{lo:.4g}, {hi:.4g}], n_spikes={self.n_spikes}, "
            f"KS={self.ks_distance:.3g} (p={self.ks_pvalue:.3g}))"
        )


def _spectrum_and_shape(W_or_s: Any, shape: Any) -> tuple[np.ndarray, tuple[int, int]]:
    arr = W_or_s if hasattr(W_or_s, "ndim") else np.asarray(W_or_s)
    if getattr(arr, "ndim", None) == 1:
        if shape is None:
            raise InvalidInputError("shape=(rows, cols) is required when passing singular values")
        rows, cols = check_shape(shape)
        s = as_vector(arr, "singular values")
        if s.size != min(rows, cols):
            raise InvalidInputError(
                f"shape {shape!r} has {min(rows, cols)} singular values, but {s.size} were given"
            )
        if np.any(s[:-1] < s[1:]):
            s = np.sort(s)[::-1].copy()
        return s, (rows, cols)
    W = as_matrix(arr)
    if shape is not None and tuple(check_shape(shape)) != W.shape:
        raise InvalidInputError(f"shape={tuple(shape)!r} does not match the matrix's shape {W.shape}")
    return _core.singular_values(W, "auto"), W.shape


def fit_mp(
    W_or_singular_values: Any,
    shape: Any = None,
    sigma: float | None = None,
    *,
    method: str = "quantile",
    spike_confidence: float = 0.99,
) -> MPFit:
    """Fits the MP law to a matrix or to its singular values (then ``shape`` is required).

    σ: Gavish–Donoho median matching (``method="median"``), refined by default (``"quantile"``) by
    least squares of the central 10–90 % of the non-spike singular values against MP quantiles,
    alternating with spike detection until the spike count is stable. With ``sigma=`` given only
    the rest is computed. Spikes are singular values above s₊ plus a Tracy–Widom margin (the TW₁
    quantile of ``spike_confidence``, on Johnstone's finite-N scale).
    """
    s, shp = _spectrum_and_shape(W_or_singular_values, shape)
    d = _core.fit_mp(s, shp[0], shp[1], check_sigma(sigma), method, _tw_margin(spike_confidence))
    return MPFit._from_core(d, shp, s)


@dataclass(frozen=True)
class LevelSpacingResult:
    """Level statistics of the levels λ = s².

    ``mean_ratio`` is ⟨r⟩ with rᵢ = min(δᵢ, δᵢ₊₁)/max(δᵢ, δᵢ₊₁) of consecutive spacings (GOE ≈ 0.5307,
    Poisson ≈ 0.3863); ``spacings`` are unfolded nearest-neighbour spacings with mean 1.
    """

    mean_ratio: float
    ratios: np.ndarray = field(repr=False, compare=False)
    spacings: np.ndarray = field(repr=False, compare=False)
    n_levels: int
    unfolding: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean_ratio": self.mean_ratio,
            "n_levels": self.n_levels,
            "unfolding": self.unfolding,
            "ratios": self.ratios.tolist(),
            "spacings": self.spacings.tolist(),
        }


def _level_result(d: Mapping[str, Any], unfolding: str) -> LevelSpacingResult:
    return LevelSpacingResult(
        mean_ratio=d["mean_ratio"],
        ratios=d["ratios"],
        spacings=d["spacings"],
        n_levels=len(d["spacings"]) + 1,
        unfolding=unfolding,
    )


def level_spacing(W_or_s: Any, shape: Any = None, sigma: float | None = None, *, a: int = 15) -> LevelSpacingResult:
    """Level statistics of a spectrum.

    Given a matrix, or singular values with ``shape``, the statistics are those of the MP bulk (spikes
    and low outliers removed), unfolded with the fitted MP CDF. Given bare singular values, all levels
    are used and unfolded with a Gaussian-broadened counting function of width ``a`` local spacings.
    """
    if int(a) < 1:
        raise InvalidInputError(f"a must be a positive integer, got {a!r}")
    arr = W_or_s if hasattr(W_or_s, "ndim") else np.asarray(W_or_s)
    if getattr(arr, "ndim", None) == 1 and shape is None:
        s = as_vector(arr, "singular values")
        if np.any(s < 0):
            raise InvalidInputError("singular values must be non-negative")
        s = np.sort(s)[::-1].copy()
        return _level_result(_core.level_spacing(s, None, None, None, int(a)), "gaussian")
    s, shp = _spectrum_and_shape(arr, shape)
    d = _core.level_spacing(s, shp[0], shp[1], check_sigma(sigma), int(a))
    return _level_result(d, "mp")


@dataclass(frozen=True)
class PorterThomasResult:
    """Per-vector Kolmogorov–Smirnov tests of singular vectors against random unit vectors.

    For vector i, ``left_pvalues[i]`` tests the components of uᵢ (length N) and ``right_pvalues[i]``
    those of vᵢ (length M) against the exact marginal of a uniformly random unit vector
    (x² ~ Beta(½, (n−1)/2); √n·x → N(0, 1)). ``pvalues`` combines both sides, min(1, 2·min(pL, pR));
    ``windowed`` is their centred moving average over ±``window`` neighbours; ``boundary`` is the
    number of leading vectors that carry information: the split k minimising the number of vectors
    on the wrong side of it (pᵢ < ``alpha`` before k, pᵢ ≥ ``alpha`` after).
    """

    singular_values: np.ndarray = field(repr=False, compare=False)
    left_ks: np.ndarray = field(repr=False, compare=False)
    left_pvalues: np.ndarray = field(repr=False, compare=False)
    right_ks: np.ndarray = field(repr=False, compare=False)
    right_pvalues: np.ndarray = field(repr=False, compare=False)
    pvalues: np.ndarray = field(repr=False, compare=False)
    windowed: np.ndarray = field(repr=False, compare=False)
    boundary: int
    alpha: float
    window: int

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"boundary": self.boundary, "alpha": self.alpha, "window": self.window}
        for name in ("singular_values", "left_pvalues", "right_pvalues", "pvalues", "windowed"):
            out[name] = getattr(self, name).tolist()
        return out


def _pt_result(d: Mapping[str, Any], s: np.ndarray, alpha: float, window: int) -> PorterThomasResult:
    return PorterThomasResult(singular_values=s, alpha=alpha, window=window, **d)


def _check_pt_options(window: Any, alpha: Any) -> tuple[int, float]:
    if int(window) < 0:
        raise InvalidInputError(f"window must be non-negative, got {window!r}")
    if not 0 < float(alpha) < 1:
        raise InvalidInputError(f"alpha must lie in (0, 1), got {alpha!r}")
    return int(window), float(alpha)


def porter_thomas(W: Any, *, window: int = 15, alpha: float = 0.05) -> PorterThomasResult:
    """Porter–Thomas test of every left and right singular vector of ``W``."""
    window, alpha = _check_pt_options(window, alpha)
    res = analyze_spectra([W], porter_thomas=True, level_statistics=False, window=window, alpha=alpha)[0]
    assert res.porter_thomas is not None
    return res.porter_thomas


@dataclass(frozen=True)
class SpectrumAnalysis:
    """Everything the spectral core computes for one matrix."""

    name: str
    shape: tuple[int, int]
    singular_values: np.ndarray = field(repr=False, compare=False)
    fit: MPFit | None
    level_spacing: LevelSpacingResult | None
    porter_thomas: PorterThomasResult | None
    error: Exception | None = None


def analyze_spectra(
    matrices: Mapping[str, Any] | Iterable[Any],
    *,
    sigma: float | None = None,
    method: str = "quantile",
    spike_confidence: float = 0.99,
    svd_method: str = "auto",
    level_statistics: bool = True,
    porter_thomas: bool = False,
    window: int = 15,
    alpha: float = 0.05,
    errors: str = "raise",
) -> Any:
    """Analyses many matrices in parallel on all cores with the GIL released.

    ``matrices`` is a mapping name → matrix (returns a dict in the same order) or a sequence
    (returns a list). ``errors="collect"`` stores a failing matrix's exception in its result's
    ``error`` instead of raising; input problems found before the parallel run always raise.
    """
    if errors not in ("raise", "collect"):
        raise InvalidInputError(f"errors must be 'raise' or 'collect', got {errors!r}")
    window, alpha = _check_pt_options(window, alpha)
    names, items, arrays = named_matrices(matrices)
    raw = _core.analyze_spectra(
        arrays,
        check_sigma(sigma),
        method,
        _tw_margin(spike_confidence),
        svd_method,
        bool(level_statistics),
        bool(porter_thomas),
        window,
        alpha,
    )
    results = []
    for name, w, r in zip(names, arrays, raw):
        if isinstance(r, BaseException):
            if errors == "raise":
                raise type(r)(f"matrix {name!r}: {r}")
            results.append(SpectrumAnalysis(name, w.shape, np.empty(0), None, None, None, error=r))
            continue
        s = r["singular_values"]
        ls = r["level_spacing"]
        pt = r["porter_thomas"]
        results.append(
            SpectrumAnalysis(
                name=name,
                shape=w.shape,
                singular_values=s,
                fit=MPFit._from_core(r["fit"], w.shape, s),
                level_spacing=None if ls is None else _level_result(ls, "mp"),
                porter_thomas=None if pt is None else _pt_result(pt, s, alpha, window),
            )
        )
    if isinstance(matrices, Mapping):
        return dict(zip(names, results))
    return results
