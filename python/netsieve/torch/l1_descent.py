"""Layer-wise L1 training of torch models by vertex descent (Deep ReLU Programming).

:func:`l1_layer_descent` reads an ``nn.Sequential`` of ``Linear`` layers separated by ``ReLU``,
``LeakyReLU`` or :class:`Abs` modules, trains one ``Linear`` layer with all others fixed by
:func:`netsieve.l1_vertex_descent` (the numpy-level kernel, with its definitions and statuses) and
returns a new model; the input model is never modified. ``layer`` counts ``Linear`` modules from 0.
The L1 loss is Σᵢ‖model(xᵢ) − yᵢ‖₁, summed, not averaged.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import netsieve as ns

from .. import InvalidInputError

__all__ = ["Abs", "L1DescentResult", "l1_layer_descent", "load_sequential", "sequential_layers"]


class Abs(nn.Module):
    """The absolute value as a module, z ↦ |z| (piecewise linear, so vertex descent supports it).

    Parameters
    ----------
    None.

    Raises
    ------
    Nothing beyond torch's own errors.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> nt.Abs()(torch.tensor([-2.0, 3.0])).tolist()
    [2.0, 3.0]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


@dataclass(frozen=True)
class L1DescentResult:
    """What :func:`l1_layer_descent` returns.

    Attributes
    ----------
    model : torch.nn.Sequential
        A new model, the trained layer replaced (same dtype and device as the input's).
    loss : float
        Σᵢ‖model(xᵢ) − yᵢ‖₁ of the new model, from a fresh forward pass in float64.
    status : str
        ``"local_minimum"``, ``"unbounded"``, ``"limit"``, ``"interrupted"`` (Ctrl-C: the model
        of the point reached) or ``"breakdown"`` (see :func:`netsieve.l1_vertex_descent`).
    trace : netsieve.DescentTrace
        Per vertex: ``loss``, ``step`` (‖θ_{k+1} − θ_k‖), ``regions_tried`` and ``extrapolated``
        (the loss at the minimum estimated from a window of recent vertices).
    result : netsieve.VertexDescentResult
        The kernel's full record (active units, initial and phase-1 loss, drift, time).

    Raises
    ------
    Nothing: a frozen record made by :func:`l1_layer_descent`.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> X, y = torch.randn(60, 2), torch.randn(60)
    >>> res = nt.l1_layer_descent(model, X, y, layer=1)
    >>> res.status, res.loss <= res.result.initial_loss, len(res.trace.loss) == res.result.n_vertices
    ('local_minimum', True, True)
    """

    model: nn.Sequential
    loss: float
    status: str
    trace: Any
    result: Any


def sequential_layers(model: nn.Module) -> tuple[list[nn.Linear], list[Any]]:
    """The ``Linear`` modules of a supported model and the activations between them, as
    :func:`netsieve.l1_vertex_descent` takes them (names, or ``("leaky_relu", slope)``).

    Parameters
    ----------
    model : torch.nn.Module
        An ``nn.Sequential``: ``Linear``, then any number of (activation, ``Linear``) pairs;
        activations ``ReLU``, ``LeakyReLU``, :class:`Abs`; ``Identity`` and ``Dropout`` (a no-op
        here: the loss is that of eval mode) are skipped; nested ``Sequential`` is flattened.

    Returns
    -------
    (list of torch.nn.Linear, list)

    Raises
    ------
    InvalidInputError
        Any other module, two ``Linear`` or two activations in a row, a model that does not start
        and end with ``Linear``.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> m = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LeakyReLU(0.2), torch.nn.Linear(3, 1))
    >>> [type(l).__name__ for l in nt.sequential_layers(m)[0]], nt.sequential_layers(m)[1]
    (['Linear', 'Linear'], [('leaky_relu', 0.2)])
    """
    if not isinstance(model, nn.Sequential):
        raise InvalidInputError(f"l1 descent needs an nn.Sequential of Linear and activation modules, got {type(model).__name__}")

    def flat(seq: nn.Sequential):
        for name, m in seq.named_children():
            if isinstance(m, nn.Sequential):
                yield from flat(m)
            else:
                yield name, m

    linears: list[nn.Linear] = []
    acts: list[Any] = []
    expect_linear = True
    for name, m in flat(model):
        if isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        if isinstance(m, nn.Linear):
            if not expect_linear:
                raise InvalidInputError(f"module {name!r}: two Linear layers without an activation between them")
            linears.append(m)
            expect_linear = False
            continue
        if isinstance(m, nn.ReLU):
            act: Any = "relu"
        elif isinstance(m, nn.LeakyReLU):
            act = ("leaky_relu", float(m.negative_slope))
        elif isinstance(m, Abs):
            act = "abs"
        else:
            raise InvalidInputError(
                f"module {name!r} ({type(m).__name__}) is not supported by l1 descent: use Linear, ReLU, "
                "LeakyReLU or netsieve.torch.Abs (piecewise-linear activations with one kink at 0)"
            )
        if expect_linear:
            raise InvalidInputError(f"module {name!r}: an activation must follow a Linear layer")
        acts.append(act)
        expect_linear = True
    if not linears:
        raise InvalidInputError("the model has no Linear layer")
    if expect_linear:
        raise InvalidInputError("the model must end with a Linear layer (the L1 loss is taken on its output)")
    return linears, acts


_ACTIVATION_MODULES = {"relu": nn.ReLU, "abs": Abs, "leaky_relu": nn.LeakyReLU}


def load_sequential(path: str | os.PathLike, activation: str = "relu") -> nn.Sequential:
    """A model for :func:`l1_layer_descent` from a torch file, loaded with ``weights_only=True``.

    The file holds either a whole ``nn.Sequential`` saved by ``torch.save(model, path)`` (of the
    modules :func:`sequential_layers` accepts: only these classes may be unpickled, so no other code
    runs), or a state dict (``torch.save(model.state_dict(), path)``, bare or under ``"state_dict"``,
    ``"model_state_dict"``, ``"model"`` or ``"module"``). A state dict does not record activations:
    its ``<name>.weight`` (2-D) and ``<name>.bias`` pairs, in file order, become ``Linear`` layers
    with ``activation`` between them.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    activation : {"relu", "leaky_relu", "abs"}, default "relu"
        The activation between the layers of a state dict (``LeakyReLU`` with its default slope
        0.01); ignored for a saved model.

    Returns
    -------
    torch.nn.Sequential
        float64, in eval mode.

    Raises
    ------
    FileNotFoundError
        No such file.
    InvalidInputError
        A file that cannot be loaded safely (a pickle of other classes, a truncated file), a state
        dict without 2-D weights, layers whose shapes do not chain, a weight without its bias,
        an unknown ``activation``; a model that :func:`sequential_layers` refuses.

    Examples
    --------
    >>> import pathlib, tempfile, torch, netsieve.torch as nt
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> torch.save(model, folder / "model.pt"); torch.save(model.state_dict(), folder / "state.pt")
    >>> nt.load_sequential(folder / "model.pt")
    Sequential(
      (0): Linear(in_features=3, out_features=4, bias=True)
      (1): ReLU()
      (2): Linear(in_features=4, out_features=1, bias=True)
    )
    >>> nt.sequential_layers(nt.load_sequential(folder / "state.pt", "abs"))[1]
    ['abs']
    """
    from .checkpoints import _unwrap_state_dict

    if activation not in _ACTIVATION_MODULES:
        raise InvalidInputError(f"invalid `activation`: expected one of {sorted(_ACTIVATION_MODULES)}, got {activation!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    safe = [nn.Sequential, nn.Linear, nn.ReLU, nn.LeakyReLU, nn.Identity, nn.Dropout, Abs]
    try:
        with torch.serialization.safe_globals(safe):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InvalidInputError(
            f"cannot load {path} with weights_only=True (an nn.Sequential of Linear, ReLU, LeakyReLU "
            f"and netsieve.torch.Abs, or a state dict; other pickled objects are never executed): {exc}"
        ) from exc
    if isinstance(obj, nn.Module):
        sequential_layers(obj)  # a clear error for anything unsupported
        return obj.double().eval()
    state = _unwrap_state_dict(obj)
    if not state:
        raise InvalidInputError(f"{path} holds neither an nn.Sequential nor a state dict of tensors")
    layers: list[nn.Module] = []
    for name, w in state.items():
        if not name.endswith(".weight") or w.ndim != 2:
            continue
        bias = state.get(name[: -len("weight")] + "bias")
        if bias is None or tuple(bias.shape) != (w.shape[0],):
            raise InvalidInputError(f"{path}: {name} of shape {tuple(w.shape)} has no bias of {w.shape[0]} values")
        if layers and layers[-1].out_features != w.shape[1]:  # type: ignore[union-attr]
            raise InvalidInputError(f"{path}: {name} takes {w.shape[1]} inputs but the layer before has {layers[-1].out_features} outputs")  # type: ignore[union-attr]
        lin = nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(bias)
        layers.append(lin)
    if not layers:
        raise InvalidInputError(f"{path}: no 2-D weight tensor (named <layer>.weight) in the state dict")
    modules: list[nn.Module] = [layers[0]]
    for lin in layers[1:]:
        modules += [_ACTIVATION_MODULES[activation](), lin]
    return nn.Sequential(*modules).eval()


def _numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if not x.is_floating_point():
            raise TypeError(f"{name} must hold floating-point values, got torch dtype {x.dtype}")
        return x.to(torch.float64).numpy()
    return np.asarray(x)


def l1_layer_descent(
    model: nn.Module,
    X: Any,
    y: Any,
    layer: int = 0,
    max_vertices: int | None = None,
    time_limit: float | None = None,
    *,
    window: int | None = None,
) -> L1DescentResult:
    """Trains one ``Linear`` layer of a ReLU network for the L1 loss by vertex descent.

    All other layers stay fixed; the loss Σᵢ‖model(xᵢ) − yᵢ‖₁ never increases, and the returned
    parameters are a vertex of the piecewise-affine loss (see :func:`netsieve.l1_vertex_descent`
    for the algorithm, the statuses and the extrapolated loss). Computed in float64.

    Parameters
    ----------
    model : torch.nn.Sequential
        ``Linear`` layers separated by ``ReLU``, ``LeakyReLU`` or :class:`Abs` (see
        :func:`sequential_layers`); never modified.
    X : torch.Tensor or array_like
        (N, in_features) inputs.
    y : torch.Tensor or array_like
        N targets for a scalar output, or (N, out_features).
    layer : int, default 0
        Which ``Linear`` module to train, counted from 0 (negative counts from the end).
    max_vertices : int, optional
        Vertices to visit at most after the first (status ``"limit"``).
    time_limit : float, optional
        Seconds (status ``"limit"``). Ctrl-C also ends the walk and returns the result so far
        (status ``"interrupted"``).
    window : int, optional
        Loss decreases used by the extrapolation; default ``netsieve.DEFAULTS["l1_window"]``.

    Returns
    -------
    L1DescentResult

    Raises
    ------
    InvalidInputError
        Unsupported modules, a layer out of range, a trained layer without bias, the kernel's
        checks (non-finite values, y of the wrong shape, no vertex).

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> _ = torch.manual_seed(1)
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
    >>> X, y = torch.rand(200, 4) * 6 - 3, torch.rand(200) * 6 - 3
    >>> res = nt.l1_layer_descent(model, X, y, layer=0)
    >>> res.status, res.loss <= float((model(X).squeeze(1) - y).abs().sum().detach())
    ('local_minimum', True)
    """
    linears, acts = sequential_layers(model)
    n_layers = len(linears)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise TypeError(f"layer must be an integer, got {type(layer).__name__}")
    if not -n_layers <= layer < n_layers:
        raise InvalidInputError(f"invalid `layer`: the model has {n_layers} Linear layers (0..{n_layers - 1}), got {layer}")
    layer = int(layer) % n_layers
    if linears[layer].bias is None:
        raise InvalidInputError(f"Linear layer {layer} has no bias; vertex descent trains weight and bias together")
    Ws = [lin.weight.detach().cpu().to(torch.float64).numpy() for lin in linears]
    bs = [
        lin.bias.detach().cpu().to(torch.float64).numpy() if lin.bias is not None else np.zeros(lin.out_features)
        for lin in linears
    ]
    res = ns.l1_vertex_descent(
        Ws, bs, acts, _numpy(X, "X"), _numpy(y, "y"), layer,
        max_vertices=max_vertices, time_limit=time_limit,
        window=ns.DEFAULTS["l1_window"] if window is None else window,
    )  # fmt: skip
    new = copy.deepcopy(model)
    target = sequential_layers(new)[0][layer]
    with torch.no_grad():
        target.weight.copy_(torch.as_tensor(np.array(res.weight), dtype=target.weight.dtype))
        target.bias.copy_(torch.as_tensor(np.array(res.bias), dtype=target.bias.dtype))
    return L1DescentResult(model=new, loss=res.loss, status=res.status, trace=res.trace, result=res)
