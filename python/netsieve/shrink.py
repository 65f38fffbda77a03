"""Singular-value shrinkage filters for weight matrices.

Model: W = S + X, with S low rank (the learned signal) and X an N×M noise matrix (N ≥ M after
orientation, β = M/N) with i.i.d. entries of variance σ². The noise fills the Marchenko–Pastur bulk
[s₋, s₊] = [σ(√N − √M), σ(√N + √M)]; a signal θ above the BBP threshold σ(NM)^¼ appears as an
outlier at s(θ)² = (θ² + σ²N)(θ² + σ²M)/θ², pushed up by level repulsion from the bulk.

Every filter computes one decomposition W = U·diag(s)·Vᵀ, fits σ with :func:`netsieve.fit_mp`'s
spike-robust estimator (unless ``sigma=`` is given), replaces each sᵢ by ηᵢ and returns
U·diag(η)·Vᵀ, reconstructed from the thin factors of the surviving (or the changed) components.
"Spikes" are singular values above s₊ plus a Tracy–Widom margin (the TW₁ quantile of
``spike_confidence``, default 0.99), so that edge fluctuations of pure noise are not kept.

Methods (η as a function of s; y = s/(σ√N) in normalised units, y₊ = 1 + √β):

``"hard"``
    η = s for spikes, 0 otherwise.
``"optimal_hard"``
    Gavish & Donoho (2014), *The optimal hard threshold for singular values is 4/√3*:
    η = s·1{s > τ}. Known σ: τ = λ*(β)·√N·σ with λ*(β) = √(2(β+1) + 8β/(β+1+√(β²+14β+1))) and N
    the **larger** dimension (the `optht` package uses √min(N, M), wrong for non-square matrices).
    Unknown σ: τ = ω(β)·median(s), ω(β) = λ*(β)/√μ_β with μ_β the median of the MP law (computed
    exactly; the paper's cubic ω ≈ 0.56β³ − 0.95β² + 1.82β + 1.43 agrees to 0.5 %). By default σ is
    then the median-matching estimate (``sigma_method="median"``), which reproduces ω(β)·median(s).
``"operator"``
    η = θ̂(s) for spikes, 0 otherwise, where θ̂ inverts the BBP map:
    θ̂(s)² = ½[(s² − σ²(N+M)) + √((s² − σ²(N+M))² − 4σ⁴NM)]. It removes the level-repulsion
    shift (Staats, Thamm & Rosenow, PRE 108, L022302 (2023)) and is the operator-norm-optimal
    shrinker of Gavish & Donoho (2017), *Optimal shrinkage of singular values*.
``"frobenius"``
    Gavish & Donoho (2017), Frobenius loss: η = √((s² − σ²(N+M))² − 4σ⁴NM)/s for spikes, else 0.
``"nuclear"``
    Gavish & Donoho (2017), nuclear loss: with x = θ̂(s)/(σ√N),
    η = σ√N·max(0, (x⁴ − √β·x·y − β)/(x²·y)) for spikes, else 0.
``"porter_thomas"``
    Keep the leading k components, k the boundary of the Porter–Thomas test of the singular vectors
    (:func:`netsieve.porter_thomas`; options ``window``, ``alpha``), zero the rest. With
    ``derepel=True`` (default) kept spikes get θ̂(s) as in "operator"; kept values inside the bulk
    stay unchanged.
``"fraction"``
    Zero the smallest ``fraction`` (required, in [0, 1]) of the singular values, ⌊fraction·M⌋ of
    them, the sweep of the published experiments. ``derepel=True`` also replaces kept spikes by
    θ̂(s) (default False).

The shrinkers are zero inside the bulk (indicator included, so they never blow up below the edge),
satisfy 0 ≤ η(s) ≤ s, and are non-decreasing, so the shrunk values stay ordered; only
``derepel=True`` with "fraction"/"porter_thomas" can reorder them (a de-repelled spike may fall
below an unchanged bulk value).

Other options: ``sigma_method`` ("quantile" or "median"), ``spike_confidence`` (0.9, 0.95, 0.975,
0.99), ``decomposition`` ("auto", "gram", "svd"): "auto" uses the eigendecomposition of the Gram
matrix of the smaller side for the methods that keep leading components only (about half the cost
of an SVD; falls back to the SVD when ill-conditioned) and the thin SVD for "fraction" and
"porter_thomas". An option that does not apply to the chosen method is an error.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from . import _netsieve as _core
from ._arrays import as_float_array, as_matrix, check_sigma, is_torch_tensor, named_matrices
from ._netsieve import InvalidInputError
from .spectral import _tw_margin

__all__ = ["METHODS", "ShrinkRecord", "shrink", "shrink_with_record", "shrink_many", "optimal_hard_threshold"]

METHODS = ("hard", "optimal_hard", "operator", "frobenius", "nuclear", "porter_thomas", "fraction")

_COMMON = {"sigma_method", "spike_confidence", "decomposition"}
_APPLICABLE: dict[str, set[str]] = {
    "hard": _COMMON,
    "optimal_hard": {"sigma_method", "decomposition"},
    "operator": _COMMON,
    "frobenius": _COMMON,
    "nuclear": _COMMON,
    "porter_thomas": _COMMON | {"window", "alpha", "derepel"},
    "fraction": _COMMON | {"fraction", "derepel"},
}


@dataclass(frozen=True)
class ShrinkRecord:
    """What a filter did to one matrix.

    ``sigma`` is the noise level used (fitted or given), ``bulk_edges`` = (s₋, s₊) for it,
    ``spike_threshold`` the edge plus the Tracy–Widom margin, ``threshold`` the cut actually applied
    (None for "fraction" and "porter_thomas"), ``kept_rank`` the number of non-zero shrunk values,
    ``kept_energy`` = ‖W'‖²_F/‖W‖²_F and ``relative_change`` = ‖W' − W‖_F/‖W‖_F (both exact, from
    the spectra). For "fraction" without de-repelling the MP fit is optional: when the bulk cannot be
    fitted, the fit fields are None.
    """

    method: str
    shape: tuple[int, int]
    sigma: float | None
    sigma_method: str | None
    bulk_edges: tuple[float, float] | None
    spike_threshold: float | None
    n_spikes: int | None
    threshold: float | None
    pt_boundary: int | None
    kept_rank: int
    kept_energy: float
    relative_change: float
    decomposition: str
    singular_values: np.ndarray = field(repr=False, compare=False)
    shrunk_singular_values: np.ndarray = field(repr=False, compare=False)

    @property
    def rank(self) -> int:
        return len(self.singular_values)

    @classmethod
    def _from_core(cls, d: Mapping[str, Any]) -> "ShrinkRecord":
        s, eta = d["singular_values"], d["shrunk_singular_values"]
        s.setflags(write=False)
        eta.setflags(write=False)
        edges = d["bulk_edges"]
        return cls(
            method=d["method"],
            shape=(d["rows"], d["cols"]),
            sigma=d["sigma"],
            sigma_method=d["sigma_method"],
            bulk_edges=None if edges is None else tuple(edges),
            spike_threshold=d["spike_threshold"],
            n_spikes=d["n_spikes"],
            threshold=d["threshold"],
            pt_boundary=d["pt_boundary"],
            kept_rank=d["kept_rank"],
            kept_energy=d["kept_energy"],
            relative_change=d["relative_change"],
            decomposition=d["decomposition"],
            singular_values=s,
            shrunk_singular_values=eta,
        )

    def to_dict(self, spectra: bool = True) -> dict[str, Any]:
        """Plain Python values (JSON-ready); ``spectra=False`` leaves out the two spectra."""
        out: dict[str, Any] = {
            "method": self.method,
            "rows": self.shape[0],
            "cols": self.shape[1],
            "rank": self.rank,
            "sigma": self.sigma,
            "sigma_method": self.sigma_method,
            "bulk_edges": None if self.bulk_edges is None else list(self.bulk_edges),
            "spike_threshold": self.spike_threshold,
            "n_spikes": self.n_spikes,
            "threshold": self.threshold,
            "pt_boundary": self.pt_boundary,
            "kept_rank": self.kept_rank,
            "kept_energy": self.kept_energy,
            "relative_change": self.relative_change,
            "decomposition": self.decomposition,
        }
        if spectra:
            out["singular_values"] = self.singular_values.tolist()
            out["shrunk_singular_values"] = self.shrunk_singular_values.tolist()
        return out


def _check_method(method: Any) -> str:
    if not isinstance(method, str) or method not in METHODS:
        valid = ", ".join(repr(m) for m in METHODS)
        raise InvalidInputError(f"unknown shrinkage method {method!r}; valid methods: {valid}")
    return method


def _core_options(method: str, sigma: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """Validates ``options`` for ``method`` and translates them to the core's keywords."""
    allowed = _APPLICABLE[method]
    bad = sorted(set(options) - allowed)
    if bad:
        known = set().union(*_APPLICABLE.values())
        unknown = [b for b in bad if b not in known]
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(unknown)}; options of {method!r}: {', '.join(sorted(allowed))}")
        raise InvalidInputError(
            f"option(s) {', '.join(bad)} do not apply to method {method!r}; its options: {', '.join(sorted(allowed))}"
        )
    out: dict[str, Any] = {"sigma": check_sigma(sigma)}
    if "sigma_method" in options:
        sm = options["sigma_method"]
        if sm not in ("quantile", "median"):
            raise InvalidInputError(f"sigma_method must be 'quantile' or 'median', got {sm!r}")
        out["sigma_method"] = sm
    if "spike_confidence" in options:
        out["tw_margin"] = _tw_margin(options["spike_confidence"])
    if "decomposition" in options:
        dec = options["decomposition"]
        if dec not in ("auto", "gram", "svd"):
            raise InvalidInputError(f"decomposition must be 'auto', 'gram' or 'svd', got {dec!r}")
        out["decomposition"] = dec
    if method == "fraction":
        if "fraction" not in options:
            raise InvalidInputError("method 'fraction' needs fraction= (the share of singular values to zero, in [0, 1])")
        f = options["fraction"]
        if isinstance(f, bool) or not isinstance(f, (int, float, np.integer, np.floating)):
            raise TypeError(f"fraction must be a number, got {type(f).__name__}")
        if not (np.isfinite(f) and 0.0 <= float(f) <= 1.0):
            raise InvalidInputError(f"fraction must lie in [0, 1], got {f!r}")
        out["fraction"] = float(f)
    if "derepel" in options:
        d = options["derepel"]
        if not isinstance(d, (bool, np.bool_)):
            raise TypeError(f"derepel must be True or False, got {d!r}")
        out["derepel"] = bool(d)
    elif method == "porter_thomas":
        out["derepel"] = True
    if "window" in options:
        w = options["window"]
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 0:
            raise InvalidInputError(f"window must be a non-negative integer, got {w!r}")
        out["window"] = int(w)
    if "alpha" in options:
        a = options["alpha"]
        if isinstance(a, bool) or not isinstance(a, (int, float, np.floating)) or not 0 < float(a) < 1:
            raise InvalidInputError(f"alpha must lie in (0, 1), got {a!r}")
        out["alpha"] = float(a)
    return out


def _restore_type(original: Any, out: np.ndarray) -> Any:
    """The filtered array in the input's dtype (and as a tensor for tensor input)."""
    if is_torch_tensor(original):
        torch = sys.modules[type(original).__module__.split(".")[0]]
        return torch.from_numpy(out).to(dtype=original.dtype)
    dtype = np.asarray(original).dtype if not isinstance(original, np.ndarray) else original.dtype
    if dtype.kind == "f" and out.dtype != dtype:
        return out.astype(dtype)
    return out


def shrink_many(
    matrices: Mapping[str, Any] | Iterable[Any],
    method: str = "operator",
    sigma: float | None = None,
    *,
    errors: str = "raise",
    **options: Any,
) -> Any:
    """Filters many matrices in parallel (all cores, GIL released); see the module docs.

    Returns (array, record) pairs: a dict for a mapping input, a list otherwise. With
    ``errors="collect"`` a failing matrix gives (None, exception) instead of raising.
    """
    method = _check_method(method)
    if errors not in ("raise", "collect"):
        raise InvalidInputError(f"errors must be 'raise' or 'collect', got {errors!r}")
    core_options = _core_options(method, sigma, options)
    names, items, arrays = named_matrices(matrices)
    raw = _core.shrink_matrices(arrays, method, **core_options)
    results: list[Any] = []
    for name, original, r in zip(names, items, raw):
        if isinstance(r, BaseException):
            if errors == "raise":
                raise type(r)(f"matrix {name!r}: {r}")
            results.append((None, r))
            continue
        out, rec = r
        results.append((_restore_type(original, out), ShrinkRecord._from_core(rec)))
    if isinstance(matrices, Mapping):
        return dict(zip(names, results))
    return results


def shrink_with_record(W: Any, method: str = "operator", sigma: float | None = None, **options: Any) -> tuple[Any, ShrinkRecord]:
    """Like :func:`shrink`, also returning the :class:`ShrinkRecord`."""
    method = _check_method(method)
    core_options = _core_options(method, sigma, options)
    arr = as_matrix(W)
    r = _core.shrink_matrices([arr], method, **core_options)[0]
    if isinstance(r, BaseException):
        raise r
    out, rec = r
    return _restore_type(W, out), ShrinkRecord._from_core(rec)


def shrink(W: Any, method: str = "operator", sigma: float | None = None, **options: Any) -> Any:
    """The filtered matrix: same shape and dtype as ``W``, a new array (``W`` is never modified).

    ``method`` is one of ``METHODS`` (formulas and sources in the module docs); ``sigma`` is the noise
    level per entry, fitted when None. float16/bfloat16 input is computed in float64 and cast back.
    """
    return shrink_with_record(W, method, sigma, **options)[0]


def optimal_hard_threshold(shape: Any, sigma: float | None = None, singular_values: Any = None) -> float:
    """Gavish–Donoho's τ: λ*(β)·√N·σ for known σ (N the larger side), or ω(β)·median(s)."""
    from ._arrays import check_shape

    rows, cols = check_shape(shape)
    n, m = max(rows, cols), min(rows, cols)
    lam, om = _core.optimal_hard_coefficients(m / n)
    sigma = check_sigma(sigma)
    if sigma is not None:
        if singular_values is not None:
            raise InvalidInputError("pass either sigma or singular_values, not both")
        return lam * np.sqrt(n) * sigma
    if singular_values is None:
        raise InvalidInputError("pass sigma= (known noise level) or singular_values= (unknown σ)")
    s = as_float_array(singular_values, "singular_values").astype(np.float64).ravel()
    if s.size != m:
        raise InvalidInputError(f"a {rows}×{cols} matrix has {m} singular values, got {s.size}")
    return om * float(np.median(s))
