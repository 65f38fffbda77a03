"""The partial route of the per-layer report (``analyze_layers(route="partial")``): the answers it
gives agree with the full route on planted spikes, what it cannot give is None, and every check
that refuses it falls back to the full route with the reason."""

from __future__ import annotations

import numpy as np
import pytest

import netsieve as ns
from netsieve.synthetic import bbp_threshold, planted_spikes

FAST = dict(porter_thomas=False, level_statistics=False)
NOT_GIVEN = ("n_low_outliers", "mp_ks_distance", "mp_ks_pvalue", "bulk_is_mp", "bulk_ks_distance", "bulk_ks_pvalue",
             "mp_n_spikes", "porter_thomas_boundary", "mean_r", "effective_rank", "entropy", "alpha", "power_law_like",
             "spread", "population_shape")  # fmt: skip


def planted(seed: int, rows: int, cols: int, k: int) -> np.ndarray:
    strengths = [bbp_threshold(rows, cols) * (2.5 + i) for i in range(k)]
    return planted_spikes(np.random.default_rng(seed), rows, cols, strengths)


def test_contract_names_and_default():
    assert ns.ROUTES == ["full", "partial"]
    assert ns.DEFAULTS["route"] == "full"
    with pytest.raises(ns.InvalidInputError, match="route"):
        ns.analyze_layers([], route="top")


@pytest.mark.parametrize("seed,k,shape", [(101, 0, (1200, 500)), (102, 3, (1200, 500)), (103, 5, (500, 1200))])
def test_agrees_with_the_full_route_on_planted_spikes(seed, k, shape):
    w = planted(seed, *shape, k)
    full = ns.analyze_layers({"w": w}, **FAST)["w"]
    part = ns.analyze_layers({"w": w}, route="partial", **FAST)["w"]
    assert (full.route, part.route) == ("full", "partial"), part.route_note
    assert part.n_spikes == full.n_spikes == k
    assert abs(part.sigma / full.sigma - 1) < 0.01
    assert part.frobenius_norm == pytest.approx(full.frobenius_norm, rel=1e-12)
    assert part.spectral_norm == pytest.approx(full.spectral_norm, rel=1e-6)
    assert part.stable_rank == pytest.approx(full.stable_rank, rel=1e-5)
    assert len(part.singular_values) == max(k, 1)
    np.testing.assert_allclose(part.singular_values, full.singular_values[: max(k, 1)], rtol=1e-6)
    for field in NOT_GIVEN:
        assert getattr(part, field) is None, field
    assert "dispersion" in part.route_note and "partial route" in part.alpha_note
    assert full.route_note is None


def test_a_correlated_bulk_falls_back_with_the_reason():
    rng = np.random.default_rng(104)
    w = rng.normal(size=(1200, 500)) * np.linspace(0.3, 1.7, 500)  # column scales: not white
    full = ns.analyze_layers({"w": w}, **FAST)["w"]
    part = ns.analyze_layers({"w": w}, route="partial", **FAST)["w"]
    # refused by the dispersion check, or before it because the heavy edge reads as many spikes
    assert part.route == "full"
    assert "not white noise" in part.route_note or "did not settle" in part.route_note
    assert (part.sigma, part.n_spikes, part.bulk) == (full.sigma, full.n_spikes, full.bulk)


@pytest.mark.parametrize("options,reason", [
    (dict(porter_thomas=True, level_statistics=False), "Porter–Thomas"),
    (dict(porter_thomas=False, level_statistics=True), "level statistics"),
    (dict(bulk="deformed", **FAST), "deformed"),
])  # fmt: skip
def test_quantities_that_need_the_full_spectrum_fall_back(options, reason):
    w = planted(105, 600, 300, 2)
    row = ns.analyze_layers({"w": w}, route="partial", **options)["w"]
    assert row.route == "full" and reason in row.route_note
    full = ns.analyze_layers({"w": w}, **options)["w"]
    assert row.sigma == full.sigma and row.porter_thomas_boundary == full.porter_thomas_boundary


def test_a_small_matrix_falls_back():
    row = ns.analyze_layers({"w": planted(106, 80, 60, 1)}, route="partial", **FAST)["w"]
    assert row.route == "full" and "too small" in row.route_note


def test_the_torch_report_prints_partial_rows():
    torch = pytest.importorskip("torch")
    from netsieve.torch import analyze

    state = {"fc.weight": torch.from_numpy(planted(107, 1200, 500, 2).astype(np.float32))}
    report = analyze(state, route="partial", progress=False, **FAST)
    (row,) = list(report)
    assert row.route == "partial" and row.n_spikes == 2
    assert "—" in str(report)


def _fields(row) -> tuple:
    return tuple(getattr(row, f) for f in ("route", "route_note", "n_spikes", "sigma", "spike_threshold", "spectral_norm",
                                         "frobenius_norm", "stable_rank", "mp_soft_rank", "alpha", "effective_rank"))  # fmt: skip


@pytest.mark.parametrize("route", ["partial", "full"])
def test_bfloat16_tensors_read_in_place_give_the_float32_copys_answers(route):
    # analyze_layers reads 2-D bfloat16 tensors in place (no float32 copy); widening is exact, so
    # every field equals that of the float32 copy, bit for bit, in both layouts.
    torch = pytest.importorskip("torch")
    w = torch.from_numpy(planted(108, 1000, 301, 2)).to(torch.bfloat16)
    cases = {"rows": w, "transposed": w.t(), "sliced": w[::2]}
    bits = ns.analyze_layers(cases, route=route, **FAST)
    copies = ns.analyze_layers({k: v.float() for k, v in cases.items()}, route=route, **FAST)
    for k in cases:
        assert _fields(bits[k]) == _fields(copies[k]), k
    assert bits["rows"].n_spikes == 2 and bits["rows"].route == route
    spectra = ns.analyze_spectra({"w": w}, **FAST)["w"]
    assert spectra.fit.sigma == ns.analyze_spectra({"w": w.float()}, **FAST)["w"].fit.sigma


def test_bfloat16_tensors_with_non_finite_entries_are_refused():
    torch = pytest.importorskip("torch")
    w = torch.from_numpy(planted(109, 300, 200, 0)).to(torch.bfloat16)
    w[7, 3] = float("nan")
    with pytest.raises(ns.InvalidInputError, match="NaN"):
        ns.analyze_layers({"w": w}, route="partial", **FAST)
    rows = ns.analyze_layers({"w": w}, route="partial", errors="collect", **FAST)
    assert not rows["w"].ok and "NaN" in rows["w"].error
    with pytest.raises(ns.InvalidInputError, match="meta"):
        ns.analyze_layers({"w": torch.empty(300, 200, dtype=torch.bfloat16, device="meta")}, **FAST)
