"""L1 regression and layer-wise L1 training by vertex descent.

* :func:`lad_fit` — least-absolute-deviation regression (``quantile=0.5``) and quantile regression,
  solved exactly by the Barrodale–Roberts simplex: the one-layer case of Hinz and van de Geer's
  *Deep ReLU Programming* (arXiv 2011.14895).
* :func:`l1_vertex_descent` — one layer of a network of linear layers and piecewise-linear
  activations (ReLU, leaky ReLU, absolute value) trained for the L1 loss by their vertex descent,
  with the trace of losses, step lengths, regions tried and the extrapolated loss at the minimum
  (Hinz, arXiv 2105.02831). ``netsieve.torch.l1_layer_descent`` runs it on a torch model.

Convention: residuals are rᵢ = yᵢ − xᵢ·β − β₀; the check loss of quantile τ is
ρ_τ(r) = r·(τ − 1[r < 0]), so Σᵢ ρ_½(rᵢ) = ½·Σᵢ|rᵢ|. A vertex is a point where q residuals are
zero with linearly independent rows (q = p, plus one with an intercept); the loss is affine between
the hyperplanes {rᵢ = 0}, so some vertex is a minimiser and the simplex walks from vertex to
adjacent vertex, lowering the loss at every non-degenerate pivot. The definitions, the pivot rule,
the anti-cycling rule and the tolerances are stated in ``docs/l1-descent.md``.
"""

from __future__ import annotations

from ._netsieve import (
    DESCENT_STATUSES,
    L1_ACTIVATIONS,
    LAD_STATUSES,
    DescentTrace,
    LADFit,
    VertexDescentResult,
    l1_vertex_descent,
    lad_fit,
)

__all__ = [
    "DESCENT_STATUSES",
    "L1_ACTIVATIONS",
    "LAD_STATUSES",
    "DescentTrace",
    "LADFit",
    "VertexDescentResult",
    "l1_vertex_descent",
    "lad_fit",
]
