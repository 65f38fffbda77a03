"""netsieve.torch training: label noise, diagnostics, determinism, resume, pruning, run directories."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings, strategies as st  # noqa: E402

import netsieve as ns  # noqa: E402
import netsieve.torch as nt  # noqa: E402
from netsieve.torch import rundir  # noqa: E402

TIME_KEYS = {"epoch_time_s"}


def tiny(**kw):
    base = dict(dataset="gaussian_mixture", n_train=300, n_test=100, hidden=(32,), epochs=3, batch_size=50,
                lr=0.05, progress=False, plots=False)
    base.update(kw)
    return nt.TrainConfig(**base)


def strip_times(history):
    return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in history]


def same_rows(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(strip_times(a), strip_times(b)):
        assert ra.keys() == rb.keys()
        for k in ra:
            va, vb = ra[k], rb[k]
            if isinstance(va, float) and math.isnan(va):
                assert isinstance(vb, float) and math.isnan(vb), k
            else:
                assert va == vb, (k, va, vb)


def params_equal(m1, m2):
    s1, s2 = m1.state_dict(), m2.state_dict()
    return s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)


# ---------------------------------------------------------------- label noise
@pytest.mark.parametrize("kind", ["symmetric", "pair"])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.37, 0.8])
def test_noise_rate_exact_and_mask_correct(kind, rate):
    y = torch.arange(1000) % 10
    y_before = y.clone()
    res = nt.corrupt_labels(y, rate, kind=kind, n_classes=10, seed=3)
    assert torch.equal(y, y_before)  # input untouched
    assert res.n_corrupted == round(rate * 1000)
    assert torch.equal(res.mask, res.labels != y)
    assert torch.equal(res.clean_labels, y)
    if kind == "pair":
        assert torch.equal(res.labels[res.mask], (y[res.mask] + 1) % 10)
    assert int(res.labels.min()) >= 0 and int(res.labels.max()) < 10


def test_symmetric_noise_spreads_over_other_classes_and_is_seeded():
    y = torch.zeros(20000, dtype=torch.int64)
    res = nt.corrupt_labels(y, 0.5, n_classes=5, seed=1)
    counts = np.bincount(res.labels[res.mask].numpy(), minlength=5)
    assert counts[0] == 0  # a flipped label is never the true one
    assert np.all(np.abs(counts[1:] / counts[1:].sum() - 0.25) < 0.02)
    again = nt.corrupt_labels(y, 0.5, n_classes=5, seed=1)
    other = nt.corrupt_labels(y, 0.5, n_classes=5, seed=2)
    assert torch.equal(res.labels, again.labels)
    assert not torch.equal(res.labels, other.labels)


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, float("nan")])
def test_noise_rate_out_of_range(rate):
    with pytest.raises(ValueError, match="noise rate"):
        nt.corrupt_labels(torch.arange(10), rate)
    with pytest.raises(ValueError, match="noise rate"):
        tiny(noise_rate=rate)


def test_noise_bad_kind_and_pairs():
    with pytest.raises(ValueError, match="valid kinds"):
        nt.corrupt_labels(torch.arange(10), 0.1, kind="flip")
    with pytest.raises(ValueError, match="itself"):
        nt.corrupt_labels(torch.arange(3), 0.5, kind="pair", pairs=[1, 1, 2])


# ---------------------------------------------------------------- δ-robust accuracy
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_delta_accuracy_monotone_and_acc0_is_accuracy(n, k, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g) * 3
    labels = torch.randint(0, k, (n,), generator=g)
    deltas = (0.0, 0.05, 0.1, 0.2, 0.5, 0.9)
    acc = nt.delta_accuracy(logits, labels, deltas)
    vals = [acc[d] for d in deltas]
    assert all(a >= b for a, b in zip(vals, vals[1:]))
    assert acc[0.0] == pytest.approx(float((logits.argmax(1) == labels).double().mean()))


def test_delta_accuracy_definition_by_hand():
    # p = softmax: gaps p_y − max_{j≠y} p_j computed by hand
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.45, 0.45, 0.1], [0.2, 0.7, 0.1]]))
    labels = torch.tensor([0, 0, 1])  # gaps 0.3, 0.0 (tie → wrong), 0.5
    acc = nt.delta_accuracy(logits, labels, (0.0, 0.29, 0.31, 0.49))
    assert acc == {0.0: pytest.approx(2 / 3), 0.29: pytest.approx(2 / 3), 0.31: pytest.approx(1 / 3), 0.49: pytest.approx(1 / 3)}
    with pytest.raises(ValueError):
        nt.delta_accuracy(logits, labels, (1.0,))


# ---------------------------------------------------------------- susceptibility ζ
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_susceptibility_probe_restores_state_bit_identically(opt):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    optim = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4) if opt == "sgd"
             else torch.optim.Adam(model.parameters(), lr=0.01))
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    for _ in range(3):  # populate momentum / Adam moments and BN running stats
        optim.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optim.step()
    model.eval()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.grad.clone() for p in model.parameters()]
    opt_state = {i: {k: (v.clone() if torch.is_tensor(v) else v) for k, v in s.items()} for i, s in enumerate(optim.state.values())}
    xp, yp = torch.randn(32, 8), torch.randint(0, 3, (32,))
    rng = torch.get_rng_state()
    before, after = nt.susceptibility_probe(model, optim, xp, yp)
    assert before > after  # one step on the probe batch lowers its loss
    assert not model.training
    assert all(torch.equal(params[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    for i, s in enumerate(optim.state.values()):
        for k, v in s.items():
            assert torch.equal(v, opt_state[i][k]) if torch.is_tensor(v) else v == opt_state[i][k]
    assert torch.equal(rng, torch.get_rng_state())


def test_susceptibility_does_not_change_training():
    with_zeta = nt.train(tiny(metrics=("loss", "test_acc", "susceptibility"), noise_rate=0.3))
    without = nt.train(tiny(metrics=("loss", "test_acc"), noise_rate=0.3))
    assert params_equal(with_zeta.model, without.model)
    zetas = [r["zeta"] for r in with_zeta.history]
    steps = [r["zeta_step"] for r in with_zeta.history]
    assert zetas[-1] == pytest.approx(np.mean(steps))


# ---------------------------------------------------------------- geometric complexity
def test_geometric_complexity_of_linear_model_is_frobenius_norm():
    torch.manual_seed(1)
    lin = torch.nn.Linear(6, 4)
    x = torch.randn(4000, 6)
    gc = nt.geometric_complexity(lin, x, n_probes=2, generator=torch.Generator().manual_seed(0))
    assert gc == pytest.approx(float(lin.weight.detach().pow(2).sum()), rel=0.05)


# ---------------------------------------------------------------- determinism and resume
def test_two_runs_with_the_same_seed_are_identical():
    cfg = tiny(noise_rate=0.2, metrics=nt.METRICS, porter_thomas=True)
    a, b = nt.train(cfg), nt.train(cfg)
    same_rows(a.history, b.history)
    assert params_equal(a.model, b.model)
    c = nt.train(cfg.replace(seed=1))
    assert not params_equal(a.model, c.model)


@pytest.mark.parametrize("optimizer,schedule", [("sgd", "cosine"), ("adam", "step")])
def test_resume_equals_uninterrupted_run(tmp_path, optimizer, schedule):
    cfg = tiny(noise_rate=0.2, epochs=4, optimizer=optimizer, schedule=schedule, step_size=2,
               lr=0.05 if optimizer == "sgd" else 0.01,
               metrics=("loss", "train_acc", "test_acc", "delta_acc", "susceptibility", "geometric_complexity"))
    full = nt.train(cfg, run_dir=tmp_path / "full")
    # An interrupted run: stop after epoch 2 by raising from a callback.
    def stop(trainer, row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nt.train(cfg, run_dir=tmp_path / "part", callbacks=[stop])
    assert not rundir.is_complete(tmp_path / "part")
    resumed = nt.train(cfg, run_dir=tmp_path / "part", resume=True)
    same_rows(full.history, resumed.history)
    assert params_equal(full.model, resumed.model)
    assert rundir.is_complete(tmp_path / "part")
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [1, 2, 3, 4]


def test_resume_extends_a_finished_run(tmp_path):
    short = nt.train(tiny(epochs=2), run_dir=tmp_path / "r")
    longer = nt.train(tiny(epochs=3), run_dir=tmp_path / "r", resume=True)
    direct = nt.train(tiny(epochs=3))
    assert len(longer.history) == 3 and short.history[0]["loss"] == longer.history[0]["loss"]
    assert params_equal(longer.model, direct.model)


def test_resume_from_mismatched_config_is_refused_and_leaves_the_run(tmp_path):
    nt.train(tiny(epochs=2), run_dir=tmp_path / "r")
    before = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    with pytest.raises(ValueError, match="lr"):
        nt.train(tiny(epochs=3, lr=0.1), run_dir=tmp_path / "r", resume=True)
    with pytest.raises(ValueError, match="hidden"):
        nt.train(tiny(epochs=3, hidden=(16,)), run_dir=tmp_path / "r", resume=True)
    after = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    assert before == after and rundir.is_complete(tmp_path / "r")


def test_resume_detects_tampered_checkpoint_pair(tmp_path):
    nt.train(tiny(epochs=1), run_dir=tmp_path / "a")
    nt.train(tiny(epochs=1, seed=5), run_dir=tmp_path / "b")
    (tmp_path / "a" / "checkpoints" / "last.safetensors").write_bytes(
        (tmp_path / "b" / "checkpoints" / "last.safetensors").read_bytes())
    with pytest.raises(ValueError, match="does not match"):
        nt.train(tiny(epochs=2), run_dir=tmp_path / "a", resume=True)


def test_resume_without_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint"):
        nt.train(tiny(), run_dir=tmp_path / "empty", resume=True)


# ---------------------------------------------------------------- run directory
def test_run_directory_contents(tmp_path):
    pytest.importorskip("matplotlib")
    res = nt.train(tiny(noise_rate=0.2, plots=True), run_dir=tmp_path / "run")
    d = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "metrics.jsonl", "model.safetensors", "COMPLETE",
                 "checkpoints/last.safetensors", "checkpoints/last.json", "spectra.npz", "margins.npz",
                 "plots/curves.png", "plots/margins.png"):
        assert (d / name).exists(), name
    assert list((d / "plots").glob("esd_*.png"))
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["config"]["noise_rate"] == 0.2 and cfg["noise"]["n_corrupted"] == 60
    header = (d / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "loss", "train_acc", "train_acc_clean", "train_acc_noisy", "test_acc", "acc_delta_0.5",
            "accuracy_instability"} <= set(header)
    assert len(res.history) == 3
    with pytest.raises(ValueError, match="already holds a run"):
        nt.train(tiny(), run_dir=d)
    nt.train(tiny(epochs=1), run_dir=d, overwrite=True)
    assert len((d / "metrics.jsonl").read_text().splitlines()) == 1


def test_unwritable_run_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not writable"):
        nt.Trainer(tiny(), run_dir=blocker / "run")


def test_failed_run_is_not_marked_complete(tmp_path):
    with pytest.raises(FloatingPointError):
        nt.train(tiny(lr=1e30, optimizer="sgd"), run_dir=tmp_path / "r")
    assert (tmp_path / "r" / "config.json").exists()
    assert not rundir.is_complete(tmp_path / "r")


# ---------------------------------------------------------------- config validation
@pytest.mark.parametrize("kw,match", [
    (dict(dataset="cifar11"), "valid names: digits, flat_mixture, gaussian_mixture, mnist1d, teacher"),
    (dict(model="resnet9"), "valid names: cnn1d, cnn2d, mlp"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=-5), "batch_size"),
    (dict(epochs=0), "epochs"),
    (dict(optimizer="lbfgs"), "optimizer"),
    (dict(schedule="linear"), "schedule"),
    (dict(metrics=("loss", "auc")), "unknown metrics"),
    (dict(prune_fraction=0.0), "prune_fraction"),
    (dict(lr=-1.0), "lr"),
    (dict(deltas=(0.0, 1.0)), "deltas"),
])
def test_config_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        tiny(**kw)


@pytest.mark.parametrize("device,match", [
    ("cuda:7" if not torch.cuda.is_available() or torch.cuda.device_count() <= 7 else "cuda:99", "cuda"),
    ("gpu", "not a torch device name"),
    ("cuda:x", "not a torch device name"),
    ("meta", "meta"),
    ("mps" if not torch.backends.mps.is_available() else "cuda:99", "not available|does not exist"),
])
def test_config_rejects_devices_this_machine_lacks(device, match):
    with pytest.raises(ValueError, match=match):
        tiny(device=device)
    assert tiny(device="cpu").device == "cpu"


def test_config_type_errors_and_roundtrip():
    with pytest.raises(TypeError):
        tiny(batch_size=2.5)
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        nt.TrainConfig.from_dict({"epochz": 3})
    c = tiny(hidden="8,4")
    assert c.hidden == (8, 4)
    assert nt.TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


# ---------------------------------------------------------------- data and models
def test_load_dataset_unknown_and_shapes():
    with pytest.raises(ValueError, match="valid names"):
        nt.load_dataset("imagenet")
    d = nt.load_dataset("digits")
    assert d.input_shape == (1, 8, 8) and d.n_classes == 10 and d.n_train + d.n_test == 1797
    t = nt.load_dataset("teacher", n_train=50, n_test=20, seed=4)
    assert t.x_train.shape == (50, 40) and torch.equal(t.y_train, nt.load_dataset("teacher", n_train=50, n_test=20, seed=4).y_train)
    with pytest.raises(ValueError, match="n_train"):
        nt.load_dataset("digits", n_train=10**6)


@pytest.mark.parametrize("name, option", [("teacher", "separation"), ("gaussian_mixture", "teacher_width"),
                                          ("digits", "input_dim"), ("mnist1d", "test_fraction")])
def test_load_dataset_refuses_options_the_generator_does_not_take(name, option):
    with pytest.raises(TypeError, match=f"dataset '{name}' does not take '{option}'"):
        nt.load_dataset(name, **{option: 1})


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
def test_load_dataset_refuses_an_empty_split(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        nt.load_dataset("digits", test_fraction=fraction)


class _PairDataset(torch.utils.data.Dataset):
    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.zeros(3), self.labels[i]


@pytest.mark.parametrize("labels, exc, message", [
    ([0, 1.7, 2], ValueError, r"\[1\] has the label 1.7"),
    ([0, float("nan"), 1], ValueError, "not an integer"),
    ([0, float("inf"), 1], ValueError, "not an integer"),
    ([0, torch.tensor([1, 2]), 1], ValueError, "shape"),
    ([True, False, True], TypeError, "bool"),
])
def test_from_datasets_refuses_labels_that_are_not_class_indices(labels, exc, message):
    good = _PairDataset([0, 1, 2])
    with pytest.raises(exc, match=message):
        nt.from_datasets(_PairDataset(labels), good)


@pytest.mark.parametrize("labels, exc, message", [
    ([0.0, float("inf"), 1.0], ValueError, r"y_train\[1\] has the label inf"),  # was cast to int64 garbage
    ([0.0, 1.0, 2.5], ValueError, r"y_train\[2\] has the label 2.5"),
    ([1 + 0j, 0j, 1 + 1j], TypeError, "complex"),
    ([True, False, True], TypeError, "bool"),
])
def test_from_tensors_refuses_labels_that_are_not_class_indices(labels, exc, message):
    x = np.zeros((3, 2))
    with pytest.raises(exc, match=message):
        nt.from_tensors(x, labels, x, [0, 1, 0])


def test_from_datasets_accepts_integral_float_and_scalar_tensor_labels():
    d = nt.from_datasets(_PairDataset([0.0, torch.tensor(1), np.int64(2), torch.tensor([1.0])]),
                         _PairDataset([0, 1]))
    assert d.y_train.tolist() == [0, 1, 2, 1] and d.y_train.dtype == torch.int64


def test_mnist1d_cache_written_atomically_and_reused(tmp_path, monkeypatch):
    import mnist1d.data as md

    calls = []

    def fake_make_dataset(args):
        calls.append(1)
        rng = np.random.default_rng(0)
        return {"x": rng.normal(size=(40, 40)), "y": np.arange(40) % 10, "x_test": rng.normal(size=(10, 40)),
                "y_test": np.arange(10) % 10}

    monkeypatch.setenv("NETSIEVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(md, "make_dataset", fake_make_dataset)
    a = nt.load_dataset("mnist1d")
    b = nt.load_dataset("mnist1d")
    assert len(calls) == 1 and torch.equal(a.x_train, b.x_train)
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"


def test_user_tensors_and_datasets():
    x = np.random.default_rng(0).normal(size=(30, 5))
    y = np.arange(30) % 3
    d = nt.from_tensors(x, y, x[:10], y[:10])
    assert d.n_classes == 3 and d.x_train.dtype == torch.float32
    ds = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    d2 = nt.from_datasets(ds, ds)
    assert torch.equal(d2.y_train, d.y_train)
    with pytest.raises(ValueError, match="NaN"):
        nt.from_tensors(np.full((3, 2), np.nan), [0, 1, 0], x[:2, :2], [0, 1])
    with pytest.raises(ValueError, match="labels"):
        nt.from_tensors(x, y[:5], x, y)
    res = nt.train(nt.TrainConfig(dataset="custom", model="custom", epochs=1, progress=False, plots=False, batch_size=10),
                   data=d, model=torch.nn.Sequential(torch.nn.Linear(5, 3)))
    assert len(res.history) == 1


@pytest.mark.parametrize("name,data", [("cnn1d", "mnist1d"), ("cnn2d", "digits"), ("mlp", "digits")])
def test_model_builders(name, data):
    shape = {"mnist1d": (40,), "digits": (1, 8, 8)}[data]
    conv = {} if name == "mlp" else {"channels": (4, 8)}
    m = nt.build_model(name, shape, 10, hidden=(16,), **conv)
    assert m(torch.zeros(3, *shape)).shape == (3, 10)
    with pytest.raises(ValueError, match="valid names"):
        nt.build_model("transformer", shape, 10)


@pytest.mark.parametrize("name, bad", [("mlp", "channels"), ("mlp", "kernel_size"), ("cnn1d", "widths"),
                                       ("cnn2d", "hiden")])
def test_model_builders_refuse_options_they_do_not_take(name, bad):
    shape = (8, 8) if name == "cnn2d" else (40,)
    with pytest.raises(TypeError, match=f"model '{name}' does not take '{bad}'"):
        nt.build_model(name, shape, 10, **{bad: 3})


# ---------------------------------------------------------------- strict JSON in the run directory
def _strict_loads(text):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_run_files_are_strict_json_and_resume_restores_nan(tmp_path):
    # Without label noise train_acc_noisy(_true) are NaN: they must be written as null, not NaN.
    cfg = tiny(noise_rate=0.0, epochs=3, metrics=("loss", "train_acc", "test_acc", "margins", "delta_acc"))
    full = nt.train(cfg, run_dir=tmp_path / "full")
    assert math.isnan(full.history[0]["train_acc_noisy"])
    d = tmp_path / "full"
    rows = [_strict_loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(r["train_acc_noisy"] is None and r["train_acc_noisy_true"] is None for r in rows)
    assert rows[-1]["test_acc"] == full.history[-1]["test_acc"]
    for name in ("config.json", "checkpoints/last.json", "COMPLETE"):
        _strict_loads((d / name).read_text())

    def stop(trainer, row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nt.train(cfg, run_dir=tmp_path / "part", callbacks=[stop])
    resumed = nt.train(cfg, run_dir=tmp_path / "part", resume=True)
    same_rows(full.history, resumed.history)  # NaN again, not None, in the rows read back
    assert params_equal(full.model, resumed.model)


def test_plots_take_histories_read_back_from_metrics_jsonl(tmp_path):
    pytest.importorskip("matplotlib")
    from netsieve.torch import plots

    nt.train(tiny(noise_rate=0.0, epochs=2), run_dir=tmp_path / "r")
    history = [json.loads(s) for s in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert history[0]["train_acc_noisy"] is None
    assert plots.plot_curves(history, tmp_path / "curves.png") and (tmp_path / "curves.png").stat().st_size > 0


def test_runs_without_matplotlib_skip_the_plots(tmp_path, monkeypatch):
    from netsieve.torch import plots

    def missing():
        raise ImportError("plots need matplotlib")

    monkeypatch.setattr(plots, "pyplot", missing)
    nt.train(tiny(epochs=1, plots=True), run_dir=tmp_path / "r")
    assert rundir.is_complete(tmp_path / "r") and not (tmp_path / "r" / "plots").exists()
    assert plots.plot_curves([{"epoch": 1, "loss": 1.0}], tmp_path / "c.png") is False


# ---------------------------------------------------------------- the metric registry and module layout
def test_metrics_come_from_the_registry(monkeypatch):
    from netsieve.torch import metrics

    assert nt.METRICS == metrics.metric_names() == tuple(metrics._REGISTRY)
    assert nt.DEFAULT_METRICS == tuple(m.name for m in metrics._REGISTRY.values() if m.default)
    monkeypatch.setattr(metrics, "_REGISTRY", dict(metrics._REGISTRY))  # registrations end with the test

    @metrics.register_metric("n_params")
    def _n_params(ctx):
        return {"n_params": sum(p.numel() for p in ctx.model.parameters()), "seen_loss": ctx.train_loss}

    res = nt.train(tiny(epochs=2, metrics=("loss", "n_params")))
    assert [r["n_params"] for r in res.history] == [sum(p.numel() for p in res.model.parameters())] * 2
    assert all(r["seen_loss"] == r["loss"] for r in res.history)
    assert list(res.history[0])[:4] == ["epoch", "lr", "n_active", "loss"]  # registry order
    with pytest.raises(ValueError, match="already registered"):
        metrics.register_metric("loss")(lambda ctx: {})
    with pytest.raises(ValueError, match="unknown metrics"):
        tiny(metrics=("loss", "auc"))


def test_public_names_stay_importable_from_their_old_homes():
    from netsieve.torch import gap, margins, metrics, sweeps, train_config, trainer

    for name in trainer.__all__:
        assert getattr(trainer, name) is getattr(nt, name), name
    assert trainer.check_device is train_config.check_device
    assert margins.GapPredictor is gap.GapPredictor is nt.GapPredictor
    assert trainer.sweep is sweeps.sweep and trainer.METRICS is metrics.METRICS


@pytest.mark.parametrize("call", [
    lambda m, d: nt.weight_matrices(m, min_dim=d),
    lambda m, d: nt.filter_model(m, min_dim=d),
    lambda m, d: nt.filter_state_dict(m.state_dict(), min_dim=d),
    lambda m, d: nt.analyze(m, min_dim=d),
])
@pytest.mark.parametrize("min_dim", [0, 1, 2.5, True, "16"])
def test_every_weight_selection_checks_min_dim(call, min_dim):
    model = nt.build_model("mlp", (40,), 10, hidden=(16,))
    with pytest.raises(ns.InvalidInputError, match="min_dim must be an integer ≥ 2"):
        call(model, min_dim)


def test_weight_matrices_are_views_of_the_weights():
    model = nt.build_model("cnn1d", (40,), 10, channels=(4, 8), hidden=(16,))
    mats = nt.weight_matrices(model)
    params = dict(model.named_parameters())
    assert any(params[name].ndim == 3 for name in mats)  # conv kernels are in it
    for name, m in mats.items():
        p = params[name]
        assert m.shape == (p.shape[0], p[0].numel()) and not m.requires_grad and m.dtype == p.dtype
        assert m.data_ptr() == p.data_ptr()  # no copy
