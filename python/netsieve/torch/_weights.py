"""Which tensors of a model are weight matrices, and how each becomes a 2-D matrix.

Shared by filtering and analysis so both see the same layers under the same names.

Conventions (documented once, used everywhere):
- ``nn.Linear`` and any 2-D ``*.weight``: the (out × in) matrix as stored.
- ``Conv1d/2d/3d`` weights (out, in/groups, *kernel): reshaped to out × (in/groups · ∏kernel), the
  map from a receptive field to an output channel. With ``conv_slices=True`` each kernel position p
  instead gives its own out × in/groups matrix W[:, :, p], named ``name[k=i,j]``.
- ``nn.Embedding`` (vocab × dim): included only on request (``embeddings=True``); its rows are
  looked up, not multiplied, so its spectrum answers a different question.
- Fused attention projections ``in_proj_weight`` (3E × E): split into the query, key and value
  blocks, named ``name[q]``, ``name[k]``, ``name[v]`` (weightwatcher skips them silently).
- With ``split_fused=True``, GPT-2's ``Conv1D`` ``c_attn`` (in × 3·E, stored transposed) splits into
  its contiguous column thirds and GPT-NeoX's ``query_key_value`` (3·E × E, rows interleaved per
  head; needs the head count of ``config.json``) into its per-head q/k/v rows, named like
  ``in_proj_weight``'s parts.
- With ``per_head=True``, attention projections split into one block per head (the head counts of
  ``config.json``): query rows per attention head, key/value rows per key/value head (grouped-query
  shapes), output columns per attention head (rows for GPT-2's ``Conv1D`` ``c_proj``, stored
  in × out); named ``name[head=h]``. Fused projections (``c_attn``, ``query_key_value``, and
  ``nn.MultiheadAttention``'s ``in_proj_weight``, whose q/k/v parts have rows ordered (head,
  head_dim)) split into their q/k/v parts first, then each part per attention head:
  ``name[q][head=h]``. The head count of an ``nn.MultiheadAttention`` module is its own
  ``num_heads`` (for its ``in_proj_weight`` and ``out_proj.weight``), else ``config.json``'s.
- Tensors with fewer than 2 dimensions (biases, norm scales, scalars) and matrices whose smaller side
  is below ``min_dim`` are skipped, each with its reason.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import torch

from netsieve import InvalidInputError

__all__ = ["WeightMatrix", "Skipped", "select_weight_matrices", "matches"]


@dataclass(frozen=True)
class WeightMatrix:
    """One 2-D matrix view of (part of) a named tensor."""

    name: str  # e.g. "encoder.0.weight" or "conv.weight[k=1,2]" or "attn.in_proj_weight[q]"
    tensor_name: str  # the key in the state dict / parameter name
    layer_type: str  # "Linear", "Conv2d", "Embedding", "MultiheadAttention", or "matrix"
    tensor_shape: tuple[int, ...]
    kind: str  # "matrix", "conv", "conv_slice", "embedding", "attention_in_proj"
    part: tuple | None = None  # kernel position or ("q"|"k"|"v",) for parts of a tensor

    @property
    def shape(self) -> tuple[int, int]:
        return _matrix_shape(self)

    def extract(self, tensor: torch.Tensor) -> torch.Tensor:
        """The 2-D matrix for this entry from the full tensor (a view where possible)."""
        if self.kind in ("matrix", "embedding"):
            return tensor
        if self.kind == "conv":
            return tensor.reshape(tensor.shape[0], -1)
        if self.kind == "conv_slice":
            return tensor[(slice(None), slice(None)) + tuple(self.part)]
        if self.kind == "attention_in_proj":
            e = tensor.shape[0] // 3
            i = "qkv".index(self.part[0])
            return tensor[i * e : (i + 1) * e]
        if self.kind == "fused_columns":
            e = tensor.shape[1] // 3
            i = "qkv".index(self.part[0])
            return tensor[:, i * e : (i + 1) * e]
        if self.kind == "fused_heads":  # rows ordered (head, q|k|v, head_dim)
            heads = self.part[1]
            i = "qkv".index(self.part[0])
            return tensor.reshape(heads, 3, -1, tensor.shape[1])[:, i].reshape(-1, tensor.shape[1])
        if self.kind == "head":  # part = (head, heads, axis)
            return _head_block(tensor, *self.part)
        if self.kind == "fused_head":  # part = (q|k|v, fused kind, fused part's rest, head, heads, axis)
            p, fused_kind, rest, h, heads, axis = self.part
            whole = WeightMatrix(self.name, self.tensor_name, self.layer_type, self.tensor_shape, fused_kind, (p, *rest))
            return _head_block(whole.extract(tensor), h, heads, axis)
        raise AssertionError(self.kind)

    @property
    def head(self) -> int | None:
        """The attention head of a per-head block (None for whole matrices)."""
        return self.part[0] if self.kind == "head" else self.part[3] if self.kind == "fused_head" else None

    def insert(self, tensor: torch.Tensor, matrix: torch.Tensor) -> None:
        """Writes ``matrix`` into its place in ``tensor`` (in place, cast to its dtype) through the
        tensor's own strides, then checks that the tensor now holds it (raises when it does not)."""
        check_writable(tensor, self.tensor_name)
        value = matrix.to(dtype=tensor.dtype, device=tensor.device)
        with torch.no_grad():
            if self.kind == "conv":
                # reshape() of a non-contiguous (e.g. channels_last) tensor is a copy; write the tensor itself.
                tensor.copy_(value.reshape(tensor.shape))
            else:  # the tensor itself or a slice of it: views, whatever the strides
                self.extract(tensor).copy_(value.reshape(self.shape))
        self.verify(tensor, value)

    def verify(self, tensor: torch.Tensor, matrix: torch.Tensor) -> None:
        """Raises unless ``tensor`` holds ``matrix`` (cast to the tensor's dtype) at this entry's place."""
        want = matrix.to(dtype=tensor.dtype, device=tensor.device).reshape(self.shape)
        if not torch.equal(self.extract(tensor), want):
            raise InvalidInputError(
                f"{self.name}: the filtered matrix did not take when written back into {self.tensor_name} "
                f"(shape {tuple(tensor.shape)}, strides {tuple(tensor.stride())}); does it share memory "
                "with another tensor?"
            )


def check_writable(tensor: torch.Tensor, name: str) -> None:
    """Raises for tensors whose entries share memory (expanded, stride 0): they cannot hold a new matrix."""
    if any(st == 0 and sz > 1 for st, sz in zip(tensor.stride(), tensor.shape)):
        raise InvalidInputError(
            f"{name}: the tensor is expanded (shape {tuple(tensor.shape)}, strides {tuple(tensor.stride())}): "
            "its entries share memory, so it cannot hold a filtered matrix; give it a .clone()"
        )


@dataclass(frozen=True)
class Skipped:
    """A tensor (or, with ``kind="file"``, a file of an input folder) that was not used, and why."""

    name: str
    shape: tuple[int, ...]
    reason: str
    kind: str = "tensor"  # "tensor" or "file"

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape), "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.name} (file): {self.reason}" if self.kind == "file" else f"{self.name} {tuple(self.shape)}: {self.reason}"


def _matrix_shape(w: WeightMatrix) -> tuple[int, int]:
    s = w.tensor_shape
    if w.kind in ("matrix", "embedding"):
        return (s[0], s[1])
    if w.kind == "conv":
        return (s[0], math.prod(s[1:]))
    if w.kind == "conv_slice":
        return (s[0], s[1])
    if w.kind in ("attention_in_proj", "fused_heads"):
        return (s[0] // 3, s[1])
    if w.kind == "fused_columns":
        return (s[0], s[1] // 3)
    if w.kind == "head":
        _, heads, axis = w.part
        return (s[0] // heads, s[1]) if axis == 0 else (s[0], s[1] // heads)
    if w.kind == "fused_head":
        p, fused_kind, rest, _, heads, axis = w.part
        rows, cols = WeightMatrix(w.name, w.tensor_name, w.layer_type, s, fused_kind, (p, *rest)).shape
        return (rows // heads, cols) if axis == 0 else (rows, cols // heads)
    raise AssertionError(w.kind)


def _head_block(matrix: torch.Tensor, h: int, heads: int, axis: int) -> torch.Tensor:
    """Head ``h``'s block of ``heads`` equal blocks of ``matrix`` along ``axis`` (a view)."""
    size = matrix.shape[axis] // heads
    return matrix[h * size : (h + 1) * size] if axis == 0 else matrix[:, h * size : (h + 1) * size]


SPLIT_KINDS = ("attention_in_proj", "fused_columns", "fused_heads", "fused_head")
# The axis of the heads in each part of a fused projection: c_attn's parts are in × E (Conv1D, the
# output features in columns), query_key_value's parts E × E with rows ordered (head, head_dim).
_FUSED_HEAD_AXIS = {"fused_columns": 1, "fused_heads": 0, "attention_in_proj": 0}


def _fused(name: str, shape: tuple[int, ...], heads: int | None) -> tuple[str, tuple] | None:
    """(kind, part suffix) of a fused projection that ``split_fused`` splits, else None."""
    if len(shape) != 2:
        return None
    if name.endswith("c_attn.weight") and shape[1] == 3 * shape[0]:
        return "fused_columns", ()
    if name.endswith("query_key_value.weight") and heads and shape[0] == 3 * shape[1] and shape[0] % (3 * heads) == 0:
        return "fused_heads", (heads,)
    if name.endswith("in_proj_weight") and shape[0] == 3 * shape[1]:  # nn.MultiheadAttention: always split
        return "attention_in_proj", ()
    return None


_HEAD_ROLES = {"attention.query": (0, False), "attention.key": (0, True), "attention.value": (0, True),
               "attention.output": (1, False)}  # role → (axis of the heads, key/value heads)


def _per_head(name: str, shape: tuple[int, ...], heads: int | None, kv_heads: int | None) -> tuple[int, int] | None:
    """(heads, axis) of an attention projection split per head, else None."""
    from .._layer_names import block_and_role

    spec = _HEAD_ROLES.get(block_and_role(name)[1])
    if spec is None or len(shape) != 2:
        return None
    axis, kv = spec
    if name.endswith("c_proj.weight"):  # GPT-2's Conv1D stores in × out: the heads are its input rows
        axis = 0
    count = kv_heads if kv else heads
    if not count or count < 2 or shape[axis] % count:
        return None
    return count, axis


def matches(name: str, patterns: str | Sequence[str] | None) -> bool:
    """True when ``name`` (or the name without its ``.weight`` suffix) matches a glob in ``patterns``."""
    if patterns is None:
        return True
    if isinstance(patterns, str):
        patterns = [patterns]
    short = name[: -len(".weight")] if name.endswith(".weight") else name
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(short, p) for p in patterns)


def _module_types(model: torch.nn.Module | None) -> dict[str, str]:
    """Parameter name → owning module's class name."""
    if model is None:
        return {}
    out = {}
    for mod_name, mod in model.named_modules():
        for p_name, _ in mod.named_parameters(recurse=False):
            out[f"{mod_name}.{p_name}" if mod_name else p_name] = type(mod).__name__
    return out


def check_min_dim(min_dim: object) -> int:
    """``min_dim`` as an int ≥ 2 (a matrix with one row or column has no spectrum to fit)."""
    if isinstance(min_dim, bool) or not isinstance(min_dim, int) or min_dim < 2:
        raise InvalidInputError(f"min_dim must be an integer ≥ 2, got {min_dim!r}")
    return min_dim


def select_weight_matrices(
    tensors: Iterable[tuple[str, tuple[int, ...]]],
    *,
    model: torch.nn.Module | None = None,
    layers: str | Sequence[str] | None = None,
    embeddings: bool = False,
    conv_slices: bool = False,
    min_dim: int = 2,
    split_fused: bool = False,
    heads: int | None = None,
    per_head: bool = False,
    kv_heads: int | None = None,
    module_heads: Mapping[str, int] | None = None,
) -> tuple[list[WeightMatrix], list[Skipped]]:
    """Classifies named tensor shapes into weight matrices and skipped tensors.

    ``tensors`` yields (name, shape); ``model``, when given, supplies the module types (otherwise
    they are inferred from names and shapes). ``layers`` selects by glob on the tensor name;
    ``split_fused`` splits fused projections (``heads``: attention heads, for ``query_key_value``);
    ``per_head`` splits attention projections per head (``heads``, ``kv_heads``; ``module_heads``:
    tensor name → the head count of its ``nn.MultiheadAttention``, which takes precedence).
    """
    min_dim = check_min_dim(min_dim)
    types = _module_types(model)
    chosen: list[WeightMatrix] = []
    skipped: list[Skipped] = []
    for name, shape in tensors:
        shape = tuple(int(v) for v in shape)
        if not matches(name, layers):
            continue
        layer_type = types.get(name) or _guess_type(name, shape)
        count = (module_heads or {}).get(name, heads)
        fused = _fused(name, shape, count) if split_fused or per_head else None
        split = _per_head(name, shape, count, count if name in (module_heads or {}) else kv_heads or heads) if per_head else None
        if fused is not None and per_head and count and count > 1:  # each part, then each head of it
            axis = _FUSED_HEAD_AXIS[fused[0]]
            entries = [WeightMatrix(f"{name}[{p}][head={h}]", name, layer_type, shape, "fused_head", (p, fused[0], fused[1], h, count, axis))
                       for p in "qkv" for h in range(count)]  # fmt: skip
            reason = None
        elif fused is not None:
            entries = [WeightMatrix(f"{name}[{p}]", name, layer_type, shape, fused[0], (p, *fused[1])) for p in "qkv"]
            reason = None
        elif split is not None:
            entries = [WeightMatrix(f"{name}[head={h}]", name, layer_type, shape, "head", (h, *split)) for h in range(split[0])]
            reason = None
        else:
            entries, reason = _classify(name, shape, layer_type, embeddings, conv_slices)
        if reason:
            skipped.append(Skipped(name, shape, reason))
            continue
        for e in entries:
            if min(e.shape) < min_dim:
                skipped.append(
                    Skipped(e.name, shape, f"matrix {e.shape[0]}×{e.shape[1]} is smaller than min_dim={min_dim}")
                )
            else:
                chosen.append(e)
    return chosen, skipped


def _guess_type(name: str, shape: tuple[int, ...]) -> str:
    lname = name.lower()
    if lname.endswith("in_proj_weight"):
        return "MultiheadAttention"
    if "embed" in lname and len(shape) == 2:
        return "Embedding"
    if len(shape) in (3, 4, 5):
        return f"Conv{len(shape) - 2}d"
    if len(shape) == 2:
        return "matrix"
    return "tensor"


_NORM_TYPES = ("LayerNorm", "BatchNorm", "GroupNorm", "InstanceNorm", "RMSNorm", "LocalResponseNorm")


def _classify(
    name: str, shape: tuple[int, ...], layer_type: str, embeddings: bool, conv_slices: bool
) -> tuple[list[WeightMatrix], str | None]:
    def entry(kind: str, suffix: str = "", part: tuple | None = None) -> WeightMatrix:
        return WeightMatrix(name + suffix, name, layer_type, shape, kind, part)

    if len(shape) == 0:
        return [], "scalar"
    if len(shape) == 1:
        return [], "1-D tensor (bias, norm scale or vector)"
    if any(layer_type.startswith(t) for t in _NORM_TYPES):
        return [], f"{layer_type} parameter"
    if layer_type == "Embedding" or (layer_type == "matrix" and "embed" in name.lower()):
        if not embeddings:
            return [], "embedding (pass embeddings=True to include it)"
        return [entry("embedding")], None
    if name.endswith("in_proj_weight"):
        if len(shape) != 2 or shape[0] % 3:
            return [], f"fused attention projection of unexpected shape {shape}"
        return [entry("attention_in_proj", f"[{p}]", (p,)) for p in "qkv"], None
    if len(shape) == 2:
        return [entry("matrix")], None
    if len(shape) in (3, 4, 5):
        if conv_slices:
            positions = itertools.product(*(range(k) for k in shape[2:]))
            return [entry("conv_slice", "[k=" + ",".join(map(str, p)) + "]", p) for p in positions], None
        return [entry("conv")], None
    return [], f"{len(shape)}-D tensor"


def module_weight_matrices(
    model: torch.nn.Module, **options
) -> tuple[list[WeightMatrix], list[Skipped], Callable[[str], torch.Tensor]]:
    """The weight matrices of a module's parameters, plus a getter from tensor name to parameter."""
    params = dict(model.named_parameters())
    for name, p in params.items():  # their shape is unknown: every later step would fail obscurely
        if isinstance(p, torch.nn.parameter.UninitializedParameter):
            raise InvalidInputError(
                f"parameter {name!r} is uninitialised (a lazy module such as LazyLinear); run one forward "
                "pass to give it a shape and values first"
            )
    chosen, skipped = select_weight_matrices(
        ((n, tuple(p.shape)) for n, p in params.items()), model=model, module_heads=attention_heads(model), **options
    )
    return chosen, skipped, params.__getitem__


def attention_heads(model: torch.nn.Module) -> dict[str, int]:
    """Tensor name → ``num_heads`` of its ``nn.MultiheadAttention`` (its ``in_proj_weight`` and ``out_proj.weight``)."""
    out = {}
    for mod_name, mod in model.named_modules():
        if isinstance(mod, torch.nn.MultiheadAttention):
            prefix = f"{mod_name}." if mod_name else ""
            out[f"{prefix}in_proj_weight"] = out[f"{prefix}out_proj.weight"] = int(mod.num_heads)
    return out


def state_dict_weight_matrices(
    state_dict: Mapping[str, torch.Tensor], **options
) -> tuple[list[WeightMatrix], list[Skipped]]:
    """The weight matrices of a state dict (module types inferred from names and shapes)."""
    items: Iterator[tuple[str, tuple[int, ...]]] = (
        (n, tuple(t.shape)) for n, t in state_dict.items() if isinstance(t, torch.Tensor)
    )
    return select_weight_matrices(items, **options)
