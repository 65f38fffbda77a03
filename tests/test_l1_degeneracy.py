"""Vertex descent on degenerate problems (duplicated points, dead inputs of a hidden layer, exact
ties, zero residuals, many hyperplanes through one point): every run ends at a local minimum, never
in "breakdown" or "unbounded", with the checks of test_l1_descent (a vertex, a monotone loss equal to
a fresh forward pass). And Ctrl-C: the partial result comes back with status "interrupted"."""

from __future__ import annotations

import _thread
import threading

import numpy as np
import pytest
from test_l1_descent import check_vertex, data, loss, random_net, units

import netsieve as ns


def assert_clean(Ws, bs, acts, X, y, layer):
    res = ns.l1_vertex_descent(Ws, bs, acts, X, y, layer=layer, max_vertices=100_000)
    assert res.status == "local_minimum", (res.status, res.n_vertices, res.degenerate_steps)
    check_vertex(Ws, bs, acts, X, y, layer, res)
    losses = np.concatenate([[res.phase1_loss], res.trace.loss])
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])
    return res


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_duplicated_points(layer):
    Ws, bs, acts = random_net(11, [3, 5, 3, 1])
    X, y = data(11, 50, 3)
    X, y = np.repeat(X, 3, axis=0), np.repeat(y, 3)  # every hyperplane three times
    assert_clean(Ws, bs, acts, X, y, layer)


@pytest.mark.parametrize("layer", [1, 2])
def test_dead_inputs_put_many_hyperplanes_through_one_point(layer):
    # A third of the points lie where every first-layer unit is dead: their input to layer 1 is
    # [0, …, 0, 1], so the hyperplanes {b_j = 0} of all of them coincide (the case that ended in
    # "breakdown" and "unbounded" before the lexicographic rule).
    Ws, bs, acts = random_net(12, [3, 5, 4, 1])
    Ws[0][:, 0] = -np.abs(Ws[0][:, 0]) - 0.5
    X, y = data(12, 180, 3)
    X[::3, 0] = 8.0
    H = np.maximum(X @ Ws[0].T + bs[0], 0)
    assert (H[::3] == 0).all()
    res = assert_clean(Ws, bs, acts, X, y, layer)
    assert res.n_vertices > 0


@pytest.mark.parametrize("act", ["relu", "abs"])
def test_integer_data_with_exact_ties_and_zero_residuals(act):
    rng = np.random.default_rng(13)
    Ws = [rng.integers(-2, 3, (3, 2)).astype(float), rng.integers(-2, 3, (2, 3)).astype(float), rng.integers(-2, 3, (1, 2)).astype(float)]
    bs = [rng.integers(-1, 2, 3).astype(float), rng.integers(-1, 2, 2).astype(float), rng.integers(-1, 2, 1).astype(float)]
    X = rng.integers(-2, 3, (150, 2)).astype(float)
    acts = [act, act]
    y = rng.integers(-2, 3, 150).astype(float)
    y[::2] = units(Ws, bs, acts, X, np.zeros(150), 2)[::2, 0]  # zero residuals at the start
    for layer in range(3):
        try:
            assert_clean(Ws, bs, acts, X, y, layer)
        except ns.InvalidInputError as e:  # a unit dead on every point: no vertex, said clearly
            assert "do not span" in str(e)


def test_unbounded_is_never_reported_on_an_l1_loss():
    # F ≥ 0, so no descending edge is truly unbounded: the statuses of many degenerate runs.
    statuses = set()
    for seed in range(6):
        Ws, bs, acts = random_net(30 + seed, [3, 4, 3, 1])
        X, y = data(30 + seed, 40, 3)
        X, y = np.round(np.repeat(X, 2, axis=0)), np.round(np.repeat(y, 2))
        for layer in range(3):
            try:
                res = ns.l1_vertex_descent(Ws, bs, acts, X, y, layer=layer, max_vertices=50_000)
            except ns.InvalidInputError:
                continue
            statuses.add(res.status)
            assert res.loss == pytest.approx(loss(*with_trained(Ws, bs, layer, res), acts, X, y), rel=1e-9)
    assert statuses == {"local_minimum"}


def with_trained(Ws, bs, layer, res):
    Ws, bs = list(Ws), list(bs)
    Ws[layer], bs[layer] = np.array(res.weight), np.array(res.bias)
    return Ws, bs


def long_problem():
    # n0 = 250 at N = 2000: thousands of vertices to a local minimum, many seconds.
    Ws, bs, acts = random_net(40, [9, 25, 1])
    X, y = data(40, 2000, 9)
    return Ws, bs, acts, X, y


def interrupt_after(seconds, call):
    """`call()` with a simulated Ctrl-C (SIGINT's handler) after `seconds`."""
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    try:
        return call()
    finally:
        timer.cancel()


def test_ctrl_c_returns_the_partial_result():
    Ws, bs, acts, X, y = long_problem()
    res = interrupt_after(1.5, lambda: ns.l1_vertex_descent(Ws, bs, acts, X, y, 0, time_limit=120))
    assert res.status == "interrupted" and res.seconds < 60
    if len(res.active) == res.n_params:  # phase 1 finished: the point is a vertex
        check_vertex(Ws, bs, acts, X, y, 0, res)
        losses = np.concatenate([[res.phase1_loss], res.trace.loss])
        assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])
    assert res.loss == pytest.approx(loss(*with_trained(Ws, bs, 0, res), acts, X, y), rel=1e-10)
    assert res.loss <= res.initial_loss


def test_ctrl_c_in_the_torch_api_returns_a_new_model():
    torch = pytest.importorskip("torch")
    import netsieve.torch as nt

    Ws, bs, acts, X, y = long_problem()
    model = torch.nn.Sequential(torch.nn.Linear(9, 25), torch.nn.ReLU(), torch.nn.Linear(25, 1)).double()
    with torch.no_grad():
        for lin, W, b in zip([model[0], model[2]], Ws, bs):
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
    before = model[0].weight.detach().clone()
    res = interrupt_after(1.5, lambda: nt.l1_layer_descent(model, X, y, layer=0, time_limit=120))
    assert res.status == "interrupted"
    assert torch.equal(model[0].weight, before)
    got = float((res.model(torch.from_numpy(X)).squeeze(1) - torch.from_numpy(y)).abs().sum().detach())
    assert got == pytest.approx(res.loss, rel=1e-10)


def test_refactorisation_drift_is_small_where_phase_1_used_to_take_dependent_units():
    # Inputs of dimension 2 and 60 neurons: each neuron's block of θ has 3 dimensions, and one
    # Gram–Schmidt pass let phase 1 take a fourth hidden unit of a block (dependent normals):
    # max_drift was 0.0029 here, 0.65 at n0 = 1000. Now rounding-level.
    rng = np.random.default_rng(0)
    Ws = [rng.uniform(-1, 1, (60, 2)), rng.uniform(-1, 1, (1, 60))]
    bs = [rng.uniform(-1, 1, 60), rng.uniform(-1, 1, 1)]
    X, y = rng.uniform(-3, 3, (600, 2)), rng.uniform(-3, 3, 600)
    res = ns.l1_vertex_descent(Ws, bs, ["relu"], X, y, 0, max_vertices=60)
    assert res.status == "limit" and res.n_vertices == 60
    assert res.max_drift < 1e-9, res.max_drift
    check_vertex(Ws, bs, ["relu"], X, y, 0, res)
