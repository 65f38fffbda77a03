"""Batches of (inputs, labels) for the margin functions: a DataLoader, a list of pairs, or one
(inputs, labels) pair of tensors split into ``batch_size`` batches; with a progress bar for long
runs and the device the model lives on."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from .. import InvalidInputError
from .._progress import progress_iter


def batches(data: Any, batch_size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if x.shape[0] != y.shape[0]:
            raise InvalidInputError(f"inputs have {x.shape[0]} rows but labels {y.shape[0]}")
        for s in range(0, x.shape[0], batch_size):
            yield x[s : s + batch_size], y[s : s + batch_size]
        return
    for item in data:
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise InvalidInputError("each batch of data must be an (inputs, labels) pair")
        yield item[0], item[1]


_AUTO_PROGRESS_BATCHES = 100


def batch_progress(it: Iterable, total: int | None, progress: bool | None, desc: str) -> Iterable:
    """``it`` with a bar when asked for, or by default (``None``) for runs of at least 100 batches."""
    if progress is None:
        progress = total is not None and total >= _AUTO_PROGRESS_BATCHES
    return progress_iter(it, total, desc, bool(progress))


def total_batches(data: Any, batch_size: int) -> int | None:
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return math.ceil(data[0].shape[0] / batch_size)
    try:
        return len(data)
    except TypeError:
        return None


def device_of(model: nn.Module, device: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")
