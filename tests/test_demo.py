"""The main job, in its fast seeded form: trains, filters and reports without touching clean labels
for any choice it makes."""

import json

import pytest

torch = pytest.importorskip("torch")

from netsieve.cli import main  # noqa: E402
from netsieve.torch import demo  # noqa: E402


@pytest.fixture(scope="module")
def fast_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return demo.run_demo(demo.DemoConfig.fast(), out, log=lambda _: None), out


def test_every_method_is_measured_for_every_noise_rate(fast_result):
    res, _ = fast_result
    cfg = res.config
    methods = {demo.UNFILTERED, *demo.FILTERS, demo.VALIDATION_FILTER, demo.EARLY_STOPPING}
    assert set(res.accuracy) == set(cfg.noise_rates)
    for rows in res.accuracy.values():
        assert set(rows) == methods
        for accs in rows.values():
            assert len(accs) == len(cfg.seeds)
            assert all(0.0 <= a <= 1.0 for a in accs)
    for rate in cfg.noise_rates:
        assert all(f in demo.FRACTIONS for f in res.chosen_fraction[rate])
        assert all(1 <= e <= cfg.epochs for e in res.early_stopping_epoch[rate])
        assert all(k >= 0 for k in res.middle_spikes[rate])


def test_filters_change_the_weights_they_target():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(40, 64), torch.nn.ReLU(),
                                torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    assert demo.middle_layer(model) == "3.weight"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    filtered = demo.FILTERS["middle layer, operator (bulk removed, spikes de-repelled)"](model)
    after = filtered.state_dict()
    assert not torch.equal(after["3.weight"], before["3.weight"])
    for k in before:
        assert torch.equal(model.state_dict()[k], before[k])  # the input model is untouched
        if k != "3.weight":
            assert torch.equal(after[k], before[k])
    with pytest.raises(ValueError, match="two hidden layers"):
        demo.middle_layer(torch.nn.Sequential(torch.nn.Linear(4, 3)))


def test_outputs_are_written(fast_result):
    res, out = fast_result
    data = json.loads((out / "results.json").read_text())
    assert set(data["accuracy"]) == {str(r) for r in res.config.noise_rates}
    table = (out / "results.md").read_text()
    assert demo.EARLY_STOPPING in table and demo.UNFILTERED in table
    runs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert runs == [f"noise{r:g}-seed{s}" for r in res.config.noise_rates for s in res.config.seeds]
    for run in runs:
        assert (out / run / "COMPLETE").exists()


def test_cli_fast_demo(tmp_path, capsys):
    assert main(["demo", "--fast", "--out", str(tmp_path / "d")]) == 0
    text = capsys.readouterr().out
    assert "clean test accuracy" in text and "early stopping" in text


@pytest.mark.parametrize("flags,text", [(["--noise", "0", "1.5"], "--noise"), (["--seeds", "0"], "--seeds"),
                                        (["--epochs", "0"], "--epochs"), (["--out", "FILE"], "not a folder")])
def test_cli_flags_checked_before_training(tmp_path, capsys, monkeypatch, flags, text):
    calls = []
    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: calls.append(1))
    (tmp_path / "FILE").write_text("x")
    flags = [str(tmp_path / f) if f == "FILE" else f for f in flags]
    out = [] if "--out" in flags else ["--out", str(tmp_path / "demo")]
    assert main(["demo", *flags, *out]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("netsieve demo: error: ") and text in err and "\n" not in err
    assert calls == []
