"""Filtering torch models, state dicts and checkpoint files (and the `netsieve filter` command)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netsieve  # noqa: E402
from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main  # noqa: E402
from netsieve.torch import MIN_DIM, filter_model, filter_state_dict, save_weights  # noqa: E402


def spiked_(layer: nn.Module, seed: int, strength: float = 6.0) -> nn.Module:
    """Overwrites a layer's weight with noise plus one strong spike, so filtering has work to do."""
    g = torch.Generator().manual_seed(seed)
    w = layer.weight
    mat = w.detach().reshape(w.shape[0], -1)
    n, m = mat.shape
    noise = torch.randn(n, m, generator=g, dtype=torch.float64) * 0.05
    a, b = torch.randn(n, 1, generator=g, dtype=torch.float64), torch.randn(1, m, generator=g, dtype=torch.float64)
    spike = strength * 0.05 * (n * m) ** 0.25 * (a / a.norm()) @ (b / b.norm())
    with torch.no_grad():
        w.copy_((noise + spike).reshape(w.shape).to(w.dtype))
    return layer


def mlp(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 10))
    spiked_(model[0], 1)
    spiked_(model[2], 2)
    return model


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_min_dim_matches_cli_default():
    from netsieve import _filter_cli

    assert _filter_cli.MIN_DIM == MIN_DIM


def test_filter_model_copy_leaves_input_untouched_and_matches_shrink():
    model = mlp()
    before = snapshot(model)
    filtered, report = filter_model(model, "operator")
    assert filtered is not model
    assert_same(snapshot(model), before)
    assert [row.name for row in report] == ["0.weight", "2.weight"]
    assert [s.name for s in report.skipped if s.name.endswith("weight")] == ["4.weight"]  # 10 < MIN_DIM
    for name in ("0", "2"):
        want = netsieve.shrink(before[f"{name}.weight"].numpy(), "operator")
        np.testing.assert_allclose(filtered.state_dict()[f"{name}.weight"].numpy(), want, atol=1e-6)
        assert torch.equal(filtered.state_dict()[f"{name}.bias"], before[f"{name}.bias"])
    assert torch.equal(filtered.state_dict()["4.weight"], before["4.weight"])
    assert report["0.weight"].record.kept_rank == 1
    table = report.to_dict()
    assert table["method"] == "operator" and len(table["layers"]) == 2
    df = report.to_dataframe()
    assert list(df.index) == ["0.weight", "2.weight"] and "kept_energy" in df.columns
    assert "0.weight" in str(report)


def test_inplace_and_layer_globs():
    model = mlp()
    before = snapshot(model)
    same, report = filter_model(model, "hard", layers="2", inplace=True)
    assert same is model
    assert [r.name for r in report] == ["2.weight"]
    assert torch.equal(model[0].weight, before["0.weight"])
    assert not torch.equal(model[2].weight, before["2.weight"])
    with pytest.raises(InvalidInputError, match="matches no tensor"):
        filter_model(model, "hard", layers="nope*")


def test_atomic_when_one_layer_fails():
    model = mlp()
    with torch.no_grad():
        model[2].weight[3, 4] = float("nan")
    before = snapshot(model)
    with pytest.raises(InvalidInputError, match="2.weight"):
        filter_model(model, "operator", inplace=True)
    for k, v in snapshot(model).items():
        assert torch.equal(v.nan_to_num(7.0), before[k].nan_to_num(7.0)), k


def test_conv_models_reshaped_or_sliced():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 32, 3), nn.ReLU(), nn.Conv1d(32, 24, 5))
    spiked_(model[0], 3)
    out, report = filter_model(model, "hard")
    shapes = {r.name: r.record.shape for r in report}
    assert shapes == {"0.weight": (32, 72), "2.weight": (24, 160)}
    want = netsieve.shrink(model[0].weight.detach().reshape(32, -1).numpy(), "hard").reshape(32, 8, 3, 3)
    np.testing.assert_allclose(out[0].weight.detach().numpy(), want, atol=1e-6)
    _, report = filter_model(model, "hard", conv_slices=True, min_dim=4)
    names = [r.name for r in report]
    assert "0.weight[k=1,2]" in names and len([n for n in names if n.startswith("0.")]) == 9
    assert all(r.record.shape == (32, 8) for r in report if r.name.startswith("0."))


def test_attention_and_embeddings_on_request():
    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 32)
            self.attn = nn.MultiheadAttention(32, 4)
            self.head = nn.Linear(32, 20)

    net = Net()
    _, report = filter_model(net, "hard")
    names = {r.name for r in report}
    assert names == {"attn.out_proj.weight", "head.weight"}
    reasons = {s.name: s.reason for s in report.skipped}
    assert "attention=True" in reasons["attn.in_proj_weight"] and "embeddings=True" in reasons["emb.weight"]
    before = snapshot(net)
    out, report = filter_model(net, "hard", attention=True, embeddings=True)
    names = {r.name for r in report}
    assert {"attn.in_proj_weight[q]", "attn.in_proj_weight[k]", "attn.in_proj_weight[v]", "emb.weight"} <= names
    assert_same(snapshot(net), before)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_low_precision_round_trip(dtype):
    model = mlp().to(dtype)
    out, report = filter_model(model, "frobenius")
    assert all(p.dtype == dtype for p in out.parameters())
    ref = netsieve.shrink(model[0].weight.detach().double().numpy(), "frobenius")
    tol = {torch.float16: 2e-3, torch.bfloat16: 2e-2, torch.float64: 1e-10}[dtype]
    np.testing.assert_allclose(out[0].weight.detach().double().numpy(), ref, atol=tol * np.abs(ref).max())
    assert report["0.weight"].dtype == str(dtype).replace("torch.", "")


def test_state_dict_filtering():
    sd = mlp().state_dict()
    before = {k: v.clone() for k, v in sd.items()}
    out, report = filter_state_dict(sd, "fraction", fraction=0.5)
    assert_same(sd, before)
    assert out is not sd and torch.equal(out["0.bias"], sd["0.bias"])
    assert np.linalg.matrix_rank(out["0.weight"].numpy()) == 24
    with pytest.raises(InvalidInputError, match="do not apply"):
        filter_state_dict(sd, "hard", fraction=0.5)
    with pytest.raises(InvalidInputError, match="valid methods"):
        filter_state_dict(sd, "soft")
    same, _ = filter_state_dict(sd, "hard", inplace=True)
    assert same is sd and not torch.equal(sd["0.weight"], before["0.weight"])
    with pytest.raises(TypeError, match="floating"):
        filter_state_dict({"w": torch.ones(20, 20, dtype=torch.int32)}, "hard")


# --- checkpoint files and the CLI ---------------------------------------------------------------

@pytest.fixture
def state():
    return {k: v.clone() for k, v in mlp().state_dict().items()}


def test_cli_safetensors_round_trip(tmp_path, state, capsys):
    from safetensors.torch import load_file

    src, dst, rep = tmp_path / "in.safetensors", tmp_path / "out.safetensors", tmp_path / "r.json"
    save_weights(state, src)
    assert main(["filter", str(src), str(dst), "--method", "hard", "--report", str(rep)]) == 0
    got = load_file(str(dst))
    want, _ = filter_state_dict(state, "hard")
    assert got.keys() == want.keys()
    for k in got:
        torch.testing.assert_close(got[k], want[k])
    assert json.loads(rep.read_text())["layers"][0]["name"] == "0.weight"
    assert "0.weight" in capsys.readouterr().out


def test_cli_torch_checkpoint_round_trip(tmp_path, state):
    src, dst = tmp_path / "in.pt", tmp_path / "out.pt"
    torch.save({"state_dict": state, "epoch": 3}, src)
    raw = src.read_bytes()
    assert main(["filter", str(src), str(dst), "--method", "fraction", "--fraction", "0.25", "--layers", "0"]) == 0
    got = torch.load(dst, weights_only=True)
    # The wrapper and its other entries survive; only the state dict's tensors change.
    assert got["epoch"] == 3 and set(got) == {"state_dict", "epoch"}
    want, _ = filter_state_dict(state, "fraction", "0", fraction=0.25)
    for k in want:
        torch.testing.assert_close(got["state_dict"][k], want[k])
    assert torch.equal(got["state_dict"]["2.weight"], state["2.weight"])
    assert not torch.equal(got["state_dict"]["0.weight"], state["0.weight"])
    assert src.read_bytes() == raw
    # A bare state dict stays bare.
    torch.save(state, src)
    assert main(["filter", str(src), str(dst), "--method", "hard", "--overwrite"]) == 0
    assert set(torch.load(dst, weights_only=True)) == set(state)


def test_cli_refuses_to_overwrite(tmp_path, state, capsys):
    src = tmp_path / "in.safetensors"
    save_weights(state, src)
    raw = src.read_bytes()
    assert main(["filter", str(src), str(src)]) == 1
    assert "input" in capsys.readouterr().err
    assert src.read_bytes() == raw
    other = tmp_path / "out.safetensors"
    other.write_bytes(b"keep me")
    assert main(["filter", str(src), str(other)]) == 1
    assert other.read_bytes() == b"keep me"
    assert main(["filter", str(src), str(other), "--overwrite"]) == 0
    assert other.read_bytes() != b"keep me"
    assert main(["filter", str(src), str(src), "--overwrite"]) == 0
    assert src.read_bytes() != raw


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_cli_bad_files_write_nothing(tmp_path, state, suffix, capsys):
    src = tmp_path / f"in{suffix}"
    save_weights(state, src)
    src.write_bytes(src.read_bytes()[: src.stat().st_size // 2])  # truncated
    dst = tmp_path / "out.safetensors"
    assert main(["filter", str(src), str(dst)]) == 1
    assert "error" in capsys.readouterr().err
    assert main(["filter", str(tmp_path / "missing.pt"), str(dst)]) == 1
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]  # no temporary files left


def test_cli_option_errors_write_nothing(tmp_path, state, capsys):
    src, dst = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    save_weights(state, src)
    assert main(["filter", str(src), str(dst), "--method", "hard", "--fraction", "0.3"]) == 1
    assert "do not apply" in capsys.readouterr().err
    state["0.weight"][0, 0] = float("nan")
    save_weights(state, src)
    assert main(["filter", str(src), str(dst)]) == 1
    assert not dst.exists()
    with pytest.raises(SystemExit):
        main(["filter", str(src), str(dst), "--method", "soft"])
