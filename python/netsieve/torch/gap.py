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

    Parameters
    ----------
    transform : {"log_abs", "log", "none"}, default "log_abs"
        φ: ``"log_abs"`` is φ = log|θ|, the convention of the public reimplementation, since lower
        fences can be ≤ 0 and the paper's handling is unverified; ``"log"`` errors on θ ≤ 0.
    folds : int, default 10
        Folds of the cross-validated R² (at least 2).
    seed : int, default 0
        Shuffles the models before they are split into folds.

    Attributes
    ----------
    coef_ : numpy.ndarray
        a, one coefficient per feature (after :meth:`fit`, as are the others).
    intercept_ : float
        b.
    r2_, adjusted_r2_ : float
        R² of the fit, and 1 − (1−R²)(n−1)/(n−p−1) for n models and p features.
    cv_r2_ : float
        The R² of out-of-fold predictions pooled over ``folds`` folds (shuffled with ``seed``).

    Raises
    ------
    InvalidInputError
        An unknown ``transform``, ``folds`` below 2.

    Examples
    --------
    >>> import numpy as np, netsieve.torch as nt
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.uniform(0.5, 2.0, size=(40, 2))  # e.g. LayerMargins.signature() of 40 models
    >>> gaps = 0.3 * np.log(theta[:, 0]) - 0.1 * np.log(theta[:, 1]) + 0.05 + rng.normal(0, 0.01, 40)
    >>> g = nt.GapPredictor(folds=5).fit(theta, gaps)
    >>> g.coef_.round(1).tolist(), round(g.intercept_, 2), round(g.cv_r2_, 2)
    ([0.3, -0.1], 0.05, 0.99)

    References
    ----------
    .. [1] Jiang et al. (2019): the generalization gap predicted from margin signatures.
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
        """Fits ĝ = aᵀφ(θ) + b by least squares, and the out-of-fold R².

        Parameters
        ----------
        features : array_like, shape (n_models, n_features)
            θ, finite (and non-zero, or positive for ``transform="log"``).
        gaps : array_like, shape (n_models,)
            The measured train − test gaps.

        Returns
        -------
        GapPredictor
            ``self``, with the attributes of the class set.

        Raises
        ------
        InvalidInputError
            Features not 2-D, NaN/Inf, ≤ 0 for ``"log"`` or exactly 0 for ``"log_abs"``; a gap count
            that differs; fewer than n_features + 2 models or than ``folds``; all gaps equal.

        Examples
        --------
        >>> import numpy as np, netsieve.torch as nt
        >>> theta = np.arange(1.0, 13.0).reshape(12, 1)
        >>> g = nt.GapPredictor(folds=3).fit(theta, 0.5 * np.log(theta[:, 0]) + 0.1)
        >>> round(float(g.coef_[0]), 6), round(g.intercept_, 6), round(g.r2_, 6)
        (0.5, 0.1, 1.0)
        """
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
        """Predicted gaps ĝ = aᵀφ(θ) + b of models with these features.

        Parameters
        ----------
        features : array_like, shape (n_models, n_features)
            As for :meth:`fit`, with the same number of features.

        Returns
        -------
        numpy.ndarray, shape (n_models,)

        Raises
        ------
        InvalidInputError
            Called before :meth:`fit`; another number of features; features that φ cannot take.

        Examples
        --------
        >>> import numpy as np, netsieve.torch as nt
        >>> theta = np.arange(1.0, 13.0).reshape(12, 1)
        >>> g = nt.GapPredictor(folds=3).fit(theta, 0.5 * np.log(theta[:, 0]) + 0.1)
        >>> g.predict([[1.0], [np.e]]).round(6).tolist()
        [0.1, 0.6]
        >>> g.predict([[1.0, 2.0]])
        Traceback (most recent call last):
        netsieve.InvalidInputError: expected 1 features, got 2
        """
        if not hasattr(self, "coef_"):
            raise InvalidInputError("call fit() first")
        phi = self._phi(features)
        if phi.shape[1] != self.coef_.shape[0]:
            raise InvalidInputError(f"expected {self.coef_.shape[0]} features, got {phi.shape[1]}")
        return phi @ self.coef_ + self.intercept_
