"""Bad input to the spectral API gets a clear Python exception naming the problem."""

import numpy as np
import pytest

import netsieve as ns

FUNCS = [ns.singular_values, ns.fit_mp, ns.porter_thomas, ns.level_statistics, lambda W: ns.analyze_spectra([W])]


@pytest.mark.parametrize("func", FUNCS)
@pytest.mark.parametrize(
    "W, exc, match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0], [2.0, 2.0]]), ValueError, r"NaN.*row 0, column 1"),
        (np.array([[1.0, 0.0], [np.inf, 1.0], [2.0, 2.0]]), ValueError, r"inf.*row 1, column 0"),
        (np.zeros((0, 4)), ValueError, "empty"),
        (np.zeros((4, 0)), ValueError, "empty"),
        (np.ones((3, 3, 3)), ValueError, "2-D"),
        (np.ones((1, 7)), ValueError, "at least 2 rows and 2 columns"),
        (np.ones((7, 1)), ValueError, "at least 2 rows and 2 columns"),
        (np.ones((4, 4), dtype=np.int64), TypeError, "integer"),
        (np.ones((4, 4), dtype=bool), TypeError, "bool"),
        (np.ones((4, 4), dtype=complex), TypeError, "complex"),
        (np.array([[object(), 1], [1, 1]], dtype=object), TypeError, "dtype object"),
        (np.float64(3.0), ValueError, "2-D"),
    ],
)
def test_bad_matrices(func, W, exc, match):
    with pytest.raises(exc, match=match):
        func(W)


def test_one_dimensional_input_needs_a_shape():
    with pytest.raises(ValueError, match="shape=.*required"):
        ns.fit_mp(np.ones(5))
    with pytest.raises(ValueError, match="2-D"):
        ns.singular_values(np.ones(5))


def test_fit_argument_errors():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(30, 20))
    s = ns.singular_values(W)
    with pytest.raises(ValueError, match="does not match"):
        ns.fit_mp(W, shape=(20, 30))
    with pytest.raises(ValueError, match="20 singular values, but 19"):
        ns.fit_mp(s[:-1], shape=(30, 20))
    with pytest.raises(ValueError, match="sigma"):
        ns.fit_mp(W, sigma=-0.5)
    with pytest.raises(ValueError, match="sigma"):
        ns.fit_mp(W, sigma=float("nan"))
    with pytest.raises(TypeError, match="sigma"):
        ns.fit_mp(W, sigma="big")
    with pytest.raises(ValueError, match="non-negative"):
        ns.fit_mp(-s, shape=(30, 20))
    with pytest.raises(ValueError, match="NaN"):
        ns.fit_mp(np.where(np.arange(20) == 3, np.nan, s), shape=(30, 20))
    with pytest.raises(ValueError, match="spike_confidence"):
        ns.fit_mp(W, spike_confidence=0.5)
    with pytest.raises(ValueError, match="unknown σ estimator"):
        ns.fit_mp(W, sigma_method="magic")
    with pytest.raises(ValueError, match="unknown singular-value method"):
        ns.singular_values(W, decomposition="qr")
    with pytest.raises(ValueError, match="shape must be a pair"):
        ns.fit_mp(s, shape=30)
    with pytest.raises(ValueError, match="too low-rank"):
        ns.fit_mp(np.zeros((30, 20)))
    with pytest.raises(ValueError, match="alpha"):
        ns.porter_thomas(W, alpha=1.5)
    with pytest.raises(ValueError, match="errors"):
        ns.analyze_spectra([W], errors="ignore")


def test_torch_inputs_are_checked():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="floating-point"):
        ns.singular_values(torch.ones(3, 3, dtype=torch.int32))
    with pytest.raises(TypeError, match="floating-point"):
        ns.singular_values(torch.ones(3, 3, dtype=torch.complex64))
    t = torch.ones(3, 3)
    t[1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ns.fit_mp(t)


# ---------------------------------------------------------------- the synthetic generators
from netsieve.synthetic import bbp_threshold, planted_spikes  # noqa: E402


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((0, 10), {}, ValueError, "rows must be positive"),
    ((10, -3), {}, ValueError, "cols must be positive"),
    ((10.5, 10), {}, TypeError, "rows must be an integer"),
    ((10, 10), {"sigma": 0.0}, ValueError, "sigma must be positive"),
    ((10, 10), {"sigma": float("nan")}, ValueError, "sigma must be positive and finite"),
    ((10, 10), {"sigma": "1"}, TypeError, "sigma must be a real number"),
])
def test_bbp_threshold_checks_its_arguments(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        bbp_threshold(*args, **kwargs)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"rows": 0}, ValueError, "rows must be positive"),
    ({"sigma": -1.0}, ValueError, "sigma must be positive"),
    ({"strengths": [1.0, float("inf")]}, ValueError, "strengths must be finite"),
    ({"support": 0, "vectors": "localized"}, ValueError, "support must be positive"),
    ({"rng": 0}, TypeError, "numpy.random.Generator"),
])
def test_planted_spikes_checks_its_arguments(kwargs, exc, match):
    call = {"rng": np.random.default_rng(0), "rows": 20, "cols": 10, "strengths": [3.0]} | kwargs
    with pytest.raises(exc, match=match):
        planted_spikes(**call)


def test_bbp_threshold_accepts_numpy_scalars():
    assert bbp_threshold(np.int64(400), np.int32(100), np.float32(0.1)) == pytest.approx(1.4142135, rel=1e-6)
