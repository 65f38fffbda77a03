"""netsieve.integrations: the plain-loop Monitor (also behind the trainer's per-epoch metrics), and
tiny real transformers Trainer and Lightning fits whose logged scalars are read back from the
TensorBoard event files (and Lightning's CSV)."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import netsieve.torch as nt  # noqa: E402
from netsieve import InvalidInputError  # noqa: E402
from netsieve.integrations import Monitor  # noqa: E402
from netsieve.torch.monitor import spectral_columns  # noqa: E402


def _mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))


def _batch(n: int = 128, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 20, generator=g), torch.randint(0, 4, (n,), generator=g)


def _scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(logdir.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events.parent), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


# -- the Monitor --------------------------------------------------------------------------------------


def test_monitor_columns_and_fixed_schedule():
    model, (x, y) = _mlp(), _batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor(every=3, eval_batch=(x, y), susceptibility=True)
    weight = model[0].weight.detach().clone()
    found = [monitor.observe(model, step=s, optimizer=opt) for s in range(1, 8)]
    assert [d.step for d in found if d] == [3, 6]
    assert torch.equal(model[0].weight, weight)  # the ζ probe restores the weights
    cols = monitor.history[-1].columns
    for key in ("sigma[0.weight]", "n_spikes[2.weight]", "alpha[0.weight]", "mp_soft_rank[0.weight]",
                "margin_mean", "acc_delta_0.1", "zeta"):  # fmt: skip
        assert key in cols, key
    assert cols["acc_delta_0"] == pytest.approx(float((model(x).argmax(1) == y).double().mean()))
    assert monitor.history[-1].scalars()["netsieve/sigma/0.weight"] == pytest.approx(cols["sigma[0.weight]"])


def test_monitor_adaptive_schedule_keeps_its_budget():
    model = torch.nn.Linear(256, 256)
    monitor = Monitor(max_overhead=0.05, warmup=3)
    start = time.perf_counter()
    for step in range(1, 201):
        time.sleep(0.002)  # a 2 ms "training step"
        monitor.observe(model, step=step)
    total = time.perf_counter() - start
    assert len(monitor.history) >= 1
    assert monitor.seconds / total < 0.10


def test_monitor_bad_input_is_named():
    with pytest.raises(InvalidInputError, match="no weight matrices"):
        Monitor(every=1).measure(torch.nn.Sequential(torch.nn.ReLU()))
    with pytest.raises(InvalidInputError, match="every"):
        Monitor(every=0)
    with pytest.raises(InvalidInputError, match="susceptibility"):
        Monitor(susceptibility=True)
    with pytest.raises(InvalidInputError, match="optimizer"):
        Monitor(every=1, eval_batch=_batch(), susceptibility=True).measure(_mlp())
    with pytest.raises(InvalidInputError, match="N×C logits"):
        Monitor(every=1, spectra=False, eval_batch=(torch.randn(4, 20), torch.zeros(4, dtype=torch.long))).measure(
            torch.nn.Sequential(torch.nn.Linear(20, 3), torch.nn.Flatten(0)))


def test_trainer_records_the_monitors_columns():
    """One implementation: the trainer's per-epoch spectra are the Monitor's columns on the same weights."""
    res = nt.train(nt.TrainConfig(dataset="teacher", n_train=200, hidden=(32,), epochs=2, progress=False, plots=False))
    last = res.history[-1]
    cols = spectral_columns(res.model)
    assert {k: last[k] for k in cols} == pytest.approx(cols, nan_ok=True)
    assert any(k.startswith("alpha[") for k in last) and any(k.startswith("mp_soft_rank[") for k in last)


# -- transformers ------------------------------------------------------------------------------------


class _Classifier(torch.nn.Module):
    """A model as transformers' Trainer takes it: keyword inputs, a dict with loss and logits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = _mlp()

    def forward(self, x, labels=None):
        logits = self.body(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


def test_transformers_trainer_logs_to_tensorboard(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("tensorboard")
    from netsieve.integrations import NetsieveCallback

    x, y = _batch(256)
    data = [{"x": x[i], "labels": y[i]} for i in range(len(y))]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=20, per_device_train_batch_size=32, learning_rate=0.05,
        logging_steps=1000, report_to=["tensorboard"], save_strategy="no",  # events under output_dir/runs/
        use_cpu=True, disable_tqdm=True, seed=0,
    )  # fmt: skip
    trainer = transformers.Trainer(model=_Classifier(), args=args, train_dataset=data)
    callback = NetsieveCallback.attach(trainer, every=5, eval_batch=_batch(64, seed=2))
    trainer.train()
    assert [d.step for d in callback.monitor.history] == [5, 10, 15, 20]
    logged = _scalars(tmp_path / "out")
    sigma = logged["train/netsieve/sigma/body.0.weight"]
    assert [s for s, _ in sigma] == [5, 10, 15, 20]
    expected = [d.columns["sigma[body.0.weight]"] for d in callback.monitor.history]
    assert [v for _, v in sigma] == pytest.approx(expected, rel=1e-6)
    assert [s for s, _ in logged["train/netsieve/margin_mean"]] == [5, 10, 15, 20]
    assert "train/netsieve/alpha/body.2.weight" in logged and "train/netsieve/acc_delta_0.1" in logged
    # the Trainer's own record (trainer_state.json's log_history) holds them too
    history = [(h["step"], h["netsieve/n_spikes/body.0.weight"]) for h in trainer.state.log_history if "netsieve/n_spikes/body.0.weight" in h]
    assert history == [(d.step, d.columns["n_spikes[body.0.weight]"]) for d in callback.monitor.history]


def test_transformers_callback_on_a_model_without_weights(tmp_path):
    transformers = pytest.importorskip("transformers")
    from netsieve.integrations import NetsieveCallback

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(4))

        def forward(self, x, labels=None):
            logits = x[:, :4] * self.scale
            return {"logits": logits, "loss": torch.nn.functional.cross_entropy(logits, labels)}

    x, y = _batch(64)
    args = transformers.TrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=32,
                                          report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True)  # fmt: skip
    trainer = transformers.Trainer(model=Tiny(), args=args, train_dataset=[{"x": x[i], "labels": y[i]} for i in range(64)])
    callback = NetsieveCallback.attach(trainer, every=1)
    with pytest.raises(InvalidInputError, match="Tiny has no weight matrices"):
        trainer.train()
    assert trainer.state.global_step == 0 and callback.monitor.history == []  # refused before the first step


# -- Lightning -----------------------------------------------------------------------------------------


def test_lightning_fit_logs_to_tensorboard_and_csv(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    pytest.importorskip("tensorboard")
    from netsieve.integrations import NetsieveLightningCallback

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _mlp()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    x, y = _batch(320)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    loggers = [pl.loggers.TensorBoardLogger(str(tmp_path), name="tb"), pl.loggers.CSVLogger(str(tmp_path), name="csv")]
    callback = NetsieveLightningCallback(every=5, eval_batch=_batch(64, seed=2), susceptibility=True)
    trainer = pl.Trainer(max_steps=20, logger=loggers, callbacks=[callback], accelerator="cpu", enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(Module(), loader)
    history = callback.monitor.history
    assert [d.step for d in history] == [5, 10, 15, 20]
    logged = _scalars(tmp_path / "tb")
    zeta = logged["netsieve/zeta"]
    assert [s for s, _ in zeta] == [d.step for d in history]
    assert [v for _, v in zeta] == pytest.approx([d.columns["zeta"] for d in history], rel=1e-6)
    assert [v for _, v in logged["netsieve/n_spikes/net.0.weight"]] == [d.columns["n_spikes[net.0.weight]"] for d in history]
    with pytest.raises(InvalidInputError, match="no weight matrices"):  # refused before the first step
        pl.Trainer(max_steps=2, logger=False, callbacks=[NetsieveLightningCallback(every=1, layers=["absent.*"])],
                   accelerator="cpu", enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False).fit(Module(), loader)  # fmt: skip
    rows = list(csv.DictReader(open(next((tmp_path / "csv").rglob("metrics.csv")))))
    alpha = [(int(r["step"]), float(r["netsieve/alpha/net.0.weight"])) for r in rows if r.get("netsieve/alpha/net.0.weight")]
    expected = [(d.step, d.columns["alpha[net.0.weight]"]) for d in history]
    assert [s for s, _ in alpha] == [s for s, _ in expected]
    assert all(math.isclose(a, b, rel_tol=1e-6) or (math.isnan(a) and math.isnan(b)) for (_, a), (_, b) in zip(alpha, expected))
