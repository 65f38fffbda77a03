"""A fast seeded version of examples/reproduce_l1_landscape.py: the author's random-data problem,
trained to a local minimum; the analysis the script reports is computed from its trace."""

import numpy as np
import pytest
from _examples import load

pytest.importorskip("torch")
import netsieve.torch as nt  # noqa: E402


def test_landscape_run_and_analysis():
    mod = load("reproduce_l1_landscape")
    model, X, y = mod.author_problem(1, n=150)
    res = nt.l1_layer_descent(model, X, y, layer=0)
    assert res.status == "local_minimum" and res.result.n_vertices > 50
    rows, steps, remaining = mod.analyse(res.trace, res.result.phase1_loss)
    assert [r[0] for r in rows] == list(mod.FRACTIONS)
    # The naive errors fall as the run proceeds (the loss decreases monotonically) ...
    naive = [r[3] for r in rows]
    assert all(b <= a for a, b in zip(naive, naive[1:]))
    # ... and the remaining path length is non-negative, decreasing, and 0 at the end.
    assert np.all(remaining >= -1e-12) and np.all(np.diff(remaining) <= 1e-12) and remaining[-1] == pytest.approx(0, abs=1e-12)
    assert len(steps) == res.result.n_vertices


def test_gradient_baseline_never_beats_an_exact_lad_layer():
    # On the output layer the problem is convex (LAD per output): vertex descent reaches the global
    # minimum, so Adam on the same layer cannot end below it.
    mod = load("reproduce_l1_landscape")
    model, X, y = mod.author_problem(2, n=150)
    res = nt.l1_layer_descent(model, X, y, layer=3)
    best, steps = mod.gradient_baseline(model, X, y, 3, 0.3, "adam", 0.01)
    assert steps > 0 and best >= res.loss - 1e-9 * res.loss
