"""Label-free stopping (issue #19, part 1): the rule's tracker, the trainer option, and a fast seeded
version of examples/label_free_stopping.py."""

import json
import math

import numpy as np
import pytest
import torch

import netsieve.torch as nt
from netsieve.torch.stopping import RULES, LabelFreeStopping, StoppingRule, choose_epoch, rule_signal
from tests._examples import load


def _rows(values, name="zeta_step"):
    return [{"epoch": e, name: v} for e, v in enumerate(values, start=1)]


def test_onset_and_kept_epoch_on_a_known_series():
    rule = StoppingRule("zeta_step", direction=1, threshold=0.2, window=1, min_epoch=1)
    # falls to 1.0 at epoch 3, stays within 20 % until epoch 5, rises past 1.2 at epoch 6
    rows = _rows([3.0, 2.0, 1.0, 1.1, 1.15, 1.3, 0.1])
    stopper = LabelFreeStopping(rule, keep_weights=False)
    stops = [stopper.update(r["epoch"], r) for r in rows]
    assert stops == [False] * 5 + [True, True]
    assert (stopper.best_epoch, stopper.onset_epoch) == (3, 6)
    assert choose_epoch(rows, rule) == 3
    # a falling signal, read with direction -1, mirrors it
    assert choose_epoch(_rows([-v for v in [3.0, 2.0, 1.0, 1.1, 1.15, 1.3, 0.1]]), rule.__class__(
        "zeta_step", direction=-1, threshold=0.2, window=1, min_epoch=1)) == 3


def test_no_onset_keeps_the_last_epoch_and_the_window_smooths():
    rule = StoppingRule("zeta_step", direction=1, threshold=0.5, window=1, min_epoch=1)
    assert choose_epoch(_rows([3.0, 2.0, 1.0, 1.2, 1.4]), rule) == 5
    # one outlier epoch (3.0 after 1.0) stops the unsmoothed rule but not the 3-epoch mean
    series = [3.0, 2.0, 1.0, 1.0, 3.0, 1.0, 1.0, 1.0]
    assert choose_epoch(_rows(series), rule) == 4
    assert choose_epoch(_rows(series), StoppingRule("zeta_step", 1, 0.5, window=3, min_epoch=1)) == 8


def test_spectral_signal_averages_the_middle_matrices_and_skips_failed_fits():
    cols = {"n_spikes[a]": 40, "n_spikes[b]": 3, "n_spikes[c]": -1, "n_spikes[d]": 5, "n_spikes[e]": 7}
    assert rule_signal(cols, "n_spikes") == 4.0  # b and d (c's fit failed; a and e are the outer layers)
    assert math.isnan(rule_signal({"sigma[a]": float("nan")}, "sigma"))
    assert math.isnan(rule_signal({"flag": True}, "flag"))  # a bool is no signal


@pytest.mark.parametrize("kwargs, message", [
    ({"direction": 2, "threshold": 0.1}, "direction"),
    ({"direction": 1, "threshold": 0.0}, "threshold"),
    ({"direction": 1, "threshold": float("nan")}, "threshold"),
    ({"direction": 1, "threshold": 0.1, "window": 0}, "window"),
])
def test_bad_rules_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StoppingRule("sigma", **kwargs)


def test_config_checks_the_rule_and_its_metric():
    with pytest.raises(ValueError, match="unknown early_stop rule 'psychic'"):
        nt.TrainConfig(early_stop="psychic")
    name = next(iter(RULES))
    with pytest.raises(ValueError, match="add it to metrics"):
        nt.TrainConfig(early_stop=name, metrics=("loss",))
    with pytest.raises(ValueError, match="unknown stopping rule"):
        LabelFreeStopping("psychic")


def _small_config(**changes):
    base = dict(dataset="mnist1d", n_train=600, n_test=400, hidden=(64, 64), noise_rate=0.4, lr=0.05, epochs=12,
                batch_size=50, seed=0, metrics=("loss", "spectra"), progress=False, plots=False, num_threads=1)
    return nt.TrainConfig(**{**base, **changes})


def test_a_callback_stops_the_run_and_restores_the_kept_weights():
    # sigma grows as the network trains, so a 1 % rise of its 1-epoch value marks an early onset
    rule = StoppingRule("sigma", direction=1, threshold=0.01, window=1, min_epoch=1)
    stopper = LabelFreeStopping(rule)
    trainer = nt.Trainer(_small_config(), callbacks=[stopper])
    res = trainer.run()
    assert stopper.onset_epoch is not None and len(res.history) == stopper.onset_epoch < 12
    kept = stopper.keep(res.model)
    assert kept == stopper.best_epoch == choose_epoch(res.history, rule) < stopper.onset_epoch
    for k, v in res.model.state_dict().items():
        assert torch.equal(v, stopper.best_state[k])


@pytest.mark.parametrize("name", sorted(RULES))
def test_trainer_option_agrees_with_the_replayed_rule(tmp_path, name):
    res = nt.train(_small_config(early_stop=name, metrics=("loss", "spectra", "churn")), run_dir=tmp_path / "run")
    assert all(math.isnan(r["churn"]) == (r["epoch"] == 1) for r in res.history)
    kept = choose_epoch(res.history, name)
    if res.kept_epoch is None:  # no onset: the run went to the end with its last weights
        assert len(res.history) == 12 and kept == 12
    else:
        assert res.kept_epoch == kept < len(res.history)
    assert (tmp_path / "run" / "COMPLETE").exists()


def test_example_records_label_free_features_and_reports(tmp_path):
    m = load("label_free_stopping")
    data = nt.load_dataset("mnist1d")
    x, y = data.x_train, data.y_train
    pools = {"train": (x[:300], y[:300]), "val": (x[300:400], y[300:400]), "unlabeled": x[400:500],
             "test": (data.x_test[:400], data.y_test[:400])}
    torch.manual_seed(0)
    runs = [m.train_one("mlp128x3", 300, 0.4, seed, 5, pools) for seed in (0, 1)]
    row = runs[0]["rows"][-1]
    assert {"sigma[1]", "sigma[2]", "mean_r[1]", "zeta_step", "churn", "test_acc_a", "val_acc_noisy"} <= set(row)
    assert "sigma[0]" not in row and "sigma[3]" not in row  # only the hidden-to-hidden matrices
    assert all(k not in f for f in m.features(runs[0]) for k in ("test_acc_a", "val_acc_noisy", "train_acc"))
    assert 0 <= runs[0]["rows"][-1]["churn"] <= 1
    assert set(runs[0]["filters"]) >= {"unfiltered", "fraction on noisy validation"}
    for rule in m.candidate_rules().values():
        assert 0 <= rule(runs[0]) < 5
    m.save_cache(runs, tmp_path / "cache.json.gz")
    again = m.load_cache(tmp_path / "cache.json.gz")
    assert json.dumps(again) == json.dumps(runs)  # NaN (the first epoch's churn) included
    text = m.report(again)
    assert "oracle (clean test)" in text and "| mlp128x3 | 300 | 40% | 1 |" in text
    oracle = 100 * max(r["test_acc_b"] for r in runs[1]["rows"])
    assert f"{oracle:.1f} (ep" in text  # the oracle column is the best clean accuracy of the fresh run
    assert np.isfinite(runs[1]["rows"][-1]["sigma[1]"])


def test_long_regime_script_records_its_cost_and_reports_the_peak(tmp_path):
    m = load("label_free_long")
    data = nt.load_dataset("mnist1d")
    x, y = data.x_train, data.y_train
    pools = {"train": (x[:300], y[:300]), "val": (x[300:400], y[300:400]), "unlabeled": x[400:500],
             "test": (data.x_test[:400], data.y_test[:400])}
    runs = m.train(seeds=(7,), epochs=3, path=tmp_path / "long.json.gz", log=lambda *a, **k: None, data=pools, n=300,
                   noises=(0.0, 0.4))
    assert [(r["noise"], r["seed"], len(r["rows"])) for r in runs] == [(0.0, 7, 3), (0.4, 7, 3)]
    assert all(row["epoch_time_s"] > 0 and row["record_s"] > 0 for r in runs for row in r["rows"])
    # resumable: a second call trains nothing new
    assert len(m.train(seeds=(7,), epochs=3, path=tmp_path / "long.json.gz", data=pools, n=300, noises=(0.0, 0.4))) == 2
    text = m.report(runs)
    test = [r["test_acc_b"] for r in runs[1]["rows"]]
    fall = 100 * (test[-1] - max(test))
    assert f"| 40% | 1 | {100 * max(test):.1f} (ep {int(np.argmax(test)) + 1}) | {100 * test[-1]:.1f} | {fall:+.1f} |" in text
    assert "cost per epoch (mean over 6 epochs" in text and "oracle (clean test)" in text
