"""Training diagnostics on a schedule: the one implementation behind netsieve's own trainer (its
per-epoch metrics ``"spectra"``, ``"margins"``, ``"delta_acc"`` and ``"susceptibility"`` call the
column functions of :mod:`netsieve.torch.diagnostic_columns`, re-exported here) and behind the framework callbacks of :mod:`netsieve.integrations`
(transformers, Lightning), which drive a :class:`Monitor` from their hooks.

The columns, named as in the trainer's ``metrics.csv``:

- per weight matrix (:func:`spectral_columns`): ``sigma[name]``, ``n_spikes[name]`` (against the
  fitted bulk, ``bulk="auto"``), ``mp_n_spikes[name]``, ``bulk_is_mp[name]``, ``spread[name]``,
  ``mp_soft_rank[name]`` (λ₊/λ_max), ``alpha[name]`` and ``power_law_like[name]`` (the power-law
  tail, as :func:`netsieve.analyze_layers` fits it), ``pt_boundary[name]`` with Porter–Thomas;
- of a batch's margins, logits and labels (:func:`margin_columns`, :func:`delta_columns`): the
  ``margin_*`` summary (:func:`netsieve.margin_summary`) and ``acc_delta_<δ>``; ``churn``, the share
  of the ``unlabeled`` inputs (else of the batch) whose predicted class changed since the last
  measurement (read without labels);
- ζ (:func:`zeta_columns`): one probe step on fixed random labels, its running mean ``zeta``.

A :class:`Monitor` is called once per step (or epoch) and measures when due: every ``every``
calls, or, by default (``every=None``), adaptively, so that the time it spends stays below
``max_overhead`` (5 %) of the time between calls, whatever the model's size
(``benches/bench_monitor.py`` measures it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

import netsieve as ns
from netsieve import InvalidInputError

from ._modes import eval_mode
from .diagnostic_columns import delta_columns, margin_columns, spectral_columns, zeta_columns
from .diagnostics import DEFAULT_DELTAS, weight_matrices

__all__ = ["Monitor", "Diagnostics", "spectral_columns", "margin_columns", "delta_columns", "zeta_columns"]


def _logits(model: nn.Module, x: Any) -> torch.Tensor:
    with torch.no_grad(), eval_mode(model):
        out = model(**x) if isinstance(x, Mapping) else model(x)
    out = out["logits"] if isinstance(out, Mapping) and "logits" in out else getattr(out, "logits", out)
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise InvalidInputError(f"the model's output on the evaluation batch must be N×C logits, got {type(out).__name__}"
                                + (f" of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else ""))  # fmt: skip
    return out.detach().float().cpu()


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, Mapping):
        return {k: _to(v, device) for k, v in x.items()}
    return x.to(device) if isinstance(x, torch.Tensor) else x


@dataclass(frozen=True)
class Diagnostics:
    """One measurement of a :class:`Monitor`: the step (and epoch) it was taken at, the columns
    (module docs) and the seconds it took.

    Examples
    --------
    >>> from netsieve.torch.monitor import Diagnostics
    >>> d = Diagnostics(step=10, epoch=1.0, columns={"sigma[fc.weight]": 0.05, "n_spikes[fc.weight]": 2}, seconds=0.01)
    >>> d.scalars()
    {'netsieve/sigma/fc.weight': 0.05, 'netsieve/n_spikes/fc.weight': 2.0}
    """

    step: int
    epoch: float | None
    columns: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def scalars(self, prefix: str = "netsieve/") -> dict[str, float]:
        """The numeric columns as logger tags: ``sigma[fc.weight]`` → ``netsieve/sigma/fc.weight``;
        booleans become 0/1, lists are left out.

        Parameters
        ----------
        prefix : str, default "netsieve/"

        Returns
        -------
        dict of str to float

        Raises
        ------
        Nothing

        Examples
        --------
        >>> from netsieve.torch.monitor import Diagnostics
        >>> Diagnostics(step=1, epoch=None, columns={"bulk_is_mp[w]": True, "zeta": 0.5}).scalars("")
        {'bulk_is_mp/w': 1.0, 'zeta': 0.5}
        """
        out = {}
        for k, v in self.columns.items():
            if isinstance(v, (bool, int, float, np.integer, np.floating)):
                tag = k.replace("[", "/").rstrip("]") if "[" in k else k
                out[prefix + tag] = float(v)
        return out


class Monitor:
    """Diagnostics of a model while it trains, measured on a schedule; framework-free.

    Call :meth:`observe` once per step (or per epoch, whichever ``every`` counts); it measures when
    due and returns :class:`Diagnostics` (else None). :meth:`measure` measures now.

    Parameters
    ----------
    every : int, optional
        Measure every ``every`` calls. Default None: adaptively, keeping the time spent measuring
        below ``max_overhead`` of the time between calls (the first measurement after ``warmup``
        calls, then as often as the budget allows).
    max_overhead : float, default 0.05
        The budget of the adaptive schedule, as a fraction of the training time.
    warmup : int, default 10
        Calls before the first adaptive measurement (to time the steps).
    eval_batch : (x, labels), optional
        A fixed batch for the margin summary and acc_δ (``x`` a tensor, or a mapping of tensors
        passed as keyword arguments, as transformers models take them; the output, or its
        ``.logits``, must be N×C).
    unlabeled : tensor or mapping of tensors, optional
        Inputs without labels on which ``churn`` is measured (the pool the label-free stop
        ``"churn"`` was validated on, README Results 6); without it, churn reads ``eval_batch``'s
        inputs.
    spectra : bool, default True
        Per weight matrix: σ, spikes, MP soft rank, α (:func:`spectral_columns`).
    layers : str or sequence of str, optional
        Globs on weight names (all weight matrices by default).
    min_dim : int, default 2
        Skip matrices with a side below this.
    deltas : sequence of float
        The δ of acc_δ.
    susceptibility : bool, default False
        ζ: one probe step of the optimizer on ``eval_batch``'s inputs with fixed random labels
        (needs ``optimizer=`` in :meth:`observe`; everything is restored after the probe).
    seed : int, default 0
        The random labels of ζ.

    Raises
    ------
    InvalidInputError
        Bad options; from :meth:`measure`, a model without weight matrices (with ``spectra``) or
        an evaluation batch whose output is not N×C logits.

    Examples
    --------
    >>> import torch
    >>> from netsieve.integrations import Monitor
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 5))
    >>> x, y = torch.randn(200, 20), torch.randint(0, 5, (200,))
    >>> monitor = Monitor(every=5, eval_batch=(x, y))
    >>> found = [monitor.observe(model, step=s) for s in range(1, 11)]
    >>> [d.step for d in found if d is not None]
    [5, 10]
    >>> d = found[-1]
    >>> sorted(k for k in d.columns if k.endswith("[0.weight]"))[:3], "margin_mean" in d.columns
    (['alpha[0.weight]', 'bulk_is_mp[0.weight]', 'mp_n_spikes[0.weight]'], True)
    """

    def __init__(self, every: int | None = None, *, max_overhead: float = 0.05, warmup: int = 10,
                 eval_batch: tuple[Any, Any] | None = None, unlabeled: Any = None, spectra: bool = True,
                 layers: str | Sequence[str] | None = None, min_dim: int = 2, deltas: Sequence[float] = DEFAULT_DELTAS,
                 susceptibility: bool = False, seed: int = 0) -> None:  # fmt: skip
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise InvalidInputError(f"every must be a positive integer or None (adaptive), got {every!r}")
        if not (isinstance(max_overhead, (int, float)) and 0 < max_overhead < 1):
            raise InvalidInputError(f"max_overhead must be a fraction in (0, 1), got {max_overhead!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
            raise InvalidInputError(f"warmup must be a positive integer, got {warmup!r}")
        if eval_batch is not None and (not isinstance(eval_batch, (tuple, list)) or len(eval_batch) != 2):
            raise InvalidInputError("eval_batch must be a pair (inputs, labels)")
        if susceptibility and (eval_batch is None or isinstance(eval_batch[0], Mapping)):
            raise InvalidInputError("susceptibility=True needs eval_batch= with a tensor of inputs (they carry the random labels)")
        if not spectra and eval_batch is None and unlabeled is None:
            raise InvalidInputError("nothing to measure: spectra=False and no eval_batch or unlabeled inputs")
        self.every, self.max_overhead, self.warmup = every, float(max_overhead), warmup
        self.eval_batch, self.unlabeled = eval_batch, unlabeled
        self.spectra, self.layers, self.min_dim = bool(spectra), layers, min_dim
        self.deltas, self.susceptibility, self.seed = tuple(deltas), bool(susceptibility), seed
        self.zeta_terms: list[float] = []
        self.history: list[Diagnostics] = []
        self.seconds = 0.0  # spent measuring, in total
        self._calls = 0
        self._next: int | None = every if every is not None else warmup
        self._last_call: float | None = None
        self._step_time: float | None = None  # between calls, measurements excluded (adaptive schedule)
        self._random_labels: torch.Tensor | None = None
        self._predictions: torch.Tensor | None = None  # of the evaluation batch at the last measurement (churn)

    def _no_weights(self, model: nn.Module) -> str:
        return (f"{type(model).__name__} has no weight matrices to monitor (none with both sides ≥ "
                f"min_dim={self.min_dim}{'' if self.layers is None else f' matching {self.layers}'})")  # fmt: skip

    def check(self, model: nn.Module) -> None:
        """Refuses, before training starts, a model that :meth:`measure` would refuse later.

        Parameters
        ----------
        model : torch.nn.Module

        Returns
        -------
        None

        Raises
        ------
        InvalidInputError
            ``spectra`` is on and the model has no weight matrices (with both sides ≥ ``min_dim``,
            matching ``layers``).

        Examples
        --------
        >>> import torch
        >>> from netsieve.integrations import Monitor
        >>> Monitor().check(torch.nn.Linear(8, 8))
        >>> Monitor(layers=["decoder.*"]).check(torch.nn.Linear(8, 8))
        Traceback (most recent call last):
        ...
        netsieve.InvalidInputError: Linear has no weight matrices to monitor (none with both sides ≥ min_dim=2 matching ['decoder.*'])
        """
        options = {} if self.layers is None else {"layers": self.layers}
        if self.spectra and not weight_matrices(model, min_dim=self.min_dim, **options):
            raise InvalidInputError(self._no_weights(model))

    def observe(self, model: nn.Module, *, step: int | None = None, epoch: float | None = None,
                optimizer: torch.optim.Optimizer | None = None) -> Diagnostics | None:  # fmt: skip
        """Counts one step (or epoch) and measures when due (class docs).

        Parameters
        ----------
        model : torch.nn.Module
            The model being trained.
        step : int, optional
            The step to record (default: the number of calls so far).
        epoch : float, optional
            The epoch to record.
        optimizer : torch.optim.Optimizer, optional
            The training optimizer; needed for ζ (``susceptibility=True``).

        Returns
        -------
        Diagnostics or None
            The measurement, when one was due.

        Raises
        ------
        InvalidInputError
            See :meth:`measure`.

        Examples
        --------
        >>> import torch
        >>> from netsieve.integrations import Monitor
        >>> monitor, model = Monitor(every=2), torch.nn.Linear(32, 32)
        >>> [monitor.observe(model) is not None for _ in range(4)]
        [False, True, False, True]
        """
        now = time.perf_counter()
        if self._last_call is not None:
            gap = now - self._last_call
            self._step_time = gap if self._step_time is None else 0.8 * self._step_time + 0.2 * gap
        self._calls += 1
        result = None
        if self._next is not None and self._calls >= self._next:
            result = self.measure(model, step=self._calls if step is None else step, epoch=epoch, optimizer=optimizer)
            if self.every is not None:
                self._next = self._calls + self.every
            else:
                step_time = self._step_time or result.seconds
                self._next = self._calls + max(1, math.ceil(result.seconds / (self.max_overhead * max(step_time, 1e-9))))
        self._last_call = time.perf_counter()
        return result

    def measure(self, model: nn.Module, *, step: int = 0, epoch: float | None = None,
                optimizer: torch.optim.Optimizer | None = None) -> Diagnostics:  # fmt: skip
        """Measures now (class docs); the result is also appended to :attr:`history`.

        Parameters
        ----------
        model : torch.nn.Module
        step : int, default 0
        epoch : float, optional
        optimizer : torch.optim.Optimizer, optional
            Needed for ζ (``susceptibility=True``).

        Returns
        -------
        Diagnostics

        Raises
        ------
        InvalidInputError
            A model without weight matrices (with ``spectra``), an evaluation batch whose output
            is not N×C logits, ζ without an optimizer.

        Examples
        --------
        >>> import torch
        >>> from netsieve.integrations import Monitor
        >>> Monitor().measure(torch.nn.ReLU())
        Traceback (most recent call last):
        ...
        netsieve.InvalidInputError: ReLU has no weight matrices to monitor (none with both sides ≥ min_dim=2)
        """
        t0 = time.perf_counter()
        cols: dict[str, Any] = {}
        if self.spectra:
            cols.update(spectral_columns(model, min_dim=self.min_dim, layers=self.layers))
            if not cols:
                raise InvalidInputError(self._no_weights(model))
        if self.eval_batch is not None:
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            x, y = _to(self.eval_batch[0], device), torch.as_tensor(self.eval_batch[1])
            logits = _logits(model, x)
            cols.update(margin_columns(ns.margins(logits.numpy(), y.cpu().numpy())))
            if self.unlabeled is None:
                cols["churn"] = self._churn(logits)
            cols.update(delta_columns(logits, y.cpu(), self.deltas))
            if self.susceptibility:
                if optimizer is None:
                    raise InvalidInputError("susceptibility=True needs the training optimizer: observe(..., optimizer=...)")
                if self._random_labels is None:
                    gen = torch.Generator().manual_seed(self.seed)
                    self._random_labels = torch.randint(0, logits.shape[1], (logits.shape[0],), generator=gen)
                cols.update(zeta_columns(model, optimizer, x, self._random_labels.to(device), self.zeta_terms, _loss))
        if self.unlabeled is not None:
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            cols["churn"] = self._churn(_logits(model, _to(self.unlabeled, device)))
        d = Diagnostics(step=int(step), epoch=epoch, columns=cols, seconds=time.perf_counter() - t0)
        self.seconds += d.seconds
        self.history.append(d)
        return d

    def _churn(self, logits: torch.Tensor) -> float:
        """The share of predicted classes changed since the last measurement (NaN at the first)."""
        pred, previous, self._predictions = logits.argmax(1), self._predictions, logits.argmax(1)
        return float((pred != previous).double().mean()) if previous is not None else math.nan


def _loss(out: Any, labels: torch.Tensor) -> torch.Tensor:
    """ζ's loss: cross-entropy of the logits (of a tensor output, or its ``logits``)."""
    out = out["logits"] if isinstance(out, Mapping) and "logits" in out else getattr(out, "logits", out)
    return nn.functional.cross_entropy(out, labels)
