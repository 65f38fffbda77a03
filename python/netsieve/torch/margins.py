"""Margins of torch models: normalized output margins (Banburski et al. 2021), first-order margins
at hidden layers normalized by the layer's total variation (Jiang et al. 2019), and the
generalization-gap regression on margin signatures (Jiang et al. 2019, :class:`GapPredictor`,
defined in :mod:`netsieve.torch.gap`).

``data`` is anything that yields ``(inputs, labels)`` batches (a ``DataLoader``, a list of pairs)
or a single ``(inputs, labels)`` pair of tensors, which is split into ``batch_size`` batches.
Models are evaluated in eval mode (BatchNorm uses running statistics, so examples do not interact
and one backward pass of a summed objective gives every example's own gradient); the previous
train/eval mode is restored afterwards.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .. import InvalidInputError, margins
from .._coerce import positive_integer
from ._batching import batch_progress, batches, device_of, total_batches
from ._modes import eval_mode
from .gap import GapPredictor  # its home is netsieve.torch.gap; importable from here as before

__all__ = ["output_margins", "layer_margins", "LayerMargins", "GapPredictor"]

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Bilinear)


def _weight_norm_product(model: nn.Module, normalize: str, modules: Sequence[nn.Module] | None) -> float:
    layers = list(modules) if modules is not None else [m for m in model.modules() if isinstance(m, _WEIGHTED)]
    if not layers:
        raise InvalidInputError("the model has no Linear/Conv layers to normalize by; pass norm_layers=")
    names = {id(m): n or "model" for n, m in model.named_modules()}
    kind = "Frobenius" if normalize == "frobenius_product" else "spectral"
    log_rho = 0.0
    with torch.no_grad():
        for m in layers:
            name = names.get(id(m), type(m).__name__)
            weight = getattr(m, "weight", None)
            if not isinstance(weight, torch.Tensor):
                raise InvalidInputError(f"norm layer {name!r} ({type(m).__name__}) has no weight tensor")
            w = weight.detach().to(torch.float64)
            w = w.reshape(w.shape[0], -1)
            # The SVD behind the spectral norm fails on NaN/Inf: check first.
            n = float(torch.linalg.matrix_norm(w, ord="fro" if kind == "Frobenius" else 2)) if torch.isfinite(w).all() else math.nan
            if not (math.isfinite(n) and n > 0):
                raise InvalidInputError(
                    f"layer {name!r} has {kind} norm {n}, so the {normalize} normalization is undefined"
                    + (" (its weights are all zero)" if n == 0 else " (its weights hold NaN or Inf)")
                )
            log_rho += math.log(n)
    return math.exp(log_rho)


def output_margins(
    model: nn.Module,
    data: Any,
    normalize: str = "none",
    *,
    kind: str = "logit",
    norm_layers: Sequence[nn.Module] | None = None,
    batch_size: int = 256,
    device: Any = None,
    progress: bool | None = None,
) -> np.ndarray:
    """Margins f_y − max_{j≠y} f_j of the model's outputs over ``data``, in dataset order.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch to (batch, classes) scores; run in eval mode, without gradients.
    data : DataLoader, iterable of (inputs, labels) or (inputs, labels) pair of tensors
    normalize : {"none", "frobenius_product", "spectral_product"}, default "none"
        ``"frobenius_product"`` divides by ρ = ∏_k ‖W_k‖_F over the weight layers (Banburski et al.: for a
        homogeneous ReLU network f = ρ·f_V with unit-norm layers, so this is the margin of f_V);
        ``"spectral_product"`` by ∏_k ‖W_k‖₂. Convolution kernels are reshaped to (out_channels,
        in_channels·kernel) matrices; biases are not normalized.
    kind : {"logit", "probability"}, default "logit"
        As for :func:`netsieve.margins`.
    norm_layers : sequence of torch.nn.Module, optional
        The layers of ρ (default: every Linear/Conv) — e.g. leave out layers followed by BatchNorm, which
        are scale invariant.
    batch_size : int, default 256
    device : torch.device or str, optional
        Where inputs go; default the device of the model's parameters.
    progress : bool, optional
        A tqdm bar (default: for runs of at least 100 batches).

    Returns
    -------
    numpy.ndarray
        One margin per sample, in the outputs' dtype (bfloat16 becomes float32).

    Raises
    ------
    InvalidInputError, TypeError
        Bad ``normalize`` or ``batch_size``, norm layers without a weight or of zero or non-finite norm
        (before the data pass), outputs not (batch, classes), no batches, bad labels or scores;
        TypeError for non-integer labels.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> net = torch.nn.Linear(2, 2, bias=False)
    >>> net.weight.data = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> x, y = torch.eye(2), torch.tensor([0, 0])  # scores (2, 0) and (0, 1)
    >>> nt.output_margins(net, (x, y)).tolist(), nt.output_margins(net, (x, y), "spectral_product").tolist()
    ([2.0, -1.0], [1.0, -0.5])

    References
    ----------
    .. [1] Banburski et al. (2021, arXiv 2107.10199): margins of the normalised network f_V.
    """
    if normalize not in ("none", "frobenius_product", "spectral_product"):
        raise InvalidInputError(
            f'normalize must be "none", "frobenius_product" or "spectral_product", got {normalize!r}'
        )
    batch_size = positive_integer(batch_size, "batch_size")
    # Before the data pass: a layer that makes the normalization undefined is named, not hit as NaN logits.
    rho = _weight_norm_product(model, normalize, norm_layers) if normalize != "none" else 1.0
    dev = device_of(model, device)
    parts = []
    with eval_mode(model), torch.no_grad():
        for x, y in batch_progress(batches(data, batch_size), total_batches(data, batch_size), progress, "output margins"):
            out = model(x.to(dev))
            if out.ndim != 2:
                raise InvalidInputError(f"the model must return (batch, classes) scores, got shape {tuple(out.shape)}")
            parts.append(margins(out.detach(), y, kind=kind))  # a tensor of the outputs' dtype, on their device
    if not parts:
        raise InvalidInputError("data yielded no batches")
    m = torch.cat(parts).cpu()
    m = (m.float() if m.dtype == torch.bfloat16 else m).numpy()  # numpy has no bfloat16
    if normalize != "none":
        m = (m / rho).astype(m.dtype)
    return m


# Layer margins live in their own module; importable from here as before.
from .layer_margins import LayerMargins, layer_margins  # noqa: E402
