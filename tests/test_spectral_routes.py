"""Which route singular_values takes, and what it costs: accuracy against float64 LAPACK gesdd,
wide against tall storage, the condition check made before any eigenvalue, and the automatic
route against netsieve's own routes on costs recorded by benches/bench_spectra_shapes.py."""

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg

import netsieve as ns

RECORDED = Path(__file__).parent.parent / "benches" / "results" / "route_costs.json"


def with_singular_values(rng, rows, cols, s):
    U, _ = np.linalg.qr(rng.normal(size=(rows, len(s))))
    V, _ = np.linalg.qr(rng.normal(size=(cols, len(s))))
    return (U * s) @ V.T


@pytest.mark.parametrize("shape", [(300, 120), (120, 300), (200, 200)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_smallest_values_as_accurate_as_the_gram_one_liner(rng, shape, dtype):
    W = rng.normal(size=shape).astype(dtype)
    A = W.astype(np.float64)
    ref = scipy.linalg.svd(A, compute_uv=False, lapack_driver="gesdd")
    peer = np.sqrt(np.clip(np.linalg.eigvalsh(A.T @ A if shape[0] >= shape[1] else A @ A.T), 0, None))[::-1]
    k = max(2, len(ref) // 10)
    mine = np.abs(ns.singular_values(W)[-k:] / ref[-k:] - 1).max()
    theirs = np.abs(peer[-k:] / ref[-k:] - 1).max()
    assert mine <= 1e-6
    assert mine <= 4 * theirs + 1e-13


def test_wide_and_tall_storage_give_identical_values(rng):
    W = rng.normal(size=(90, 230)).astype(np.float32)
    s = ns.singular_values(W)
    for other in (W.T, np.ascontiguousarray(W.T), np.asfortranarray(W)):
        np.testing.assert_array_equal(ns.singular_values(other), s)


@pytest.mark.parametrize("ratio, route", [(1e-8, "gram"), (1e-12, "svd")])
def test_condition_decides_the_route_before_the_eigenvalues(rng, ratio, route):
    # λ_min/λ_max = ratio, on either side of the 1e-10 limit: the automatic route gives exactly the
    # values of the route the limit asks for, accurate to 1e-6 relative.
    s_true = np.geomspace(1.0, np.sqrt(ratio), 40)
    W = with_singular_values(rng, 100, 40, s_true)
    auto = ns.singular_values(W)
    np.testing.assert_array_equal(auto, ns.singular_values(W, decomposition=route))
    np.testing.assert_allclose(auto, s_true, rtol=1e-6)


def test_a_zero_row_of_a_wide_matrix_deflates_to_an_exact_zero(rng):
    # A zero line of the short side: the values of the rest, then an exact zero (no SVD needed).
    W = rng.normal(size=(50, 120))
    W[7] = 0.0
    auto = ns.singular_values(W)
    assert auto[-1] == 0.0
    ref = scipy.linalg.svd(np.delete(W, 7, axis=0), compute_uv=False, lapack_driver="gesdd")
    np.testing.assert_allclose(auto[:-1], ref, rtol=1e-9)


def recorded_costs():
    return json.loads(RECORDED.read_text())["rows"]


@pytest.mark.parametrize("case", ["well-conditioned", "zero column", "tiny columns"])
@pytest.mark.parametrize("row", recorded_costs(), ids=lambda r: f"{r['shape'][0]}x{r['shape'][1]}-t{r['threads']}")
def test_automatic_route_within_20_percent_of_the_best_accurate_route(row, case):
    # Per-step costs recorded on this project's 2-core machine (benches/results/route_costs.json,
    # written by rust/examples/filter_profile.rs). The automatic route always pays the column check;
    # a zero column is deflated exactly (the rest is well-conditioned); otherwise the Gram product,
    # the tridiagonalisation keeping its band form (free from the two-stage size on, which every
    # recorded shape reaches) and the Sturm-count check, then the eigenvalues. Five tiny columns
    # put five values below the limit, announced by the column check, and they are refined from
    # the kept band form, where the only other accurate route is the SVD (a decaying tail found by
    # the Sturm count takes the same path; its refinement of more values is not recorded here).
    m = min(row["shape"])
    assert m >= (768 if row["threads"] == 1 else 1024), "a recorded shape below the two-stage size"
    head = row["column_check"] + row["gram_product"] + row["condition_check"]
    if case == "tiny columns":
        auto, best = head + row["eigenvalues_kept"] + row["refine_five"], row["svd"]
    else:
        auto, best = head + row["eigenvalues_kept"], min(row["gram_product"] + row["eigenvalues"], row["svd"])
    assert auto <= 1.2 * best, (row, auto, best)
