"""``netsieve l1-descent``: built-in data, a saved network with .npy data, the plot, and one-line
errors."""

from __future__ import annotations

import numpy as np
import pytest

from netsieve.cli import main


def test_builtin_run_prints_the_trace_with_the_extrapolated_loss(capsys):
    assert main(["l1-descent", "--max-vertices", "120", "--chunk", "50", "--every", "10"]) == 0
    out = capsys.readouterr().out
    assert "random network 4-[5, 4, 2]-1" in out and "extrapolated" in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 12
    losses = [float(r[1]) for r in rows]
    assert all(b <= a for a, b in zip(losses, losses[1:]))
    assert "status limit" in out and "after 120 vertices" in out


def test_saved_network_and_data_with_a_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "net.npz", W0=rng.uniform(-1, 1, (4, 3)), b0=rng.uniform(-1, 1, 4),
             W1=rng.uniform(-1, 1, (2, 4)), b1=rng.uniform(-1, 1, 2))  # fmt: skip
    np.save(tmp_path / "X.npy", rng.uniform(-3, 3, (80, 3)))
    np.save(tmp_path / "y.npy", rng.uniform(-3, 3, (80, 2)))
    png = tmp_path / "trace.png"
    code = main(["l1-descent", "--weights", str(tmp_path / "net.npz"), "--X", str(tmp_path / "X.npy"),
                 "--y", str(tmp_path / "y.npy"), "--layer", "1", "--plot", str(png)])  # fmt: skip
    assert code == 0 and png.stat().st_size > 1000
    assert "status local_minimum" in capsys.readouterr().out
    # The global -q/--quiet: nothing on stdout, the plot still written.
    png.unlink()
    assert main(["l1-descent", "--weights", str(tmp_path / "net.npz"), "--X", str(tmp_path / "X.npy"),
                 "--y", str(tmp_path / "y.npy"), "--layer", "1", "--plot", str(png), "--quiet"]) == 0  # fmt: skip
    assert png.exists() and capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--layer", "7"], "invalid `layer`"),
        (["--n", "0"], "--n must be positive"),
        (["--weights", "missing.npz"], "--weights needs --X and --y"),
        (["--chunk", "0"], "--chunk must be positive"),
        (["--time-limit", "nan"], "--time-limit"),
    ],
)
def test_errors_are_one_line(argv, match, capsys):
    assert main(["l1-descent", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("netsieve l1-descent: error:") and match in err and "\n" not in err


@pytest.mark.parametrize("saved", ["model", "state_dict", "wrapped_state_dict"])
def test_saved_torch_model(tmp_path, capsys, saved):
    torch = pytest.importorskip("torch")
    import netsieve.torch as nt

    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), nt.Abs(), torch.nn.Linear(4, 2)).double()
    path = tmp_path / "model.pt"
    obj = {"model": model, "state_dict": model.state_dict(), "wrapped_state_dict": {"state_dict": model.state_dict(), "epoch": 3}}[saved]
    torch.save(obj, path)
    rng = np.random.default_rng(3)
    X, y = rng.uniform(-3, 3, (80, 3)), rng.uniform(-3, 3, (80, 2))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    code = main(["l1-descent", "--model", str(path), "--X", str(tmp_path / "X.npy"), "--y", str(tmp_path / "y.npy"),
                 "--layer", "0", "--activation", "abs", "--chunk", "100000"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "status local_minimum" in out and "model.pt on" in out
    # The same as the torch API on the same model (one chunk: chunks restart the walk at their vertex).
    expected = nt.l1_layer_descent(model, X, y, layer=0)
    final = float(out.split("status local_minimum: loss ")[1].split()[0])
    assert final == pytest.approx(expected.loss, rel=1e-6)


def test_saved_torch_model_errors(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    conv = tmp_path / "conv.pt"
    torch.save(torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3)), conv)
    np.save(tmp_path / "X.npy", np.zeros((5, 3)))
    args = ["--X", str(tmp_path / "X.npy"), "--y", str(tmp_path / "X.npy")]
    for argv, match in [
        (["--model", str(conv), *args], "weights_only=True"),  # an unsupported class is never unpickled
        (["--model", str(tmp_path / "none.pt"), *args], "no such file"),
        (["--model", str(conv)], "--model needs --X and --y"),
        (["--model", str(conv), "--weights", "w.npz", *args], "not both"),
    ]:
        assert main(["l1-descent", *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("netsieve l1-descent: error:") and match in err and "\n" not in err, err


def test_ctrl_c_prints_the_trace_so_far_and_exits_130(monkeypatch, capsys):
    import netsieve as ns

    real, calls = ns.l1_vertex_descent, []

    def interrupted_after_one_chunk(*a, **k):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ns, "l1_vertex_descent", interrupted_after_one_chunk)
    assert main(["l1-descent", "--chunk", "30", "--every", "10"]) == 130
    out = capsys.readouterr().out
    assert "status interrupted" in out and "after 30 vertices" in out
