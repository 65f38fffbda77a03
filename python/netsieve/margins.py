"""Classification margins and the statistics built on them.

* :func:`margins` — per-sample margin f_y − max_{j≠y} f_j (or against the k-th competitor, or on
  softmax probabilities), one parallel pass in Rust with the GIL released.
* :func:`margin_summary` — moments, quantiles, the quartile signature of Jiang et al. (2019) and the
  area under the margin curve (Banburski et al. 2021, definition below).
* :func:`lowest_margins` — indices of the k smallest margins by O(N) selection, deterministic ties.
* :class:`TotalVariation` — streaming ν = tr Cov(h) of a layer over batches (Chan merge, float64).
* :func:`gdv` — the Generalized Discrimination Value of Schilling et al. (2021).

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

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from . import _netsieve as _core
from ._arrays import as_float_array, is_torch_tensor
from ._netsieve import InvalidInputError, TotalVariation

__all__ = [
    "margins",
    "margin_summary",
    "MarginSummary",
    "lowest_margins",
    "TotalVariation",
    "gdv",
    "GDVResult",
    "as_labels",
]

DEFAULT_QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


def as_labels(labels: Any, name: str = "labels", n: int | None = None) -> np.ndarray:
    """Integer class labels as a contiguous int32/int64 numpy array (no copy when already so)."""
    if is_torch_tensor(labels):
        t = labels.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"{name} must be integers, got torch dtype {t.dtype}")
        arr = t.numpy()
    else:
        arr = np.asarray(labels)
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must be integers, got bool")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {arr.dtype}; class indices cannot be floats")
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise InvalidInputError(f"{name} has length {arr.shape[0]} but there are {n} rows")
    if arr.dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
        if arr.dtype == np.dtype(np.uint64) and arr.size and arr.max() > np.iinfo(np.int64).max:
            bad = int(np.argmax(arr > np.iinfo(np.int64).max))
            raise InvalidInputError(f"{name}: row {bad}: label {arr[bad]} is out of range")
        arr = arr.astype(np.int64)
    elif not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr)


def _as_logits(logits: Any) -> np.ndarray:
    arr = as_float_array(logits, "logits")
    if arr.ndim != 2:
        raise InvalidInputError(f"logits must be a 2-D (N, C) array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InvalidInputError("logits is empty (0 rows)")
    if arr.shape[1] < 2:
        raise InvalidInputError(f"logits has {arr.shape[1]} column(s); a margin needs at least 2 classes")
    return arr


def _as_margin_vector(m: Any, name: str = "m") -> np.ndarray:
    arr = as_float_array(m, name)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidInputError(f"{name} is empty")
    return np.ascontiguousarray(arr)


def margins(logits: Any, labels: Any, kind: str = "logit", *, top_k: int = 1) -> np.ndarray:
    """Per-row margin of an (N, C) score matrix: f_y − f_c, with f_c the ``top_k``-th largest
    competitor value (j ≠ y, counted with multiplicity; ``top_k=1`` is the strongest competitor).

    ``kind="logit"`` works on the raw scores; ``kind="probability"`` on softmax(f), computed from
    max-shifted exponentials so it never overflows (result in [−1, 1]). ``logits`` is float32 or
    float64 with any strides (numpy or CPU torch); ``labels`` are integers in [0, C). The result is
    1-D with the dtype of ``logits``. See the module docs for −Inf conventions.
    """
    arr = _as_logits(logits)
    lab = as_labels(labels, "labels", arr.shape[0])
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
        raise TypeError(f"top_k must be an int, got {type(top_k).__name__}")
    if not 1 <= top_k <= arr.shape[1] - 1:
        raise InvalidInputError(f"top_k must lie in 1..{arr.shape[1] - 1} for {arr.shape[1]} classes, got {top_k}")
    if kind not in ("logit", "probability"):
        raise InvalidInputError(f'kind must be "logit" or "probability", got {kind!r}')
    return _core.margins(arr, lab, kind, int(top_k))


@dataclass(frozen=True)
class MarginSummary:
    """Summary of a margin distribution (population statistics, ddof = 0; quantiles use numpy's
    default linear interpolation)."""

    count: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[float, float] = field(repr=False)
    q1: float
    median: float
    q3: float
    upper_fence: float
    lower_fence: float
    skewness: float
    kurtosis: float
    fraction_positive: float
    auc: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def signature(self) -> np.ndarray:
        """Jiang et al.'s quartile signature (Q1, Q2, Q3, upper fence, lower fence)."""
        return np.array([self.q1, self.median, self.q3, self.upper_fence, self.lower_fence])

    @property
    def moments(self) -> np.ndarray:
        """(mean, std, skewness, excess kurtosis)."""
        return np.array([self.mean, self.std, self.skewness, self.kurtosis])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["quantiles"] = {str(k): v for k, v in self.quantiles.items()}
        return d


def margin_summary(
    m: Any, quantiles: Sequence[float] = DEFAULT_QUANTILES, *, positive_only: bool = False
) -> MarginSummary:
    """Summary statistics of 1-D margins (float32 or float64, all finite).

    ``positive_only=True`` keeps only margins > 0, as Jiang et al. do for their signature (they drop
    misclassified training points). ``auc`` is the area under the sorted-margin curve over the
    normalised rank in [0, 1] (module docs).
    """
    arr = _as_margin_vector(m)
    if positive_only:
        nan = np.isnan(arr)
        if nan.any():
            raise InvalidInputError(f"m contains NaN at index {int(np.argmax(nan))}")
        arr = np.ascontiguousarray(arr[arr > 0])
        if arr.size == 0:
            raise InvalidInputError("m has no positive margins to summarise (positive_only=True)")
    probs = [float(p) for p in np.atleast_1d(np.asarray(quantiles, dtype=np.float64))]
    d = _core.margin_summary(arr, probs)
    return MarginSummary(
        count=d["count"],
        mean=d["mean"],
        std=d["std"],
        min=d["min"],
        max=d["max"],
        quantiles=dict(zip(d["probs"], d["quantiles"])),
        q1=d["q1"],
        median=d["median"],
        q3=d["q3"],
        upper_fence=d["upper_fence"],
        lower_fence=d["lower_fence"],
        skewness=d["skewness"],
        kurtosis=d["kurtosis"],
        fraction_positive=d["fraction_positive"],
        auc=d["auc"],
    )


def lowest_margins(m: Any, k: int | None = None, *, fraction: float | None = None) -> np.ndarray:
    """Indices (int64) of the ``k`` smallest margins — or of the ``ceil(fraction·N)`` smallest —
    ordered by (margin, index): ties go to the smaller index. Selection is O(N) (no full sort);
    only the k winners are sorted. ±Inf are ordinary values, NaN is an error."""
    arr = _as_margin_vector(m)
    n = arr.shape[0]
    if (k is None) == (fraction is None):
        raise InvalidInputError("give exactly one of k or fraction")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if not 0 <= k <= n:
            raise InvalidInputError(f"k must lie in 0..{n}, got {k}")
        count = int(k)
    else:
        f = float(fraction)  # type: ignore[arg-type]
        if not 0.0 <= f <= 1.0:
            raise InvalidInputError(f"fraction must lie in [0, 1], got {fraction!r}")
        count = min(n, math.ceil(f * n))
    return _core.lowest_margins(arr, count)


@dataclass(frozen=True)
class GDVResult:
    """GDV with its parts: ``value = intra − inter`` (both already divided by √D)."""

    value: float
    intra: float
    inter: float
    classes: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gdv(X: Any, labels: Any, *, components: bool = False) -> float | GDVResult:
    """Generalized Discrimination Value (Schilling et al. 2021) of points ``X`` (N, D) with integer
    class ``labels``, exactly as the authors' reference routine: every dimension z-scored over all
    points with the population std and a factor ½, mean intra-class minus mean inter-class
    Euclidean distance, divided by √D. ≈0 means no separation, −1 two collapsed classes. Cost
    O(N²D); subsample large classes. ``components=True`` returns a :class:`GDVResult`."""
    arr = as_float_array(X, "X")
    if arr.ndim != 2:
        raise InvalidInputError(f"X must be a 2-D (N, D) array, got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidInputError(f"X is empty (shape {arr.shape})")
    lab = as_labels(labels, "labels", arr.shape[0])
    d = _core.gdv(arr, lab)
    if components:
        return GDVResult(d["value"], d["intra"], d["inter"], tuple(int(c) for c in d["classes"]))
    return float(d["value"])
