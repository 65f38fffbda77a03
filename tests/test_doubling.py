"""The doubling condition: exact slab counts against brute force, their invariances, planted truth
(Gaussian in closed form, the uniform cube, flat portions), classes, models and bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netsieve as ns


def brute_counts(X, directions, offsets, deltas):
    W = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    W = W / np.linalg.norm(W, axis=1, keepdims=True)
    out = np.zeros((len(W), len(offsets), len(deltas)), dtype=np.int64)
    for i, w in enumerate(W):
        p = np.zeros(len(X))
        for k in range(X.shape[1]):  # the core's accumulation order
            p = p + X[:, k] * w[k]
        for j, b in enumerate(offsets):
            for g, d in enumerate(deltas):
                out[i, j, g] = np.count_nonzero(np.abs(p + b) < d)
    return out


# -- slab_counts is exact -------------------------------------------------------------------------


def test_slab_counts_equal_brute_force_on_random_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, 6))
    W = rng.normal(size=(9, 6))
    offsets, deltas = rng.normal(size=5), np.array([0.01, 0.1, 0.5, 2.0])
    np.testing.assert_array_equal(ns.slab_counts(X, W, offsets, deltas), brute_counts(X, W, offsets, deltas))


def test_slab_counts_on_ties_and_faces_follow_the_open_convention():
    rng = np.random.default_rng(1)
    X = rng.integers(-3, 4, size=(500, 3)).astype(float)  # many ties, many points on faces
    W = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, 2.0]])
    offsets, deltas = np.array([-1.0, 0.0, 0.5, 2.0]), np.array([0.5, 1.0, 1.5, 3.0])
    got = ns.slab_counts(X, W, offsets, deltas)
    np.testing.assert_array_equal(got, brute_counts(X, W, offsets, deltas))
    # |x₀| < 1 holds exactly the points with x₀ = 0: the faces x₀ = ±1 are outside.
    assert got[0, 1, 1] == np.count_nonzero(X[:, 0] == 0)
    # One 1-D direction gives a (B, G) array; scalars are accepted for offsets and widths.
    assert ns.slab_counts(X, [1.0, 0, 0], 0.0, 1.0).shape == (1, 1)
    assert ns.slab_counts(X, [1.0, 0, 0], 0.0, 1.0)[0, 0] == got[0, 1, 1]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(-3, 3))
def test_slab_counts_are_invariant_under_motions_and_scaling(seed, k):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 200)), int(rng.integers(1, 6))
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(3, d))
    offsets, deltas = rng.normal(size=4), np.sort(rng.uniform(0.05, 2.0, size=3))
    base = ns.slab_counts(X, W, offsets, deltas)
    # Permuting the points changes nothing.
    np.testing.assert_array_equal(ns.slab_counts(X[rng.permutation(n)], W, offsets, deltas), base)
    # Scaling points, offsets and widths by 2^k is exact in floating point.
    c = 2.0**k
    np.testing.assert_array_equal(ns.slab_counts(c * X, W, c * offsets, c * deltas), base)
    # Rotating points and directions, or translating points with the offsets, moves projections
    # by rounding only: counts agree unless a point sits within 1e-9 of a face.
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    t = rng.normal(size=d)
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    p = X @ Wn.T
    near = np.abs(np.abs(p[:, :, None, None] + offsets[None, None, :, None]) - deltas) < 1e-9
    if not near.any():
        np.testing.assert_array_equal(ns.slab_counts(X @ Q, W @ Q, offsets, deltas), base)
        shifted = np.stack([offsets - w @ t for w in Wn])
        for i in range(len(W)):
            np.testing.assert_array_equal(ns.slab_counts(X + t, W[i], shifted[i], deltas), base[i])


# -- the condition on planted truth ---------------------------------------------------------------


def gaussian_constant(N, m, delta):
    """Population Ĉ of a standard Gaussian at width δ under the cut: the slab ratio grows towards
    the tails, so its supremum is at the centre c* where N·mass(c*, δ) = m."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    def mass(c, h):
        return norm.cdf(c + h) - norm.cdf(c - h)

    if N * mass(0.0, delta) < m:
        return np.nan
    c = brentq(lambda c: N * mass(c, delta) - m, 0.0, 12.0)
    return mass(c, 2 * delta) / mass(c, delta)


def test_gaussian_cloud_matches_the_closed_form_within_the_sampling_excess():
    N = 60_000
    X = np.random.default_rng(2).normal(size=(N, 3))
    r = ns.doubling_condition(X, n_directions=16, search=False, seed=3)
    m = r.min_points
    assert m == int(np.ceil(np.sqrt(N)))
    checked = 0
    for delta, c in zip(r.deltas, r.constant_by_delta):
        want = gaussian_constant(N, m, delta)
        if np.isnan(want) or np.isnan(c):
            continue
        # Never below the population value; above it by the supremum's sampling excess, of order
        # a few 1/√m (measured 5–7/√m, docs/doubling.md).
        assert 0.98 * want <= c <= want + 8 / np.sqrt(m), (delta, c, want)
        checked += 1
    assert checked >= 4
    # Locally smooth data double like a line: the mean ratio of small slabs is 2.
    small = ~np.isnan(r.mean_ratio_by_delta)
    assert abs(r.mean_ratio_by_delta[small][1] - 2.0) < 0.03


@pytest.mark.parametrize("d", [2, 3])
def test_uniform_cube_doubles_at_most_like_its_corners(d):
    # Projected on a generic direction, a cube's density near the extreme vertex grows like
    # t^(d−1); a slab there gains 2^d when doubled, its interior slabs 2.
    X = np.random.default_rng(d).uniform(size=(40_000, d))
    r = ns.doubling_condition(X, n_directions=64, seed=1)
    assert 2.0 <= r.constant <= 1.15 * 2**d
    assert abs(np.nanmin(r.mean_ratio_by_delta) - 2.0) < 0.05


def flat_data(n, d, fraction, seed, noise=0.0, codim=1):
    """Gaussian points, a fraction of them moved onto an affine subspace of codimension ``codim``
    (plus ``noise``); returns the points and an orthonormal basis of the subspace's normals."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    normals = Q[:, :codim]
    k = int(fraction * n)
    X[:k] -= (X[:k] @ normals - 0.3) @ normals.T
    X[:k] += noise * rng.normal(size=(k, d))
    return X, normals


@pytest.mark.parametrize("noise, codim", [(0.0, 1), (1e-4, 3)])
def test_a_flat_portion_grows_the_constant_as_delta_shrinks_and_is_found(noise, codim):
    d, fraction = 16, 0.2
    peaks = []
    for n in (8000, 32000):
        X, normals = flat_data(n, d, fraction, seed=5, noise=noise, codim=codim)
        r = ns.doubling_condition(X, seed=0)
        c = r.constant_by_delta
        # Ĉ(δ) grows as δ shrinks, until the slab beside the flat portion holds fewer than m
        # points: at δ_m = m / (2ρ), ρ the density of the other points at the portion.
        peak = int(np.nanargmax(c))
        assert np.all(np.diff(c[peak:]) < 0.05 * c[peak + 1 :]), c
        assert c[peak] > 2 * c[-1], c
        rho = (1 - fraction) * n * np.exp(-0.3**2 / 2) / np.sqrt(2 * np.pi)
        delta_m = r.min_points / (2 * rho)
        assert delta_m / 2 <= r.deltas[peak] <= 8 * delta_m, (r.deltas[peak], delta_m)
        peaks.append(r.constant)
        # The worst slab is a flat one: its normal lies in the span of the portion's normals.
        w = r.worst.direction
        assert np.linalg.norm(normals.T @ w) > 0.99
        # No random direction comes close, and random directions alone miss most of the constant.
        random = np.array(r.sources) == "random"
        assert np.max(np.linalg.norm(r.directions[random] @ normals, axis=1)) < 0.8
        assert np.nanmax(r.ratios[random]) < r.constant / 2
    # With m = √N the peak grows like (flat points)/m ∝ √N: Ĉ → ∞ as N grows.
    assert peaks[1] > 1.5 * peaks[0], peaks


def test_the_worst_slab_recounts_exactly_and_results_are_records():
    X = np.random.default_rng(6).normal(size=(3000, 4))
    r = ns.doubling_condition(X, n_directions=32)
    w = r.worst
    inner, outer = ns.slab_counts(X, w.direction, w.offset, [w.delta, 2 * w.delta])[0]
    assert (inner, outer) == (w.inner, w.outer) and w.ratio == outer / inner == r.constant
    assert w.inner >= r.min_points
    assert r.constant >= r.constant_without_search
    assert r.constant_up_to(r.deltas[-1]) == np.nanmax(r.constant_by_delta)
    assert np.isnan(r.constant_up_to(r.deltas[0] / 2))
    assert r.ratios.shape == (len(r.sources), len(r.deltas)) and r.directions.shape == (len(r.sources), 4)
    assert set(r.sources) <= set(ns.DIRECTION_SOURCES)
    assert pickle.loads(pickle.dumps(r)) == r
    assert r.to_dict()["worst"]["inner"] == w.inner
    assert "constant=" in repr(r) and not r.deltas.flags.writeable
    assert ns.DEFAULTS["n_directions"] == 256


def test_the_result_is_seeded_and_the_input_untouched():
    X = np.random.default_rng(7).normal(size=(1500, 5)).astype(np.float32)
    before = X.copy()
    a = ns.doubling_condition(X, seed=4, n_directions=32)
    b = ns.doubling_condition(X, seed=4, n_directions=32)
    assert a == b
    np.testing.assert_array_equal(X, before)
    c = ns.doubling_condition(X, seed=5, n_directions=32)
    assert not np.array_equal(a.directions, c.directions)


def test_classes_get_their_own_constant():
    rng = np.random.default_rng(8)
    X0 = rng.normal(size=(3000, 8))
    X1, normal = flat_data(3000, 8, 0.3, seed=9)
    X = np.vstack([X0, X1 + 4.0])
    labels = np.repeat([3, 7], 3000)
    r = ns.doubling_condition(X, labels=labels, n_directions=64)
    assert set(r.by_class) == {3, 7}
    assert r.by_class[3].n_points == r.by_class[7].n_points == 3000
    assert r.by_class[7].constant > 2 * r.by_class[3].constant
    assert abs(r.by_class[7].worst.direction @ normal) > 0.99
    assert "class_means" in r.sources
    # A class of one point has no constant.
    r = ns.doubling_condition(np.vstack([X0[:100], X0[:1]]), labels=[0] * 100 + [1], n_directions=8)
    assert r.by_class[1] is None


def test_model_rows_join_the_directions():
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(10).normal(size=(500, 4))
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    r = ns.doubling_condition(X, model=model, n_directions=8)
    rows = model[0].weight.detach().double().numpy()
    got = r.directions[np.array(r.sources) == "model"]
    np.testing.assert_allclose(got, rows / np.linalg.norm(rows, axis=1, keepdims=True))
    r = ns.doubling_condition(X, model=np.eye(4)[:2], directions=np.ones((1, 4)), n_directions=8)
    assert list(r.sources).count("model") == 2 and list(r.sources).count("given") == 1
    with pytest.raises(ns.InvalidInputError, match="no weight matrix with 5 input columns"):
        ns.doubling_condition(np.zeros((10, 5)) + np.arange(5), model=model)


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X: ns.doubling_condition(np.vstack([X[:5], [[np.nan] * 3]])), "non-finite"),
        (lambda X: ns.doubling_condition(np.vstack([X[:5], [[np.inf] * 3]])), "non-finite"),
        (lambda X: ns.doubling_condition(X[:1]), "at least two points"),
        (lambda X: ns.doubling_condition(X, deltas=[]), "empty"),
        (lambda X: ns.doubling_condition(X, deltas=[0.1, 0.1]), "strictly increasing"),
        (lambda X: ns.doubling_condition(X, deltas=[-0.1, 0.1]), "positive"),
        (lambda X: ns.doubling_condition(X, min_points=0), "min_points"),
        (lambda X: ns.doubling_condition(X, min_points=101), "min_points"),
        (lambda X: ns.doubling_condition(X, labels=[0, 1]), "labels"),
        (lambda X: ns.doubling_condition(X, directions=np.zeros((1, 3))), "norm 0"),
        (lambda X: ns.doubling_condition(X, directions=np.ones((1, 2))), "coordinates"),
        (lambda X: ns.doubling_condition(X, deltas=[1e-9]), "no slab"),
        (lambda X: ns.doubling_condition(np.zeros((10, 3))), "coincide"),
        (lambda X: ns.slab_counts(X, np.zeros(3), 0.0, 1.0), "norm 0"),
        (lambda X: ns.slab_counts(X, np.ones(3), np.nan, 1.0), "offsets"),
        (lambda X: ns.slab_counts(X, np.ones(3), 0.0, 0.0), "deltas"),
        (lambda X: ns.slab_counts(X, np.ones((0, 3)), 0.0, 1.0), "no directions"),
    ],
)
def test_bad_input_is_refused_by_name(call, match):
    X = np.random.default_rng(11).normal(size=(100, 3))
    before = X.copy()
    with pytest.raises(ns.InvalidInputError, match=match):
        call(X)
    np.testing.assert_array_equal(X, before)


def test_integer_points_need_an_explicit_float_conversion():
    with pytest.raises(TypeError, match="astype"):
        ns.doubling_condition(np.zeros((10, 2), dtype=int))
