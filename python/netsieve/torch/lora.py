"""LoRA / PEFT adapters: a folder with ``adapter_config.json`` and ``adapter_model.safetensors``
whose tensors ``…<layer>.lora_A.weight`` (r × in) and ``…<layer>.lora_B.weight`` (out × r) give
each adapted layer the update ΔW = s·B·A, s = ``lora_alpha``/r (``lora_alpha``/√r with
``use_rslora``). :func:`adapter_updates` gives the updates keyed by the base model's weight names
(PEFT's ``base_model.model.`` prefix removed); :func:`merge_adapter` adds them to a base
checkpoint's tensors. Analyse the merged model with :func:`~netsieve.torch.analyze`, or the
adapter's effect with ``compare(base, merge_adapter(base, adapter))``: the update's spikes are its
rank (the float32 rounding of W + ΔW is the bulk they stand above). An update alone is exactly
low-rank: it has no noise bulk to fit, so analyse it merged, or take its singular values
(:func:`netsieve.singular_values`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from netsieve import InvalidInputError

__all__ = ["adapter_updates", "merge_adapter"]

_PREFIX = "base_model.model."


def adapter_updates(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The update s·B·A (float32) of every adapted layer, keyed by the base model's weight name.

    Parameters
    ----------
    path : str or os.PathLike
        A PEFT adapter folder (``adapter_config.json`` and ``adapter_model.safetensors``).

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    InvalidInputError
        A missing or unreadable file, a ``lora_A`` without its ``lora_B`` (or the reverse), shapes
        that do not chain (B's columns ≠ A's rows), no LoRA tensors at all.

    Examples
    --------
    >>> import json, pathlib, tempfile, torch, netsieve.torch as nt
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "adapter_config.json").write_text(json.dumps({"r": 2, "lora_alpha": 4}))
    >>> key = "base_model.model.model.layers.0.self_attn.q_proj"
    >>> nt.save_weights({f"{key}.lora_A.weight": torch.ones(2, 8), f"{key}.lora_B.weight": torch.ones(6, 2)},
    ...                 folder / "adapter_model.safetensors")
    >>> updates = nt.adapter_updates(folder)
    >>> list(updates), updates["model.layers.0.self_attn.q_proj.weight"][0, 0].item()  # 2·(1·1 + 1·1)
    (['model.layers.0.self_attn.q_proj.weight'], 4.0)
    """
    from .checkpoints import open_weights

    folder = Path(path)
    config_file, weights = folder / "adapter_config.json", folder / "adapter_model.safetensors"
    for f in (config_file, weights):
        if not f.is_file():
            raise InvalidInputError(f"{folder} is not a PEFT adapter folder: {f.name} is missing")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {config_file}: {exc}") from exc
    rank, alpha = config.get("r"), config.get("lora_alpha", config.get("r"))
    if not isinstance(rank, int) or rank < 1 or not isinstance(alpha, (int, float)):
        raise InvalidInputError(f"{config_file} needs an integer r ≥ 1 and a number lora_alpha, got r={rank!r}, lora_alpha={alpha!r}")
    scale = alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)
    out: dict[str, torch.Tensor] = {}
    with open_weights(weights) as src:
        names = set(src.names())
        for a_name in sorted(n for n in names if n.endswith(".lora_A.weight")):
            stem = a_name[: -len(".lora_A.weight")]
            b_name = stem + ".lora_B.weight"
            if b_name not in names:
                raise InvalidInputError(f"{weights}: {a_name} has no {b_name}")
            a, b = src.get(a_name).float(), src.get(b_name).float()
            if a.ndim != 2 or b.ndim != 2 or b.shape[1] != a.shape[0]:
                raise InvalidInputError(f"{weights}: {b_name} {tuple(b.shape)} and {a_name} {tuple(a.shape)} do not chain")
            base = stem[len(_PREFIX):] if stem.startswith(_PREFIX) else stem
            out[base + ".weight"] = scale * (b @ a)
        orphans = [n for n in names if n.endswith(".lora_B.weight") and n[: -len("B.weight")] + "A.weight" not in names]
        if orphans:
            raise InvalidInputError(f"{weights}: {orphans[0]} has no lora_A")
    if not out:
        raise InvalidInputError(f"{weights} holds no lora_A/lora_B tensors")
    return out


def merge_adapter(base: Any, adapter: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The base checkpoint's tensors with the adapter's updates added (float32 for the adapted ones).

    Parameters
    ----------
    base : state dict, path or hub id
        The base model (anything :func:`~netsieve.torch.open_weights` reads, or a state dict).
    adapter : str or os.PathLike
        The PEFT adapter folder (:func:`adapter_updates`).

    Returns
    -------
    dict of str to torch.Tensor
        Every tensor of the base; those the adapter changes are W + s·B·A.

    Raises
    ------
    InvalidInputError
        The errors of :func:`adapter_updates`; an update for a tensor the base lacks, or of another shape.

    Examples
    --------
    >>> import json, pathlib, tempfile, torch, netsieve.torch as nt
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "adapter_config.json").write_text(json.dumps({"r": 1, "lora_alpha": 1}))
    >>> nt.save_weights({"base_model.model.fc.lora_A.weight": torch.ones(1, 3),
    ...                  "base_model.model.fc.lora_B.weight": torch.ones(2, 1)}, folder / "adapter_model.safetensors")
    >>> nt.merge_adapter({"fc.weight": torch.zeros(2, 3), "fc.bias": torch.zeros(2)}, folder)["fc.weight"].tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    from .checkpoints import open_weights

    updates = adapter_updates(adapter)
    if isinstance(base, dict):
        tensors = dict(base)
    else:
        with open_weights(base) as src:
            tensors = {n: src.get(n) for n in src.names()}
    for name, delta in updates.items():
        if name not in tensors:
            raise InvalidInputError(f"the adapter updates {name!r}, which the base model does not hold")
        if tuple(tensors[name].shape) != tuple(delta.shape):
            raise InvalidInputError(f"the adapter's update of {name!r} is {tuple(delta.shape)}, the base's tensor {tuple(tensors[name].shape)}")
        tensors[name] = tensors[name].float() + delta
    return tensors
