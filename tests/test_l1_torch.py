"""netsieve.torch.l1_layer_descent: torch models in, a new model out, the input untouched."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netsieve as ns  # noqa: E402
import netsieve.torch as nt  # noqa: E402


def author_net(act=nn.ReLU, seed=0):
    """Input 4, hidden widths [5, 4, 2], scalar output, weights and biases U(−1, 1), as in the
    author's examples (DRLP examples/L1Layer1Training.jl)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 5), act(), nn.Linear(5, 4), act(), nn.Linear(4, 2), act(), nn.Linear(2, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1, 1)
    return model.double()


def l1(model, X, y):
    with torch.no_grad():
        out = model(X)
        return float((out.reshape(y.shape) - y).abs().sum())


def data(n=200, seed=0, out=None):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 4, generator=g, dtype=torch.float64) * 6 - 3
    y = torch.rand(n if out is None else (n, out), generator=g, dtype=torch.float64) * 6 - 3
    return X, y


@pytest.mark.parametrize("act", [nn.ReLU, lambda: nn.LeakyReLU(0.1), nt.Abs])
@pytest.mark.parametrize("layer", [0, 1, -1])
def test_a_new_model_with_lower_loss_and_the_input_untouched(act, layer):
    model = author_net(act)
    X, y = data()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        res = nt.l1_layer_descent(model, X, y, layer=layer)
    except ns.InvalidInputError as e:
        # A unit dead on every data point leaves the next layer without vertices: a clear error.
        assert "do not span" in str(e)
        return
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert res.model is not model
    assert res.status == "local_minimum"
    assert res.loss == pytest.approx(l1(res.model, X, y), rel=1e-10)
    assert res.loss <= l1(model, X, y) + 1e-9
    losses = np.concatenate([[res.result.phase1_loss], res.trace.loss])
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1])
    # Only the trained layer changed.
    lin_new = [m for m in res.model if isinstance(m, nn.Linear)]
    lin_old = [m for m in model if isinstance(m, nn.Linear)]
    for k, (a, b) in enumerate(zip(lin_new, lin_old)):
        assert torch.equal(a.weight, b.weight) == (k != layer % 4)


def test_vector_output_float32_and_caps():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    X, y = data(150, 1, out=2)
    res = nt.l1_layer_descent(model, X.float(), y.float(), layer=0, max_vertices=5)
    assert res.status == "limit" and len(res.trace.loss) == 5
    assert res.model[0].weight.dtype == torch.float32
    assert res.loss == pytest.approx(l1(res.model.double(), X.float().double(), y.float().double()), rel=1e-6)
    assert nt.l1_layer_descent(model, X, y, layer=1, time_limit=0.0).status == "limit"


@pytest.mark.parametrize(
    "model,kwargs,error,match",
    [
        (nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 1)), {}, ns.InvalidInputError, "Sigmoid"),
        (nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1)), {}, ns.InvalidInputError, "two Linear"),
        (nn.Sequential(nn.Linear(4, 3), nn.ReLU()), {}, ns.InvalidInputError, "end with a Linear"),
        (nn.Sequential(nn.ReLU(), nn.Linear(4, 1)), {}, ns.InvalidInputError, "must follow a Linear"),
        (nn.Linear(4, 1), {}, ns.InvalidInputError, "nn.Sequential"),
        (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)), {"layer": 2}, ns.InvalidInputError, "2 Linear layers"),
        (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)), {"layer": True}, TypeError, "integer"),
        (nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU(), nn.Linear(3, 1)), {}, ns.InvalidInputError, "no bias"),
        (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)), {"y": torch.zeros(200, 2)}, ns.InvalidInputError, "2 columns"),
        (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)), {"y": torch.zeros(199)}, ns.InvalidInputError, "y"),
        (nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)), {"X": torch.full((200, 4), float("nan"))}, ns.InvalidInputError, "non-finite"),
    ],
)
def test_bad_models_and_data_are_refused_clearly(model, kwargs, error, match):
    X, y = data()
    args = {"X": X, "y": y, **kwargs}
    with pytest.raises(error, match=match):
        nt.l1_layer_descent(model, args.pop("X"), args.pop("y"), **args)
