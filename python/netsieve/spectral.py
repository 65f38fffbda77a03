"""Spectra of weight matrices: singular values, the Marchenko–Pastur law, the noise fit, the
Porter–Thomas test of singular vectors and level statistics.

Convention, used everywhere in netsieve: a weight matrix W is N×M after orientation (N ≥ M, so the
transpose of a wide matrix is analysed), β = M/N ≤ 1, and noise entries are i.i.d. with mean 0 and
variance σ². The Marchenko–Pastur law is stated for the **singular values** s of W: the bulk is
[s₋, s₊] = [σ(√N − √M), σ(√N + √M)] and the density is
ρ(s) = √((s₊² − s²)(s² − s₋²)) / (π σ² M s). ``shape`` arguments are (rows, cols) in either order.

The functions are the Rust core's own (``netsieve._netsieve``): their signatures, defaults, checks
and result classes are defined there once. This module re-exports them and keeps the old keyword
names working for one release (``method=`` → ``sigma_method=`` / ``decomposition=``,
``svd_method=`` → ``decomposition=``, ``level_spacing(a=)`` → ``level_statistics(window=)``).
"""

from __future__ import annotations

from typing import Any

from . import _netsieve as _core
from ._deprecation import deprecated_alias, renamed_keywords
from ._netsieve import (
    BULK_MODELS,
    BULK_TEST_LEVEL,
    GOE_MEAN_RATIO,
    POISSON_MEAN_RATIO,
    SPIKE_CONFIDENCES,
    LayerReport,
    LevelStatistics,
    MPFit,
    PorterThomasResult,
    SpectrumAnalysis,
    analyze_decomposed_layers,
    analyze_layers,
    level_statistics,
    mp_cdf,
    mp_pdf,
    mp_quantile,
    porter_thomas,
)

__all__ = [
    "singular_values",
    "mp_pdf",
    "mp_cdf",
    "mp_quantile",
    "fit_mp",
    "MPFit",
    "porter_thomas",
    "PorterThomasResult",
    "level_statistics",
    "LevelStatistics",
    "analyze_spectra",
    "SpectrumAnalysis",
    "analyze_layers",
    "analyze_decomposed_layers",
    "LayerReport",
    "GOE_MEAN_RATIO",
    "POISSON_MEAN_RATIO",
    "SPIKE_CONFIDENCES",
    "BULK_MODELS",
    "BULK_TEST_LEVEL",
]

singular_values = renamed_keywords(_core.singular_values, method="decomposition")
fit_mp = renamed_keywords(_core.fit_mp, method="sigma_method")
analyze_spectra = renamed_keywords(_core.analyze_spectra, method="sigma_method", svd_method="decomposition")


def level_spacing(W_or_singular_values: Any, shape: Any = None, sigma: Any = None, *, a: Any = None, **kwargs: Any) -> LevelStatistics:
    """Deprecated name of :func:`level_statistics` (``a=`` is now ``window=``)."""
    deprecated_alias("netsieve.level_spacing", "netsieve.level_statistics", None)
    if a is not None:
        kwargs["window"] = a
    return level_statistics(W_or_singular_values, shape, sigma, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "LevelSpacingResult":
        return deprecated_alias("LevelSpacingResult", "LevelStatistics", LevelStatistics)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
