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
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from .. import InvalidInputError, TotalVariation, margin_summary, margins
from .._progress import progress_iter
from ._modes import eval_mode
from .gap import GapPredictor  # its home is netsieve.torch.gap; importable from here as before

__all__ = ["output_margins", "layer_margins", "LayerMargins", "GapPredictor"]

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Bilinear)


def _batches(data: Any, batch_size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
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


def _label_tensor(y: Any) -> torch.Tensor:
    """Integer class labels as a 1-D tensor; floats are refused, not truncated (as netsieve.margins does)."""
    if not isinstance(y, torch.Tensor):
        y = torch.as_tensor(np.asarray(y))
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"labels must be integers, got torch dtype {y.dtype}; class indices cannot be floats")
    if y.ndim != 1:
        raise InvalidInputError(f"labels must be 1-D, got shape {tuple(y.shape)}")
    return y


_AUTO_PROGRESS_BATCHES = 100


def _batch_progress(it: Iterable, total: int | None, progress: bool | None, desc: str) -> Iterable:
    """``it`` with a bar when asked for, or by default (``None``) for runs of at least 100 batches."""
    if progress is None:
        progress = total is not None and total >= _AUTO_PROGRESS_BATCHES
    return progress_iter(it, total, desc, bool(progress))


def _total(data: Any, batch_size: int) -> int | None:
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return math.ceil(data[0].shape[0] / batch_size)
    try:
        return len(data)
    except TypeError:
        return None


def _device_of(model: nn.Module, device: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


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


def _check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


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
    batch_size = _check_batch_size(batch_size)
    # Before the data pass: a layer that makes the normalization undefined is named, not hit as NaN logits.
    rho = _weight_norm_product(model, normalize, norm_layers) if normalize != "none" else 1.0
    dev = _device_of(model, device)
    parts = []
    with eval_mode(model), torch.no_grad():
        for x, y in _batch_progress(_batches(data, batch_size), _total(data, batch_size), progress, "output margins"):
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
    batch_size = _check_batch_size(batch_size)
    dev = _device_of(model, device)
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
            total = _total(data, batch_size)
            start = 0  # row of the current batch's first sample, for messages
            for x, y in _batch_progress(_batches(data, batch_size), total, progress, "layer margins"):
                captured.clear()
                if not isinstance(x, torch.Tensor):
                    raise TypeError(f"inputs must be tensors, got {type(x).__name__}")
                y = _label_tensor(y)
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
