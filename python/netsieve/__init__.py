"""netsieve: find the boundary between noise and learned information in deep networks.

The spectral core (singular values, the Marchenko–Pastur law and fit, Porter–Thomas tests, level
statistics, per-layer reports) is documented in :mod:`netsieve.spectral`, the singular-value
shrinkage filters in :mod:`netsieve.shrink`, the doubling condition of a training set in
:mod:`netsieve.doubling`, classification margins, their distributions, margin-based data selection
and the GDV in :mod:`netsieve.margins`, least-absolute-deviation and quantile regression and
layer-wise L1 vertex descent in :mod:`netsieve.l1`; torch-facing tools live in :mod:`netsieve.torch`.
Every function here is the Rust core's own: names, defaults (``DEFAULTS``), checks and result
classes are defined there once.
"""

from typing import Any

from ._netsieve import (
    COMPARISON_STATUSES,
    CPU_DISPATCH,
    DECOMPOSITIONS,
    DEFAULTS,
    ERROR_POLICIES,
    SIGMA_METHODS,
    ConvergenceError,
    InvalidInputError,
    LayerComparison,
    ROLES,
    ROUTES,
    __version__,
    subspace_overlap,
)
from .doubling import DIRECTION_SOURCES, DoublingResult, Slab, doubling_condition, slab_counts
from .l1 import (
    DESCENT_STATUSES,
    L1_ACTIVATIONS,
    LAD_STATUSES,
    DescentTrace,
    LADFit,
    VertexDescentResult,
    l1_vertex_descent,
    lad_fit,
)
from .margins import (
    MARGIN_KINDS,
    GDVResult,
    MarginSummary,
    TotalVariation,
    gdv,
    lowest_margins,
    margin_summary,
    margins,
)
from .shrink import (
    SHRINK_METHOD_OPTIONS,
    SHRINK_METHODS,
    ShrinkRecord,
    optimal_hard_threshold,
    shrink,
    shrink_decomposed,
    shrink_many,
    shrink_with_record,
)
from .spectral import (
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
    analyze_layers,
    analyze_decomposed_layers,
    analyze_spectra,
    fit_mp,
    level_spacing,
    level_statistics,
    mp_cdf,
    mp_pdf,
    mp_quantile,
    porter_thomas,
    singular_values,
)

__all__ = [
    "__version__",
    "ConvergenceError",
    "InvalidInputError",
    "DEFAULTS",
    "DECOMPOSITIONS",
    "SIGMA_METHODS",
    "ERROR_POLICIES",
    "SPIKE_CONFIDENCES",
    "BULK_MODELS",
    "BULK_TEST_LEVEL",
    "GOE_MEAN_RATIO",
    "POISSON_MEAN_RATIO",
    "CPU_DISPATCH",
    "ROLES",
    "ROUTES",
    "COMPARISON_STATUSES",
    "LayerComparison",
    "subspace_overlap",
    "LevelStatistics",
    "MPFit",
    "PorterThomasResult",
    "SpectrumAnalysis",
    "LayerReport",
    "analyze_spectra",
    "analyze_layers",
    "analyze_decomposed_layers",
    "fit_mp",
    "level_statistics",
    "mp_cdf",
    "mp_pdf",
    "mp_quantile",
    "porter_thomas",
    "singular_values",
    "MARGIN_KINDS",
    "GDVResult",
    "MarginSummary",
    "TotalVariation",
    "gdv",
    "lowest_margins",
    "margin_summary",
    "margins",
    "SHRINK_METHODS",
    "SHRINK_METHOD_OPTIONS",
    "ShrinkRecord",
    "optimal_hard_threshold",
    "shrink",
    "shrink_decomposed",
    "shrink_many",
    "shrink_with_record",
    "DIRECTION_SOURCES",
    "DoublingResult",
    "Slab",
    "doubling_condition",
    "slab_counts",
    "LAD_STATUSES",
    "LADFit",
    "lad_fit",
    "DESCENT_STATUSES",
    "L1_ACTIVATIONS",
    "DescentTrace",
    "VertexDescentResult",
    "l1_vertex_descent",
]


def __getattr__(name: str) -> Any:
    # Deprecated names (one release): level_spacing is importable directly, the class alias here.
    if name == "LevelSpacingResult":
        from ._deprecation import deprecated_alias

        return deprecated_alias("netsieve.LevelSpacingResult", "netsieve.LevelStatistics", LevelStatistics)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
