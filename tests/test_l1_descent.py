"""Layer-wise L1 training by vertex descent (``netsieve.l1_vertex_descent``): every reported point
is a vertex, the loss never increases and equals a fresh forward pass, no edge descends at a
reported local minimum, the one-layer case is LAD, and bad input is refused clearly. The checks
recompute everything in numpy, independently of the Rust kernel."""

import numpy as np
import pytest

import netsieve as ns

SLOPES = {"relu": (0.0, 1.0), "abs": (-1.0, 1.0), "leaky_relu": (0.01, 1.0)}


def random_net(seed, widths, act="relu"):
    rng = np.random.default_rng(seed)
    Ws = [rng.uniform(-1, 1, (widths[k + 1], widths[k])) for k in range(len(widths) - 1)]
    bs = [rng.uniform(-1, 1, widths[k + 1]) for k in range(len(widths) - 1)]
    return Ws, bs, [act] * (len(widths) - 2)


def data(seed, n, d, n_out=1):
    rng = np.random.default_rng(seed + 100)
    X = rng.uniform(-3, 3, (n, d))
    y = rng.uniform(-3, 3, n) if n_out == 1 else rng.uniform(-3, 3, (n, n_out))
    return X, y


def units(Ws, bs, acts, X, y, layer):
    """Unit values per data point: pre-activations of layers ℓ..L−2, then output residuals."""
    h = X
    for k in range(layer):
        z = h @ Ws[k].T + bs[k]
        neg, pos = SLOPES[acts[k]]
        h = np.where(z >= 0, pos, neg) * z
    out = []
    for k in range(layer, len(Ws)):
        z = h @ Ws[k].T + bs[k]
        if k < len(Ws) - 1:
            out.append(z)
            neg, pos = SLOPES[acts[k]]
            h = np.where(z >= 0, pos, neg) * z
        else:
            out.append(z - np.asarray(y).reshape(len(X), -1))
    return np.concatenate(out, axis=1)


def loss(Ws, bs, acts, X, y):
    return float(np.abs(units(Ws, bs, acts, X, y, len(Ws) - 1)).sum())


def with_layer(Ws, bs, layer, res):
    Ws, bs = list(Ws), list(bs)
    Ws[layer], bs[layer] = np.array(res.weight), np.array(res.bias)
    return Ws, bs


def layer_input(Ws, bs, acts, X, layer):
    h = X
    for k in range(layer):
        z = h @ Ws[k].T + bs[k]
        neg, pos = SLOPES[acts[k]]
        h = np.where(z >= 0, pos, neg) * z
    return np.column_stack([h, np.ones(len(X))])


def jacobians(Ws, bs, acts, X, y, layer, signs):
    """d(unit)/dθ for every data point and unit, with the activation slopes of `signs` (N × U):
    shape (N, U, n0), θ = rows [W_ℓ[j], b_ℓ[j]] in order."""
    H = layer_input(Ws, bs, acts, X, layer)
    n, m1 = H.shape
    nl = Ws[layer].shape[0]
    U = signs.shape[1]
    # c[i, u, j] = d unit_u / d z_ℓ,j for point i, by forward Jacobians through the layers.
    J = np.zeros((n, U, nl))
    blocks = [Ws[k].shape[0] for k in range(layer, len(Ws))]
    offs = np.concatenate([[0], np.cumsum(blocks)])
    cur = np.broadcast_to(np.eye(nl), (n, nl, nl)).copy()
    J[:, : blocks[0]] = cur
    for b, k in enumerate(range(layer + 1, len(Ws)), start=1):
        neg, pos = SLOPES[acts[k - 1]]
        s = np.where(signs[:, offs[b - 1] : offs[b]] > 0, pos, neg)
        cur = np.einsum("rc,nc,ncj->nrj", Ws[k], s, cur)
        J[:, offs[b] : offs[b + 1]] = cur
    return np.einsum("nuj,nt->nujt", J, H).reshape(n, U, nl * m1)


def signs_at(vals, active):
    s = np.where(vals >= 0, 1, -1)
    for i, u, sg in active:
        s[i, u] = sg
    return s


def check_vertex(Ws, bs, acts, X, y, layer, res):
    Ws2, bs2 = with_layer(Ws, bs, layer, res)
    vals = units(Ws2, bs2, acts, X, y, layer)
    assert len(res.active) == res.n_params == Ws[layer].size + bs[layer].size
    idx = np.array([(i, u) for i, u, _ in res.active])
    scale = np.abs(vals).max() + 1
    assert np.abs(vals[idx[:, 0], idx[:, 1]]).max() <= 1e-8 * scale
    J = jacobians(Ws2, bs2, acts, X, y, layer, signs_at(vals, res.active))
    N = J[idx[:, 0], idx[:, 1]]
    assert np.linalg.matrix_rank(N) == res.n_params
    # The reported loss is that of a fresh forward pass.
    assert res.loss == pytest.approx(loss(Ws2, bs2, acts, X, y), rel=1e-10)
    return Ws2, bs2, vals, N


CASES = [
    ("relu", [4, 5, 4, 2, 1], 0, 1),
    ("relu", [4, 5, 4, 2, 1], 1, 1),
    ("relu", [4, 5, 4, 2, 1], 3, 1),
    ("leaky_relu", [3, 6, 2], 0, 2),
    ("abs", [3, 4, 3, 1], 1, 1),
    ("relu", [3, 1], 0, 1),
]


@pytest.mark.parametrize("act,widths,layer,n_out", CASES)
def test_every_reported_point_is_a_vertex_and_the_loss_never_increases(act, widths, layer, n_out):
    widths = widths[:-1] + [n_out]
    Ws, bs, acts = random_net(1, widths, act)
    X, y = data(1, 150, widths[0], n_out)
    X0, y0, W0 = X.copy(), y.copy(), [w.copy() for w in Ws]
    res = ns.l1_vertex_descent(Ws, bs, acts, X, y, layer=layer)
    assert res.status == "local_minimum"
    check_vertex(Ws, bs, acts, X, y, layer, res)
    assert res.phase1_loss <= res.initial_loss * (1 + 1e-12)
    losses = np.concatenate([[res.phase1_loss], res.trace.loss])
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])
    assert res.initial_loss == pytest.approx(loss(Ws, bs, acts, X, y), rel=1e-12)
    assert len(res.trace.loss) == res.n_vertices == len(res.trace.step)
    assert np.all(res.trace.step >= 0) and np.all(res.trace.regions_tried >= 1)
    # Points part-way are vertices too (the run is deterministic: a cap stops it at vertex k).
    for k in (0, res.n_vertices // 3):
        part = ns.l1_vertex_descent(Ws, bs, acts, X, y, layer=layer, max_vertices=k)
        assert part.status == "limit" and part.n_vertices == k
        check_vertex(Ws, bs, acts, X, y, layer, part)
        assert part.loss == pytest.approx(losses[k], rel=1e-9)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    for a, b in zip(Ws, W0):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("act,widths,layer,n_out", CASES)
def test_no_edge_of_the_final_region_descends(act, widths, layer, n_out):
    widths = widths[:-1] + [n_out]
    Ws, bs, acts = random_net(2, widths, act)
    X, y = data(2, 120, widths[0], n_out)
    res = ns.l1_vertex_descent(Ws, bs, acts, X, y, layer=layer)
    assert res.status == "local_minimum"
    Ws2, bs2, vals, N = check_vertex(Ws, bs, acts, X, y, layer, res)
    # Edges a_k: columns of N⁻¹; each taken to the side of its unit's sign. Their slopes, measured
    # by fresh forward passes a small step along them, are not negative.
    A = np.linalg.inv(N)
    theta = np.column_stack([Ws2[layer], bs2[layer]]).ravel()
    F0 = res.loss
    m = Ws[layer].shape[1]
    for k, (i, u, sg) in enumerate(res.active):
        d = sg * A[:, k]
        eps = 1e-7 / np.linalg.norm(d)
        th = (theta + eps * d).reshape(-1, m + 1)
        Ws3, bs3 = list(Ws2), list(bs2)
        Ws3[layer], bs3[layer] = th[:, :m], th[:, m]
        slope = (loss(Ws3, bs3, acts, X, y) - F0) / eps
        assert slope >= -1e-5 * (abs(F0) + 1), (k, slope)


def test_one_affine_layer_is_lad():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    y = X @ [1.0, -1.0, 2.0] + rng.standard_t(2, 300)
    res = ns.l1_vertex_descent([rng.normal(size=(1, 3))], [rng.normal(size=1)], [], X, y)
    assert res.status == "local_minimum"
    assert res.loss == pytest.approx(ns.lad_fit(X, y).loss, rel=1e-9)


def test_a_start_on_many_hyperplanes_still_reaches_a_vertex():
    # All first-layer weights and biases zero: every first-layer unit of every point is zero.
    Ws, bs, acts = random_net(4, [3, 4, 1])
    Ws[0][:] = 0.0
    bs[0][:] = 0.0
    X, y = data(4, 100, 3)
    res = ns.l1_vertex_descent(Ws, bs, acts, X, y, layer=0)
    check_vertex(Ws, bs, acts, X, y, 0, res)
    assert res.loss <= res.initial_loss


def test_extrapolation_is_the_documented_estimator():
    Ws, bs, acts = random_net(5, [4, 5, 4, 2, 1])
    X, y = data(5, 300, 4)
    res = ns.l1_vertex_descent(Ws, bs, acts, X, y, layer=0, window=10)
    L = np.concatenate([[res.phase1_loss], res.trace.loss])
    checked = 0
    for K in range(1, len(L)):
        ks = np.arange(max(0, K - 10), K)
        dec = L[ks] - L[ks + 1]
        keep = dec > 0
        got = res.trace.extrapolated[K - 1]
        if keep.sum() < 3 or np.ptp(ks[keep]) == 0:
            assert np.isnan(got)
            continue
        slope, c = np.polyfit(ks[keep], np.log(dec[keep]), 1)
        lam = -slope
        if lam <= 0:
            assert np.isnan(got)
            continue
        want = np.clip(L[K] - np.exp(c - lam * K) / (1 - np.exp(-lam)), 0, L[K])
        assert got == pytest.approx(want, rel=1e-8)
        checked += 1
    assert checked > 0
    assert res.extrapolated_loss == res.trace.extrapolated[-1] or np.isnan(res.extrapolated_loss)


def test_time_limit_and_record():
    Ws, bs, acts = random_net(6, [4, 5, 4, 2, 1])
    X, y = data(6, 300, 4)
    res = ns.l1_vertex_descent(Ws, bs, acts, X, y, layer=0, time_limit=0.0)
    assert res.status == "limit" and res.n_vertices == 0
    assert res.status in ns.DESCENT_STATUSES
    assert not res.weight.flags.writeable and res.weight.shape == (5, 4)
    assert "trace" in res.to_dict() and ns.L1_ACTIVATIONS == ["relu", "leaky_relu", "abs"]


@pytest.mark.parametrize(
    "change,error,match",
    [
        (lambda a: a.update(X=np.where(a["X"] > 2.9, np.nan, a["X"])), ns.InvalidInputError, "non-finite"),
        (lambda a: a.update(y=a["y"][:-1]), ns.InvalidInputError, "y"),
        (lambda a: a.update(y=np.zeros((len(a["X"]), 2))), ns.InvalidInputError, "2 columns but the network has 1"),
        (lambda a: a.update(layer=5), ns.InvalidInputError, "layer"),
        (lambda a: a.update(activations=["relu", "sigmoid", "relu"]), ns.InvalidInputError, "unknown activation 'sigmoid'"),
        (lambda a: a.update(activations=["relu"]), ns.InvalidInputError, "needs 3 activations"),
        (lambda a: a.update(activations=[("leaky_relu", 1.0)] * 3), ns.InvalidInputError, "leaky_slope"),
        (lambda a: a.update(weights=a["weights"][:1] + [np.ones((4, 3))] + a["weights"][2:]), ns.InvalidInputError, "columns"),
        (lambda a: a.update(biases=a["biases"][:-1]), ns.InvalidInputError, "bias vectors"),
        (lambda a: a.update(X=a["X"][:, :3]), ns.InvalidInputError, "first layer takes 4"),
        (lambda a: a.update(X=a["X"][:3], y=a["y"][:3]), ns.InvalidInputError, "do not span"),
        (lambda a: a.update(window=2), ns.InvalidInputError, "window"),
        (lambda a: a.update(weights="abc"), ns.InvalidInputError, "sequence"),
    ],
)
def test_bad_input_is_named(change, error, match):
    Ws, bs, acts = random_net(7, [4, 5, 4, 2, 1])
    X, y = data(7, 100, 4)
    args = dict(weights=Ws, biases=bs, activations=acts, X=X, y=y)
    change(args)
    with pytest.raises(error, match=match):
        ns.l1_vertex_descent(**args)
