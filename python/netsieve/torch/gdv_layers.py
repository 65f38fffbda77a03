"""Class separability layer by layer: the GDV (Schilling et al. 2021, :func:`netsieve.gdv`) of the
input and of chosen layers' outputs, and the depth the curve suggests (:class:`GDVCurve`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .. import InvalidInputError, gdv
from ..margins import as_labels
from ._modes import eval_mode

__all__ = ["GDVCurve", "gdv_curve"]


@dataclass(frozen=True)
class GDVCurve:
    """GDV per layer, the input first; more negative means better separated classes.

    Parameters
    ----------
    layers : tuple of str
        ``"input"``, then the layers in the order given.
    values : tuple of float
        The GDV of each.

    Raises
    ------
    dataclasses.FrozenInstanceError
        On assigning a field.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> c = nt.GDVCurve(("input", "a", "b", "c"), (-0.1, -0.30, -0.39, -0.40))
    >>> c.best_layer(), c.saturation_layer(0.9)
    (3, 2)
    """

    layers: tuple[str, ...]
    values: tuple[float, ...]

    def best_layer(self) -> int:
        """The index (0 = input) of the lowest GDV: the depth of best separation (first on ties)."""
        return int(np.argmin(self.values))

    def saturation_layer(self, fraction: float = 0.95) -> int:
        """The first index l with GDV(0) − GDV(l) ≥ ``fraction`` · (GDV(0) − min GDV): the depth after
        which further layers add less than 1 − ``fraction`` of the separation gained (0 when no
        layer improves on the input).

        Raises
        ------
        InvalidInputError
            ``fraction`` outside (0, 1].
        """
        if not 0 < fraction <= 1:
            raise InvalidInputError(f"fraction must lie in (0, 1], got {fraction!r}")
        v = np.asarray(self.values)
        gain = v[0] - v.min()
        if gain <= 0:
            return 0
        return int(np.argmax(v[0] - v >= fraction * gain))

    def to_dict(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "values": list(self.values)}


def gdv_curve(model: nn.Module, x: torch.Tensor, labels: Any, layers: Sequence[nn.Module],
              *, batch_size: int = 1000) -> GDVCurve:  # fmt: skip
    """The GDV of ``x`` (flattened) and of each layer's output over ``x``, in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
    x : torch.Tensor
        Inputs, N samples (GDV costs O(N²D): a few thousand samples at most).
    labels : array_like of int
        Their classes.
    layers : sequence of torch.nn.Module
        Submodules of ``model`` whose outputs are measured (e.g. the ReLUs after the hidden layers).
    batch_size : int, default 1000

    Returns
    -------
    GDVCurve

    Raises
    ------
    InvalidInputError
        A layer that is not part of the model or does not run, labels of another length, and the
        errors of :func:`netsieve.gdv`.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    >>> x = torch.randn(100, 4); y = (x[:, 0] > 0).long()
    >>> c = nt.gdv_curve(net, x, y, [net[1]])
    >>> c.layers, all(v < 0 for v in c.values)
    (('input', '1'), True)
    """
    y = as_labels(labels, "labels")
    if y.shape[0] != x.shape[0]:
        raise InvalidInputError(f"{x.shape[0]} inputs but {y.shape[0]} labels")
    names = {id(m): n for n, m in model.named_modules()}
    missing = [type(m).__name__ for m in layers if id(m) not in names]
    if missing:
        raise InvalidInputError(f"layers {missing} are not part of the model")
    captured: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(layers))}

    def hook_for(i: int):
        def hook(_module, _inputs, output):
            captured[i].append(output.detach().reshape(output.shape[0], -1).to(torch.float64).cpu())
        return hook

    handles = [m.register_forward_hook(hook_for(i)) for i, m in enumerate(layers)]
    try:
        with eval_mode(model), torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                model(x[start : start + batch_size])
    finally:
        for h in handles:
            h.remove()
    values = [float(gdv(x.reshape(x.shape[0], -1).to(torch.float64).numpy(), y))]
    for i, m in enumerate(layers):
        if not captured[i]:
            raise InvalidInputError(f"layer {names[id(m)]!r} did not run in the forward pass")
        values.append(float(gdv(torch.cat(captured[i]).numpy(), y)))
    if not all(math.isfinite(v) for v in values):
        raise InvalidInputError("a GDV is not finite")
    return GDVCurve(("input", *(names[id(m)] for m in layers)), tuple(values))
