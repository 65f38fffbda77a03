"""Torch checkpoint files: which files of a folder are trainer state, and where the state dict sits
inside a loaded checkpoint (bare, or under ``"state_dict"``, ``"model"``, …)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import torch

from netsieve import InvalidInputError

# Files of a Hugging Face / trainer checkpoint folder that hold no model weights.
_TRAINER_STATE = ("training_args.bin", "optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "rng_state*.pth")


def _trainer_state(file: Path) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(file.name, pattern) for pattern in _TRAINER_STATE)


def _is_zip(file: Path) -> bool:
    with open(file, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module")


def _state_dict_path(obj: object) -> tuple[str, ...] | None:
    """Keys leading to the state dict inside a checkpoint: () for a bare state dict, ("state_dict",)
    for the usual wrappers {"state_dict": ...} / {"model": ...}; None when there is none."""
    if isinstance(obj, Mapping):
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            return ()
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                rest = _state_dict_path(inner)
                if rest is not None:
                    return (key, *rest)
    return None


def _unwrap_state_dict(obj: object) -> dict[str, torch.Tensor] | None:
    """The tensors of a state dict, or of a wrapped one (see `_state_dict_path`)."""
    path = _state_dict_path(obj)
    if path is None:
        return None
    for key in path:
        obj = obj[key]  # type: ignore[index]
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}  # type: ignore[union-attr]


def load_checkpoint_object(file: str | os.PathLike) -> tuple[object, tuple[str, ...]]:
    """A whole torch checkpoint (loaded with ``weights_only=True``) and the key path of its state dict."""
    try:
        obj = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InvalidInputError(f"cannot load {file} with weights_only=True: {exc}") from exc
    path = _state_dict_path(obj)
    if path is None:
        raise InvalidInputError(f"{file} does not hold a state dict of tensors")
    return obj, path


def replace_state_dict(obj: object, path: tuple[str, ...], tensors: Mapping[str, torch.Tensor]) -> object:
    """A copy of checkpoint ``obj`` whose state dict (at ``path``) has ``tensors`` in place of its own;
    every other entry (epoch, optimizer state, metadata) is kept."""
    if not path:
        out = dict(obj)  # type: ignore[arg-type]
        out.update(tensors)
        return out
    out = dict(obj)  # type: ignore[arg-type]
    out[path[0]] = replace_state_dict(out[path[0]], path[1:], tensors)
    return out
