"""margin_summary, lowest_margins, TotalVariation and gdv against numpy/scipy references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import netsieve
from netsieve import InvalidInputError

scipy_stats = pytest.importorskip("scipy.stats")
cdist = pytest.importorskip("scipy.spatial.distance").cdist


# -- margin_summary ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_summary_matches_numpy_and_scipy(dtype):
    m = np.random.default_rng(0).gamma(2.0, size=4001).astype(dtype) - 1.0
    s = netsieve.margin_summary(m, quantiles=(0.0, 0.1, 0.5, 0.9, 1.0))
    x = m.astype(np.float64)
    assert s.count == 4001
    assert np.isclose(s.mean, x.mean(), rtol=1e-12)
    assert np.isclose(s.std, x.std(), rtol=1e-12)
    assert (s.min, s.max) == (x.min(), x.max())
    for p, q in s.quantiles.items():
        assert np.isclose(q, np.quantile(x, p), rtol=1e-12, atol=1e-15)
    q1, q2, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(s.signature, [q1, q2, q3, q3 + 1.5 * (q3 - q1), q1 - 1.5 * (q3 - q1)], rtol=1e-12)
    assert np.isclose(s.skewness, scipy_stats.skew(x), rtol=1e-10)
    assert np.isclose(s.kurtosis, scipy_stats.kurtosis(x), rtol=1e-10)
    assert s.fraction_positive == np.mean(x > 0)
    assert np.isclose(s.auc, np.trapezoid(np.sort(x), np.linspace(0, 1, x.size)), rtol=1e-12)
    np.testing.assert_allclose(s.moments, [s.mean, s.std, s.skewness, s.kurtosis])
    assert set(s.to_dict()) >= {"auc", "q1", "quantiles", "fraction_positive"}


def test_summary_positive_only_and_edge_cases():
    m = np.array([-2.0, 1.0, 3.0, 0.0, 5.0])
    s = netsieve.margin_summary(m, positive_only=True)
    assert s.count == 3 and s.min == 1.0 and s.fraction_positive == 1.0
    one = netsieve.margin_summary([0.5])
    assert one.auc == 0.5 and one.std == 0.0 and np.isnan(one.skewness)
    with pytest.raises(InvalidInputError, match="no positive margins"):
        netsieve.margin_summary([-1.0, 0.0], positive_only=True)
    with pytest.raises(InvalidInputError, match="index 1"):
        netsieve.margin_summary([1.0, np.nan])
    # ±Inf margins are legal (margins() returns them for masked classes): moments of the finite ones.
    inf = netsieve.margin_summary([1.0, np.inf, -np.inf, 3.0])
    assert (inf.count, inf.n_infinite, inf.mean, inf.min, inf.max) == (4, 2, 2.0, -np.inf, np.inf)
    with pytest.raises(InvalidInputError, match="empty"):
        netsieve.margin_summary([])
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        netsieve.margin_summary([1.0, 2.0], quantiles=(1.5,))


# -- lowest_margins ------------------------------------------------------------------------------


def ref_lowest(m, k):
    return np.lexsort((np.arange(m.size), m))[:k]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lowest_margins_with_ties_is_deterministic(dtype):
    m = np.random.default_rng(4).integers(-5, 5, size=10_000).astype(dtype)
    for k in (0, 1, 17, 5000, 10_000):
        np.testing.assert_array_equal(netsieve.lowest_margins(m, k), ref_lowest(m, k))
    idx = netsieve.lowest_margins(m, fraction=0.011)
    assert idx.dtype == np.int64 and idx.size == 110
    np.testing.assert_array_equal(idx, ref_lowest(m, 110))


def test_lowest_margins_infinities_and_errors():
    m = np.array([1.0, -np.inf, 0.0, np.inf, -np.inf])
    np.testing.assert_array_equal(netsieve.lowest_margins(m, 3), [1, 4, 2])
    with pytest.raises(InvalidInputError, match="index 1"):
        netsieve.lowest_margins([0.0, np.nan], 1)
    with pytest.raises(InvalidInputError, match="exactly one"):
        netsieve.lowest_margins(m)
    with pytest.raises(InvalidInputError, match="exactly one"):
        netsieve.lowest_margins(m, 1, fraction=0.5)
    with pytest.raises(InvalidInputError, match="0..5"):
        netsieve.lowest_margins(m, 6)
    with pytest.raises(InvalidInputError, match="fraction"):
        netsieve.lowest_margins(m, fraction=1.5)
    with pytest.raises(TypeError):
        netsieve.lowest_margins(m, 1.0)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 200), elements=st.integers(-5, 5).map(float)), st.data())
def test_lowest_margins_property(m, data):
    k = data.draw(st.integers(0, m.size))
    idx = netsieve.lowest_margins(m, k)
    np.testing.assert_array_equal(idx, ref_lowest(m, k))


# -- TotalVariation ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_total_variation_over_batches(dtype):
    rng = np.random.default_rng(6)
    h = (rng.standard_normal((1000, 12)) * rng.uniform(0.1, 3, size=12) + 1e3).astype(dtype)
    want = h.astype(np.float64).var(axis=0).sum()
    acc = netsieve.TotalVariation()
    for chunk in np.array_split(h, [1, 100, 101, 640]):
        acc.update(chunk)
    assert acc.count == 1000 and acc.dim == 12
    assert np.isclose(acc.value, want, rtol=1e-10)
    np.testing.assert_allclose(acc.mean, h.astype(np.float64).mean(axis=0), rtol=1e-12)
    a, b = netsieve.TotalVariation(), netsieve.TotalVariation()
    a.update(h[:300])
    b.update(h[300:][:, :].T.copy().T)  # strided input
    a.merge(b)
    assert np.isclose(a.value, want, rtol=1e-10)


def test_total_variation_errors():
    acc = netsieve.TotalVariation()
    with pytest.raises(InvalidInputError, match="empty"):
        acc.value
    acc.update(np.zeros((2, 3)))
    with pytest.raises(InvalidInputError, match="3"):
        acc.update(np.zeros((2, 4)))
    with pytest.raises(InvalidInputError, match="row 0, column 1"):
        acc.update(np.array([[0.0, np.nan, 0.0]]))
    assert acc.count == 2


# -- GDV -----------------------------------------------------------------------------------------


def two_clusters(var):
    """The FAU TestGDV data: reseeding makes cluster 2 cluster 1 shifted by (1, 1)."""
    np.random.seed(978820)
    a = np.random.multivariate_normal([0, 0], var * np.eye(2), 1000)
    np.random.seed(978820)
    b = np.random.multivariate_normal([1, 1], var * np.eye(2), 1000)
    return np.vstack([a, b]), np.repeat([0, 1], 1000)


@pytest.mark.parametrize(
    "var, value, intra, inter",
    [(0.04, -0.722526, 0.227107, 0.949634), (1.0, -0.138376, 0.556805, 0.695181)],
)
def test_gdv_reference_values(var, value, intra, inter):
    X, y = two_clusters(var)
    g = netsieve.gdv(X, y, components=True)
    assert abs(g.value - value) < 5e-7
    assert abs(g.intra - intra) < 5e-7 and abs(g.inter - inter) < 5e-7
    assert g.classes == (0, 1)
    assert netsieve.gdv(X.astype(np.float32), y.astype(np.int32)) == pytest.approx(value, abs=1e-5)


def ref_gdv(X, y):
    sd = X.std(0)
    s = (X - X.mean(0)) / np.where(sd > 0, 2 * sd, np.inf)
    cls = np.unique(y)
    intra = np.mean([cdist(s[y == c], s[y == c]).sum() / ((y == c).sum() * ((y == c).sum() - 1)) for c in cls])
    inter = np.mean([cdist(s[y == a], s[y == b]).mean() for i, a in enumerate(cls) for b in cls[i + 1 :]])
    return (intra - inter) / np.sqrt(X.shape[1])


def test_gdv_matches_reference_for_several_classes_and_constant_dimension():
    rng = np.random.default_rng(7)
    y = rng.choice([3, -1, 10, 4], size=300)
    X = rng.standard_normal((300, 6)) + y[:, None] * 0.3
    X[:, 2] = 1.0  # zero variance: contributes 0
    assert netsieve.gdv(X, y) == pytest.approx(ref_gdv(X, y), rel=1e-12)


def test_gdv_collapsed_classes_reach_minus_one_and_errors():
    X = np.array([[0.0, 5.0]] * 3 + [[2.0, -1.0]] * 3)
    assert netsieve.gdv(X, [0, 0, 0, 1, 1, 1]) == pytest.approx(-1.0)
    with pytest.raises(InvalidInputError, match="at least 2 classes"):
        netsieve.gdv(X, [0] * 6)
    with pytest.raises(InvalidInputError, match="class 1 has 1 point"):
        netsieve.gdv(X, [0, 0, 0, 0, 0, 1])
    with pytest.raises(InvalidInputError, match="length"):
        netsieve.gdv(X, [0, 1])
    with pytest.raises(TypeError):
        netsieve.gdv(X, np.zeros(6))


def test_total_variation_wide_batch_spans_many_parallel_blocks():
    h = np.random.default_rng(8).standard_normal((100, 3000)) * 2.0 + 50.0
    acc = netsieve.TotalVariation()
    acc.update(h)
    assert np.isclose(acc.value, h.var(axis=0).sum(), rtol=1e-12)
    acc2 = netsieve.TotalVariation()
    acc2.update(np.asfortranarray(h))
    assert np.isclose(acc2.value, acc.value, rtol=1e-12)
