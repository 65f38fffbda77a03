"""Least-absolute-deviation and quantile regression (``netsieve.lad_fit``): exact against the LP
optimum from HiGHS, equivariances, degeneracy and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netsieve as ns

scipy_optimize = pytest.importorskip("scipy.optimize")


def lp_optimum(X, y, quantile=0.5, fit_intercept=True):
    """min Σ ρ_τ(y − Xβ) by its dual LP: max yᵀλ s.t. [X 1]ᵀλ = 0, τ − 1 ≤ λ ≤ τ (HiGHS)."""
    A = np.column_stack([X, np.ones(len(y))]) if fit_intercept else X
    res = scipy_optimize.linprog(-np.asarray(y, float), A_eq=A.T, b_eq=np.zeros(A.shape[1]),
                                 bounds=(quantile - 1, quantile), method="highs",
                                 options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})  # fmt: skip
    assert res.status == 0, res.message
    return -res.fun


def check_loss(r, tau):
    return float(np.sum(np.where(r < 0, (tau - 1) * r, tau * r)))


def check_vertex(X, y, fit, fit_intercept=True):
    """The reported point is a vertex: q residuals exactly fixed at zero, with independent rows; the
    reported losses are those of a fresh evaluation."""
    A = np.column_stack([X, np.ones(len(y))]) if fit_intercept else np.asarray(X)
    r = y - X @ fit.coef - fit.intercept
    scale = np.abs(y).max() + np.abs(A).max() * np.abs(np.append(fit.coef, fit.intercept)).sum() + 1
    basis = list(fit.basis)
    assert len(basis) == A.shape[1]
    assert np.abs(r[basis]).max() <= 1e-9 * scale
    assert np.linalg.matrix_rank(A[basis]) == A.shape[1]
    assert fit.loss == pytest.approx(np.abs(r).sum(), rel=1e-10, abs=1e-12 * scale)
    assert fit.objective == pytest.approx(check_loss(r, fit.quantile), rel=1e-10, abs=1e-12 * scale)


def problem(kind, n, p, seed):
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        X = rng.normal(size=(n, p))
        y = X @ rng.normal(size=p) + rng.normal(size=n)
    elif kind == "integer-ties":
        X = rng.integers(-3, 4, size=(n, p)).astype(float)
        y = rng.integers(-5, 6, size=n).astype(float)
    elif kind == "duplicated-rows":
        base = rng.normal(size=(max(n // 4, p + 2), p))
        X = base[rng.integers(0, len(base), size=n)]
        y = X @ rng.normal(size=p) + np.round(rng.normal(size=n))
    elif kind == "heavy-tailed":
        X = rng.standard_t(2, size=(n, p))
        y = X @ rng.normal(size=p) + rng.standard_cauchy(size=n)
    elif kind == "n-close-to-p":
        X = rng.normal(size=(p + 3, p))
        y = rng.normal(size=p + 3)
    else:
        raise AssertionError(kind)
    return X, y


KINDS = ["gaussian", "integer-ties", "duplicated-rows", "heavy-tailed", "n-close-to-p"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n,p", [(40, 2), (500, 5), (3000, 20)])
@pytest.mark.parametrize("seed", [0, 1])
def test_lad_equals_the_lp_optimum(kind, n, p, seed):
    X, y = problem(kind, n, p, seed)
    fit = ns.lad_fit(X, y)
    assert fit.status == "optimal"
    assert fit.loss == pytest.approx(2 * lp_optimum(X, y), rel=1e-8)
    check_vertex(X, y, fit)


@pytest.mark.parametrize("n,p,seed", [(100_000, 5, 0), (20_000, 50, 1)])
def test_lad_is_exact_on_large_problems(n, p, seed):
    X, y = problem("heavy-tailed", n, p, seed)
    fit = ns.lad_fit(X, y)
    assert fit.status == "optimal"
    assert fit.loss == pytest.approx(2 * lp_optimum(X, y), rel=1e-8)
    check_vertex(X, y, fit)


@pytest.mark.parametrize("tau", [0.05, 0.25, 0.75, 0.9])
@pytest.mark.parametrize("kind", ["gaussian", "integer-ties", "heavy-tailed"])
def test_quantile_regression_equals_the_lp_optimum(tau, kind):
    X, y = problem(kind, 800, 4, 3)
    fit = ns.lad_fit(X, y, quantile=tau)
    assert fit.status == "optimal" and fit.quantile == tau
    assert fit.objective == pytest.approx(lp_optimum(X, y, tau), rel=1e-8)
    check_vertex(X, y, fit)
    # About a fraction τ of the residuals lies below the fitted plane (at most q on it).
    r = y - X @ fit.coef - fit.intercept
    tol = 1e-9 * (np.abs(y).max() + 1)
    assert np.sum(r < -tol) <= tau * len(y) <= np.sum(r <= tol)


def test_without_intercept():
    X, y = problem("gaussian", 300, 3, 5)
    fit = ns.lad_fit(X, y, fit_intercept=False)
    assert fit.intercept == 0.0
    assert fit.loss == pytest.approx(2 * lp_optimum(X, y, fit_intercept=False), rel=1e-8)
    check_vertex(X, y, fit, fit_intercept=False)


def test_an_exact_line_is_recovered_despite_gross_outliers():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5] + 3.0
    y[:40] += rng.normal(0, 1e3, size=40)
    fit = ns.lad_fit(X, y)
    np.testing.assert_allclose(fit.coef, [1.0, -2.0, 0.5], atol=1e-9)
    assert fit.intercept == pytest.approx(3.0, abs=1e-9)


# -- properties ----------------------------------------------------------------------------------

seeds = st.integers(0, 2**32 - 1)
sizes = st.tuples(st.integers(5, 80), st.integers(1, 4))


def data(seed, size, integer):
    n, p = size
    rng = np.random.default_rng(seed)
    if integer:
        X = rng.integers(-2, 3, size=(n + p + 1, p)).astype(float)
        y = rng.integers(-3, 4, size=n + p + 1).astype(float)
    else:
        X = rng.normal(size=(n + p + 1, p))
        y = X @ rng.normal(size=p) + rng.standard_t(1.5, size=n + p + 1)
    if np.linalg.matrix_rank(np.column_stack([X, np.ones(len(y))])) < p + 1:
        X[: p + 1, :] += np.eye(p + 1, p)  # make the design full rank
    return rng, X, y


@settings(max_examples=60, deadline=None)
@given(seeds, sizes, st.booleans())
def test_loss_is_invariant_under_row_permutation(seed, size, integer):
    rng, X, y = data(seed, size, integer)
    a = ns.lad_fit(X, y)
    perm = rng.permutation(len(y))
    b = ns.lad_fit(X[perm], y[perm])
    assert a.status == b.status == "optimal"
    assert b.loss == pytest.approx(a.loss, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(seeds, sizes, st.booleans(), st.floats(-1e3, 1e3).filter(lambda c: abs(c) > 1e-3))
def test_equivariance_under_scaling_y(seed, size, integer, c):
    _, X, y = data(seed, size, integer)
    a, b = ns.lad_fit(X, y), ns.lad_fit(X, c * y)
    assert b.loss == pytest.approx(abs(c) * a.loss, rel=1e-9, abs=1e-9)
    # The minimiser may not be unique; the scaled one must be optimal for the scaled problem.
    r = c * y - X @ (a.coef * c) - a.intercept * c
    assert np.abs(r).sum() == pytest.approx(b.loss, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(seeds, sizes, st.booleans())
def test_equivariance_under_affine_reparametrisation_of_x(seed, size, integer):
    rng, X, y = data(seed, size, integer)
    p = X.shape[1]
    A = rng.normal(size=(p, p)) + 3 * np.eye(p)
    shift = rng.normal(size=p)
    Z = X @ A + shift
    a, b = ns.lad_fit(X, y), ns.lad_fit(Z, y)
    assert b.loss == pytest.approx(a.loss, rel=1e-8, abs=1e-9)
    # a's fit, expressed in the new coordinates, is feasible there with the same loss.
    coef = np.linalg.solve(A, a.coef)
    r = y - Z @ coef - (a.intercept - shift @ coef)
    assert np.abs(r).sum() == pytest.approx(b.loss, rel=1e-8, abs=1e-9)


# -- degeneracy and the pivot cap --------------------------------------------------------------


def test_highly_degenerate_problems_terminate_at_the_optimum():
    rng = np.random.default_rng(11)
    for trial in range(30):
        n, p = rng.integers(4, 60), rng.integers(1, 4)
        X = rng.integers(0, 2, size=(n, p)).astype(float)  # 0/1 columns: massive ties
        X[: p + 1] = np.vstack([np.zeros(p), np.eye(p)])  # full rank with the intercept
        y = rng.integers(0, 2, size=n).astype(float)
        fit = ns.lad_fit(np.repeat(X, 3, axis=0), np.repeat(y, 3))
        assert fit.status == "optimal"
        assert fit.loss == pytest.approx(2 * lp_optimum(np.repeat(X, 3, axis=0), np.repeat(y, 3)), rel=1e-8, abs=1e-9)


def test_constant_y_gives_zero_loss():
    X, _ = problem("gaussian", 50, 3, 0)
    fit = ns.lad_fit(X, np.full(50, 2.5))
    assert fit.loss == 0.0 and fit.intercept == pytest.approx(2.5)
    np.testing.assert_allclose(fit.coef, 0, atol=1e-12)


def test_the_pivot_cap_returns_the_last_vertex_with_status_limit():
    X, y = problem("gaussian", 400, 6, 2)
    full = ns.lad_fit(X, y)
    for cap in (0, 3, 7):
        part = ns.lad_fit(X, y, max_pivots=cap)
        assert part.status == "limit" and part.n_pivots == cap
        assert part.loss >= full.loss - 1e-9
        assert part.loss == pytest.approx(np.abs(y - X @ part.coef - part.intercept).sum(), rel=1e-10)
    assert ns.lad_fit(X, y, max_pivots=full.n_pivots).status == "optimal"


def test_more_pivots_never_raise_the_loss():
    X, y = problem("heavy-tailed", 600, 5, 9)
    losses = [ns.lad_fit(X, y, max_pivots=k).objective for k in range(0, 40)]
    assert all(b <= a + 1e-9 * abs(a) for a, b in zip(losses, losses[1:]))


# -- the record and input handling -----------------------------------------------------------


def test_record_float32_lists_and_inputs_untouched():
    X, y = problem("gaussian", 60, 2, 1)
    X0, y0 = X.copy(), y.copy()
    fit = ns.lad_fit(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert ns.LADFit.FIELDS == ["coef", "intercept", "loss", "objective", "quantile", "n_pivots", "status", "basis"]
    assert fit.status in ns.LAD_STATUSES
    assert not fit.coef.flags.writeable
    assert fit.to_dict()["coef"] == fit.coef.tolist()
    as_list = ns.lad_fit(X.tolist(), y.tolist())
    assert as_list.loss == pytest.approx(fit.loss, rel=1e-12)
    f32 = ns.lad_fit(X.astype(np.float32), y)
    assert f32.loss == pytest.approx(fit.loss, rel=1e-5)
    strided = ns.lad_fit(np.asfortranarray(X), y)
    assert strided.loss == pytest.approx(fit.loss, rel=1e-12)
    assert ns.DEFAULTS["quantile"] == 0.5 and ns.DEFAULTS["fit_intercept"] is True


@pytest.mark.parametrize(
    "args,kwargs,error,match",
    [
        (([[1.0], [np.nan], [3.0]], [1.0, 2.0, 3.0]), {}, ns.InvalidInputError, "row 1, column 0"),
        (([[1.0], [2.0], [3.0]], [1.0, np.inf, 3.0]), {}, ns.InvalidInputError, "`?y`? contains a non-finite"),
        (([[1.0], [2.0], [3.0]], [1.0, 2.0]), {}, ns.InvalidInputError, "has 2 values but X has 3 rows"),
        (([[1.0], [2.0], [3.0]], [[1.0, 2.0, 3.0]]), {}, ns.InvalidInputError, "y must be 1-D"),
        (([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), {}, ns.InvalidInputError, "X must be a 2-D matrix"),
        (([[1.0, 2.0]], [1.0]), {}, ns.InvalidInputError, "fewer than the 3 coefficients"),
        (([[1.0], [1.0], [1.0]], [1.0, 2.0, 0.0]), {}, ns.InvalidInputError, "rank deficient"),
        (([[1.0], [2.0], [3.0]], [1.0, 2.0, 3.0]), {"quantile": 1.0}, ns.InvalidInputError, "strictly between 0 and 1"),
        (([[1.0], [2.0], [3.0]], [1.0, 2.0, 3.0]), {"quantile": float("nan")}, ns.InvalidInputError, "quantile"),
        (([[1.0], [2.0], [3.0]], [1.0, 2.0, 3.0]), {"quantile": True}, TypeError, "expected a number"),
        (([[1.0], [2.0], [3.0]], [1.0, 2.0, 3.0]), {"max_pivots": -1}, ns.InvalidInputError, "non-negative"),
        ((np.zeros((0, 2)), []), {}, ns.InvalidInputError, "empty"),
    ],
)
def test_bad_input_is_named(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ns.lad_fit(*args, **kwargs)
