"""The columns of the training diagnostics, computed in one place for netsieve's trainer (its
per-epoch metrics) and for the :class:`~netsieve.torch.monitor.Monitor` of the framework callbacks
(:mod:`netsieve.integrations`); named as in the trainer's ``metrics.csv`` (see
:mod:`netsieve.torch.monitor`)."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

import netsieve as ns

from .diagnostics import DEFAULT_DELTAS, delta_accuracy, susceptibility_probe, weight_matrices

__all__ = ["spectral_columns", "margin_columns", "delta_columns", "zeta_columns"]


def spectral_columns(model: nn.Module, *, porter_thomas: bool = False, min_dim: int = 2,
                     layers: str | Sequence[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Per weight matrix of ``model``: σ, spikes, the white-noise verdict, MP soft rank and α (module docs).

    Parameters
    ----------
    model : torch.nn.Module
    porter_thomas : bool, default False
        Add ``pt_boundary[name]`` (needs every singular vector: slower).
    min_dim : int, default 2
        Skip matrices with a side below this.
    layers : str or sequence of str, optional
        Globs on the weight names.

    Returns
    -------
    dict
        Column → value; a matrix that cannot be fitted gets NaN and -1 counts rather than stopping
        the run. Empty when the model has no weight matrices.

    Raises
    ------
    InvalidInputError
        Bad ``min_dim`` or ``layers``.

    Examples
    --------
    >>> import torch
    >>> from netsieve.torch.monitor import spectral_columns
    >>> _ = torch.manual_seed(0)
    >>> cols = spectral_columns(torch.nn.Linear(100, 50))
    >>> sorted(cols)
    ['alpha[weight]', 'bulk_is_mp[weight]', 'mp_n_spikes[weight]', 'mp_soft_rank[weight]', 'n_spikes[weight]', 'power_law_like[weight]', 'sigma[weight]', 'spread[weight]']
    >>> cols["n_spikes[weight]"]
    0
    """
    options = {} if layers is None else {"layers": layers}
    res = ns.analyze_layers(weight_matrices(model, min_dim=min_dim, **options), porter_thomas=porter_thomas,
                            level_statistics=False, errors="collect")  # fmt: skip
    out: dict[str, Any] = {}
    for name, r in res.items():
        ok = r.error is None and r.sigma is not None
        out[f"sigma[{name}]"] = r.sigma if ok else math.nan
        out[f"n_spikes[{name}]"] = r.n_spikes if ok else -1
        out[f"mp_n_spikes[{name}]"] = r.mp_n_spikes if ok else -1
        out[f"bulk_is_mp[{name}]"] = bool(r.bulk_is_mp) if ok else False
        out[f"spread[{name}]"] = (r.spread or 0.0) if ok else math.nan
        out[f"mp_soft_rank[{name}]"] = r.mp_soft_rank if ok and r.mp_soft_rank is not None else math.nan
        out[f"alpha[{name}]"] = r.alpha if ok and r.alpha is not None else math.nan
        out[f"power_law_like[{name}]"] = bool(r.power_law_like) if ok else False
        if porter_thomas:
            out[f"pt_boundary[{name}]"] = r.porter_thomas_boundary if ok and r.porter_thomas_boundary is not None else -1
    return out


def margin_columns(margins: np.ndarray) -> dict[str, float]:
    """``margin_<stat>``: the numeric fields of :func:`netsieve.margin_summary` of ``margins``.

    Parameters
    ----------
    margins : numpy.ndarray
        Margins, e.g. from :func:`netsieve.margins`.

    Returns
    -------
    dict of str to float

    Raises
    ------
    InvalidInputError
        As :func:`netsieve.margin_summary` (empty or NaN margins).

    Examples
    --------
    >>> import numpy as np
    >>> from netsieve.torch.monitor import margin_columns
    >>> margin_columns(np.array([-1.0, 0.5, 2.0]))["margin_mean"]
    0.5
    """
    summary = ns.margin_summary(margins)
    return {f"margin_{k}": float(v) for k, v in summary.to_dict().items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}  # fmt: skip


def delta_columns(logits: torch.Tensor, labels: torch.Tensor, deltas: Sequence[float] = DEFAULT_DELTAS) -> dict[str, float]:
    """``acc_delta_<δ>``: δ-robust accuracy (:func:`netsieve.torch.delta_accuracy`).

    Parameters
    ----------
    logits : torch.Tensor
        N×C.
    labels : torch.Tensor
        N integer labels.
    deltas : sequence of float

    Returns
    -------
    dict of str to float

    Raises
    ------
    ValueError
        As :func:`netsieve.torch.delta_accuracy`.

    Examples
    --------
    >>> import torch
    >>> from netsieve.torch.monitor import delta_columns
    >>> delta_columns(torch.tensor([[3.0, 0.0], [0.1, 0.0]]), torch.tensor([0, 0]), (0.0, 0.5))
    {'acc_delta_0': 1.0, 'acc_delta_0.5': 0.5}
    """
    return {f"acc_delta_{d:g}": a for d, a in delta_accuracy(logits, labels, deltas).items()}


def zeta_columns(model: nn.Module, optimizer: torch.optim.Optimizer, x: Any, y_random: torch.Tensor, terms: list[float],
                 loss_fn: Callable | None = None) -> dict[str, float]:  # fmt: skip
    """One ζ probe (:func:`netsieve.torch.susceptibility_probe`); appends its term to ``terms``,
    whose running mean is ``zeta``.

    Parameters
    ----------
    model, optimizer, x, y_random, loss_fn
        As for :func:`netsieve.torch.susceptibility_probe`.
    terms : list of float
        The terms so far (changed in place).

    Returns
    -------
    dict of str to float
        ``zeta_loss_before``, ``zeta_loss_after``, ``zeta_step``, ``zeta``.

    Raises
    ------
    Exception
        Whatever the model, loss or optimizer raise (everything is restored first).

    Examples
    --------
    >>> import torch
    >>> from netsieve.torch.monitor import zeta_columns
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Linear(4, 3); opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> terms = []
    >>> cols = zeta_columns(model, opt, torch.randn(16, 4), torch.randint(0, 3, (16,)), terms)
    >>> cols["zeta"] == cols["zeta_step"] == terms[0]
    True
    """
    before, after = susceptibility_probe(model, optimizer, x, y_random, loss_fn)
    terms.append(before - after)
    return {"zeta_loss_before": before, "zeta_loss_after": after, "zeta_step": before - after, "zeta": float(np.mean(terms))}
