"""Predictors of the generalization gap measured on one trained classifier, and their comparison
over many models: the margin signatures of Jiang et al. (2019) beside spectral, norm-based,
susceptibility and margin-AUC predictors.

:func:`gap_features` measures a :class:`GapFeatures` per model (training data, the labels the model
was trained on); :func:`compare_gap_predictors` fits :class:`GapPredictor` on each predictor's columns
(:data:`GAP_PREDICTORS`) over the models and returns one :class:`PredictorScore` per predictor.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .. import InvalidInputError, analyze_layers, margin_summary
from .diagnostics import weight_matrices
from .gap import GapPredictor
from .layer_margins import layer_margins
from .margins import output_margins

__all__ = ["GapFeatures", "gap_features", "GapPredictorSpec", "GAP_PREDICTORS", "PredictorScore",
           "compare_gap_predictors"]


@dataclass(frozen=True)
class GapFeatures:
    """The gap predictors of one trained model.

    Parameters
    ----------
    layers : tuple of str
        The layers of the margin signature, in order (e.g. ``("input", "1", "3", "5")``).
    signature : tuple of float
        Jiang et al.'s quartile signature (Q1, Q2, Q3, upper, lower fence) of the normalized positive
        margins, 5 per layer (:meth:`LayerMargins.signature`).
    moments : tuple of float
        Mean, std, skewness, excess kurtosis of the same margins, 4 per layer.
    margin_auc : float
        Banburski et al.'s area under the sorted curve of the training output margins divided by the
        product of the layers' Frobenius norms (:attr:`netsieve.MarginSummary.auc`).
    spectral_margin : float
        The median training output margin divided by the product of spectral norms (the
        spectrally normalized margin, Bartlett et al. 2017).
    log_frobenius_product, log_spectral_product : float
        log ∏ ‖W‖_F and log ∏ ‖W‖₂ over the weight matrices.
    alpha, mp_soft_rank, stable_rank : float
        Means over the weight matrices with a value (NaN when none has one).
    n_spikes : int
        Outliers above the bulk edge, summed over the weight matrices.
    zeta : float
        Susceptibility ζ at the end of training (NaN when not measured).

    Raises
    ------
    dataclasses.FrozenInstanceError
        On assigning a field.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> f = nt.GapFeatures.from_dict({"layers": ["input"], "signature": [1, 2, 3, 4.5, -0.5],
    ...     "moments": [2, 1, 0, -1], "margin_auc": 0.1, "spectral_margin": 0.2, "log_frobenius_product": 3.0,
    ...     "log_spectral_product": 2.0, "alpha": 4.0, "mp_soft_rank": 0.3, "stable_rank": 5.0, "n_spikes": 7})
    >>> f.signature[:2], f.zeta != f.zeta  # zeta defaults to NaN
    ((1.0, 2.0), True)
    """

    layers: tuple[str, ...]
    signature: tuple[float, ...]
    moments: tuple[float, ...]
    margin_auc: float
    spectral_margin: float
    log_frobenius_product: float
    log_spectral_product: float
    alpha: float
    mp_soft_rank: float
    stable_rank: float
    n_spikes: int
    zeta: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        """Every field, tuples as lists (JSON-ready)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GapFeatures":
        """The inverse of :meth:`to_dict` (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidInputError(f"unknown GapFeatures fields {unknown}")
        out = {k: (tuple(str(x) for x in v) if k == "layers" else tuple(float(x) for x in v) if isinstance(v, list)
                   else v) for k, v in d.items()}  # fmt: skip
        return cls(**out)


def _finite_mean(values: list[float | None]) -> float:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return float(np.mean(vals)) if vals else math.nan


def gap_features(model: nn.Module, data: Any, layers: Sequence[Any] = ("input",), *, zeta: float = math.nan,
                 batch_size: int = 256) -> GapFeatures:  # fmt: skip
    """Measures every predictor of :class:`GapFeatures` on one trained model.

    Parameters
    ----------
    model : torch.nn.Module
    data : (inputs, labels) pair of tensors, or batches as for :func:`layer_margins`
        The training data with the labels the model was trained on (noisy ones included).
    layers : sequence of str or torch.nn.Module, default ("input",)
        The layers of the margin signature (Jiang et al. use the input and three hidden layers).
    zeta : float, optional
        The run's final susceptibility, stored as is.
    batch_size : int, default 256

    Returns
    -------
    GapFeatures

    Raises
    ------
    InvalidInputError, TypeError
        As for :func:`layer_margins` and :func:`output_margins`; no correctly classified sample.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    >>> x = torch.randn(200, 8); y = (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    >>> f = nt.gap_features(net, (x, y), ["input", net[0]])
    >>> f.layers, len(f.signature), len(f.moments), f.n_spikes >= 0
    (('input', '0'), 10, 8, True)
    """
    lm = layer_margins(model, data, layers, batch_size=batch_size)
    out = output_margins(model, data, batch_size=batch_size)
    matrices = weight_matrices(model)
    if not matrices:
        raise InvalidInputError("the model has no weight matrices")
    with torch.no_grad():
        w64 = [w.to(torch.float64) for w in matrices.values()]
        log_f = float(sum(math.log(float(torch.linalg.matrix_norm(w))) for w in w64))
        log_s = float(sum(math.log(float(torch.linalg.matrix_norm(w, ord=2))) for w in w64))
    auc = margin_summary(out / math.exp(log_f)).auc
    reports = analyze_layers(matrices, level_statistics=False, errors="collect")
    rows = list(reports.values())
    return GapFeatures(
        layers=tuple(lm.normalized), signature=tuple(float(v) for v in lm.signature()),
        moments=tuple(float(v) for v in lm.moments()), margin_auc=float(auc),
        spectral_margin=float(np.median(out)) / math.exp(log_s), log_frobenius_product=log_f,
        log_spectral_product=log_s, alpha=_finite_mean([r.alpha for r in rows]),
        mp_soft_rank=_finite_mean([r.mp_soft_rank for r in rows]),
        stable_rank=_finite_mean([r.stable_rank for r in rows]),
        n_spikes=int(sum(r.n_spikes for r in rows if r.n_spikes is not None)), zeta=float(zeta),
    )  # fmt: skip


@dataclass(frozen=True)
class GapPredictorSpec:
    """A predictor of the gap: its name, the columns it takes from a :class:`GapFeatures`, and the
    transform φ of :class:`GapPredictor` applied to them.

    Parameters
    ----------
    name : str
    columns : callable
        ``GapFeatures -> sequence of float``.
    transform : {"none", "log_abs", "log"}, default "none"

    Raises
    ------
    dataclasses.FrozenInstanceError
        On assigning a field.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> spec = nt.GapPredictorSpec("ζ and AUC", lambda f: [f.zeta, f.margin_auc])
    >>> spec.transform, [p.name for p in nt.GAP_PREDICTORS][:2]
    ('none', ['margin signature (Jiang)', 'margin moments'])
    """

    name: str
    columns: Callable[[GapFeatures], Sequence[float]]
    transform: str = "none"


# Fixed before the grid's results were seen (see examples/gap_grid.py): the paper's log|θ| for the
# quartile signature and the spectrally normalized margin; counts and scales enter as logs here.
GAP_PREDICTORS: tuple[GapPredictorSpec, ...] = (
    GapPredictorSpec("margin signature (Jiang)", lambda f: f.signature, "log_abs"),
    GapPredictorSpec("margin moments", lambda f: f.moments),
    GapPredictorSpec("margin AUC (Banburski)", lambda f: [f.margin_auc]),
    GapPredictorSpec("spectral margin (Bartlett)", lambda f: [f.spectral_margin], "log_abs"),
    GapPredictorSpec("norms (log ∏‖W‖_F, log ∏‖W‖₂)", lambda f: [f.log_frobenius_product, f.log_spectral_product]),
    GapPredictorSpec("spectral (α, soft rank, spikes, stable rank)",
                     lambda f: [f.alpha, f.mp_soft_rank, math.log1p(f.n_spikes), math.log(f.stable_rank)]),
    GapPredictorSpec("α (mean)", lambda f: [f.alpha]),
    GapPredictorSpec("MP soft rank (mean)", lambda f: [f.mp_soft_rank]),
    GapPredictorSpec("spikes (log 1+total)", lambda f: [math.log1p(f.n_spikes)]),
    GapPredictorSpec("stable rank (log mean)", lambda f: [math.log(f.stable_rank)]),
    GapPredictorSpec("ζ (susceptibility)", lambda f: [f.zeta]),
)


@dataclass(frozen=True)
class PredictorScore:
    """How well one predictor explains the gap over a set of models.

    Parameters
    ----------
    name : str
    n_features, n_models : int
        Columns, and the models whose columns were all finite (the others are left out).
    cv_r2_mean, cv_r2_std : float
        The k-fold R² (:attr:`GapPredictor.cv_r2_`) over the fold-shuffling seeds: mean, std.
    r2, adjusted_r2 : float
        Of the fit on every model.
    error : str, optional
        Why the predictor could not be fitted (then the scores are NaN).

    Raises
    ------
    dataclasses.FrozenInstanceError
        On assigning a field.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> s = nt.PredictorScore("ζ (susceptibility)", 1, 40, 0.31, 0.02, 0.35, 0.33)
    >>> s.cv_r2_mean, s.error
    (0.31, None)
    """

    name: str
    n_features: int
    n_models: int
    cv_r2_mean: float
    cv_r2_std: float
    r2: float
    adjusted_r2: float
    error: str | None = None


def compare_gap_predictors(features: Sequence[GapFeatures], gaps: Any, *, folds: int = 10,
                           seeds: Sequence[int] = (0, 1, 2, 3, 4),
                           predictors: Sequence[GapPredictorSpec] = GAP_PREDICTORS) -> list[PredictorScore]:  # fmt: skip
    """Fits :class:`GapPredictor` on each predictor's columns over the models and scores it.

    Parameters
    ----------
    features : sequence of GapFeatures
        One per model.
    gaps : array_like, shape (n_models,)
        Their measured gaps (train − test accuracy).
    folds : int, default 10
    seeds : sequence of int, default (0, 1, 2, 3, 4)
        Fold-shuffling seeds; the k-fold R² is averaged over them.
    predictors : sequence of GapPredictorSpec, default GAP_PREDICTORS

    Returns
    -------
    list of PredictorScore
        In the order of ``predictors``; a predictor that cannot be fitted (too few models with
        finite columns, a zero feature under a log) carries the reason in ``error``.

    Raises
    ------
    InvalidInputError
        A gap count that differs from the models', no seeds.

    Examples
    --------
    >>> import numpy as np, netsieve.torch as nt
    >>> rng = np.random.default_rng(0)
    >>> base = dict(layers=["input"], moments=[1, 1, 0, 0], spectral_margin=0.1, log_frobenius_product=1.0,
    ...             log_spectral_product=0.5, alpha=3.0, mp_soft_rank=0.5, stable_rank=2.0, n_spikes=3)
    >>> auc = rng.uniform(0.1, 1.0, 30)
    >>> feats = [nt.GapFeatures.from_dict({**base, "signature": list(rng.uniform(1, 2, 5)), "margin_auc": a})
    ...          for a in auc]
    >>> scores = nt.compare_gap_predictors(feats, 0.5 - 0.3 * auc, folds=5, predictors=nt.GAP_PREDICTORS[2:3])
    >>> scores[0].name, round(scores[0].cv_r2_mean, 3)
    ('margin AUC (Banburski)', 1.0)
    """
    g = np.asarray(gaps, dtype=np.float64).ravel()
    if g.shape[0] != len(features):
        raise InvalidInputError(f"{len(features)} models but {g.shape[0]} gaps")
    if not len(seeds):
        raise InvalidInputError("seeds is empty")
    out = []
    for spec in predictors:
        cols = np.array([[float(v) for v in spec.columns(f)] for f in features], dtype=np.float64)
        keep = np.isfinite(cols).all(axis=1)
        n, p = int(keep.sum()), cols.shape[1]
        try:
            cvs = [GapPredictor(spec.transform, folds=folds, seed=s).fit(cols[keep], g[keep]) for s in seeds]
        except InvalidInputError as exc:
            out.append(PredictorScore(spec.name, p, n, math.nan, math.nan, math.nan, math.nan, str(exc)))
            continue
        r2s = np.array([c.cv_r2_ for c in cvs])
        out.append(PredictorScore(spec.name, p, n, float(r2s.mean()), float(r2s.std()), cvs[0].r2_,
                                  cvs[0].adjusted_r2_))
    return out
