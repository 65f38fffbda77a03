"""The doubling condition's interfaces: ``netsieve doubling``, the plots, and the trainer's
``doubling.json``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import netsieve as ns
from netsieve.cli import main


def flat_points(n=3000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[: n // 4, 0] = 0.5  # a quarter of the points on the hyperplane x₀ = 0.5
    return X


def test_cli_on_a_npy_file_prints_the_table_and_writes_json_and_plot(tmp_path, capsys):
    X = flat_points()
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", np.arange(len(X)) % 2)
    code = main(["doubling", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--directions", "32",
                 "--json", str(tmp_path / "d.json"), "--plot", str(tmp_path / "d.png"), "--quiet"])  # fmt: skip
    assert code == 0
    got = json.loads((tmp_path / "d.json").read_text())
    want = ns.doubling_condition(X, labels=np.arange(len(X)) % 2, n_directions=32)
    assert got["constant"] == want.constant and got["worst"]["inner"] == want.worst.inner
    assert set(got["by_class"]) == {"0", "1"}
    assert (tmp_path / "d.png").stat().st_size > 10_000
    assert capsys.readouterr().out == ""  # --quiet
    assert main(["doubling", str(tmp_path / "x.npy"), "--directions", "32", "--deltas", "0.05,0.1,0.2"]) == 0
    out = capsys.readouterr().out
    assert f"Ĉ = {want.constant:.4g}" not in out  # another grid, another constant
    assert "worst slab" in out and "w[0]=" in out and out.count("\n") >= 6


def test_cli_on_built_in_data_per_class(capsys):
    pytest.importorskip("torch")
    assert main(["doubling", "gaussian_mixture", "--n-train", "800", "--per-class", "--directions", "16"]) == 0
    out = capsys.readouterr().out
    assert "800 points in ℝ^40" in out and "class 9:" in out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["doubling", "no_such_set"], "neither a file nor a built-in"),
        (["doubling", "{npy}", "--per-class"], "--per-class needs --labels"),
        (["doubling", "{npy}", "--deltas", "0.2,0.1"], "strictly increasing"),
        (["doubling", "{npy}", "--min-points", "0"], "min_points"),
        (["doubling", "{npy}", "--plot", "{dir}"], "is a directory"),
        (["doubling", "{npy}", "--labels", "{short}"], "labels"),
    ],
)
def test_cli_errors_are_one_line(argv, match, tmp_path, capsys):
    np.save(tmp_path / "x.npy", flat_points(200))
    np.save(tmp_path / "short.npy", np.zeros(3, dtype=np.int64))
    argv = [a.format(npy=tmp_path / "x.npy", dir=tmp_path, short=tmp_path / "short.npy") for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("netsieve doubling: error:") and match in err[0]


def test_plots_show_the_constant_and_the_worst_slab(tmp_path):
    pytest.importorskip("matplotlib")
    X = flat_points()
    r = ns.doubling_condition(X, labels=np.arange(len(X)) % 3, n_directions=16)
    fig = r.plot(X, path=tmp_path / "p.png")
    assert len(fig.axes) == 2 and (tmp_path / "p.png").exists()
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 + 3  # Ĉ, the mean ratio, one line per class
    np.testing.assert_array_equal(lines[0].get_ydata(), r.constant_by_delta)
    assert len(r.plot().axes) == 1
    with pytest.raises(ns.InvalidInputError, match="X must be"):
        r.plot(X[:, :3])


def test_the_trainer_writes_doubling_json(tmp_path):
    nt = pytest.importorskip("netsieve.torch")
    cfg = nt.TrainConfig(dataset="gaussian_mixture", n_train=400, n_test=100, hidden="16", epochs=1, progress=False,
                         plots=False, metrics=("loss",), doubling=True)  # fmt: skip
    trainer = nt.Trainer(cfg, run_dir=tmp_path / "run")
    trainer.run()
    saved = json.loads((tmp_path / "run" / "doubling.json").read_text())
    x = trainer.data.x_train.reshape(400, -1).double().numpy()
    want = ns.doubling_condition(x, labels=trainer.noise.labels.numpy(), seed=0)
    assert saved["constant"] == want.constant == trainer.doubling.constant
    assert len(saved["by_class"]) == 10
    with pytest.raises(TypeError, match="doubling must be a bool"):
        nt.TrainConfig(doubling="yes")
