"""Hugging Face model folders: ``config.json``, the shard index ``model.safetensors.index.json``
and its shards. What the folder says beyond the tensors themselves:

- the shards to read (those the index names; a missing shard, or an index naming a tensor that its
  shard does not hold, is an error naming both);
- the checkpoint order of the weight matrices: embeddings, then block by block in numeric order
  (block 10 after block 9, whatever the sorted names say), attention before MLP within a block,
  then the rest (final norm, ``lm_head``);
- tied embeddings (``tie_word_embeddings``, the default of ``transformers`` configs): an
  ``lm_head.weight`` stored beside the embedding it is tied to is the same matrix, analysed once;
- the head counts that split fused projections: GPT-2's ``Conv1D`` ``c_attn`` (in × 3·out,
  contiguous thirds) and GPT-NeoX's ``query_key_value`` (rows interleaved per head).

Block and role of each matrix come from its name (:func:`netsieve._layer_names.block_and_role`).
This module reads JSON only; the tensors are read by :class:`~netsieve.torch.TensorSource`.
"""

from __future__ import annotations

import json
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

from netsieve import ROLES, InvalidInputError

from .._layer_names import block_and_role

__all__ = ["Layout", "read_layout", "layout_of", "order_key", "INDEX_FILE", "CONFIG_FILE"]

INDEX_FILE = "model.safetensors.index.json"
CONFIG_FILE = "config.json"
_HEAD_NAMES = ("lm_head.weight", "embed_out.weight")  # Llama/GPT-2; GPT-NeoX


def _parse_json(text: str | None, where: str, what: str) -> dict:
    try:
        data = json.loads(text or "")
    except ValueError as exc:
        raise InvalidInputError(f"cannot read the {what} {where}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"the {what} {where} is not a JSON object")
    return data


def _join(folder: Path | str, name: str) -> str:
    """A file of ``folder`` as error messages name it (a path, or a URL of an fsspec folder)."""
    return str(folder / name) if isinstance(folder, Path) else f"{folder.rstrip('/')}/{name}"


@dataclass(frozen=True)
class Layout:
    """What a model folder's ``config.json`` and shard index say (both optional).

    Attributes
    ----------
    folder : pathlib.Path, str or None
        The model folder (a URL for a folder read through fsspec; None for a single file or an
        in-memory model).
    config : mapping
        ``config.json`` (read-only; empty when absent).
    weight_map : mapping of str to str, or None
        The index's tensor → shard file (None without an index).

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> from netsieve.torch.hf_layout import read_layout
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text(json.dumps({"num_attention_heads": 4, "num_key_value_heads": 2}))
    >>> layout = read_layout(folder)
    >>> layout.heads, layout.kv_heads, layout.tied_embeddings, layout.shards
    (4, 2, True, None)
    """

    folder: Path | str | None = None
    config: Mapping = field(default_factory=lambda: types.MappingProxyType({}))
    weight_map: Mapping[str, str] | None = None

    @property
    def shards(self) -> list[str] | None:
        """The shard files of the index, in the order they first appear (None without an index)."""
        if self.weight_map is None:
            return None
        return list(dict.fromkeys(self.weight_map.values()))

    @property
    def heads(self) -> int | None:
        """Attention heads (``num_attention_heads`` or GPT-2's ``n_head``)."""
        value = self.config.get("num_attention_heads", self.config.get("n_head"))
        return value if isinstance(value, int) and value > 0 else None

    @property
    def kv_heads(self) -> int | None:
        """Key/value heads (``num_key_value_heads``; the attention heads without grouped-query attention)."""
        value = self.config.get("num_key_value_heads")
        return value if isinstance(value, int) and value > 0 else self.heads

    @property
    def tied_embeddings(self) -> bool:
        """``tie_word_embeddings`` (True when unset, as in ``transformers``)."""
        return bool(self.config.get("tie_word_embeddings", True))

    def check_index(self, held: Mapping[str, Path]) -> None:
        """Raises when the index names a tensor that its shard does not hold (``held``: tensor → file)."""
        if self.weight_map is None:
            return
        absent = [(n, f) for n, f in self.weight_map.items() if n not in held]
        if absent:
            listed = "; ".join(f"{n!r} (in {f})" for n, f in absent[:5]) + ("; …" if len(absent) > 5 else "")
            raise InvalidInputError(
                f"{_join(self.folder or '', INDEX_FILE)} names {len(absent)} tensor(s) that its shards do not hold: {listed}"
            )

    def tied_heads(self, names: Iterable[str]) -> dict[str, str]:
        """Output heads tied to an embedding that is also stored: head name → embedding name."""
        if not self.tied_embeddings:
            return {}
        names = list(names)
        token = ("embed_tokens", "wte", "word_embeddings", "embed_in", "shared")
        embeddings = [n for n in names if block_and_role(n)[1] == "embedding" and any(t in n for t in token)]
        heads = [n for n in names if n.split(".", 1)[-1] in _HEAD_NAMES or n in _HEAD_NAMES]
        return {h: embeddings[0] for h in heads} if embeddings else {}


def read_layout(path: str | os.PathLike | None) -> Layout:
    """The :class:`Layout` of a model folder (an empty one for a file or None).

    Parameters
    ----------
    path : str or os.PathLike or None

    Returns
    -------
    Layout

    Raises
    ------
    InvalidInputError
        An unreadable ``config.json`` or index, an index without a ``weight_map`` of strings, or
        shards it names that are missing (naming the files and a tensor of each).
    """
    if path is None or not Path(path).is_dir():
        return Layout()
    folder = Path(path)

    def read(name: str) -> str | None:
        file = folder / name
        if not file.exists():
            return None
        try:
            return file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"cannot read {file}: {exc}") from exc

    return layout_of(folder, read, lambda name: (folder / name).is_file())


def layout_of(folder: Path | str, read: Callable[[str], str | None], is_file: Callable[[str], bool]) -> Layout:
    """The :class:`Layout` of a folder seen through ``read`` (file name → text, None when absent)
    and ``is_file`` (file name → whether it exists): a local folder or one at an fsspec URL
    (:mod:`netsieve.torch.remote`). Raises as :func:`read_layout`."""
    text = read(CONFIG_FILE)
    config = {} if text is None else _parse_json(text, _join(folder, CONFIG_FILE), "model config")
    weight_map = None
    text = read(INDEX_FILE)
    if text is not None:
        index_name = _join(folder, INDEX_FILE)
        index = _parse_json(text, index_name, "shard index")
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise InvalidInputError(f"the shard index {index_name} has no weight_map of tensor → file names")
        missing: dict[str, str] = {}
        present: set[str] = set()
        for name, shard in weight_map.items():
            if "/" in shard or shard in ("", ".", ".."):
                raise InvalidInputError(f"the shard index {index_name} names {shard!r}, not a file of the folder")
            if shard in present or shard in missing:
                continue
            if is_file(shard):
                present.add(shard)
            else:
                missing[shard] = name
        if missing:
            listed = "; ".join(f"{_join(folder, s)} (holding {n!r})" for s, n in missing.items())
            raise InvalidInputError(f"shards named by {index_name} are missing: {listed}")
    return Layout(folder, types.MappingProxyType(config), types.MappingProxyType(weight_map) if weight_map is not None else None)


_ROLE_RANK = {role: i for i, role in enumerate(ROLES)}


def order_key(name: str) -> tuple:
    """Sort key of the checkpoint order (module docs): (section, block, role, name).

    Examples
    --------
    >>> from netsieve.torch.hf_layout import order_key
    >>> names = ["lm_head.weight", "model.layers.10.self_attn.q_proj.weight", "model.layers.9.mlp.down_proj.weight",
    ...          "model.layers.9.self_attn.q_proj.weight", "model.embed_tokens.weight"]
    >>> sorted(names, key=order_key)  # doctest: +NORMALIZE_WHITESPACE
    ['model.embed_tokens.weight', 'model.layers.9.self_attn.q_proj.weight', 'model.layers.9.mlp.down_proj.weight',
     'model.layers.10.self_attn.q_proj.weight', 'lm_head.weight']
    """
    block, role = block_and_role(name)
    if block is None:
        section = 0 if role == "embedding" else 2
        return (section, 0, _ROLE_RANK.get(role, len(_ROLE_RANK)), name)
    return (1, block, _ROLE_RANK.get(role, len(_ROLE_RANK)), name)
