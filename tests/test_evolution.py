"""Spectra over a training run's checkpoints: the trainer keeps weights every k epochs
(``keep_checkpoints``), :func:`netsieve.torch.evolution` follows each layer's singular values and
spikes over them (rows equal to analysing each checkpoint alone), one figure per layer group, the
``netsieve evolution`` command, and the errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import netsieve.torch as nt  # noqa: E402
from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch.evolution import find_checkpoints  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "run"
    cfg = nt.TrainConfig(dataset="gaussian_mixture", n_train=300, n_test=100, hidden=(64, 32), epochs=5, batch_size=50,
                         lr=0.05, progress=False, plots=False, keep_checkpoints=2)  # fmt: skip
    nt.train(cfg, run_dir=d)
    return d


def test_the_trainer_keeps_weights_every_k_epochs(run_dir):
    kept = sorted(p.name for p in (run_dir / "checkpoints").glob("epoch-*.safetensors"))
    assert kept == ["epoch-0000.safetensors", "epoch-0002.safetensors", "epoch-0004.safetensors"]
    assert [e for e, _ in find_checkpoints(run_dir)] == [0, 2, 4, 5]  # + the final weights
    with pytest.raises(ValueError, match="keep_checkpoints"):
        nt.TrainConfig(keep_checkpoints=-1)


def test_evolution_follows_every_layer(run_dir, tmp_path):
    evo = nt.evolution(run_dir, min_dim=8)
    assert evo.epochs == (0, 2, 4, 5)
    alone = nt.analyze(run_dir / "checkpoints" / "epoch-0002.safetensors", porter_thomas=False, min_dim=8)
    assert evo.reports[1].rows == alone.rows  # each checkpoint as analyze sees it
    layer = evo[alone.rows[0].name]
    assert layer.n_spikes.shape == (4,) and layer.singular_values(3).shape == (4, 3)
    assert np.array_equal(layer.singular_values(3)[1], np.asarray(alone.rows[0].singular_values)[:3])
    assert not np.array_equal(layer.singular_values(3)[0], layer.singular_values(3)[-1])  # training moved them
    assert list(evo.groups()) == ["other"]
    rows = json.loads(evo.to_json())["layers"]
    assert len(rows) == 4 * len(evo) and {r["epoch"] for r in rows} == {0, 2, 4, 5}
    assert evo.to_csv().splitlines()[0].startswith("epoch,checkpoint,name")
    pytest.importorskip("matplotlib")
    written = evo.save_plots(tmp_path / "plots")
    assert [p.name for p in written] == ["evolution-other.png"] and written[0].stat().st_size > 1000


def test_a_list_of_checkpoints_by_role(tmp_path):
    g = torch.Generator().manual_seed(0)
    names = ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.q_proj.weight", "model.layers.0.mlp.up_proj.weight"]
    base = {n: torch.randn(96, 48, generator=g) for n in names}
    u, v = torch.randn(96, 1, generator=g), torch.randn(1, 48, generator=g)
    steps = [{n: w + t * 1.5 * u @ v for n, w in base.items()} for t in range(3)]
    evo = nt.evolution(steps, epochs=[0, 10, 20])
    assert list(evo.groups()) == ["attention.query", "mlp.up"]
    assert [evo[n].n_spikes.tolist() for n in names] == [[0, 1, 1]] * 3
    pytest.importorskip("matplotlib")
    assert [p.name for p in evo.save_plots(tmp_path)] == ["evolution-attention-query.png", "evolution-mlp-up.png"]


def test_bad_inputs(tmp_path):
    with pytest.raises(InvalidInputError, match="keep_checkpoints"):
        nt.evolution(tmp_path)
    with pytest.raises(FileNotFoundError):
        nt.evolution(tmp_path / "missing")
    sd = {"w": torch.randn(40, 20)}
    with pytest.raises(InvalidInputError, match="increase"):
        nt.evolution([sd, sd], epochs=[3, 3])
    with pytest.raises(InvalidInputError, match="2 epochs for 1"):
        nt.evolution([sd], epochs=[1, 2])


def test_cli(run_dir, tmp_path):
    out = tmp_path / "evo.csv"
    assert cli_main(["evolution", str(run_dir), "--min-dim", "8", "--csv", str(out), "-q"]) == 0
    assert len(out.read_text().splitlines()) > 4
    assert cli_main(["evolution", str(tmp_path), "-q"]) == 1
