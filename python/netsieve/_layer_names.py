"""Where a weight matrix sits in a model, read from its name: the block (the index of the repeated
unit, ``encoder.layer.3`` → 3) and its role (attention query/key/value/output, MLP up/gate/down,
embedding, head, …). The one place these are derived: :func:`netsieve.torch.analyze` labels each
report row's ``block`` and ``role`` with it (the role names are the core's :data:`netsieve.ROLES`).
Names are all there is, so the result is a best guess for the naming schemes of common model
families (BERT, GPT-2, LLaMA/Mistral, T5, ViT, torch.nn)."""

from __future__ import annotations

import re

from ._netsieve import ROLES as _CORE_ROLES

__all__ = ["block_and_role", "ROLES"]

# Containers whose next component is the block index (a bare number elsewhere is a Sequential index).
_CONTAINERS = {"layer", "layers", "h", "block", "blocks", "encoder", "decoder", "transformer", "resblocks", "stages"}

# (role, pattern on the dotted name), first match wins; patterns see ".name." with dots around.
_RULES = [
    ("embedding", r"embed|\.wte\.|\.wpe\.|token_type|position_embedding|word_embedding|shared\."),
    ("attention.qkv", r"\.c_attn\.|\.qkv\.|in_proj|query_key_value|\.wqkv\."),
    ("attention.query", r"\.query\.|\.q_proj\.|\.q\.|\.wq\.|\.q_lin\."),
    ("attention.key", r"\.key\.|\.k_proj\.|\.k\.|\.wk\.|\.k_lin\."),
    ("attention.value", r"\.value\.|\.v_proj\.|\.v\.|\.wv\.|\.v_lin\."),
    ("attention.output", r"attention\.output\.|attn\.c_proj\.|\.o_proj\.|\.out_proj\.|\.o\.|\.wo\.|attn\.proj\.|\.out_lin\."),
    ("mlp.gate", r"gate_proj|\.w1\.|\.wi_0\."),
    ("mlp.up", r"intermediate\.|up_proj|\.c_fc\.|\.fc1\.|\.w3\.|\.wi\.|\.wi_1\.|\.lin1\.|mlp\.0\."),
    ("mlp.down", r"\.output\.dense|down_proj|mlp\.c_proj\.|\.fc2\.|\.w2\.|\.lin2\.|mlp\.2\."),
    ("head", r"lm_head|classifier|\.head\.|^\.head|\.score\.|\.fc\.|pooler"),
]
_COMPILED = [(role, re.compile(pattern)) for role, pattern in _RULES]


def block_and_role(name: str) -> tuple[int | None, str]:
    """The block index and role of a weight matrix, guessed from its name.

    Parameters
    ----------
    name : str
        A tensor or layer name as the reports give it (``"encoder.layer.3.attention.self.query.weight"``;
        a ``[k]`` suffix of a convolution slice is ignored).

    Returns
    -------
    (int or None, str)
        The block: the number after a container name (``layer``, ``layers``, ``h``, ``blocks``, …),
        else the first number in the name, else None. The role: one of :data:`ROLES`, ``"other"``
        when no rule matches.

    Raises
    ------
    Nothing

    Examples
    --------
    >>> from netsieve._layer_names import block_and_role
    >>> block_and_role("encoder.layer.3.attention.self.query.weight")
    (3, 'attention.query')
    >>> block_and_role("model.layers.11.mlp.down_proj.weight")
    (11, 'mlp.down')
    >>> block_and_role("transformer.h.0.attn.c_attn.weight"), block_and_role("embeddings.word_embeddings.weight")
    ((0, 'attention.qkv'), (None, 'embedding'))
    """
    base = name.split("[", 1)[0]
    parts = base.split(".")
    block = None
    for prev, part in zip(parts, parts[1:]):
        if part.isdigit() and prev in _CONTAINERS:
            block = int(part)
            break
    if block is None:
        block = next((int(p) for p in parts if p.isdigit()), None)
    dotted = f".{base}."
    role = next((r for r, pattern in _COMPILED if pattern.search(dotted)), "other")
    return block, role


ROLES = tuple(_CORE_ROLES)
assert set(r for r, _ in _RULES) | {"other"} == set(ROLES), "the rules must use the core's role names"
