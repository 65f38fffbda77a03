"""Margin-based dynamic data pruning, the sweep helper and the ``netsieve train`` command."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import load_file  # noqa: E402

import netsieve  # noqa: E402
import netsieve.torch as nt  # noqa: E402
from netsieve.cli import main  # noqa: E402


def easy(**kw):
    base = dict(dataset="gaussian_mixture", n_train=400, n_test=200, hidden=(64,), epochs=6, batch_size=40,
                lr=0.1, progress=False, plots=False, metrics=("loss", "train_acc", "test_acc"))
    base.update(kw)
    return nt.TrainConfig(**base)


def test_pruning_keeps_the_lowest_margin_fraction():
    snapshots = []

    def record(trainer, row):
        logits = trainer.model(trainer.data.x_train).detach()
        m = netsieve.margins(logits.numpy(), trainer.noise.labels.numpy())
        snapshots.append((row, m, trainer.active.clone()))

    res = nt.train(easy(prune_fraction=0.1, prune_every=2), callbacks=[record])
    pruned = [(row, m, active) for row, m, active in snapshots if "pruned_to" in row]
    assert pruned, "the easy task should separate and trigger pruning"
    first = next(r["epoch"] for r, _, _ in snapshots if r.get("separated"))
    assert [r["epoch"] for r, _, _ in pruned] == list(range(first, 7, 2))
    for row, m, active in pruned:
        assert active.numel() == row["pruned_to"] == int(np.ceil(0.1 * 400))
        chosen = set(active.tolist())
        # Every kept sample has a margin no larger than any dropped one.
        kept, dropped = m[list(chosen)], np.delete(m, list(chosen))
        assert kept.max() <= dropped.min()
    # Epochs after a pruning step train on the pruned set only.
    for (row, _, _), (nxt, _, _) in zip(snapshots, snapshots[1:]):
        if "pruned_to" in row:
            assert nxt["n_active"] == row["pruned_to"]
    assert res.active_indices is not None and res.active_indices.numel() == 40


def test_no_pruning_before_separation():
    res = nt.train(easy(prune_fraction=0.05, epochs=2, noise_rate=0.4))  # 40 % noise: not separated in 2 epochs
    assert all(not r["separated"] and "pruned_to" not in r for r in res.history)
    assert all(r["n_active"] == 400 for r in res.history)


def test_sweep_with_post_filter_table():
    calls = []

    def zero_last_bias(model):
        calls.append(model)
        with torch.no_grad():
            model[-1].bias.zero_()
        return model

    cfg = easy(epochs=2)
    out = nt.sweep(cfg, noise_rates=[0.0, 0.3], seeds=[0, 1], post_filter=zero_last_bias)
    assert len(out.records) == 4 and len(calls) == 4
    rows = out.table()
    assert [r["noise_rate"] for r in rows] == [0.0, 0.3] and all(r["n_seeds"] == 2 for r in rows)
    rec = out.records[0]
    assert rec.after is not None and set(rec.before) == set(rec.after)
    text = out.format_table()
    assert "±" in text and "0.30" in text
    with pytest.raises(ValueError, match="noise rate"):
        nt.sweep(cfg, noise_rates=[1.0], seeds=[0])


def test_cli_train_writes_a_complete_run(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "gaussian_mixture", "--n-train", "200", "--n-test", "50", "--hidden", "16",
               "--epochs", "2", "--noise-rate", "0.1", "--metrics", "loss,train_acc,test_acc,delta_acc",
               "--out", str(out), "--no-progress", "--no-plots"])
    assert rc == 0
    assert (out / "COMPLETE").exists()
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["hidden"] == [16] and cfg["noise_rate"] == 0.1 and cfg["epochs"] == 2
    assert "test_acc=" in capsys.readouterr().out
    rc = main(["train", "--config", str(out / "config.json"), "--epochs", "3", "--out", str(out), "--resume",
               "--no-progress", "--no-plots"])
    assert rc == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_cli_train_batch_norm_and_separated_lr_factor(tmp_path):
    out = tmp_path / "bn"
    rc = main(["train", "--dataset", "gaussian_mixture", "--n-train", "200", "--n-test", "50", "--hidden", "16",
               "--epochs", "2", "--batch-norm", "--prune-fraction", "1.0", "--separated-lr-factor", "0.1",
               "--metrics", "loss,train_acc", "--out", str(out), "--no-progress", "--no-plots"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["batch_norm"] is True and cfg["separated_lr_factor"] == 0.1 and cfg["prune_fraction"] == 1.0
    assert any("running_mean" in k for k in load_file(str(out / "model.safetensors")))


@pytest.mark.parametrize("args,message", [
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--model", "nope"], "unknown model 'nope'"),
    (["--noise-rate", "1.0"], "noise rate"),
    (["--noise-rate", "-0.1"], "noise rate"),
    (["--batch-size", "0"], "batch_size"),
])
def test_cli_train_bad_input(tmp_path, capsys, args, message):
    rc = main(["train", "--out", str(tmp_path / "r"), "--no-progress", *args])
    assert rc == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r" / "COMPLETE").exists()


def test_separated_lr_factor_drops_lr_from_the_epoch_after_separation_and_full_arm_keeps_all():
    res = nt.train(easy(prune_fraction=1.0, separated_lr_factor=0.1, epochs=8, batch_norm=True, weight_decay=5e-4))
    h = res.history
    sep = next(r["epoch"] for r in h if r.get("separated"))
    assert sep < 8, "the easy task should separate before the last epoch"
    assert [r["lr"] for r in h] == pytest.approx([0.1] * sep + [0.01] * (8 - sep))
    assert all(r["n_active"] == 400 for r in h) and res.active_indices.numel() == 400


@pytest.mark.parametrize("kw, exc, message", [
    (dict(separated_lr_factor=0.1), ValueError, "needs prune_fraction"),
    (dict(prune_fraction=0.1, separated_lr_factor=0.0), ValueError, "separated_lr_factor"),
    (dict(prune_fraction=0.1, separated_lr_factor=float("nan")), ValueError, "separated_lr_factor"),
    (dict(batch_norm="yes"), TypeError, "batch_norm"),
])
def test_pruning_schedule_bad_config(kw, exc, message):
    with pytest.raises(exc, match=message):
        easy(**kw)


@pytest.mark.parametrize("name, shape", [("mlp", (40,)), ("cnn1d", (40,)), ("cnn2d", (8, 8))])
def test_build_model_batch_norm(name, shape):
    conv = {} if name == "mlp" else {"channels": (4, 8)}
    plain = nt.build_model(name, shape, 10, hidden=(16,), **conv)
    bn = nt.build_model(name, shape, 10, hidden=(16,), batch_norm=True, **conv)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in plain.modules())
    norms = [m for m in bn.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == (1 if name == "mlp" else 3)
    bn.eval()
    assert bn(torch.randn(5, *shape)).shape == (5, 10)
