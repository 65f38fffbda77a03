"""A table of hostile inputs, one row per defect an adversarial run found; it grows with every new
one. Each row is a reproducer that failed before its fix. Defects that need files, processes or
torch models are tested beside their code:

- fork, Ctrl-C, batch memory, TotalVariation across threads: ``test_reliability_core.py``
- write-back into non-contiguous and expanded weights: ``test_filter_model.py``
- outputs over inputs, device nodes, file modes, stale temporaries: ``test_files.py``
- files of a folder dropped silently, duplicate names across shards: ``test_analysis.py``
- one-line CLI errors, checks before work, full disks: ``test_cli_errors.py``
- ``layer_margins`` and the torch-level validation gaps: ``test_margins_torch.py``,
  ``test_filter_model.py``, ``test_training.py``
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import netsieve as ns
from netsieve import InvalidInputError

rng = np.random.default_rng(20261201)
NOISE = rng.normal(size=(120, 60))
SPIKED = NOISE + 60 * np.outer(np.eye(120)[0], np.eye(60)[0])

# (defect, call, exception, message pattern)
REFUSED = [
    ("9: a constant matrix is too low-rank for a noise fit", lambda: ns.fit_mp(np.full((60, 40), 3.0)),
     InvalidInputError, "low-rank"),
    ("9: a rank-1 outer product too", lambda: ns.fit_mp(np.outer(np.arange(1, 61.0), np.sin(0.37 * np.arange(40)))),
     InvalidInputError, "low-rank"),
    ("9: and the filters say the same", lambda: ns.shrink(np.full((60, 40), 3.0), "operator"),
     InvalidInputError, "low-rank"),
    ("16: NaN singular values for the Gavish–Donoho threshold",
     lambda: ns.optimal_hard_threshold((60, 40), singular_values=np.r_[np.nan, np.ones(39)]), InvalidInputError, "NaN"),
    ("16: infinite singular values", lambda: ns.optimal_hard_threshold((60, 40), singular_values=np.r_[np.inf, np.ones(39)]),
     InvalidInputError, "inf"),
    ("16: negative singular values", lambda: ns.optimal_hard_threshold((60, 40), singular_values=-np.ones(40)),
     InvalidInputError, "non-negative"),
    ("16: a float shape", lambda: ns.fit_mp(np.ones(40), shape=(2.5, 40)), InvalidInputError, "shape"),
    ("16: a huge shape is a ValueError, not an OverflowError", lambda: ns.mp_pdf(1.0, (10**30, 40), 1.0),
     InvalidInputError, "too large"),
    ("16: keys that collide after str()", lambda: ns.analyze_spectra({1: NOISE, "1": NOISE}), InvalidInputError, "same name"),
    ("16: fraction=True", lambda: ns.lowest_margins([0.0, 1.0], fraction=True), TypeError, "bool"),
    ("16: a string spike_confidence", lambda: ns.fit_mp(NOISE, spike_confidence="0.99"), TypeError, "str"),
    ("16: a string window", lambda: ns.porter_thomas(NOISE, window="3"), TypeError, "window"),
    ("16: a string alpha", lambda: ns.porter_thomas(NOISE, alpha="0.05"), TypeError, "str"),
    ("16: a string fraction", lambda: ns.shrink(NOISE, "fraction", fraction="0.5"), TypeError, "str"),
    ("16: a bool count", lambda: ns.lowest_margins([0.0, 1.0], True), TypeError, "bool"),
    ("16: a negative window", lambda: ns.porter_thomas(NOISE, window=-1), InvalidInputError, "non-negative"),
    ("bad sigma_method names sigma_method", lambda: ns.fit_mp(NOISE, sigma_method="magic"), InvalidInputError,
     "`sigma_method`"),
    ("13: NaN arguments of the MP law", lambda: ns.mp_pdf([1.0, np.nan], (100, 50), 1.0), InvalidInputError, "NaN"),
    ("all margins infinite have no moments", lambda: ns.margin_summary([np.inf, -np.inf]), InvalidInputError, "infinite"),
]


@pytest.mark.parametrize("defect, call, exc, match", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_with_a_clear_error(defect, call, exc, match):
    # pyo3 names a bad argument in a note ("while processing 'window'"), shown under the message in
    # a traceback; the match is against both.
    with pytest.raises(exc) as info:
        call()
    shown = "\n".join([str(info.value), *getattr(info.value, "__notes__", [])])
    assert re.search(match, shown), shown


@pytest.mark.parametrize("call, argument", [
    (lambda: ns.porter_thomas(NOISE, window="3"), "window"),
    (lambda: ns.porter_thomas(NOISE, window=2.5), "window"),
    (lambda: ns.porter_thomas(NOISE, window=-1), "window"),
    (lambda: ns.porter_thomas(NOISE, alpha="0.05"), "alpha"),
    (lambda: ns.lowest_margins([0.0, 1.0], True), "k"),
    (lambda: ns.fit_mp(NOISE, spike_confidence="0.99"), "spike_confidence"),
])
def test_a_bad_argument_is_named(call, argument):
    with pytest.raises((TypeError, InvalidInputError)) as info:
        call()
    assert f"while processing '{argument}'" in getattr(info.value, "__notes__", []), info.value


def _scale_exact(f, scales=(1e-300, 1e-200, 1e-165, 1e155, 1e200, 1e300), rtol=1e-10):
    base = f(1.0)
    for c in scales:
        got = f(c)
        assert np.allclose(got, base, rtol=rtol, atol=0), (c, got, base)


def test_10_level_statistics_are_scale_exact():
    # level_spacing(W * 1e155) failed with "non-finite levels"; below 1e-165 <r> was NaN.
    _scale_exact(lambda c: ns.level_statistics(NOISE * c).mean_ratio)
    _scale_exact(lambda c: ns.level_statistics(ns.singular_values(NOISE) * c).mean_ratio)
    _scale_exact(lambda c: ns.analyze_spectra([NOISE * c])[0].level_statistics.mean_ratio)


def test_10_norms_and_tails_are_scale_exact():
    _scale_exact(lambda c: ns.analyze_layers([SPIKED * c])[0].stable_rank)
    _scale_exact(lambda c: ns.analyze_layers([SPIKED * c])[0].effective_rank)
    _scale_exact(lambda c: ns.analyze_layers([SPIKED * c])[0].alpha)


def test_11_gdv_is_scale_invariant_numerically():
    X = rng.normal(size=(40, 3)) + np.repeat([[0.0, 0, 0], [3.0, 0, 0]], 20, axis=0)
    y = np.repeat([0, 1], 20)
    # It returned 0 ("no separation") above about 1e154 and below 1e-154.
    _scale_exact(lambda c: ns.gdv(X * c, y), scales=(1e-300, 1e-160, 1e160, 1e300))


@pytest.mark.parametrize("method", ["hard", "operator", "frobenius", "nuclear"])
def test_12_tiny_sigma_keeps_the_signal(method):
    # nuclear returned the zero matrix at sigma=1e-80 (x⁴ overflowed); the others returned ≈ W.
    out = ns.shrink(SPIKED, method, sigma=1e-80)
    np.testing.assert_allclose(out, SPIKED, rtol=1e-6, atol=1e-6 * np.abs(SPIKED).max())


def test_13_mp_law_at_infinities_and_extreme_sigma():
    shape = (1000, 400)
    assert ns.mp_pdf([np.inf, -np.inf, -1.0], shape, 1.0).tolist() == [0.0, 0.0, 0.0]
    assert ns.mp_cdf([np.inf, -np.inf], shape, 1.0).tolist() == [1.0, 0.0]
    lo, hi = ns.mp_quantile([0.0, 1.0], shape, 1.0)
    assert (lo, hi) == pytest.approx((math.sqrt(1000) - 20, math.sqrt(1000) + 20))
    ref = ns.mp_pdf(30.0, shape, 1.0)
    for sigma in (1e-300, 1e-155, 1e155, 1e300):
        assert ns.mp_pdf(30.0 * sigma, shape, sigma) * sigma == pytest.approx(ref, rel=1e-12)
        assert ns.mp_cdf(30.0 * sigma, shape, sigma) == pytest.approx(ns.mp_cdf(30.0, shape, 1.0), rel=1e-12)


def test_16_margin_summary_accepts_infinite_margins_and_huge_values():
    s = ns.margin_summary([-np.inf, 1.0, 3.0])
    assert (s.count, s.n_infinite, s.min, s.mean) == (3, 1, -np.inf, 2.0)
    huge = ns.margin_summary(np.full(3, 1e308))
    assert (huge.mean, huge.std, huge.auc) == (1e308, 0.0, 1e308)


def test_16_signed_zeros_tie_by_index():
    np.testing.assert_array_equal(ns.lowest_margins([0.0, -0.0, 0.0, -0.0], 4), [0, 1, 2, 3])


def test_16_big_endian_logits_keep_their_precision():
    logits = np.array([[2.0, 1.0], [0.0, 3.0]], dtype=">f4")
    m = ns.margins(logits, [0, 0])
    assert m.dtype == np.float32 and m.tolist() == [1.0, -3.0]


def test_16_zero_layer_and_bad_batch_sizes_are_clear():
    torch = pytest.importorskip("torch")
    from netsieve.torch import output_margins

    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    data = (torch.zeros(5, 4), torch.zeros(5, dtype=torch.int64))
    with pytest.raises(InvalidInputError, match="batch_size"):
        output_margins(model, data, batch_size=0)
    with torch.no_grad():
        model[0].weight.zero_()
    with pytest.raises(InvalidInputError, match="zero"):
        output_margins(model, data, normalize="frobenius_product")


def test_17_large_top_k_margins_are_exact():
    # top_k was O(C·k) per row: 1.3 s per row at C = 80,000, k = 40,000; now selection.
    logits = rng.normal(size=(4, 20_000)).astype(np.float32)
    labels = np.array([0, 5, 19_999, 7])
    for k in (1, 17, 1000, 10_000, 19_999):
        m = ns.margins(logits, labels, top_k=k)
        for i, y in enumerate(labels):
            comp = np.sort(np.delete(logits[i], y))
            assert m[i] == logits[i, y] - comp[-k], (k, i)
