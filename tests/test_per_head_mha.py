"""``nn.MultiheadAttention``'s fused ``in_proj_weight`` (3E × E): always split into its q/k/v parts,
and with ``per_head=True`` each part per head (``name[q][head=h]``, the module's own ``num_heads``),
``out_proj.weight`` by columns; each head's block is the one the module computes that head from
(checked through the module's forward), and analyze/compare find a head planted in one part."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from netsieve import InvalidInputError  # noqa: E402
from netsieve.torch import analyze, compare  # noqa: E402
from netsieve.torch._weights import attention_heads, module_weight_matrices  # noqa: E402

E, HEADS = 64, 4
D = E // HEADS


class Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(E, HEADS, batch_first=True)
        self.fc = torch.nn.Linear(E, E)


def _block(seed: int) -> Block:
    torch.manual_seed(seed)
    return Block()


def test_the_parts_and_heads_of_in_proj_weight():
    model = _block(0)
    assert attention_heads(model) == {"attn.in_proj_weight": HEADS, "attn.out_proj.weight": HEADS}
    chosen, _, get = module_weight_matrices(model, per_head=True, min_dim=2)
    names = [c.name for c in chosen]
    assert names[:5] == [f"attn.in_proj_weight[q][head={h}]" for h in range(HEADS)] + ["attn.in_proj_weight[k][head=0]"]
    assert [c.name for c in chosen if "out_proj" in c.name] == [f"attn.out_proj.weight[head={h}]" for h in range(HEADS)]
    assert "fc.weight" in names  # not attention: whole
    w = model.attn.in_proj_weight.detach()
    for c in chosen:
        if c.tensor_name == "attn.in_proj_weight":
            p = "qkv".index(c.part[0])
            assert c.shape == (D, E) and torch.equal(c.extract(w), w[p * E + c.head * D : p * E + (c.head + 1) * D])
    whole, _, _ = module_weight_matrices(model, min_dim=2)  # without per_head: the three parts, as before
    assert [c.name for c in whole if "in_proj" in c.name] == [f"attn.in_proj_weight[{p}]" for p in "qkv"]


def test_a_head_block_is_the_one_the_module_uses():
    """Zeroing head 2's block of the value part silences exactly head 2's slice of the attention output."""
    model = _block(1)
    with torch.no_grad():
        model.attn.in_proj_bias.zero_()
        model.attn.out_proj.weight.copy_(torch.eye(E))  # the output is the concatenated heads
        model.attn.out_proj.bias.zero_()
    chosen, _, get = module_weight_matrices(model, per_head=True, min_dim=2)
    value_head = next(c for c in chosen if c.name == "attn.in_proj_weight[v][head=2]")
    value_head.insert(model.attn.in_proj_weight.data, torch.zeros(value_head.shape))
    x = torch.randn(2, 5, E)
    out, _ = model.attn(x, x, x)
    silent = out.abs().reshape(2, 5, HEADS, D).amax(dim=(0, 1, 3))
    assert silent[2] == 0 and bool((silent[[0, 1, 3]] > 0).all())


def test_analyze_and_compare_find_a_planted_head():
    a, b = _block(2), _block(2)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # a rank-2 change in head 1 of the key part of B only
        b.attn.in_proj_weight[E + D : E + 2 * D] += 0.5 * torch.randn(D, 2, generator=g) @ torch.randn(2, E, generator=g)
    report = analyze(a, per_head=True, porter_thomas=False, min_dim=8)
    rows = [r for r in report if r.tensor_name == "attn.in_proj_weight"]
    assert [(r.role, r.head) for r in rows[:HEADS + 1]] == [("attention.query", h) for h in range(HEADS)] + [("attention.key", 0)]
    assert all(r.rows == D and r.cols == E and r.ok for r in rows)
    c = compare(a, b, per_head=True, min_dim=8)
    assert [r.name for r in c if r.relative_update] == ["attn.in_proj_weight[k][head=1]"]
    sv = next(r for r in c if r.name == "attn.in_proj_weight[k][head=1]").update.singular_values
    assert int((sv > 1e-6 * sv.max()).sum()) == 2  # the block holds the whole rank-2 change


def test_without_multihead_attention_modules_per_head_still_needs_a_head_count():
    with pytest.raises(InvalidInputError, match="num_attention_heads"):
        analyze(torch.nn.Sequential(torch.nn.Linear(E, E)), per_head=True)
    with pytest.raises(InvalidInputError, match="num_attention_heads"):
        analyze({"attn.in_proj_weight": torch.randn(3 * E, E)}, per_head=True)
