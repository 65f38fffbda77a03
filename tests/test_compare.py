"""Comparing checkpoints: netsieve.subspace_overlap, netsieve.torch.compare and `netsieve compare`:
the update's spectrum finds the planted rank of a fine-tuning update, layers in one side only and
shape mismatches are rows, unrelated models and bad outputs are errors that write nothing."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import netsieve as ns  # noqa: E402
from netsieve import InvalidInputError, LayerComparison  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import compare, save_weights  # noqa: E402


def _pair(seed: int = 0, update_rank: int = 2):
    """A: noise plus 3 spikes in each matrix; B = A + a small noisy update with `update_rank`
    strong components in the MLP matrices only."""
    g = torch.Generator().manual_seed(seed)
    a, b = {}, {}
    for blk in range(3):
        for name, shape in (("self_attn.q_proj", (64, 64)), ("mlp.up_proj", (160, 64))):
            key = f"model.layers.{blk}.{name}.weight"
            n, m = shape
            w = torch.randn(n, m, generator=g, dtype=torch.float64) * 0.02
            u, _ = torch.linalg.qr(torch.randn(n, 3, generator=g, dtype=torch.float64))
            v, _ = torch.linalg.qr(torch.randn(m, 3, generator=g, dtype=torch.float64))
            w += (u * torch.tensor([3.0, 2.5, 2.0], dtype=torch.float64)) @ v.T
            d = torch.randn(n, m, generator=g, dtype=torch.float64) * 0.001
            if "mlp" in name:
                du, _ = torch.linalg.qr(torch.randn(n, update_rank, generator=g, dtype=torch.float64))
                dv, _ = torch.linalg.qr(torch.randn(m, update_rank, generator=g, dtype=torch.float64))
                d += (du * 0.6) @ dv.T
            a[key], b[key] = w.float(), (w + d).float()
    return a, b


def test_subspace_overlap_core():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(120, 80))
    assert ns.subspace_overlap(A, 3 * A, k=4)[:2] == pytest.approx((1.0, 1.0))
    left, right, k = ns.subspace_overlap(A, rng.normal(size=(120, 80)), k=4)
    assert k == 4 and left < 0.3 and right < 0.3
    with pytest.raises(InvalidInputError, match="differs"):
        ns.subspace_overlap(A, A.T)
    with pytest.raises(InvalidInputError):
        ns.subspace_overlap(A, A, k=0)
    assert ns.DEFAULTS["overlap_k"] == 10


def test_update_rank_and_changes_per_layer():
    a, b = _pair()
    c = compare(a, b, overlap_k=3)
    assert [r.status for r in c] == ["compared"] * 6
    assert [r.block for r in c] == [0, 0, 1, 1, 2, 2]
    for r in c:
        assert isinstance(r, LayerComparison) and r.ok
        assert r.update_spikes == (2 if r.role == "mlp.up" else 0), r
        assert (r.n_spikes_a, r.n_spikes_b) == (3, 5 if r.role == "mlp.up" else 3)
        assert r.overlap_left > 0.9 and r.overlap_right > 0.9 and r.overlap_k == 3  # the 3 planted directions stay
        assert r.relative_update < 0.2 and r.update.n_spikes == r.update_spikes
    s = c.summary
    assert s["n_compared"] == 6 and s["by_role"]["mlp.up"]["update_spikes_total"] == 6
    assert s["by_role"]["attention.query"]["update_spikes_total"] == 0
    row = c[1]
    assert pickle.loads(pickle.dumps(row)) == row
    assert "update_spikes" in c.columns and "update" not in c.columns


def test_one_sided_layers_and_shape_mismatch_are_rows_not_failures():
    a, b = _pair()
    del b["model.layers.2.mlp.up_proj.weight"]
    b["model.layers.3.mlp.up_proj.weight"] = torch.randn(160, 64)
    b["model.layers.0.self_attn.q_proj.weight"] = torch.randn(64, 48)
    c = compare(a, b)
    status = {r.name: r.status for r in c}
    assert status["model.layers.2.mlp.up_proj.weight"] == "only_a"
    assert status["model.layers.3.mlp.up_proj.weight"] == "only_b"
    mismatch = c["model.layers.0.self_attn.q_proj.weight"]
    assert mismatch.status == "shape_mismatch" and "64×64 in A, 64×48 in B" in mismatch.error
    assert c.summary["n_compared"] == 4 and [r.name for r in c][-1] == "model.layers.3.mlp.up_proj.weight"
    assert "only in A" in str(c)


def test_identical_and_exactly_low_rank_updates():
    a, _ = _pair()
    same = compare(a, a)
    assert all(r.ok and r.relative_update == 0.0 and r.update_spikes == 0 and r.update is None for r in same)
    assert all(r.overlap_left == pytest.approx(1.0) for r in same)
    key = "model.layers.0.mlp.up_proj.weight"
    g = torch.Generator().manual_seed(5)
    merged = dict(a)
    merged[key] = a[key] + torch.randn(160, 2, generator=g) @ torch.randn(2, 64, generator=g) * 0.1  # a rank-2 merge
    row = compare(a, merged)[key]  # float32 rounding of the sum is the update's bulk: its rank is found
    assert row.ok and row.update_spikes == 2


def test_unrelated_models_are_an_error():
    with pytest.raises(InvalidInputError, match="no weight matrix name in common"):
        compare({"x.weight": torch.randn(30, 20)}, {"y.weight": torch.randn(30, 20)})


def test_cli_compare_writes_csv_json_plots(tmp_path, capsys):
    a, b = _pair()
    save_weights(a, tmp_path / "a.safetensors")
    save_weights(b, tmp_path / "b.safetensors")
    csv_path, json_path = tmp_path / "c.csv", tmp_path / "c.json"
    argv = ["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"), "--csv", str(csv_path),
            "--json", str(json_path)]  # fmt: skip
    pytest.importorskip("matplotlib")
    assert cli_main(argv + ["--plots", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert "update spikes in total" in out and "mlp.up" in out
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header[:5] == ["name", "block", "role", "head", "status"]
    data = json.loads(json_path.read_text())
    assert data["summary"]["n_compared"] == 6 and data["layers"][1]["update"]["n_spikes"] == 2
    assert (tmp_path / "plots" / "comparison.png").stat().st_size > 0


def test_cli_compare_bad_input_writes_nothing(tmp_path, capsys):
    save_weights({"x.weight": torch.randn(30, 20)}, tmp_path / "a.safetensors")
    save_weights({"y.weight": torch.randn(30, 20)}, tmp_path / "b.safetensors")
    out = tmp_path / "c.csv"
    assert cli_main(["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"), "--csv", str(out), "-q"]) == 1
    assert "no weight matrix name in common" in capsys.readouterr().err and not out.exists()
    assert cli_main(["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "nope.safetensors"), "-q"]) == 1
    assert "nope.safetensors" in capsys.readouterr().err
    # an output that is an input is refused before anything is read
    assert cli_main(["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "b.safetensors"),
                     "--csv", str(tmp_path / "a.safetensors"), "-q"]) == 1  # fmt: skip
    assert (tmp_path / "a.safetensors").stat().st_size > 100
    capsys.readouterr()
    missing_dir = tmp_path / "no" / "such" / "dir" / "c.json"
    assert cli_main(["compare", str(tmp_path / "a.safetensors"), str(tmp_path / "a.safetensors"), "--json", str(missing_dir), "-q"]) == 1
    assert not missing_dir.exists()
