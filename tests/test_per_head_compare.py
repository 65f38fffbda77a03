"""Per-head comparison (``compare(..., per_head=True)``, ``netsieve compare --per-head``) and
per-head splits of fused projections (GPT-2 ``Conv1D`` ``c_attn``, GPT-NeoX ``query_key_value``):
each head's block is the slice the model computes that head from; filtering refuses per_head."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import analyze, compare, filter_checkpoint, filter_state_dict, open_weights, save_weights  # noqa: E402
from netsieve.torch._weights import select_weight_matrices  # noqa: E402

from _tiny_llama import tiny_llama  # noqa: E402


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory, rank=1, shard_bytes=400_000, hidden=256)


@pytest.fixture(scope="module")
def tuned(llama, tmp_path_factory) -> Path:
    """``llama`` with a rank-3 update in key/value head 1 of block 1's v_proj and small noise elsewhere."""
    folder = tmp_path_factory.mktemp("tuned")
    with open_weights(llama) as src:
        tensors = {n: src.get(n).float() for n in src.names()}
    (folder / "config.json").write_text((llama / "config.json").read_text())
    g = torch.Generator().manual_seed(7)
    name = "model.layers.1.self_attn.v_proj.weight"
    tensors[name] = tensors[name] + 0.0005 * torch.randn(tensors[name].shape, generator=g)
    tensors[name][64:128] += 0.05 * torch.randn(64, 3, generator=g) @ torch.randn(3, 256, generator=g)
    save_weights(tensors, folder / "model.safetensors")
    return folder


def test_compare_per_head_finds_the_updated_head(llama, tuned):
    c = compare(llama, tuned, per_head=True, layers="model.layers.1.self_attn.*")
    names = [r.name for r in c]
    assert names[:4] == [f"model.layers.1.self_attn.q_proj.weight[head={h}]" for h in range(4)]
    v_rows = [r for r in c if "v_proj" in r.name]
    assert [r.name.rsplit("[", 1)[1] for r in v_rows] == ["head=0]", "head=1]"]  # 2 key/value heads (grouped query)
    assert all(r.shape_a == (64, 256) for r in v_rows)
    assert v_rows[1].update_spikes == 3 and v_rows[0].update_spikes == 0  # the update lies in head 1 only
    assert [r.head for r in v_rows] == [0, 1] and c.to_csv().splitlines()[1].split(",")[3] == "0"
    o_rows = [r for r in c if "o_proj" in r.name]
    assert len(o_rows) == 4 and all(r.shape_a == (256, 64) and r.relative_update == 0 for r in o_rows)
    whole = compare(llama, tuned, layers="model.layers.1.self_attn.v_proj*")
    assert len(whole) == 1 and whole[0].update_spikes == 3 and whole[0].head is None


def test_cli_compare_per_head(llama, tuned, tmp_path):
    out = tmp_path / "c.json"
    assert cli_main(["compare", str(llama), str(tuned), "--per-head", "--layers", "*.v_proj*", "--json", str(out), "-q"]) == 0
    rows = json.loads(out.read_text())["layers"]
    assert [r["name"][-8:] for r in rows] == ["[head=0]", "[head=1]"] * 2


def _gpt2_names(heads: int, e: int) -> list[tuple[str, tuple[int, int]]]:
    return [("transformer.h.0.attn.c_attn.weight", (e, 3 * e)), ("transformer.h.0.attn.c_proj.weight", (e, e))]


def test_gpt2_c_attn_splits_into_parts_then_heads():
    heads, e = 4, 64
    d = e // heads
    w = torch.randn(e, 3 * e)
    chosen, _ = select_weight_matrices(_gpt2_names(heads, e), per_head=True, heads=heads, kv_heads=heads)
    parts = [c for c in chosen if "c_attn" in c.name]
    assert [c.name[len("transformer.h.0.attn.c_attn.weight"):] for c in parts[:5]] == [
        "[q][head=0]", "[q][head=1]", "[q][head=2]", "[q][head=3]", "[k][head=0]"]  # fmt: skip
    for c in parts:  # Conv1D stores in × 3E: part p's columns, then head h's columns of it
        p, h = "qkv".index(c.part[0]), c.head
        assert c.shape == (e, d) and torch.equal(c.extract(w), w[:, p * e + h * d : p * e + (h + 1) * d])
    out_proj = [c for c in chosen if "c_proj" in c.name]  # Conv1D in × out: head h is rows h·d … (h+1)·d
    wp = torch.randn(e, e)
    assert [c.shape for c in out_proj] == [(d, e)] * heads
    assert torch.equal(out_proj[2].extract(wp), wp[2 * d : 3 * d])


def test_neox_query_key_value_splits_into_parts_then_heads():
    heads, e = 4, 64
    d = e // heads
    w = torch.randn(3 * e, e)
    chosen, _ = select_weight_matrices([("gpt_neox.layers.0.attention.query_key_value.weight", (3 * e, e))],
                                       per_head=True, heads=heads, kv_heads=heads)  # fmt: skip
    assert len(chosen) == 3 * heads
    per_head_rows = w.reshape(heads, 3, d, e)  # rows ordered (head, q|k|v, head_dim)
    for c in chosen:
        assert c.shape == (d, e) and torch.equal(c.extract(w), per_head_rows[c.head, "qkv".index(c.part[0])])


def test_analyze_and_compare_a_gpt2_checkpoint_per_head(tmp_path):
    heads, e = 4, 64
    g = torch.Generator().manual_seed(2)
    a = {n: torch.randn(s, generator=g) for n, s in _gpt2_names(heads, e)}
    b = {n: t.clone() for n, t in a.items()}
    b["transformer.h.0.attn.c_attn.weight"][:, e + 16 : e + 32] += 0.5 * torch.randn(e, 1, generator=g) @ torch.randn(1, 16, generator=g)
    for folder, tensors in (("a", a), ("b", b)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "config.json").write_text(json.dumps({"n_head": heads}))
        save_weights(tensors, tmp_path / folder / "model.safetensors")
    report = analyze(tmp_path / "a", per_head=True, porter_thomas=False, min_dim=8)
    assert [r.role for r in report][:heads] == ["attention.query"] * heads and [r.head for r in report][:heads] == list(range(heads))
    c = compare(tmp_path / "a", tmp_path / "b", per_head=True, min_dim=8)
    changed = [r.name for r in c if r.relative_update]
    assert changed == ["transformer.h.0.attn.c_attn.weight[k][head=1]"]  # key part, head 1 only


def test_filter_refuses_per_head(llama, tmp_path):
    with pytest.raises(InvalidInputError, match="per_head= does not apply to filtering"):
        filter_state_dict({"w": torch.randn(64, 32)}, "hard", per_head=True)
    with pytest.raises(InvalidInputError, match="per_head= does not apply to filtering"):
        filter_checkpoint(llama, tmp_path / "out", "hard", per_head=True)
    assert not (tmp_path / "out").exists()
