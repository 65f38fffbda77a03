"""Oracle, property and input tests of netsieve.shrink (planted low-rank signal plus noise)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netsieve
from netsieve import InvalidInputError, shrink, shrink_with_record
from netsieve.synthetic import bbp_threshold, planted_spikes

THRESHOLD_METHODS = ("hard", "optimal_hard", "operator", "frobenius", "nuclear")


def planted(n, m, thetas, sigma=1.0, seed=0):
    """(noisy matrix, planted signal): Σ θₖ aₖbₖᵀ with random unit aₖ, bₖ, plus N(0, σ²) noise."""
    return planted_spikes(np.random.default_rng(seed), n, m, thetas, sigma=sigma, return_signal=True)


bbp = bbp_threshold


# --- oracle tests ------------------------------------------------------------------------------

def test_operator_recovers_strong_spikes_within_3_percent():
    n, m = 1000, 500
    thetas = [4.0 * bbp(n, m), 6.0 * bbp(n, m), 10.0 * bbp(n, m)]
    W, _ = planted(n, m, thetas, seed=1)
    out, rec = shrink_with_record(W, "operator")
    assert rec.kept_rank == 3
    recovered = np.sort(rec.shrunk_singular_values[:3])
    np.testing.assert_allclose(recovered, sorted(thetas), rtol=0.03)
    # The observed values are pushed up by level repulsion; the output really has the shrunk ones.
    assert np.all(rec.singular_values[:3] > rec.shrunk_singular_values[:3])
    s_out = np.linalg.svd(out, compute_uv=False)
    np.testing.assert_allclose(s_out[:3], rec.shrunk_singular_values[:3], rtol=1e-9)
    assert s_out[3] < 1e-9 * s_out[0]


@pytest.mark.parametrize("seed", [2, 3])
def test_operator_recovers_weak_spikes_within_10_percent(seed):
    n, m = 1000, 500
    theta = 1.5 * bbp(n, m)
    W, _ = planted(n, m, [theta], seed=seed)
    rec = shrink_with_record(W, "operator")[1]
    assert rec.kept_rank == 1
    assert abs(rec.shrunk_singular_values[0] / theta - 1) < 0.10


def test_frobenius_beats_true_rank_truncation_and_hard():
    n, m = 600, 300
    thetas = [1.5 * bbp(n, m), 2.5 * bbp(n, m), 4.0 * bbp(n, m)]
    for seed in range(3):
        W, S = planted(n, m, thetas, seed=10 + seed)
        err = {meth: np.linalg.norm(shrink(W, meth) - S) for meth in ("frobenius", "hard", "operator")}
        truncated = shrink(W, "fraction", fraction=1 - 3 / m)
        assert np.linalg.matrix_rank(truncated) == 3
        err_trunc = np.linalg.norm(truncated - S)
        assert err["frobenius"] < err_trunc
        assert err["frobenius"] < err["hard"]
        assert err["frobenius"] <= err["operator"] + 1e-9


@pytest.mark.parametrize("shape", [(600, 300), (300, 600), (400, 400)])
def test_pure_noise_shrinks_to_nearly_zero(shape):
    W, _ = planted(*shape, [], seed=4)
    for method in THRESHOLD_METHODS:
        out, rec = shrink_with_record(W, method)
        assert rec.kept_energy < 0.01, (method, rec.kept_energy)
        assert np.linalg.norm(out) < 0.1 * np.linalg.norm(W)


def test_optimal_hard_uses_the_larger_dimension():
    n, m = 200, 800  # the case the optht package gets wrong (it keeps ~120 noise components)
    W, _ = planted(n, m, [], seed=5)
    s = np.linalg.svd(W, compute_uv=False)
    tau_known = netsieve.optimal_hard_threshold(W.shape, sigma=1.0)
    tau_unknown = netsieve.optimal_hard_threshold(W.shape, singular_values=s)
    beta = n / m
    lam = np.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + np.sqrt(beta**2 + 14 * beta + 1)))
    assert tau_known == pytest.approx(lam * np.sqrt(m))
    assert tau_unknown == pytest.approx(tau_known, rel=0.02)
    omega_cubic = 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43
    assert tau_unknown / np.median(s) == pytest.approx(omega_cubic, rel=0.01)
    assert np.sum(s > tau_known) == 0
    assert np.sum(s > lam * np.sqrt(n)) > 100  # √min scaling keeps noise
    out, rec = shrink_with_record(W, "optimal_hard", sigma=1.0)
    assert rec.kept_rank == 0 and rec.threshold == pytest.approx(tau_known)
    assert not out.any()
    # Unknown σ: the cut is ω(β)·median(s).
    rec = shrink_with_record(W, "optimal_hard")[1]
    assert rec.threshold == pytest.approx(tau_unknown, rel=1e-6)


def test_optimal_hard_keeps_strong_spikes_unchanged():
    n, m = 500, 250
    W, _ = planted(n, m, [5 * bbp(n, m), 8 * bbp(n, m)], seed=6)
    out, rec = shrink_with_record(W, "optimal_hard")
    assert rec.kept_rank == 2
    np.testing.assert_array_equal(rec.shrunk_singular_values[:2], rec.singular_values[:2])


@pytest.mark.parametrize("scale", [1e160, 1e-200])
@pytest.mark.parametrize("method", THRESHOLD_METHODS + ("fraction", "porter_thomas"))
def test_extreme_magnitudes_filter_like_ordinary_ones(scale, method):
    # Squared entries would overflow or underflow: the core decomposes a rescaled copy.
    n, m = 300, 100
    W, _ = planted(n, m, [8 * bbp(n, m)], seed=7)
    options = {"fraction": 0.9} if method == "fraction" else {}
    out, rec = shrink_with_record(W * scale, method, **options)
    ref, ref_rec = shrink_with_record(W, method, **options)
    assert rec.kept_rank == ref_rec.kept_rank > 0
    np.testing.assert_allclose(out / scale, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_allclose(rec.sigma / scale, ref_rec.sigma, rtol=1e-9)


def test_fraction_and_porter_thomas():
    n, m = 300, 100
    W, _ = planted(n, m, [8 * bbp(n, m)], seed=7)
    out, rec = shrink_with_record(W, "fraction", fraction=0.57)
    assert rec.kept_rank == 43 and rec.threshold is None
    assert np.linalg.matrix_rank(out) == 43
    np.testing.assert_allclose(shrink(W, "fraction", fraction=0.0), W, atol=1e-12)
    assert not shrink(W, "fraction", fraction=1.0).any()
    rec_d = shrink_with_record(W, "fraction", fraction=0.57, derepel=True)[1]
    assert rec_d.shrunk_singular_values[0] < rec.shrunk_singular_values[0]
    # A localised spike is non-random for the Porter–Thomas test.
    rng = np.random.default_rng(8)
    a = np.zeros(n)
    a[:5] = 1 / np.sqrt(5)
    b = rng.normal(size=m)
    W2 = rng.normal(size=(n, m)) + 8 * bbp(n, m) * np.outer(a, b / np.linalg.norm(b))
    out, rec = shrink_with_record(W2, "porter_thomas")
    assert rec.pt_boundary >= 1 and rec.kept_rank == rec.pt_boundary
    assert rec.shrunk_singular_values[0] < rec.singular_values[0]  # de-repelled by default


# --- property tests ----------------------------------------------------------------------------

@st.composite
def spiked_matrices(draw):
    n = draw(st.integers(20, 70))
    m = draw(st.integers(20, 70))
    k = draw(st.integers(0, 3))
    strengths = [draw(st.floats(3.0, 12.0)) for _ in range(k)]
    sigma = draw(st.floats(0.01, 10.0))
    seed = draw(st.integers(0, 2**31))
    W, _ = planted(n, m, [t * bbp(n, m, sigma) for t in strengths], sigma=sigma, seed=seed)
    return W


PROPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(W=spiked_matrices(), method=st.sampled_from(THRESHOLD_METHODS + ("fraction", "porter_thomas")))
def test_shrunk_values_never_exceed_the_originals_and_stay_ordered(W, method):
    opts = {"fraction": 0.5} if method == "fraction" else {}
    if method == "porter_thomas":
        opts = {"derepel": False}
    out, rec = shrink_with_record(W, method, **opts)
    s, eta = rec.singular_values, rec.shrunk_singular_values
    assert np.all(eta >= 0) and np.all(eta <= s * (1 + 1e-12))
    assert np.all(np.diff(eta) <= 1e-12 * s[0])
    s_out = np.linalg.svd(out, compute_uv=False)
    np.testing.assert_allclose(s_out, eta, atol=1e-9 * s[0])
    assert out.shape == W.shape and out.dtype == W.dtype


@PROPS
@given(W=spiked_matrices(), method=st.sampled_from(THRESHOLD_METHODS))
def test_transpose_commutes(W, method):
    np.testing.assert_allclose(shrink(W.T, method), shrink(W, method).T, atol=1e-9 * np.abs(W).max())


@PROPS
@given(W=spiked_matrices(), method=st.sampled_from(THRESHOLD_METHODS), seed=st.integers(0, 2**31))
def test_orthogonal_equivariance(W, method, seed):
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.normal(size=(W.shape[0],) * 2))[0]
    R = np.linalg.qr(rng.normal(size=(W.shape[1],) * 2))[0]
    np.testing.assert_allclose(shrink(Q @ W @ R, method), Q @ shrink(W, method) @ R, atol=1e-8 * np.abs(W).max())


@PROPS
@given(W=spiked_matrices(), method=st.sampled_from(THRESHOLD_METHODS), c=st.floats(1e-3, 1e3))
def test_scale_equivariance(W, method, c):
    np.testing.assert_allclose(shrink(c * W, method), c * shrink(W, method), atol=1e-8 * c * np.abs(W).max())


# --- dtype, shape, input safety ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_dtype_and_shape_preserved_and_input_untouched(dtype):
    W, _ = planted(120, 60, [6 * bbp(120, 60)], seed=9)
    W = W.astype(dtype)
    before = W.copy()
    out = shrink(W, "operator")
    assert out.dtype == dtype and out.shape == W.shape
    assert out is not W and not np.shares_memory(out, W)
    np.testing.assert_array_equal(W, before)
    ref = shrink(W.astype(np.float64), "operator")
    tol = {np.float16: 1e-2, np.float32: 1e-5, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(out.astype(np.float64), ref, atol=tol * np.abs(ref).max())


def test_non_contiguous_views():
    W, _ = planted(150, 90, [6 * bbp(150, 90)], seed=10)
    big = np.zeros((300, 200))
    big[::2, 10:100] = W
    view = big[::2, 10:100]
    np.testing.assert_allclose(shrink(view, "hard"), shrink(W, "hard"), atol=1e-12)
    np.testing.assert_allclose(shrink(W[::-1], "hard"), shrink(W, "hard")[::-1], atol=1e-9)


def test_torch_tensors_keep_their_dtype():
    torch = pytest.importorskip("torch")
    W, _ = planted(64, 32, [6 * bbp(64, 32)], seed=11)
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        t = torch.tensor(W, dtype=dtype)
        before = t.clone()
        out = shrink(t, "frobenius")
        assert isinstance(out, torch.Tensor) and out.dtype == dtype and out.shape == t.shape
        assert torch.equal(t, before)


def test_decompositions_agree():
    W, _ = planted(200, 100, [5 * bbp(200, 100), 3 * bbp(200, 100)], seed=12)
    for method in THRESHOLD_METHODS:
        a, ra = shrink_with_record(W, method, decomposition="gram")
        b, rb = shrink_with_record(W, method, decomposition="svd")
        assert (ra.decomposition, rb.decomposition) == ("gram", "svd")
        np.testing.assert_allclose(a, b, atol=1e-9 * np.abs(W).max())


def test_record_fields_and_to_dict():
    W, _ = planted(200, 100, [5 * bbp(200, 100)], seed=13)
    rec = shrink_with_record(W, "hard", sigma=1.0)[1]
    assert rec.sigma == 1.0 and rec.sigma_method == "given"
    assert rec.bulk_edges == pytest.approx((np.sqrt(200) - 10, np.sqrt(200) + 10))
    assert rec.kept_rank == 1 and rec.rank == 100
    expected_change = np.sqrt(np.sum(rec.singular_values[1:] ** 2) / np.sum(rec.singular_values**2))
    assert rec.relative_change == pytest.approx(expected_change)
    assert rec.kept_energy == pytest.approx(1 - expected_change**2)
    d = rec.to_dict()
    assert d["kept_rank"] == 1 and len(d["singular_values"]) == 100
    assert "singular_values" not in rec.to_dict(arrays=False)
    with pytest.raises(Exception):
        rec.kept_rank = 3  # frozen
    with pytest.raises(ValueError):
        rec.singular_values[0] = 0.0  # read-only


def test_shrink_many_matches_single_calls():
    mats = {f"m{i}": planted(80 + 10 * i, 40, [6 * bbp(80 + 10 * i, 40)], seed=i)[0] for i in range(4)}
    mats["bad"] = np.full((30, 30), np.nan)
    with pytest.raises(InvalidInputError, match="'bad'"):
        netsieve.shrink_many(mats, "operator")
    res = netsieve.shrink_many(mats, "operator", errors="collect")
    assert res["bad"][0] is None and isinstance(res["bad"][1], InvalidInputError)
    for name in ("m0", "m3"):
        np.testing.assert_allclose(res[name][0], shrink(mats[name], "operator"), atol=1e-12)


def test_bad_input():
    W, _ = planted(40, 30, [], seed=14)
    with pytest.raises(InvalidInputError, match="'hard'.*'fraction'"):
        shrink(W, "soft")
    with pytest.raises(InvalidInputError, match="do not apply"):
        shrink(W, "hard", fraction=0.5)
    with pytest.raises(InvalidInputError, match="do not apply"):
        shrink(W, "operator", window=3)
    with pytest.raises(TypeError, match="unknown option"):
        shrink(W, "operator", fracton=0.5)
    with pytest.raises(InvalidInputError, match="needs fraction"):
        shrink(W, "fraction")
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        shrink(W, "fraction", fraction=1.5)
    with pytest.raises(TypeError, match="floating"):
        shrink(W.astype(np.int64), "hard")
    with pytest.raises(TypeError):
        shrink(W.astype(bool), "hard")
    bad = W.copy()
    bad[3, 4] = np.inf
    with pytest.raises(InvalidInputError, match="row 3, column 4"):
        shrink(bad, "hard")
    with pytest.raises(InvalidInputError, match="2-D"):
        shrink(W[0], "hard")
    with pytest.raises(InvalidInputError):
        shrink(W, "hard", sigma=-1.0)
    with pytest.raises(InvalidInputError):
        shrink(np.zeros((20, 10)), "operator")  # no bulk to fit
    with pytest.raises(InvalidInputError, match="spike_confidence"):
        shrink(W, "hard", spike_confidence=0.5)
    with pytest.raises(TypeError):
        shrink(W, "fraction", fraction="half")
