"""The smallest singular values of ill-conditioned matrices (rust/src/linalg/small_values.rs):
zero columns of the short side deflate to exact zeros, and the few values below the Gram
condition limit are refined by Rayleigh–Ritz on W itself, as accurate as LAPACK's gesdd."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import netsieve as ns

EPS = np.finfo(float).eps


def gesdd(W):
    return scipy.linalg.svd(np.asarray(W, dtype=np.float64), compute_uv=False, lapack_driver="gesdd")


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(10, 60), st.integers(1, 40), st.integers(1, 4), st.booleans())
def test_zero_lines_of_the_short_side_give_exact_zeros(seed, short, extra, zeros, wide):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(short + extra, short))
    lost = rng.choice(short, size=min(zeros, short), replace=False)
    W[:, lost] = 0.0
    if wide:
        W = np.ascontiguousarray(W.T)
    s = ns.singular_values(W)
    assert np.all(s[short - len(lost):] == 0.0)
    ref = gesdd(np.delete(W, lost, axis=0 if wide else 1))
    np.testing.assert_allclose(s[: short - len(lost)], ref, rtol=1e-9, atol=1e-13 * ref[0])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(60, 140), st.integers(1, 3), st.floats(6.0, 11.0))
def test_tiny_columns_are_as_accurate_as_gesdd(seed, m, count, exponent):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(m + 50, m))
    W[:, :count] *= 10.0 ** -rng.uniform(exponent - 1, exponent, size=count)
    ref = gesdd(W)
    s = ns.singular_values(W)
    # gesdd's own accuracy is about ε·s_max absolute on every value; the Gram route's √λ would be
    # off by ε·s_max²/(2σ), orders of magnitude more for these.
    assert np.max(np.abs(s[-count:] - ref[-count:])) <= 10 * EPS * np.sqrt(m) * ref[0]
    np.testing.assert_allclose(s, ref, rtol=1e-6, atol=10 * EPS * np.sqrt(m) * ref[0])


def test_a_decaying_tail_without_a_negligible_column_takes_the_svd(rng):
    # No column announces the small values, so the reduction keeps no band form (it would cost
    # ~10 % for every matrix) and the SVD answers, as accurate as gesdd.
    n, m = 300, 200
    q = m // 20
    s_true = np.concatenate([np.linspace(1.0, 0.5, m - q), np.geomspace(0.5, 1e-9, q + 1)[1:]])
    U, _ = np.linalg.qr(rng.normal(size=(n, m)))
    V, _ = np.linalg.qr(rng.normal(size=(m, m)))
    W = (U * s_true) @ V.T
    s = ns.singular_values(W)
    np.testing.assert_array_equal(s, ns.singular_values(W, decomposition="svd"))
    np.testing.assert_allclose(s, gesdd(W), rtol=1e-6, atol=10 * EPS * np.sqrt(m))


def test_tiny_columns_at_the_two_stage_size_are_refined(rng):
    n, m = 1100, 1024
    W = rng.normal(size=(n, m))
    W[:, [3, 500, 900]] *= np.array([1e-7, 1e-8, 1e-9])
    ref = gesdd(W)
    s = ns.singular_values(W)
    assert not np.array_equal(s, ns.singular_values(W, decomposition="svd")), "refined, not the SVD route"
    assert np.max(np.abs(s[-3:] - ref[-3:])) <= 10 * EPS * np.sqrt(m) * ref[0]
    np.testing.assert_allclose(s, ref, rtol=1e-9, atol=10 * EPS * np.sqrt(m) * ref[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_refined_values_are_deterministic_in_both_orientations(rng, dtype):
    W = rng.normal(size=(200, 90))
    W[:, 5] *= 1e-8
    W = W.astype(dtype)
    s = ns.singular_values(W)
    np.testing.assert_array_equal(ns.singular_values(W), s)
    np.testing.assert_array_equal(ns.singular_values(np.ascontiguousarray(W.T)), s)
    assert abs(s[-1] - gesdd(W)[-1]) <= 10 * EPS * np.sqrt(90) * s[0]


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "inf")])
def test_non_finite_entries_still_raise_with_zero_or_tiny_columns(rng, bad, word):
    W = rng.normal(size=(40, 20))
    W[:, 3] = 0.0
    W[:, 7] *= 1e-9
    W[11, 5] = bad
    with pytest.raises(ValueError, match=rf"{word}.*row 11, column 5"):
        ns.singular_values(W)
