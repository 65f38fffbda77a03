"""Writes a Llama-architecture checkpoint of random weights with planted low-rank structure, laid
out as Hugging Face saves it: sharded ``.safetensors`` files, ``model.safetensors.index.json`` and
``config.json`` (``LlamaForCausalLM``), in bfloat16 by default.

Every weight matrix is Gaussian noise of standard deviation ``--sigma`` plus ``--rank`` planted
rank-one components whose singular values are 2.5, 3.5, … times the BBP threshold σ·(N·M)^¼, so
each should be found as exactly ``--rank`` spikes (``config.json`` records the rank under
``netsieve_planted_rank``). Tensors are generated and written one shard at a time (peak memory: one
shard), into a temporary folder that is renamed to OUT only when every shard and the index are
written; an existing OUT is refused.

Shapes: ``--shape tinyllama`` (TinyLlama-1.1B: 22 blocks, hidden 2048, intermediate 5632, 32 heads,
4 key/value heads, vocabulary 32000) or ``--shape 7b`` (Llama-2-7B: 32 blocks, hidden 4096,
intermediate 11008, 32 heads and key/value heads, vocabulary 32000); ``--blocks`` keeps fewer
blocks, and ``--hidden``/``--intermediate``/``--vocab``/``--heads``/``--kv-heads`` override the
shape (tiny test checkpoints).

    python benches/make_llama_checkpoint.py OUT --blocks 4            # 4 blocks of the 1.1B shape
    python benches/make_llama_checkpoint.py OUT --shape 7b --blocks 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

SHAPES = {
    "tinyllama": dict(blocks=22, hidden=2048, intermediate=5632, heads=32, kv_heads=4, vocab=32000),
    "7b": dict(blocks=32, hidden=4096, intermediate=11008, heads=32, kv_heads=32, vocab=32000),
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def tensor_shapes(blocks: int, hidden: int, intermediate: int, heads: int, kv_heads: int, vocab: int) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every tensor of a LlamaForCausalLM, in the order transformers creates them."""
    kv = kv_heads * (hidden // heads)
    out: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (vocab, hidden))]
    for b in range(blocks):
        p = f"model.layers.{b}"
        out += [
            (f"{p}.self_attn.q_proj.weight", (hidden, hidden)),
            (f"{p}.self_attn.k_proj.weight", (kv, hidden)),
            (f"{p}.self_attn.v_proj.weight", (kv, hidden)),
            (f"{p}.self_attn.o_proj.weight", (hidden, hidden)),
            (f"{p}.mlp.gate_proj.weight", (intermediate, hidden)),
            (f"{p}.mlp.up_proj.weight", (intermediate, hidden)),
            (f"{p}.mlp.down_proj.weight", (hidden, intermediate)),
            (f"{p}.input_layernorm.weight", (hidden,)),
            (f"{p}.post_attention_layernorm.weight", (hidden,)),
        ]
    out += [("model.norm.weight", (hidden,)), ("lm_head.weight", (vocab, hidden))]
    return out


def planted_matrix(shape: tuple[int, int], rank: int, sigma: float, seed: int) -> torch.Tensor:
    """Gaussian noise of standard deviation ``sigma`` plus ``rank`` components at 2.5, 3.5, … × the
    BBP threshold σ·(N·M)^¼ (in float32)."""
    g = torch.Generator().manual_seed(seed)
    n, m = shape
    w = torch.randn(n, m, generator=g) * sigma
    if rank:
        u, _ = torch.linalg.qr(torch.randn(n, rank, generator=g))
        v, _ = torch.linalg.qr(torch.randn(m, rank, generator=g))
        theta = sigma * (n * m) ** 0.25 * (2.5 + torch.arange(rank, dtype=torch.float32))
        w += (u * theta) @ v.T
    return w


def write_llama_checkpoint(
    out: str | os.PathLike, *, shape: str = "tinyllama", blocks: int | None = None, dtype: str = "bf16",
    rank: int = 4, sigma: float = 0.02, seed: int = 0, shard_bytes: int = 2 * 10**9, **overrides: int,
) -> Path:
    """Writes the checkpoint (module docs) and returns OUT. ``overrides``: hidden, intermediate,
    heads, kv_heads, vocab."""
    from safetensors.torch import save_file

    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; choose a new folder")
    dims = dict(SHAPES[shape])
    dims.update({k: v for k, v in overrides.items() if v is not None})
    if blocks is not None:
        dims["blocks"] = blocks
    if dims["hidden"] % dims["heads"] or dims["heads"] % dims["kv_heads"]:
        raise ValueError(f"hidden must be a multiple of heads, and heads of kv_heads: {dims}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent if out.parent.exists() else None))
    try:
        files: dict[str, list[str]] = {}  # shard file → its tensors, in order
        shard: dict[str, torch.Tensor] = {}
        size = total = 0

        def flush() -> None:
            nonlocal shard, size
            if shard:
                name = f"part-{len(files):05d}.safetensors"
                save_file(shard, str(tmp / name), metadata={"format": "pt"})
                files[name] = list(shard)
            shard, size = {}, 0

        for i, (name, shp) in enumerate(tensor_shapes(**dims)):
            t = planted_matrix(shp, rank, sigma, seed * 100003 + i) if len(shp) == 2 else torch.ones(shp)
            t = t.to(DTYPES[dtype])
            nbytes = t.numel() * t.element_size()
            if shard and size + nbytes > shard_bytes:
                flush()
            shard[name] = t
            size += nbytes
            total += nbytes
        flush()
        renamed = {f: f"model-{k + 1:05d}-of-{len(files):05d}.safetensors" for k, f in enumerate(files)}
        for f, new in renamed.items():
            (tmp / f).rename(tmp / new)
        weight_map = {n: renamed[f] for f, names in files.items() for n in names}
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}  # sorted, as HF writes it
        config = {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dims["hidden"],
            "intermediate_size": dims["intermediate"], "num_hidden_layers": dims["blocks"],
            "num_attention_heads": dims["heads"], "num_key_value_heads": dims["kv_heads"], "vocab_size": dims["vocab"],
            "tie_word_embeddings": False, "torch_dtype": {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[dtype],
            "hidden_act": "silu", "rms_norm_eps": 1e-5, "max_position_embeddings": 2048,
            "netsieve_planted_rank": rank, "netsieve_noise_sigma": sigma,
        }  # fmt: skip
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))  # last: the shards are complete
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the new checkpoint folder (must not exist)")
    p.add_argument("--shape", choices=sorted(SHAPES), default="tinyllama")
    p.add_argument("--blocks", type=int, help="number of blocks (default: the shape's)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    p.add_argument("--rank", type=int, default=4, help="planted components per matrix (default 4)")
    p.add_argument("--sigma", type=float, default=0.02, help="noise standard deviation (default 0.02)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard-mb", type=float, default=2000.0, help="largest shard in MB (default 2000)")
    for dim in ("hidden", "intermediate", "vocab", "heads", "kv-heads"):
        p.add_argument(f"--{dim}", type=int, help=f"override the shape's {dim}")
    a = p.parse_args(argv)
    out = write_llama_checkpoint(
        a.out, shape=a.shape, blocks=a.blocks, dtype=a.dtype, rank=a.rank, sigma=a.sigma, seed=a.seed,
        shard_bytes=int(a.shard_mb * 1e6), hidden=a.hidden, intermediate=a.intermediate, vocab=a.vocab,
        heads=a.heads, kv_heads=a.kv_heads,
    )  # fmt: skip
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out} ({size / 1e9:.2f} GB, {len(list(out.glob('*.safetensors')))} shards)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
