"""netsieve.torch margins: output margins with norm products, first-order hidden-layer margins,
the gap regression."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netsieve  # noqa: E402
from netsieve import InvalidInputError  # noqa: E402
from netsieve.torch import GapPredictor, layer_margins, output_margins  # noqa: E402


def _data(n=200, d=6, c=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randint(0, c, (n,), generator=g)


def test_linear_classifier_first_order_margin_is_exact():
    torch.manual_seed(0)
    model = nn.Linear(6, 4).double()
    x, y = _data()
    res = layer_margins(model, (x, y), layers=["input"], batch_size=64)
    f = model(x).detach().numpy()
    w = model.weight.detach().numpy()
    yy = y.numpy()
    comp = f.copy()
    comp[np.arange(len(yy)), yy] = -np.inf
    c = comp.argmax(1)
    want = (f[np.arange(len(yy)), yy] - f[np.arange(len(yy)), c]) / np.linalg.norm(w[yy] - w[c], axis=1)
    np.testing.assert_allclose(res.raw["input"], want, rtol=1e-12)
    tv = x.numpy().var(axis=0).sum()
    assert res.total_variation["input"] == pytest.approx(tv, rel=1e-12)
    np.testing.assert_allclose(res.normalized["input"], want / np.sqrt(tv), rtol=1e-12)
    np.testing.assert_array_equal(res.correct, want > 0)


class Scale(nn.Module):
    def __init__(self, alpha):
        super().__init__()
        self.alpha = alpha

    def forward(self, h):
        return h * self.alpha


def _scaled_net(alpha):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 16), Scale(1.0), nn.ReLU(), nn.Linear(16, 4)).double()
    with torch.no_grad():
        net[1].alpha = alpha
        net[3].weight /= alpha  # ReLU is positively homogeneous: the function is unchanged
    return net


def test_normalized_margin_is_invariant_to_scaling_a_hidden_layer():
    x, y = _data(seed=2)
    a = layer_margins(_scaled_net(1.0), (x, y), layers=["1", "input"])
    b = layer_margins(_scaled_net(7.5), (x, y), layers=["1", "input"])
    np.testing.assert_allclose(b.raw["1"], 7.5 * a.raw["1"], rtol=1e-10)
    np.testing.assert_allclose(b.normalized["1"], a.normalized["1"], rtol=1e-10)
    np.testing.assert_allclose(b.normalized["input"], a.normalized["input"], rtol=1e-10)
    assert a.signature().shape == (10,) and a.moments().shape == (8,)


def test_layer_margins_restores_mode_and_accepts_modules_and_loaders():
    x, y = _data(seed=3, dtype=torch.float32)
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4))
    net.train()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    res = layer_margins(net, loader, layers=[net[0], "1"])
    assert net.training
    assert set(res.normalized) == {"0", "1"} and res.normalized["0"].shape == (200,)
    with pytest.raises(InvalidInputError, match="no submodule"):
        layer_margins(net, loader, layers=["nope"])


def test_output_margins_and_norm_products():
    x, y = _data(seed=4, dtype=torch.float32)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    raw = output_margins(net, (x, y), batch_size=50)
    np.testing.assert_array_equal(raw, netsieve.margins(net(x).detach(), y))
    fro = np.prod([torch.linalg.matrix_norm(m.weight.double()).item() for m in (net[0], net[2])])
    spec = np.prod([torch.linalg.matrix_norm(m.weight.double(), ord=2).item() for m in (net[0], net[2])])
    np.testing.assert_allclose(output_margins(net, (x, y), "frobenius_product"), raw / fro, rtol=1e-6)
    np.testing.assert_allclose(output_margins(net, (x, y), "spectral_product"), raw / spec, rtol=1e-6)
    only_last = output_margins(net, (x, y), "frobenius_product", norm_layers=[net[2]])
    np.testing.assert_allclose(only_last, raw / torch.linalg.matrix_norm(net[2].weight.double()).item(), rtol=1e-6)
    with pytest.raises(InvalidInputError, match="normalize"):
        output_margins(net, (x, y), "l1")


def test_gap_predictor_recovers_a_linear_log_relation():
    rng = np.random.default_rng(0)
    feats = rng.uniform(0.5, 3.0, size=(60, 3)) * np.array([1, -1, 1])  # a negative "lower fence"
    gaps = 0.1 + np.log(np.abs(feats)) @ np.array([0.5, -0.2, 0.3]) + rng.normal(0, 0.01, 60)
    gp = GapPredictor(folds=5).fit(feats, gaps)
    assert gp.r2_ > 0.98 and gp.cv_r2_ > 0.97
    assert gp.adjusted_r2_ == pytest.approx(1 - (1 - gp.r2_) * 59 / 56)
    np.testing.assert_allclose(gp.coef_, [0.5, -0.2, 0.3], atol=0.02)
    assert gp.predict(feats[:2]).shape == (2,)
    with pytest.raises(InvalidInputError, match="log is undefined"):
        GapPredictor(transform="log").fit(feats, gaps)
    with pytest.raises(InvalidInputError, match="too few"):
        GapPredictor().fit(feats[:4], gaps[:4])


def test_progress_bar_does_not_change_results(capsys):
    pytest.importorskip("tqdm")
    x, y = _data(seed=5)
    net = nn.Linear(6, 4).double()
    quiet = layer_margins(net, (x, y), layers=["input"], batch_size=20, progress=False)
    loud = layer_margins(net, (x, y), layers=["input"], batch_size=20, progress=True)
    np.testing.assert_array_equal(quiet.raw["input"], loud.raw["input"])
    assert "layer margins" in capsys.readouterr().err


# -- bad input gets a clear error ------------------------------------------------------------------


@pytest.mark.parametrize("fn", [output_margins, layer_margins])
@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_batch_size_must_be_a_positive_integer(fn, batch_size):
    x, y = _data(dtype=torch.float32)
    with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
        fn(nn.Linear(6, 4), (x, y), batch_size=batch_size)


@pytest.mark.parametrize("normalize", ["frobenius_product", "spectral_product"])
def test_norm_product_of_an_all_zero_or_nan_layer_names_it(normalize):
    x, y = _data(dtype=torch.float32)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    with torch.no_grad():
        net[0].weight.zero_()
    with pytest.raises(InvalidInputError, match=r"layer '0' has .* norm 0\.0.*all zero"):
        output_margins(net, (x, y), normalize)
    with torch.no_grad():
        net[0].weight.normal_()
        net[2].weight[0, 0] = float("nan")
    with pytest.raises(InvalidInputError, match="layer '2'.*NaN or Inf"):
        output_margins(net, (x, y), normalize, norm_layers=[net[2]])
    with pytest.raises(InvalidInputError, match="no weight tensor"):
        output_margins(net, (x, y), normalize, norm_layers=[net[1]])


def test_layer_margins_refuses_nan_outputs_like_output_margins():
    x, y = _data(dtype=torch.float32)
    net = nn.Linear(6, 4)
    x[7, 2] = float("nan")
    with pytest.raises(InvalidInputError, match="NaN"):
        output_margins(net, (x, y))
    with pytest.raises(InvalidInputError, match=r"NaN or Inf for 1 samples \(first: row 7\)"):
        layer_margins(net, (x, y), layers=["input"], batch_size=5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_layer_margins_of_half_precision_models(dtype):
    x, y = _data(dtype=torch.float32)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
    ref = layer_margins(net, (x, y), layers=["input", "0"])
    low = layer_margins(net.to(dtype), (x.to(dtype), y), layers=["input", "0"])
    tol = {torch.float16: 1e-2, torch.bfloat16: 8e-2}[dtype]
    for name in ("input", "0"):
        assert np.isfinite(low.normalized[name]).all()
        np.testing.assert_allclose(low.normalized[name], ref.normalized[name], rtol=tol, atol=tol * np.abs(ref.normalized[name]).max())
        assert low.total_variation[name] == pytest.approx(ref.total_variation[name], rel=tol)


def test_layer_margins_refuses_float_labels_and_length_mismatches():
    x, y = _data(dtype=torch.float32)
    net = nn.Linear(6, 4)
    with pytest.raises(TypeError, match="labels must be integers"):
        layer_margins(net, (x, y.float() + 0.7))
    with pytest.raises(TypeError, match="labels must be integers"):
        layer_margins(net, [(x[:10], y[:10].double())])
    with pytest.raises(InvalidInputError, match="10 inputs but 9 labels"):
        layer_margins(net, [(x[:10], y[:9])])
    with pytest.raises(InvalidInputError, match="labels must be 1-D"):
        layer_margins(net, [(x[:10], y[:10, None])])
    with pytest.raises(InvalidInputError, match="returned 1 rows for a batch of 10"):
        layer_margins(lambda_module(lambda h: h.sum(0, keepdim=True)), [(x[:10], y[:10])])


def lambda_module(fn):
    class Fn(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 4)

        def forward(self, h):
            return fn(self.lin(h))

    return Fn()


def test_eval_mode_restores_every_submodule_also_on_error():
    from netsieve.torch._modes import eval_mode, model_mode

    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 4))
    net.train()
    net[1].eval()  # a frozen BatchNorm inside a training model
    with eval_mode(net):
        assert not any(m.training for m in net.modules())
    assert net.training and not net[1].training and net[2].training
    with pytest.raises(RuntimeError), model_mode(net, True):
        assert net[1].training
        raise RuntimeError
    assert net.training and not net[1].training
    x, y = _data(dtype=torch.float32)
    output_margins(net, (x, y))
    layer_margins(net, (x, y), layers=["0"])
    assert net.training and not net[1].training


def test_output_margins_of_a_bfloat16_model_are_float32_numpy():
    x, y = _data(dtype=torch.float32)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4)).to(torch.bfloat16)
    m = output_margins(net, (x.to(torch.bfloat16), y), batch_size=64)
    assert isinstance(m, np.ndarray) and m.dtype == np.float32 and m.shape == (200,)
    want = netsieve.margins(net(x.to(torch.bfloat16)).detach().float(), y).numpy()
    np.testing.assert_allclose(m, want, rtol=1e-2, atol=1e-2)
