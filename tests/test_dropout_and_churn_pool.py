"""Issue #19 follow-ups: ``TrainConfig(dropout=...)`` in the built models, and the churn signal
measured on an unlabeled pool (the trainer metric and the Monitor), as the label-free stop was
validated."""

import math

import pytest
import torch

import netsieve.torch as nt
from netsieve.integrations import Monitor


@pytest.mark.parametrize("name, options", [("mlp", {"hidden": (16, 8)}), ("cnn1d", {"channels": (4, 8), "hidden": (8,)})])
def test_built_models_carry_dropout_after_each_hidden_activation(name, options):
    with_dropout = nt.build_model(name, (40,), 10, dropout=0.3, **options)
    drops = [m for m in with_dropout if isinstance(m, torch.nn.Dropout)]
    hidden_activations = sum(isinstance(m, torch.nn.ReLU) for m in with_dropout)
    assert len(drops) == hidden_activations == (2 if name == "mlp" else 3) and all(m.p == 0.3 for m in drops)
    plain = nt.build_model(name, (40,), 10, **options)
    assert not any(isinstance(m, torch.nn.Dropout) for m in plain)  # p = 0: no layer, the old layer names
    assert [k for k in plain.state_dict()] == [k for k in nt.build_model(name, (40,), 10, dropout=0.0, **options).state_dict()]


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), True, "0.2"])
def test_dropout_outside_the_unit_interval_is_refused(bad):
    with pytest.raises(ValueError, match="dropout must be a probability in \\[0, 1\\)"):
        nt.TrainConfig(dropout=bad)
    with pytest.raises(ValueError, match="dropout"):
        nt.build_model("mlp", (40,), 10, dropout=bad)


def _config(**changes):
    base = dict(dataset="mnist1d", n_train=400, n_test=200, hidden=(32, 32), epochs=3, batch_size=50, seed=3,
                metrics=("loss", "churn"), progress=False, plots=False, num_threads=1)
    return nt.TrainConfig(**{**base, **changes})


def test_training_with_dropout_is_seeded_and_reproducible():
    a, b = nt.train(_config(dropout=0.5)), nt.train(_config(dropout=0.5))
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in a.model)
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
    # the masks act: the same seed without dropout trains to other weights
    plain = nt.train(_config())
    assert [r["loss"] for r in plain.history] != [r["loss"] for r in a.history]
    assert nt.TrainConfig.from_dict(a.config.to_dict()).dropout == 0.5


def test_churn_reads_the_unlabeled_pool_when_the_split_has_one():
    data = nt.load_dataset("mnist1d", n_train=400, n_test=200)
    pool = nt.load_dataset("mnist1d").x_train[1000:1007]  # 7 inputs outside both sets
    with_pool = nt.train(_config(), data=data.with_unlabeled(pool))
    churn = [r["churn"] for r in with_pool.history]
    assert math.isnan(churn[0]) and all(abs(7 * c - round(7 * c)) < 1e-12 for c in churn[1:])
    # the pool replaces the test inputs: a pool equal to them gives the churn of the split without one
    on_test = nt.train(_config(), data=data.with_unlabeled(data.x_test))
    no_pool = nt.train(_config(), data=data)
    assert [r["churn"] for r in on_test.history][1:] == [r["churn"] for r in no_pool.history][1:]
    assert data.with_unlabeled(pool).fingerprint() != data.fingerprint()


def test_from_tensors_checks_the_unlabeled_pool():
    x, y = torch.randn(20, 5), torch.arange(20) % 2
    d = nt.from_tensors(x[:15], y[:15], x[15:], y[15:], x_unlabeled=torch.randn(4, 5))
    assert d.x_unlabeled.shape == (4, 5) and d.x_unlabeled.dtype == torch.float32
    with pytest.raises(ValueError, match="x_unlabeled has sample shape"):
        nt.from_tensors(x[:15], y[:15], x[15:], y[15:], x_unlabeled=torch.randn(4, 6))
    with pytest.raises(ValueError, match="x_unlabeled is empty"):
        nt.from_tensors(x[:15], y[:15], x[15:], y[15:], x_unlabeled=torch.randn(0, 5))
    with pytest.raises(ValueError, match="NaN"):
        d.with_unlabeled(torch.full((2, 5), float("nan")))


def test_monitor_measures_churn_on_the_unlabeled_inputs():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    x, y, pool = torch.randn(50, 6), torch.randint(0, 3, (50,)), torch.randn(40, 6)
    monitor = Monitor(every=1, eval_batch=(x, y), unlabeled=pool, spectra=False)
    before = model(pool).argmax(1)
    assert math.isnan(monitor.observe(model).columns["churn"])
    with torch.no_grad():
        model[2].bias += torch.tensor([0.0, 0.3, -0.3])
    d = monitor.observe(model)
    assert d.columns["churn"] == pytest.approx(float((model(pool).argmax(1) != before).double().mean()))
    assert 0 < d.columns["churn"] and "margin_mean" in d.columns  # the labelled batch still gives margins
    only_pool = Monitor(every=1, unlabeled=pool, spectra=False)
    assert set(only_pool.observe(model).columns) == {"churn"}
