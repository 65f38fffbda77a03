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
    from netsieve import DEFAULTS
    from netsieve.cli import build_parser

    # One default, defined by the core, for the library and both commands.
    for command in ("filter", "analyze"):
        args = build_parser().parse_args([command, "in", "out"] if command == "filter" else [command, "in"])
        assert args.min_dim == MIN_DIM == DEFAULTS["min_dim"]


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


# --- write-back through every memory layout and view kind -----------------------------------------
# Filtering must change the stored weights whatever their strides: reshape() of a non-contiguous
# (channels_last) conv weight is a copy, and writing into it once left the weights untouched.

def _spike_tensor_(w: torch.Tensor, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    n, m = w.shape[0], w[0].numel()
    noise = torch.randn(n, m, generator=g, dtype=torch.float64) * 0.05
    a, b = torch.randn(n, 1, generator=g, dtype=torch.float64), torch.randn(1, m, generator=g, dtype=torch.float64)
    with torch.no_grad():
        w.copy_((noise + 6 * 0.05 * (n * m) ** 0.25 * (a / a.norm()) @ (b / b.norm())).reshape(w.shape).to(w.dtype))


def _conv(cls, c_in, c_out, k, fmt=None, dtype=torch.float32):
    def build():
        model = nn.Sequential(cls(c_in, c_out, k)).to(dtype)
        if fmt is not None:
            model = model.to(memory_format=fmt)
        _spike_tensor_(model[0].weight, 11)
        return model
    return build


def _linear_transposed():
    model = nn.Sequential(nn.Linear(48, 32))
    model[0].weight = nn.Parameter(torch.empty(48, 32).t())  # (32, 48) with strides (1, 32)
    _spike_tensor_(model[0].weight, 12)
    return model


def _linear_slice():
    model = nn.Sequential(nn.Linear(48, 32))
    model[0].weight = nn.Parameter(torch.zeros(32, 80)[:, 8:56])  # a slice of a larger storage
    _spike_tensor_(model[0].weight, 13)
    return model


def _in_proj_transposed():
    model = nn.MultiheadAttention(32, 4)
    model.in_proj_weight = nn.Parameter(torch.empty(32, 96).t())  # (96, 32), not contiguous
    for i in range(3):
        _spike_tensor_(model.in_proj_weight[32 * i : 32 * (i + 1)], 14 + i)
    _spike_tensor_(model.out_proj.weight, 17)
    return model


LAYOUTS = {
    "conv1d": (_conv(nn.Conv1d, 16, 24, 5), {}),
    "conv2d": (_conv(nn.Conv2d, 16, 32, 3), {}),
    "conv2d_channels_last": (_conv(nn.Conv2d, 16, 32, 3, torch.channels_last), {}),
    "conv3d_channels_last_3d": (_conv(nn.Conv3d, 8, 20, 2, torch.channels_last_3d), {}),
    "conv2d_channels_last_slices": (_conv(nn.Conv2d, 16, 32, 3, torch.channels_last), {"conv_slices": True}),
    "conv2d_channels_last_float16": (_conv(nn.Conv2d, 16, 32, 3, torch.channels_last, torch.float16), {}),
    "conv2d_channels_last_bfloat16": (_conv(nn.Conv2d, 16, 32, 3, torch.channels_last, torch.bfloat16), {}),
    "linear_transposed": (_linear_transposed, {}),
    "linear_slice_of_storage": (_linear_slice, {}),
    "in_proj_weight_transposed": (_in_proj_transposed, {"attention": True}),
}


def _check_written(before, after, report, conv_slices=False):
    """Every reported matrix is in ``after`` and equals netsieve.shrink of the original; the rest is untouched."""
    from netsieve.torch._weights import select_weight_matrices

    entries, _ = select_weight_matrices(((n, t.shape) for n, t in before.items()), conv_slices=conv_slices, min_dim=2)
    entries = {e.name: e for e in entries}
    assert len(report) > 0
    for layer in report:
        e = entries[layer.name]
        old, new = e.extract(before[e.tensor_name]), e.extract(after[e.tensor_name])
        assert new.dtype == old.dtype
        compute = old.float() if old.dtype in (torch.float16, torch.bfloat16) else old
        want = torch.from_numpy(netsieve.shrink(compute.numpy(), "hard")).to(old.dtype)
        tol = {torch.float16: 2e-3, torch.bfloat16: 2e-2}.get(old.dtype, 1e-5) * float(want.abs().max())
        torch.testing.assert_close(new, want, atol=tol, rtol=0)
        change = float((new.double() - old.double()).norm() / old.double().norm())
        assert change > 0.01 and change == pytest.approx(layer.record.relative_change, rel=0.1, abs=1e-3)
    touched = {entries[layer.name].tensor_name for layer in report}
    for name in before.keys() - touched:
        assert torch.equal(after[name], before[name]), name


def _layout_model(layout):
    build, opts = LAYOUTS[layout]
    model = build()
    assert layout in ("conv1d", "conv2d") or any(not p.is_contiguous() for p in model.parameters()), "test is vacuous"
    return model, opts


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("inplace", [False, True])
def test_filter_model_writes_back_every_layout(layout, inplace):
    model, opts = _layout_model(layout)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    out, report = filter_model(model, "hard", inplace=inplace, min_dim=16, **opts)
    assert (out is model) == inplace
    _check_written(before, {n: p.detach() for n, p in out.named_parameters()}, report, opts.get("conv_slices", False))
    if not inplace:
        assert_same({n: p.detach() for n, p in model.named_parameters()}, before)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("inplace", [False, True])
def test_filter_state_dict_writes_back_every_layout(layout, inplace):
    model, opts = _layout_model(layout)
    sd = {n: p.detach() for n, p in model.named_parameters()}  # the parameters' own strides
    before = {n: t.clone() for n, t in sd.items()}
    out, report = filter_state_dict(sd, "hard", inplace=inplace, min_dim=16, **opts)
    assert (out is sd) == inplace
    _check_written(before, out, report, opts.get("conv_slices", False))
    if not inplace:
        assert_same(sd, before)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("how", ["checkpoint_pt", "checkpoint_to_safetensors", "cli"])
def test_filter_checkpoint_and_cli_write_back_every_layout(tmp_path, layout, how):
    from safetensors.torch import load_file

    from netsieve.torch import filter_checkpoint

    model, opts = _layout_model(layout)
    sd = {n: p.detach() for n, p in model.named_parameters()}
    src = tmp_path / "in.pt"
    torch.save(sd, src)  # torch.save keeps the strides, so the loaded tensors have them too
    before = torch.load(src, weights_only=True)
    assert [t.stride() for t in before.values()] == [t.stride() for t in sd.values()]
    dst = tmp_path / ("out.safetensors" if how == "checkpoint_to_safetensors" else "out.pt")
    if how == "cli":
        flags = ["--conv-slices"] * bool(opts.get("conv_slices")) + ["--attention"] * bool(opts.get("attention"))
        assert main(["filter", str(src), str(dst), "--method", "hard", "--report", str(tmp_path / "r.json"), *flags]) == 0
        report = filter_state_dict(before, "hard", min_dim=16, **opts)[1]  # same rows as the CLI's
        assert [r["name"] for r in json.loads((tmp_path / "r.json").read_text())["layers"]] == [r.name for r in report]
    else:
        report = filter_checkpoint(src, dst, "hard", min_dim=16, **opts)
    after = load_file(str(dst)) if dst.suffix == ".safetensors" else torch.load(dst, weights_only=True)
    _check_written(before, after, report, opts.get("conv_slices", False))


def _expanded_model():
    model = nn.Sequential(nn.Linear(48, 32), nn.Linear(32, 32))
    spiked_(model[0], 21)
    model[1].weight = nn.Parameter(torch.randn(1, 32).expand(32, 32))  # stride 0: all rows one memory
    return model


def test_expanded_tensor_is_refused_in_place_and_nothing_is_written():
    model = _expanded_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with pytest.raises(InvalidInputError, match=r"1\.weight.*expanded"):
        filter_model(model, "hard", sigma=0.05, inplace=True)
    assert_same({n: p.detach() for n, p in model.named_parameters()}, before)
    sd = {n: p.detach() for n, p in model.named_parameters()}
    with pytest.raises(InvalidInputError, match="expanded"):
        filter_state_dict(sd, "hard", sigma=0.05, inplace=True)
    assert_same(sd, before)
    # Not in place, the copies are ordinary tensors and take the filtered values.
    out, report = filter_model(model, "hard", sigma=0.05)
    assert {r.name for r in report} == {"0.weight", "1.weight"}
    want = netsieve.shrink(before["1.weight"].numpy(), "hard", sigma=0.05)
    torch.testing.assert_close(out[1].weight.detach(), torch.from_numpy(want))


def test_write_that_does_not_take_is_detected_and_rolled_back():
    # Two state-dict entries that overlap in memory: writing the second undoes part of the first.
    storage = torch.zeros(32, 80)
    sd = {"a.weight": storage[:, :48], "b.weight": storage[:, 16:64]}
    _spike_tensor_(sd["a.weight"], 31)
    before = {k: v.clone() for k, v in sd.items()}
    with pytest.raises(InvalidInputError, match="did not take"):
        filter_state_dict(sd, "hard", inplace=True)
    assert_same(sd, before)


def test_lazy_and_meta_modules_get_clear_errors():
    from netsieve.torch import analyze

    lazy = nn.Sequential(nn.LazyLinear(32), nn.Linear(32, 32))
    with pytest.raises(InvalidInputError, match=r"'0\.weight' is uninitialised .*forward pass"):
        filter_model(lazy, "hard")
    with pytest.raises(InvalidInputError, match="uninitialised"):
        analyze(lazy)
    meta = nn.Sequential(nn.Linear(48, 32, device="meta"))
    with pytest.raises(InvalidInputError, match="meta device"):
        filter_model(meta, "hard", inplace=True)
    with pytest.raises(InvalidInputError, match="meta device"):
        filter_state_dict(meta.state_dict(), "hard")
    assert "meta device" in analyze(meta, errors="collect")["0.weight"].error


@pytest.mark.parametrize("options,match", [
    ({"sigma": float("nan")}, "sigma"), ({"fraction": 0.5}, "do not apply"), ({"min_dim": 1}, "min_dim"),
    ({"method": "fraction", "fraction": 1.5}, "fraction"), ({"method": "soft"}, "valid methods"),
])
def test_filter_checkpoint_checks_options_before_reading(tmp_path, monkeypatch, state, options, match):
    import netsieve.torch.checkpoints as checkpoints
    from netsieve.torch import filter_checkpoint

    src = tmp_path / "in.safetensors"
    save_weights(state, src)
    reads = []
    monkeypatch.setattr(checkpoints, "open_weights", lambda *a: reads.append(a))
    options = dict(options)
    method = options.pop("method", "operator")
    with pytest.raises((InvalidInputError, TypeError), match=match):
        filter_checkpoint(src, tmp_path / "out.safetensors", method, **options)
    assert reads == [] and not (tmp_path / "out.safetensors").exists()
