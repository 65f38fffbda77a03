"""netsieve: find the boundary between noise and learned information in deep networks.

The spectral core (singular values, the Marchenko–Pastur law and fit, Porter–Thomas tests, level
statistics) lives in :mod:`netsieve.spectral`, the singular-value shrinkage filters in
:mod:`netsieve.shrink`; classification margins, their distributions,
margin-based data selection and the GDV in :mod:`netsieve.margins`; torch-facing tools live in :mod:`netsieve.torch`.
"""

from ._netsieve import ConvergenceError, InvalidInputError, __version__
from .margins import (
    GDVResult,
    MarginSummary,
    TotalVariation,
    gdv,
    lowest_margins,
    margin_summary,
    margins,
)
from .shrink import METHODS as SHRINK_METHODS
from .shrink import ShrinkRecord, optimal_hard_threshold, shrink, shrink_many, shrink_with_record
from .spectral import (
    GOE_MEAN_RATIO,
    POISSON_MEAN_RATIO,
    LevelSpacingResult,
    MPFit,
    PorterThomasResult,
    SpectrumAnalysis,
    analyze_spectra,
    fit_mp,
    level_spacing,
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
    "GOE_MEAN_RATIO",
    "POISSON_MEAN_RATIO",
    "LevelSpacingResult",
    "MPFit",
    "PorterThomasResult",
    "SpectrumAnalysis",
    "analyze_spectra",
    "fit_mp",
    "level_spacing",
    "mp_cdf",
    "mp_pdf",
    "mp_quantile",
    "porter_thomas",
    "singular_values",
    "GDVResult",
    "MarginSummary",
    "TotalVariation",
    "gdv",
    "lowest_margins",
    "margin_summary",
    "margins",
    "SHRINK_METHODS",
    "ShrinkRecord",
    "optimal_hard_threshold",
    "shrink",
    "shrink_many",
    "shrink_with_record",
]
