"""Noise that is not white: the white-noise verdict, the deformed bulk of correlated noise, and
OptShrink, each checked against planted truth (and, for the invariances, by hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import netsieve as ns

N, M = 400, 200


def sqrt_toeplitz(n: int, rho: float) -> np.ndarray:
    """C^(1/2) of the AR(1) covariance ρ^|i−j|; its condition number is (1 + ρ)/(1 − ρ)."""
    i = np.arange(n)
    w, v = np.linalg.eigh(rho ** np.abs(i[:, None] - i[None, :]))
    return (v * np.sqrt(w)) @ v.T


def random_spectrum(n: int, cond: float, rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.exp(rng.uniform(0, np.log(cond), n))) @ q.T


def orthonormal(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((n, k)))[0]


# Left and right factors with condition numbers 2–10: Toeplitz and random spectra.
NOISES = {
    "toeplitz cond 2": lambda rng: (sqrt_toeplitz(N, 1 / 3), sqrt_toeplitz(M, 1 / 3)),
    "toeplitz cond 10": lambda rng: (sqrt_toeplitz(N, 9 / 11), sqrt_toeplitz(M, 9 / 11)),
    "random cond 4": lambda rng: (random_spectrum(N, 4, rng), random_spectrum(M, 4, rng)),
    "random cond 10, one side": lambda rng: (random_spectrum(N, 10, rng), np.eye(M)),
}


def correlated_draw(a, b, rng, thetas=(3.0, 4.5)):
    """A·Z·B plus spikes θ·s_max(noise)·uvᵀ (well outside the bulk); returns (W, noise, signal)."""
    noise = a @ rng.standard_normal((N, M)) @ b
    s_max = np.linalg.norm(noise, 2)
    u, v = orthonormal(N, len(thetas), rng), orthonormal(M, len(thetas), rng)
    signal = (u * (np.array(thetas) * s_max)) @ v.T
    return noise + signal, noise, signal


# -- the white-noise verdict ----------------------------------------------------------------------


def test_white_noise_verdict_has_its_nominal_false_alarm_rate():
    # 300 pure-noise draws at two shapes: the calibrated test rejects about 5 % of them, where the
    # i.i.d. Kolmogorov p-value (near 1 for every noise matrix) would reject none.
    rng = np.random.default_rng(11)
    rejected = 0
    for shape in [(200, 100)] * 150 + [(160, 160)] * 150:
        fit = ns.fit_mp(rng.standard_normal(shape), bulk="mp")
        assert fit.bulk_is_mp == (fit.mp_ks_pvalue >= ns.BULK_TEST_LEVEL) and fit.bulk == "mp"
        rejected += not fit.bulk_is_mp
    assert 0.02 <= rejected / 300 <= 0.09, rejected


@pytest.mark.parametrize("name", list(NOISES))
def test_correlated_noise_fails_the_white_noise_test(name):
    rng = np.random.default_rng(3)
    a, b = NOISES[name](rng)
    fit = ns.fit_mp(a @ rng.standard_normal((N, M)) @ b, bulk="mp")
    assert not fit.bulk_is_mp and fit.mp_ks_pvalue < 1e-6


# -- the deformed bulk ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(NOISES))
def test_spikes_in_correlated_noise_are_counted_where_white_noise_overcounts(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    a, b = NOISES[name](rng)
    right = mp_right = 0
    overcount = []
    for _ in range(20):
        w, _, _ = correlated_draw(a, b, rng)
        fit = ns.fit_mp(w)  # bulk="auto"
        assert fit.bulk == "deformed" and not fit.bulk_is_mp
        right += fit.n_spikes == 2
        mp_right += fit.mp_n_spikes == 2
        overcount.append(fit.mp_n_spikes - 2)
    if "one side" in name:
        # Outside the model (one population on both sides): its fitted edge sits a little low and
        # the top noise value passes for a spike in 13 % of draws (measured 52/60; docs/noise-models.md).
        assert right >= 16, (name, right)
    else:
        assert right >= 19, (name, right)  # ≥ 95 % of draws
    assert mp_right == 0 and min(overcount) >= 5, (name, overcount)  # the white fit always overcounts


def test_pure_white_noise_reduces_to_mp_and_has_no_spikes():
    rng = np.random.default_rng(8)
    clean = 0
    for _ in range(40):
        fit = ns.fit_mp(rng.standard_normal((N, M)), bulk="deformed")
        clean += fit.n_spikes == 0
        assert fit.spread < 0.15 and abs(fit.sigma - 1) < 0.02, fit
    assert clean >= 38  # ≥ 95 %


def test_deformed_fit_recovers_sigma_of_correlated_noise():
    # Unit-diagonal covariances keep the RMS entry at 1; the white fit reads a much smaller σ.
    rng = np.random.default_rng(4)
    a, b = NOISES["toeplitz cond 2"](rng)
    w, _, _ = correlated_draw(a, b, rng)
    fit = ns.fit_mp(w, bulk="deformed")
    white = ns.fit_mp(w, bulk="mp")
    assert abs(fit.sigma - 1) < 0.02 and abs(fit.sigma - 1) < abs(white.sigma - 1) / 5


def test_the_deformed_law_is_a_distribution_that_matches_its_simulation():
    rng = np.random.default_rng(2)
    shape = (1000, 500)
    fit = ns.fit_mp(sqrt_toeplitz(1000, 0.5) @ rng.standard_normal(shape) @ sqrt_toeplitz(500, 0.5), bulk="deformed")
    kw = dict(spread=fit.spread, population_shape=fit.population_shape)
    grid = np.linspace(*fit.bulk_edges, 20001)
    mass = np.trapezoid(ns.mp_pdf(grid, shape, fit.sigma, **kw), grid)
    assert abs(mass - 1) < 0.01
    p = np.linspace(0.01, 0.99, 25)
    np.testing.assert_allclose(ns.mp_cdf(ns.mp_quantile(p, shape, fit.sigma, **kw), shape, fit.sigma, **kw), p, atol=1e-9)
    assert fit.ks_distance < 0.04  # the fitted family describes the AR(1) spectrum, not exactly


def test_auto_keeps_white_noise_where_it_is_asked_for():
    rng = np.random.default_rng(6)
    a, b = NOISES["random cond 4"](rng)
    w = a @ rng.standard_normal((N, M)) @ b
    assert ns.fit_mp(w).bulk == "deformed"
    for kw in ({"sigma": 1.0}, {"sigma_method": "median"}):
        fit = ns.fit_mp(w, **kw)
        assert fit.bulk == "mp" and not fit.bulk_is_mp, kw


def test_analysis_reports_both_fits():
    rng = np.random.default_rng(9)
    a, b = NOISES["toeplitz cond 2"](rng)
    w, _, _ = correlated_draw(a, b, rng)
    (row,) = ns.analyze_layers([w], porter_thomas=False)
    assert (row.bulk, row.bulk_is_mp, row.n_spikes) == ("deformed", False, 2)
    assert row.mp_n_spikes > 5 and row.bulk_ks_distance < row.mp_ks_distance
    assert row.spread > 0 and len(row.population_shape) == 2
    (white,) = ns.analyze_layers([w], porter_thomas=False, bulk="mp")
    assert white.bulk == "mp" and white.n_spikes == row.mp_n_spikes
    _, rec = ns.shrink_with_record(w, "hard")  # filters cut at the fitted bulk's edge
    assert (rec.bulk, rec.n_spikes, rec.kept_rank) == ("deformed", 2, 2) and rec.spread > 0
    _, rec = ns.shrink_with_record(w, "hard", bulk="mp")
    assert (rec.bulk, rec.kept_rank, rec.spread) == ("mp", row.mp_n_spikes, 0.0)
    analysed = ns.analyze_spectra([w], level_statistics=True)[0]
    assert analysed.fit.bulk == "deformed" and analysed.level_statistics.unfolding == "deformed"



def same(x, y) -> bool:
    """Equal bit for bit (NaN equal to NaN), through dicts, lists and arrays."""
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return type(x) is type(y) and len(x) == len(y) and all(map(same, x, y))
    if isinstance(x, (np.ndarray, float)):
        x, y = np.asarray(x), np.asarray(y)
        return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    return x == y


def test_a_batch_gives_what_each_matrix_gives_alone():
    # The deformed fit keeps the laws it solves for the whole process (the Rust test
    # `shared_laws_change_no_result` checks them against freshly solved ones); a batch of mixed
    # shapes and noise models, run in parallel, equals each matrix analysed alone in reverse order.
    rng = np.random.default_rng(21)
    a, b = NOISES["toeplitz cond 2"](rng)
    c, d = NOISES["random cond 10, one side"](rng)
    mats = {
        "toeplitz, spikes": correlated_draw(a, b, rng)[0],
        "random, one side": c @ rng.standard_normal((N, M)) @ d,
        "white": rng.standard_normal((N, M)),
        "white square f32": rng.standard_normal((96, 96)).astype(np.float32),
        "wide toeplitz": (a @ rng.standard_normal((N, M)) @ b).T[:, ::2],
    }
    batch = ns.analyze_spectra(mats)
    refitted = [name for name, r in batch.items() if r.fit.bulk == "deformed"]
    assert len(refitted) >= 3 and all(not batch[n].fit.bulk_is_mp for n in refitted), refitted
    for name, w in reversed(mats.items()):
        (alone,) = ns.analyze_spectra([w])
        assert same(batch[name].to_dict(), {**alone.to_dict(), "name": name}), name


# -- OptShrink ------------------------------------------------------------------------------------


def frobenius_error(estimate, truth):
    return np.linalg.norm(estimate - truth) / np.linalg.norm(truth)


def test_optshrink_beats_gavish_donoho_under_correlated_noise():
    rng = np.random.default_rng(21)
    a, b = NOISES["toeplitz cond 2"](rng)
    wins = 0
    errors = []
    for _ in range(10):
        w, _, signal = correlated_draw(a, b, rng, thetas=(1.5, 2.5))
        opt = frobenius_error(ns.shrink(w, "optshrink"), signal)
        gd = frobenius_error(ns.shrink(w, "frobenius"), signal)
        errors.append((opt, gd))
        wins += opt < gd
    assert wins >= 9, errors
    assert np.mean([o for o, _ in errors]) < 0.8 * np.mean([g for _, g in errors]), errors


def test_optshrink_equals_gavish_donoho_under_white_noise():
    rng = np.random.default_rng(22)
    ratios = []
    for _ in range(10):
        u, v = orthonormal(800, 2, rng), orthonormal(400, 2, rng)
        signal = (u * np.array([60.0, 90.0])) @ v.T  # edge ≈ 48: both well outside the bulk
        w = signal + rng.standard_normal((800, 400))
        opt = frobenius_error(ns.shrink(w, "optshrink"), signal)
        gd = frobenius_error(ns.shrink(w, "frobenius"), signal)
        ratios.append(opt / gd)
    assert abs(np.mean(ratios) - 1) < 0.03, ratios


def test_optshrink_never_inflates_and_takes_a_given_rank():
    rng = np.random.default_rng(23)
    w = rng.standard_normal((300, 120))
    out, rec = ns.shrink_with_record(w, "optshrink", rank=5)
    s = ns.singular_values(w)
    eta = ns.singular_values(out)
    assert np.all(eta[:5] <= s[:5] * (1 + 1e-12)) and np.all(eta[5:] < 1e-9 * s[0])
    assert np.isfinite(out).all()
    # Pure noise: the fit finds no outlier, so nothing is kept.
    assert np.allclose(ns.shrink(w, "optshrink"), 0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), transpose=st.booleans())
def test_optshrink_is_invariant_under_transpose_and_rotation(seed, transpose):
    rng = np.random.default_rng(seed)
    u, v = orthonormal(120, 2, rng), orthonormal(60, 2, rng)
    w = (u * np.array([40.0, 25.0])) @ v.T + rng.standard_normal((120, 60))
    ref = ns.shrink(w, "optshrink", rank=2)
    q1, q2 = orthonormal(120, 120, rng), orthonormal(60, 60, rng)
    rotated = ns.shrink(q1 @ w @ q2.T, "optshrink", rank=2)
    np.testing.assert_allclose(q1.T @ rotated @ q2, ref, atol=1e-9 * np.abs(ref).max())
    if transpose:
        np.testing.assert_allclose(ns.shrink(w.T, "optshrink", rank=2), ref.T, atol=1e-9 * np.abs(ref).max())


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(16, 300), st.integers(16, 300)),
    fraction=st.floats(0.0, 1.0),
    population_shape=st.sampled_from([(0.5, 0.5), (1.0, 1.0), (2.0, 2.0), (4.0, 4.0), (0.5, 2.0), (2.0, 0.5)]),
    sigma=st.floats(1e-3, 1e3),
)
def test_the_deformed_law_is_a_distribution(shape, fraction, population_shape, sigma):
    n, m = max(shape), min(shape)
    if m / n < 0.1 and population_shape not in ((0.5, 0.5), (1.0, 1.0)):
        return  # not every such law is tabulated (docs/noise-models.md)
    sd = np.sqrt(np.prod(population_shape) / (sum(population_shape) ** 2 * (sum(population_shape) + 1)))
    kw = dict(spread=fraction * 4.8 * sd, population_shape=population_shape)
    p = np.linspace(0, 1, 41)
    q = ns.mp_quantile(p, shape, sigma, **kw)
    assert np.all(np.diff(q) >= 0) and q[0] >= 0
    np.testing.assert_allclose(ns.mp_cdf(q[1:-1], shape, sigma, **kw), p[1:-1], atol=1e-9)
    assert np.all(ns.mp_pdf(q, shape, sigma, **kw) >= 0)
    # Transposing the shape changes nothing (one population for both sides).
    np.testing.assert_array_equal(q, ns.mp_quantile(p, shape[::-1], sigma, **kw))


# -- bad input ------------------------------------------------------------------------------------


def test_bad_input_names_the_problem():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((60, 30))
    with pytest.raises(ns.InvalidInputError, match="bulk"):
        ns.fit_mp(w, bulk="pink")
    with pytest.raises(ns.InvalidInputError, match="rank"):
        ns.shrink(w, "optshrink", rank=29)  # leaves a bulk of 1
    with pytest.raises(ns.InvalidInputError, match="rank"):
        ns.shrink(w, "operator", rank=2)  # only "optshrink" takes it
    with pytest.raises(ns.InvalidInputError, match="spread"):
        ns.mp_pdf(1.0, (60, 30), 1.0, spread=-0.5)
    with pytest.raises(ns.InvalidInputError, match="population_shape"):
        ns.mp_pdf(1.0, (60, 30), 1.0, spread=0.5, population_shape=(3.0, 3.0))
    with pytest.raises(ns.InvalidInputError):
        ns.fit_mp(np.full((60, 30), 2.0), bulk="deformed")  # rank one: no noise bulk
    with pytest.raises(ns.InvalidInputError, match="non-finite"):
        ns.fit_mp(np.array([3.0, np.nan, 1.0]), shape=(10, 3), bulk="deformed")
    with pytest.raises(ns.InvalidInputError, match="at least 16"):
        ns.fit_mp(rng.standard_normal((40, 8)), bulk="deformed")  # a bulk too small to fit
    assert ns.fit_mp(3 * rng.standard_normal((40, 8)) @ np.diag(np.arange(1.0, 9.0))).bulk == "mp"  # auto keeps white
    equal = np.ones(30)  # a degenerate spectrum: all singular values equal
    with pytest.raises(ns.InvalidInputError, match="all 30 singular values are equal"):
        ns.fit_mp(equal, shape=(60, 30), bulk="deformed")
    fit = ns.fit_mp(equal, shape=(60, 30))  # auto: the white fit fails its test; the deformed refuses; white kept
    assert fit.bulk == "mp" and not fit.bulk_is_mp and np.isfinite([fit.sigma, fit.ks_pvalue]).all()
