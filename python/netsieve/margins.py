"""Classification margins and the statistics built on them.

* :func:`margins` — per-sample margin f_y − max_{j≠y} f_j (or against the k-th competitor, or on
  softmax probabilities), one parallel pass in Rust with the GIL released.
* :func:`margin_summary` — moments, quantiles, the quartile signature of Jiang et al. (2019) and the
  area under the margin curve (Banburski et al. 2021, definition below).
* :func:`lowest_margins` — indices of the k smallest margins by O(N) selection, deterministic ties.
* :class:`TotalVariation` — streaming ν = tr Cov(h) of a layer over batches (Chan merge, float64).
* :func:`gdv` — the Generalized Discrimination Value of Schilling et al. (2021).

The functions and result classes are the Rust core's (``netsieve._netsieve``); labels go through
:func:`netsieve._coerce.as_labels`.

Conventions of :func:`margins`: NaN and +Inf logits are errors; −Inf is a legitimate masked class.
If the true class is −Inf the logit margin is −Inf (the sample can never be classified correctly);
if all competitors are −Inf it is +Inf; a row of only −Inf is an error. Ties give a margin of 0, so
``margin > 0`` exactly when the true class is the unique arg-max.

Area under the margin curve (``MarginSummary.auc``). Banburski et al. state that "the area under the
curve of the margin distribution" measures generalization without a formula we could verify. A
histogram always has area 1, so the curve meant must be the *sorted* (quantile) curve of the
training margins that their figures show. We integrate that curve over the normalised rank axis
rᵢ = i/(N−1) ∈ [0, 1] with the trapezoid rule:

    AUC = ∫₀¹ m₍r₎ dr ≈ (Σᵢ m₍ᵢ₎ − (m₍₀₎ + m₍N−1₎)/2) / (N−1)   (= m₍₀₎ when N = 1),

i.e. ``numpy.trapezoid(np.sort(m), np.linspace(0, 1, N))``. The normalised rank makes the value
comparable across training-set sizes; it differs from the mean margin only by the half-weight of
the two end points, O(range/N). Pass normalized margins (e.g. from
:func:`netsieve.torch.output_margins`) to get the paper's quantity.
"""

from __future__ import annotations

from ._coerce import as_labels
from ._netsieve import (
    DEFAULTS,
    MARGIN_KINDS,
    GDVResult,
    MarginSummary,
    TotalVariation,
    gdv,
    lowest_margins,
    margin_summary,
    margins,
)

__all__ = [
    "margins",
    "margin_summary",
    "MarginSummary",
    "lowest_margins",
    "TotalVariation",
    "gdv",
    "GDVResult",
    "as_labels",
    "MARGIN_KINDS",
    "DEFAULT_QUANTILES",
]

DEFAULT_QUANTILES = tuple(DEFAULTS["quantiles"])
