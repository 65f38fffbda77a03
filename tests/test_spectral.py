"""The spectral core against references: numpy, scipy quadrature, planted spikes, known statistics."""

import numpy as np
import pytest
from scipy import integrate

import netsieve as ns
from conftest import bbp, planted


# --- singular values -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "gram", "svd"])
@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (64, 64)])
def test_singular_values_match_numpy(rng, method, shape):
    W = rng.normal(size=shape)
    ref = np.linalg.svd(W, compute_uv=False)
    s = ns.singular_values(W, decomposition=method)
    assert s.dtype == np.float64 and s.shape == (min(shape),)
    np.testing.assert_allclose(s, ref, rtol=1e-9, atol=1e-12 * ref[0])


def test_singular_values_of_strided_and_float32_views(rng):
    base = rng.normal(size=(80, 60))
    views = [base[::2, ::3], base.T, base[::-1, 5:], np.asfortranarray(base)]
    for v in views:
        np.testing.assert_allclose(ns.singular_values(v), np.linalg.svd(v, compute_uv=False), rtol=1e-9)
    f32 = base.astype(np.float32)
    ref = np.linalg.svd(f32.astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(ns.singular_values(f32[:, ::2]), np.linalg.svd(f32[:, ::2].astype(np.float64), compute_uv=False), rtol=1e-9)
    np.testing.assert_allclose(ns.singular_values(f32), ref, rtol=1e-9)


def test_auto_falls_back_to_svd_for_ill_conditioned_matrices(rng):
    U, _ = np.linalg.qr(rng.normal(size=(60, 30)))
    V, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    s_true = np.logspace(0, -9, 30)
    W = (U * s_true) @ V.T
    s = ns.singular_values(W, decomposition="auto")
    np.testing.assert_allclose(s, s_true, rtol=1e-6)


@pytest.mark.parametrize("scale", [1e160, 1e-200])
def test_extreme_magnitudes_give_exactly_scaled_results(rng, scale):
    # Squared entries would overflow or underflow: the core rescales by a power of two first.
    W = rng.normal(size=(60, 40))
    ref = ns.singular_values(W)
    for method in ("auto", "gram", "svd"):
        np.testing.assert_allclose(ns.singular_values(W * scale, decomposition=method) / scale, ref, rtol=1e-9)
    assert ns.fit_mp(W * scale).sigma / scale == pytest.approx(ns.fit_mp(W).sigma, rel=1e-9)
    assert ns.porter_thomas(W * scale).boundary == ns.porter_thomas(W).boundary


def test_torch_tensors_of_every_float_dtype(rng):
    torch = pytest.importorskip("torch")
    W = rng.normal(size=(40, 30))
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        t = torch.tensor(W, dtype=dtype)
        ref = np.linalg.svd(t.to(torch.float64).numpy(), compute_uv=False)
        np.testing.assert_allclose(ns.singular_values(t), ref, rtol=1e-6)
    t = torch.tensor(W, requires_grad=True)
    np.testing.assert_allclose(ns.singular_values(t.T), np.linalg.svd(W.T, compute_uv=False), rtol=1e-9)


def test_input_is_never_modified(rng):
    W = rng.normal(size=(30, 20)).astype(np.float32)
    before = W.copy()
    ns.singular_values(W)
    ns.fit_mp(W)
    ns.porter_thomas(W)
    ns.level_statistics(W)
    s = np.sort(ns.singular_values(W))  # ascending on purpose
    s_before = s.copy()
    ns.fit_mp(s, shape=W.shape)
    np.testing.assert_array_equal(W, before)
    np.testing.assert_array_equal(s, s_before)


# --- the MP law --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1000, 1000), (1000, 250), (4000, 40), (30, 300)])
def test_mp_pdf_integrates_to_one_and_cdf_matches(shape):
    sigma = 0.7
    n, m = max(shape), min(shape)
    lo, hi = sigma * (np.sqrt(n) - np.sqrt(m)), sigma * (np.sqrt(n) + np.sqrt(m))
    np.testing.assert_allclose(ns.fit_mp(np.linspace(2, 1, m), shape=shape, sigma=sigma).bulk_edges, (lo, hi), rtol=1e-12)
    total, _ = integrate.quad(lambda s: ns.mp_pdf(s, shape, sigma), lo, hi, limit=200)
    assert abs(total - 1) < 1e-6
    for q in (0.1, 0.5, 0.9):
        x = ns.mp_quantile(q, shape, sigma)
        part, _ = integrate.quad(lambda s: ns.mp_pdf(s, shape, sigma), lo, x, limit=200)
        assert abs(part - q) < 1e-6
        assert abs(ns.mp_cdf(x, shape, sigma) - q) < 1e-10
    grid = np.linspace(lo - 1, hi + 1, 2001)
    cdf = ns.mp_cdf(grid, shape, sigma)
    assert np.all(np.diff(cdf) >= -1e-15)
    assert cdf[0] == 0.0 and cdf[-1] == 1.0
    assert ns.mp_pdf(hi * 1.001, shape, sigma) == 0.0
    assert ns.mp_cdf(lo, shape, sigma) == 0.0 and ns.mp_cdf(hi, shape, sigma) == 1.0


def test_mp_functions_keep_the_input_shape():
    x = np.linspace(10, 40, 12).reshape(3, 4)
    assert ns.mp_pdf(x, (1000, 500), 1.0).shape == (3, 4)
    assert isinstance(ns.mp_cdf(30.0, (1000, 500), 1.0), float)
    with pytest.raises(ValueError, match="probabilities"):
        ns.mp_quantile(1.5, (1000, 500), 1.0)
    with pytest.raises(ValueError, match="sigma"):
        ns.mp_pdf(1.0, (1000, 500), -1.0)
    with pytest.raises(ValueError, match="shape"):
        ns.mp_pdf(1.0, (1, 500), 1.0)


def test_empirical_noise_spectrum_follows_the_law(rng):
    n, m, sigma = 1500, 600, 0.3
    s = ns.singular_values(rng.normal(0, sigma, size=(n, m)))
    fit = ns.fit_mp(s, shape=(n, m), sigma=sigma)
    assert fit.n_spikes == 0
    assert fit.ks_distance < 0.02 and fit.ks_pvalue > 0.05
    lo, hi = fit.bulk_edges
    assert abs(s[0] / hi - 1) < 0.02 and abs(s[-1] / lo - 1) < 0.03


# --- the noise fit --------------------------------------------------------------------------------


@pytest.mark.parametrize("noise", ["gaussian", "rademacher", "uniform"])
def test_sigma_within_one_percent_with_ten_strong_spikes(noise):
    rng = np.random.default_rng(2024)
    n, m, sigma = 2000, 1000, 0.05
    strengths = [bbp(n, m, sigma) * (3 + k) for k in range(10)]
    W = planted(rng, n, m, strengths, sigma=sigma, noise=noise)
    fit = ns.fit_mp(W)
    assert abs(fit.sigma / sigma - 1) < 0.01, fit
    assert fit.n_spikes == 10
    assert fit.spikes.shape == (10,)
    assert fit.sigma_method == "quantile"
    assert fit.n_rows == n and fit.n_cols == m and fit.beta == 0.5


@pytest.mark.parametrize("shape", [(500, 500), (4000, 40), (300, 900), (2000, 100)])
def test_sigma_across_aspect_ratios(shape):
    rng = np.random.default_rng(sum(shape))
    n, m = max(shape), min(shape)
    W = planted(rng, *shape, [bbp(n, m) * 4, bbp(n, m) * 6], sigma=1.0)
    fit = ns.fit_mp(W)
    tol = 0.01 if m >= 100 else 0.03  # fewer singular values, larger sampling error
    assert abs(fit.sigma - 1) < tol, fit
    assert fit.n_spikes == 2, fit


def test_median_method_is_the_gavish_donoho_estimate(rng):
    W = rng.normal(size=(800, 400))
    s = ns.singular_values(W)
    fit = ns.fit_mp(s, shape=W.shape, sigma_method="median")
    mu = ns.mp_quantile(0.5, W.shape, 1.0)
    assert fit.sigma_method == "median"
    assert fit.sigma == pytest.approx(np.median(s) / mu, rel=1e-12)


def test_given_sigma_is_used_as_is(rng):
    W = rng.normal(size=(300, 200))
    fit = ns.fit_mp(W, sigma=2.0)
    assert fit.sigma == 2.0 and fit.sigma_method == "given"
    assert fit.n_spikes == 0  # the spectrum is far inside the (too wide) bulk
    assert ns.fit_mp(W * 10, sigma=1.0).n_spikes == 200


def test_planted_spikes_at_one_and_a_half_times_bbp_are_found():
    rng = np.random.default_rng(77)
    n, m, draws, found = 400, 200, 60, 0
    for _ in range(draws):
        W = planted(rng, n, m, [1.5 * bbp(n, m)] * 1 + [2.0 * bbp(n, m)], sigma=1.0)
        found += ns.fit_mp(W).n_spikes == 2
    assert found >= 0.95 * draws, f"{found}/{draws}"


def test_pure_noise_false_spike_rate():
    rng = np.random.default_rng(5)
    draws = 200
    false = 0
    for k in range(draws):
        shape = [(200, 100), (150, 150), (400, 50)][k % 3]
        false += ns.fit_mp(rng.normal(size=shape)).n_spikes > 0
    assert false <= 0.05 * draws, f"{false}/{draws} pure-noise matrices had spikes"


def test_mpfit_repr_and_dict(rng):
    fit = ns.fit_mp(rng.normal(size=(60, 30)))
    text = repr(fit)
    assert "MPFit(60×30" in text and "σ=" in text and "n_spikes=" in text
    d = fit.to_dict()
    assert d["n_rows"] == 60 and d["beta"] == 0.5 and d["spikes"] == []
    with pytest.raises(AttributeError):
        fit.sigma = 3.0


# --- Porter–Thomas --------------------------------------------------------------------------------


def test_porter_thomas_finds_localized_information():
    rng = np.random.default_rng(9)
    n, m = 600, 300
    W = planted(rng, n, m, [bbp(n, m) * k for k in (8, 7, 6, 5)], vectors="localized")
    pt = ns.porter_thomas(W)
    assert pt.boundary == 4
    assert np.all(pt.pvalues[:4] < 1e-6)
    assert pt.pvalues.shape == pt.windowed.shape == (m,)
    assert np.mean(pt.pvalues[4:] < 0.05) < 0.05


def test_porter_thomas_on_pure_noise_sees_no_information(rng):
    pt = ns.porter_thomas(rng.normal(size=(300, 200)))
    assert pt.boundary <= 1
    # conservative null: few rejections at the 5 % level, on each side
    assert np.mean(pt.left_pvalues < 0.05) <= 0.06
    assert np.mean(pt.right_pvalues < 0.05) <= 0.06


# --- level statistics -------------------------------------------------------------------------------


def test_level_spacing_of_noise_is_goe_like(rng):
    ls = ns.level_statistics(rng.normal(size=(1200, 600)))
    assert abs(ls.mean_ratio - ns.GOE_MEAN_RATIO) < 0.015
    assert ls.unfolding == "mp"
    assert abs(np.mean(ls.spacings) - 1) < 1e-12
    # level repulsion: very few tiny spacings (Poisson would give 1 − e^{−0.1} ≈ 9.5 %)
    assert np.mean(ls.spacings < 0.1) < 0.02


def test_level_spacing_of_uncorrelated_levels_is_poisson_like(rng):
    s = np.sort(np.abs(rng.normal(size=3000)))[::-1]  # singular values of a random diagonal matrix
    ls = ns.level_statistics(s)
    assert ls.unfolding == "gaussian"
    assert abs(ls.mean_ratio - ns.POISSON_MEAN_RATIO) < 0.02
    assert np.mean(ls.spacings < 0.1) > 0.05


# --- batch analysis ---------------------------------------------------------------------------------


def test_batch_analysis_keeps_order_and_matches_single_calls(rng):
    mats = {f"layer{i}": rng.normal(size=(50 + 10 * i, 40)).astype([np.float32, np.float64][i % 2]) for i in range(6)}
    res = ns.analyze_spectra(mats, porter_thomas=True)
    assert list(res) == list(mats)
    for name, W in mats.items():
        single = ns.fit_mp(W)
        assert res[name].fit.sigma == pytest.approx(single.sigma, rel=1e-9)
        assert res[name].porter_thomas is not None and res[name].level_statistics is not None
    as_list = ns.analyze_spectra(list(mats.values()), level_statistics=False)
    assert [r.name for r in as_list] == [str(i) for i in range(6)]
    assert as_list[0].level_statistics is None


def test_batch_analysis_collects_errors(rng):
    bad = rng.normal(size=(20, 10))
    bad[3, 4] = np.inf
    mats = {"good": rng.normal(size=(20, 10)), "bad": bad}
    with pytest.raises(ValueError, match="'bad'.*row 3, column 4"):
        ns.analyze_spectra(mats)
    res = ns.analyze_spectra(mats, errors="collect")
    assert res["good"].error is None and res["good"].fit is not None
    assert isinstance(res["bad"].error, ValueError) and res["bad"].fit is None


# --- the spectrum command ------------------------------------------------------------------------


def test_spectrum_command_finds_planted_structure(capsys, tmp_path):
    from netsieve.cli import main

    assert main(["spectrum", "--rows", "400", "--cols", "200", "--spikes", "2"]) == 0
    out = capsys.readouterr().out
    assert "n_spikes=2" in out and "Porter–Thomas boundary: 2 " in out
    assert main(["spectrum", "--rows", "40", "--cols", "30", "--spikes", "3"]) == 1
    assert "needs at least 60 rows and columns" in capsys.readouterr().err
    path = tmp_path / "w.npy"
    np.save(path, np.random.default_rng(0).normal(size=(60, 30)))
    assert main(["spectrum", str(path)]) == 0
    assert "MPFit(60×30" in capsys.readouterr().out
    assert main(["spectrum", str(tmp_path / "missing.npy")]) == 1
