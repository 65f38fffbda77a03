"""Model builders by name: a fully connected MLP and small 1-D / 2-D CNNs.

``build_model("mlp", input_shape=(40,), n_classes=10, hidden=(512, 512))`` gives the
40-512-512-10 ReLU network of the label-noise filtering experiments. Inputs of any shape are
flattened by the MLP; the CNNs take (C, L) or (C, H, W) samples (a missing channel axis is added).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Sequence

import torch
from torch import nn

__all__ = ["MODELS", "ACTIVATIONS", "build_model"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU, "abs": None}


class _Abs(nn.Module):
    """|x|, the activation of the Berlyand–Jabin–Safsten stability results."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(sorted(ACTIVATIONS))}")
    return _Abs() if name == "abs" else ACTIVATIONS[name]()


def _check_sizes(values: Sequence[int], what: str) -> list[int]:
    out = [int(v) for v in values]
    if any(v <= 0 for v in out):
        raise ValueError(f"{what} must be positive integers, got {list(values)!r}")
    return out


class _AddChannel(nn.Module):
    def __init__(self, ndim: int):
        super().__init__()
        self.ndim = ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(1) if x.ndim == self.ndim + 1 else x


def _check_dropout(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p!r}")
    return float(p)


def _dropout(p: float) -> list[nn.Module]:
    # No layer at p = 0, so a model without dropout keeps the layer indices (and names) it always had.
    return [nn.Dropout(p)] if p > 0 else []


def _mlp(input_shape: Sequence[int], n_classes: int, hidden: Sequence[int] = (512, 512),
         activation: str = "relu", batch_norm: bool = False, dropout: float = 0.0) -> nn.Module:
    dropout = _check_dropout(dropout)
    d = 1
    for s in input_shape:
        d *= int(s)
    layers: list[nn.Module] = [nn.Flatten()]
    for h in _check_sizes(hidden, "hidden"):
        # With batch norm the linear bias is redundant (BN's shift replaces it).
        layers += [nn.Linear(d, h, bias=not batch_norm)] + ([nn.BatchNorm1d(h)] if batch_norm else [])
        layers += [_activation(activation)] + _dropout(dropout)
        d = h
    layers.append(nn.Linear(d, n_classes))
    return nn.Sequential(*layers)


def _cnn(spatial: int, input_shape: Sequence[int], n_classes: int, channels: Sequence[int] = (32, 64),
         kernel_size: int = 3, hidden: Sequence[int] = (), activation: str = "relu",
         batch_norm: bool = False, dropout: float = 0.0) -> nn.Module:
    dropout = _check_dropout(dropout)
    shape = [int(s) for s in input_shape]
    if len(shape) == spatial:
        shape = [1] + shape
    if len(shape) != spatial + 1:
        raise ValueError(
            f"cnn{spatial}d needs samples of shape {'(C, L)' if spatial == 1 else '(C, H, W)'} "
            f"or without C, got {tuple(input_shape)}"
        )
    if int(kernel_size) <= 0:
        raise ValueError(f"kernel_size must be positive, got {kernel_size!r}")
    conv = nn.Conv1d if spatial == 1 else nn.Conv2d
    norm = nn.BatchNorm1d if spatial == 1 else nn.BatchNorm2d
    pool = nn.AdaptiveAvgPool1d if spatial == 1 else nn.AdaptiveAvgPool2d
    layers: list[nn.Module] = [_AddChannel(spatial)]
    c = shape[0]
    for i, out in enumerate(_check_sizes(channels, "channels")):
        # Stride 2 after the first layer halves the resolution, cheaply.
        layers.append(conv(c, out, int(kernel_size), stride=1 if i == 0 else 2, padding=int(kernel_size) // 2,
                           bias=not batch_norm))
        layers += ([norm(out)] if batch_norm else []) + [_activation(activation)] + _dropout(dropout)
        c = out
    layers += [pool(1), nn.Flatten()]
    for h in _check_sizes(hidden, "hidden"):
        layers += [nn.Linear(c, h, bias=not batch_norm)] + ([nn.BatchNorm1d(h)] if batch_norm else [])
        layers += [_activation(activation)] + _dropout(dropout)
        c = h
    layers.append(nn.Linear(c, n_classes))
    return nn.Sequential(*layers)


MODELS = {
    "mlp": _mlp,
    "cnn1d": functools.partial(_cnn, 1),
    "cnn2d": functools.partial(_cnn, 2),
}


def model_options(name: str) -> list[str]:
    """The options model ``name`` takes: its builder's keyword parameters (build_model refuses others)."""
    return [p for p in inspect.signature(MODELS[name]).parameters if p not in ("input_shape", "n_classes")]


def build_model(name: str, input_shape: Sequence[int], n_classes: int, **options: Any) -> nn.Module:
    """Builds a model by name (``"mlp"``, ``"cnn1d"``, ``"cnn2d"``). Options: ``hidden`` (MLP widths,
    or the CNN's dense head), ``channels`` and ``kernel_size`` (CNN), ``activation``, ``batch_norm`` (BatchNorm after every hidden
    linear/conv layer, before the activation), ``dropout`` (a Dropout layer of that probability after
    every hidden activation, convolutions included; none at 0).

    The MLP flattens its input; the CNNs (stride 1 in the first convolution, 2 after it, padding
    ``kernel_size // 2``, global average pooling, then the dense head) add a missing channel axis.
    With ``batch_norm`` the hidden layers have no bias (BatchNorm's shift replaces it).

    Parameters
    ----------
    name : {"mlp", "cnn1d", "cnn2d"}
        One of :data:`MODELS`.
    input_shape : sequence of int
        The shape of one sample: anything for the MLP; (C, L) or (L,) for ``"cnn1d"``, (C, H, W)
        or (H, W) for ``"cnn2d"``.
    n_classes : int
        Outputs, at least 2.
    **options
        ``hidden`` (default (512, 512) for the MLP, () for the CNNs), ``channels`` (32, 64),
        ``kernel_size`` (3), ``activation`` (``"relu"``, ``"tanh"``, ``"gelu"``, ``"leaky_relu"``,
        ``"abs"``; default ``"relu"``), ``batch_norm`` (False), ``dropout`` (0.0, in [0, 1)). The
        MLP takes ``hidden``, ``activation``, ``batch_norm`` and ``dropout`` only.

    Returns
    -------
    torch.nn.Sequential
        Initialised by torch's default initialisers (seed torch first for reproducible weights).

    Raises
    ------
    ValueError
        An unknown model or activation, ``n_classes`` below 2, sizes that are not positive, a
        dropout outside [0, 1), an input shape the CNN cannot take.
    TypeError
        An option the model does not take (e.g. ``channels`` for the MLP), named in the message.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> _ = torch.manual_seed(0)
    >>> net = nt.build_model("mlp", input_shape=(40,), n_classes=10, hidden=(64, 32))
    >>> [tuple(m.weight.shape) for m in net if isinstance(m, torch.nn.Linear)]
    [(64, 40), (32, 64), (10, 32)]
    >>> [m.p for m in nt.build_model("mlp", (40,), 10, hidden=(64, 32), dropout=0.2) if isinstance(m, torch.nn.Dropout)]
    [0.2, 0.2]
    >>> cnn = nt.build_model("cnn2d", input_shape=(8, 8), n_classes=10, channels=(4,))
    >>> tuple(cnn(torch.zeros(2, 8, 8)).shape)
    (2, 10)
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes!r}")
    takes = model_options(name)
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise TypeError(f"model {name!r} does not take {', '.join(map(repr, unknown))}; it takes {', '.join(takes)}")
    return MODELS[name](tuple(input_shape), int(n_classes), **options)
