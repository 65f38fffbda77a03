"""The generalization-gap regression on margin signatures (Jiang et al. 2019): fit ĝ = aᵀφ(θ) + b
over many trained models, with θ their margin signatures (:meth:`LayerMargins.signature` of
:mod:`netsieve.torch.margins`) and g their measured train − test gaps."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import InvalidInputError

__all__ = ["GapPredictor"]


class GapPredictor:
    """Linear regression of the generalization gap on margin-signature features of many trained
    models (Jiang et al. 2019): ĝ = aᵀφ(θ) + b by least squares.

    ``transform``: ``"log_abs"`` (default; φ = log|θ|, the convention of the public reimplementation,
    since lower fences can be ≤ 0 and the paper's handling is unverified), ``"log"`` (errors on
    θ ≤ 0) or ``"none"``. After :meth:`fit`: ``coef_``, ``intercept_``, ``r2_``, ``adjusted_r2_``
    (1 − (1−R²)(n−1)/(n−p−1)) and ``cv_r2_``: the R² of out-of-fold predictions pooled over
    ``folds`` folds (shuffled with ``seed``).
    """

    def __init__(self, transform: str = "log_abs", folds: int = 10, seed: int = 0):
        if transform not in ("log_abs", "log", "none"):
            raise InvalidInputError(f'transform must be "log_abs", "log" or "none", got {transform!r}')
        if int(folds) < 2:
            raise InvalidInputError(f"folds must be at least 2, got {folds}")
        self.transform, self.folds, self.seed = transform, int(folds), seed

    def _phi(self, features: Any) -> np.ndarray:
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2:
            raise InvalidInputError(f"features must be (n_models, n_features), got shape {f.shape}")
        if not np.isfinite(f).all():
            raise InvalidInputError("features contain NaN or Inf")
        if self.transform == "none":
            return f
        if self.transform == "log":
            if (f <= 0).any():
                raise InvalidInputError('a feature is ≤ 0, where log is undefined; use transform="log_abs" or "none"')
            return np.log(f)
        if (f == 0).any():
            raise InvalidInputError("a feature is exactly 0, where log|θ| is undefined")
        return np.log(np.abs(f))

    @staticmethod
    def _lstsq(phi: np.ndarray, g: np.ndarray) -> np.ndarray:
        design = np.hstack([phi, np.ones((phi.shape[0], 1))])
        return np.linalg.lstsq(design, g, rcond=None)[0]

    @staticmethod
    def _r2(g: np.ndarray, pred: np.ndarray) -> float:
        ss_tot = float(((g - g.mean()) ** 2).sum())
        if ss_tot == 0:
            raise InvalidInputError("all gaps are equal; R² is undefined")
        return 1.0 - float(((g - pred) ** 2).sum()) / ss_tot

    def fit(self, features: Any, gaps: Any) -> "GapPredictor":
        phi = self._phi(features)
        g = np.asarray(gaps, dtype=np.float64).ravel()
        n, p = phi.shape
        if g.shape[0] != n:
            raise InvalidInputError(f"{n} feature rows but {g.shape[0]} gaps")
        if n < p + 2:
            raise InvalidInputError(f"{n} models are too few for {p} features (need at least {p + 2})")
        if n < self.folds:
            raise InvalidInputError(f"{n} models are too few for {self.folds}-fold cross-validation")
        beta = self._lstsq(phi, g)
        self.coef_, self.intercept_ = beta[:-1], float(beta[-1])
        self.r2_ = self._r2(g, phi @ self.coef_ + self.intercept_)
        self.adjusted_r2_ = 1.0 - (1.0 - self.r2_) * (n - 1) / (n - p - 1)
        order = np.random.default_rng(self.seed).permutation(n)
        pred = np.empty(n)
        for test in np.array_split(order, self.folds):
            train = np.setdiff1d(order, test)
            b = self._lstsq(phi[train], g[train])
            pred[test] = phi[test] @ b[:-1] + b[-1]
        self.cv_r2_ = self._r2(g, pred)
        return self

    def predict(self, features: Any) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise InvalidInputError("call fit() first")
        phi = self._phi(features)
        if phi.shape[1] != self.coef_.shape[0]:
            raise InvalidInputError(f"expected {self.coef_.shape[0]} features, got {phi.shape[1]}")
        return phi @ self.coef_ + self.intercept_
