"""The tiny Llama-architecture checkpoint the checkpoint tests share (benches/make_llama_checkpoint.py)."""

from __future__ import annotations

from pathlib import Path

from _examples import load

TINY = dict(blocks=2, rank=2, shard_bytes=200_000, hidden=128, intermediate=256, vocab=200, heads=4, kv_heads=2)


def tiny_llama(tmp_path_factory, *, tokenizer: bool = False, **changes) -> Path:
    """A sharded bf16 checkpoint folder of the `TINY` shape (with `changes`), plus an empty
    tokenizer.json when asked (a file the filters copy unchanged)."""
    out = tmp_path_factory.mktemp("llama") / "tiny"
    load("make_llama_checkpoint", "benches").write_llama_checkpoint(out, **{**TINY, **changes})
    if tokenizer:
        (out / "tokenizer.json").write_text("{}")
    return out
