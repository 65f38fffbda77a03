"""First-order margins at hidden layers, normalized by the layer's total variation (Jiang et al.
2019): :func:`layer_margins` and its result :class:`LayerMargins`. Data and modes as in
:mod:`netsieve.torch.margins`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .. import InvalidInputError, TotalVariation, margin_summary
from ..margins import as_labels
from .._coerce import positive_integer
from ._batching import batch_progress, batches, device_of, total_batches
from ._modes import eval_mode

__all__ = ["layer_margins", "LayerMargins"]


@dataclass(frozen=True)
class LayerMargins:
    """First-order margins per layer. ``normalized[name] = raw[name] / sqrt(total_variation[name])``
    (Jiang et al.'s d̂); ``raw`` is d̃ = (f_y − f_c)/‖∇_h(f_y − f_c)‖₂; ``correct`` marks samples with
    f_y − f_c > 0 (Jiang et al. keep only those for their signature).

    Parameters
    ----------
    normalized, raw : dict of str to numpy.ndarray
        d̂ and d̃ per layer (in the order :func:`layer_margins` was given), one value per sample.
    total_variation : dict of str to float
        ν = tr Cov(h) per layer.
    correct : numpy.ndarray of bool

    Raises
    ------
    dataclasses.FrozenInstanceError
        On assigning a field.

    Examples
    --------
    >>> import numpy as np, netsieve.torch as nt
    >>> raw = {"fc": np.array([2.0, -4.0])}
    >>> nt.LayerMargins({"fc": raw["fc"] / 2}, raw, {"fc": 4.0}, raw["fc"] > 0).normalized
    {'fc': array([ 1., -2.])}
    """

    normalized: dict[str, np.ndarray]
    raw: dict[str, np.ndarray]
    total_variation: dict[str, float]
    correct: np.ndarray = field(repr=False)

    def signature(self, positive_only: bool = True) -> np.ndarray:
        """Concatenated quartile signatures (Q1, Q2, Q3, upper fence, lower fence) of the layers.

        Parameters
        ----------
        positive_only : bool, default True
            Use only the margins > 0 (the correctly classified samples), as Jiang et al. do.

        Returns
        -------
        numpy.ndarray
            5 values per layer (in the order of ``normalized``), the features of :class:`GapPredictor`.

        Raises
        ------
        InvalidInputError
            A layer with no margin to summarise (see :func:`netsieve.margin_summary`).

        Examples
        --------
        >>> import numpy as np, netsieve.torch as nt
        >>> d = {"fc": np.array([1.0, 2.0, 3.0, 4.0, -1.0])}
        >>> nt.LayerMargins(d, d, {"fc": 1.0}, d["fc"] > 0).signature().tolist()
        [1.75, 2.5, 3.25, 5.5, -0.5]
        """
        return np.concatenate(
            [margin_summary(m, positive_only=positive_only).signature for m in self.normalized.values()]
        )

    def moments(self, positive_only: bool = True) -> np.ndarray:
        """Concatenated (mean, std, skewness, excess kurtosis) of the layers.

        Parameters
        ----------
        positive_only : bool, default True

        Returns
        -------
        numpy.ndarray
            4 values per layer, in the order of ``normalized``.

        Raises
        ------
        InvalidInputError
            As for :meth:`signature`.

        Examples
        --------
        >>> import numpy as np, netsieve.torch as nt
        >>> d = {"fc": np.array([1.0, 2.0, 3.0, 4.0, -1.0])}
        >>> nt.LayerMargins(d, d, {"fc": 1.0}, d["fc"] > 0).moments().round(3).tolist()
        [2.5, 1.118, 0.0, -1.36]
        """
        return np.concatenate(
            [margin_summary(m, positive_only=positive_only).moments for m in self.normalized.values()]
        )


def _resolve_layers(model: nn.Module, layers: Sequence[Any]) -> list[tuple[str, nn.Module | None]]:
    named = dict(model.named_modules())
    by_id = {id(m): n for n, m in named.items()}
    out = []
    for layer in layers:
        if isinstance(layer, str):
            if layer == "input":
                out.append(("input", None))
            elif layer in named:
                out.append((layer, named[layer]))
            else:
                raise InvalidInputError(f"model has no submodule named {layer!r}")
        elif isinstance(layer, nn.Module):
            if id(layer) not in by_id:
                raise InvalidInputError(f"{type(layer).__name__} module is not part of the model")
            out.append((by_id[id(layer)] or "model", layer))
        else:
            raise TypeError(f"layers must be module names, modules or 'input', got {type(layer).__name__}")
    if not out:
        raise InvalidInputError("layers is empty")
    return out


def layer_margins(
    model: nn.Module,
    data: Any,
    layers: Sequence[Any] = ("input",),
    *,
    eps: float = 0.0,
    batch_size: int = 256,
    device: Any = None,
    progress: bool | None = None,
) -> LayerMargins:
    """First-order margins at the outputs of ``layers`` (module names, modules, or ``"input"``):
    d̃ = (f_y − f_c) / ‖∇_h (f_y − f_c)‖₂, c = argmax_{j≠y} f_j, divided by sqrt(ν) with ν the layer's
    total variation tr Cov(h) over ``data`` (Jiang et al. 2019, population covariance; the demogen code's
    extra 1/N is not applied). One forward and one backward pass per batch (hooks capture every layer at
    once). Avoid in-place operations on hooked outputs (e.g. ``ReLU(inplace=True)`` after a hooked layer).

    Parameters
    ----------
    model, data, batch_size, device, progress
        As for :func:`output_margins`.
    layers : sequence of str or torch.nn.Module, default ("input",)
        Names from ``model.named_modules()``, submodules, or ``"input"``.
    eps : float, default 0.0
        Added under the square root of the gradient norm, as in the authors' code (they use 1e-6); with
        ``eps=0`` a zero gradient gives ±Inf.

    Returns
    -------
    LayerMargins

    Raises
    ------
    InvalidInputError, TypeError
        Bad ``batch_size`` or ``layers`` (unknown, repeated, foreign, none, not run, not tensors), bad
        outputs (shape, NaN/Inf) or labels, NaN gradients, zero total variation, no batches; TypeError
        for layers of other types, inputs that are not tensors, non-integer labels.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> lm = nt.layer_margins(net, (torch.randn(64, 4), torch.randint(0, 3, (64,))), ["input", net[1]])
    >>> list(lm.total_variation), lm.raw["1"].shape, lm.signature().shape
    (['input', '1'], (64,), (10,))

    References
    ----------
    .. [1] Jiang et al. (2019): margins at hidden layers normalised by the total variation.
    """
    batch_size = positive_integer(batch_size, "batch_size")
    dev = device_of(model, device)
    resolved = _resolve_layers(model, layers)
    names = [n for n, _ in resolved]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"layers repeat: {names}")
    raw: dict[str, list[np.ndarray]] = {n: [] for n in names}
    tv = {n: TotalVariation() for n in names}
    correct: list[np.ndarray] = []
    captured: dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def hook(_module, _inputs, output):
            if not isinstance(output, torch.Tensor):
                raise InvalidInputError(f"layer {name!r} returns {type(output).__name__}, not a tensor")
            captured[name] = output
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in resolved if m is not None]
    try:
        with eval_mode(model), torch.enable_grad():
            total = total_batches(data, batch_size)
            start = 0  # row of the current batch's first sample, for messages
            for x, y in batch_progress(batches(data, batch_size), total, progress, "layer margins"):
                captured.clear()
                if not isinstance(x, torch.Tensor):
                    raise TypeError(f"inputs must be tensors, got {type(x).__name__}")
                y = torch.from_numpy(as_labels(y, "labels"))  # the checks of netsieve.margins
                if x.shape[0] != y.shape[0]:
                    raise InvalidInputError(f"a batch has {x.shape[0]} inputs but {y.shape[0]} labels")
                if x.shape[0] == 0:
                    continue
                x = x.to(dev).detach().requires_grad_("input" in names)
                y = y.to(dev).long()
                if "input" in names:
                    captured["input"] = x
                out = model(x)
                if out.ndim != 2:
                    raise InvalidInputError(f"the model must return (batch, classes) scores, got {tuple(out.shape)}")
                if out.shape[0] != y.shape[0]:
                    raise InvalidInputError(f"the model returned {out.shape[0]} rows for a batch of {y.shape[0]} samples")
                bad = ~torch.isfinite(out.detach()).all(dim=1)
                if bad.any():
                    i = start + int(bad.nonzero()[0, 0])
                    raise InvalidInputError(
                        f"the model's outputs hold NaN or Inf for {int(bad.sum())} samples (first: row {i}); "
                        "their margins are undefined"
                    )
                rows = torch.arange(out.shape[0], device=out.device)
                if y.min() < 0 or y.max() >= out.shape[1]:
                    raise InvalidInputError(f"labels must lie in 0..{out.shape[1] - 1}")
                competitors = out.detach().clone()
                competitors[rows, y] = -torch.inf
                c = competitors.argmax(dim=1)
                diff = out[rows, y] - out[rows, c]
                missing = [n for n in names if n not in captured]
                if missing:
                    raise InvalidInputError(f"layers {missing} did not run in the forward pass")
                hs = [captured[n] for n in names]
                grads = torch.autograd.grad(diff.sum(), hs, allow_unused=True)
                num = diff.detach().to(torch.float64)
                correct.append((num > 0).cpu().numpy())
                for n, h, g in zip(names, hs, grads):
                    if g is None:
                        gnorm = torch.zeros_like(num)
                    else:
                        gnorm = (g.detach().to(torch.float64).reshape(g.shape[0], -1).pow(2).sum(1) + eps).sqrt()
                        if torch.isnan(gnorm).any():
                            i = start + int(torch.isnan(gnorm).nonzero()[0, 0])
                            raise InvalidInputError(f"the gradient at layer {n!r} is NaN (first: row {i}); margins are undefined")
                    with np.errstate(divide="ignore", invalid="ignore"):
                        raw[n].append((num / gnorm).cpu().numpy())
                    tv[n].update(h.detach().reshape(h.shape[0], -1))  # the core sums half precision in float64
                start += out.shape[0]
    finally:
        for h in handles:
            h.remove()
    if not correct:
        raise InvalidInputError("data yielded no batches")
    raw_m = {n: np.concatenate(v) for n, v in raw.items()}
    tv_v = {n: tv[n].value for n in names}
    normalized = {}
    for n in names:
        scale = math.sqrt(tv_v[n])
        if scale == 0:
            raise InvalidInputError(f"layer {n!r} has zero total variation over the data; its margins cannot be normalized")
        normalized[n] = raw_m[n] / scale
    return LayerMargins(normalized=normalized, raw=raw_m, total_variation=tv_v, correct=np.concatenate(correct))
