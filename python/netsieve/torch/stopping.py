"""Stopping without labels: the epoch at which a network starts memorising, judged from its weights
(and unlabeled inputs) alone, as a rule on the per-epoch diagnostic columns.

A :class:`StoppingRule` reads one signal per epoch — a spectral field of the hidden-to-hidden weight
matrices (averaged over them; the columns ``<field>[<name>]`` of :func:`spectral_columns`) or a plain
column such as ``zeta_step`` — smooths it over the last ``window`` epochs and declares the onset of
memorisation at the first epoch (from ``min_epoch`` on) where it moves, in the rule's direction,
more than ``threshold`` (relative) beyond its best value so far; the checkpoint to keep is the epoch
of that best value. Without an onset the last epoch is kept. The rule is online: it looks only at
past epochs, so it can stop a run (``TrainConfig(early_stop=...)``), and the same object, fed the
columns of a :class:`~netsieve.torch.monitor.Monitor`, is a callback signal in any training loop.

:data:`RULES` holds the shipped rules, each fixed on the development seed of
``examples/label_free_stopping.py`` before it was evaluated on fresh seeds; the README (Results 6)
gives their measured accuracy and their failure cases.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["StoppingRule", "RULES", "LabelFreeStopping", "rule_signal", "choose_epoch"]


@dataclass(frozen=True)
class StoppingRule:
    """A label-free stopping rule (module docs).

    Parameters
    ----------
    signal : str
        A spectral field (``"sigma"``, ``"n_spikes"``, ``"mp_soft_rank"``, ...), averaged over the
        hidden-to-hidden weight matrices, or a plain column of the epoch's row (``"zeta_step"``).
    direction : {1, -1}
        1 when memorisation raises the signal, -1 when it lowers it.
    threshold : float
        The relative move beyond the best value so far that marks the onset (> 0).
    window : int, default 3
        Epochs of the trailing mean.
    min_epoch : int, default 3
        Epochs ignored at the start (the first steps move every signal).
    metric : str, default "spectra"
        The trainer metric that produces the signal's columns.

    Raises
    ------
    ValueError
        A direction other than ±1, a threshold that is not positive, a window or min_epoch below 1.

    Examples
    --------
    >>> from netsieve.torch.stopping import StoppingRule
    >>> StoppingRule("sigma", direction=1, threshold=0.1).window
    3
    >>> StoppingRule("sigma", direction=0, threshold=0.1)
    Traceback (most recent call last):
    ValueError: direction must be 1 or -1, got 0
    """

    signal: str
    direction: int
    threshold: float
    window: int = 3
    min_epoch: int = 3
    metric: str = "spectra"

    def __post_init__(self) -> None:
        if self.direction not in (1, -1):
            raise ValueError(f"direction must be 1 or -1, got {self.direction!r}")
        if not (isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"threshold must be a positive number, got {self.threshold!r}")
        for name in ("window", "min_epoch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")


# The shipped rules: selected on the development seed of examples/label_free_stopping.py (its
# select_rules) and fixed here before the fresh seeds were evaluated (README Results 6).
RULES: dict[str, StoppingRule] = {
    # Weights alone, best on every development run: the onset is the MP-edge spike count of the middle
    # layers falling 2 % below its peak (their bulk widening over the outliers).
    "spectral": StoppingRule("mp_n_spikes", direction=-1, threshold=0.02),
    # Weights alone, best on the development runs at 3,200 samples: the spike count above the fitted
    # (deformed) bulk falling to half its peak: memorisation moving into the bulk.
    "spectral_small_n": StoppingRule("n_spikes", direction=-1, threshold=0.5),
    # Unlabeled inputs, best on every development run: the share of test inputs whose predicted class
    # changes from one epoch to the next rising 50 % above its lowest value.
    "churn": StoppingRule("churn", direction=1, threshold=0.5, metric="churn"),
}


def rule_signal(columns: Mapping[str, Any], signal: str) -> float:
    """The value of ``signal`` in one epoch's columns: the plain column, or the mean of
    ``<signal>[<name>]`` over the hidden-to-hidden matrices (all matrices but the first and the last,
    in the columns' order; all of them when there are fewer than three). NaN when absent.

    Parameters
    ----------
    columns : mapping of str to value
        A trainer row or :attr:`Diagnostics.columns`.
    signal : str

    Returns
    -------
    float

    Raises
    ------
    Nothing

    Examples
    --------
    >>> from netsieve.torch.stopping import rule_signal
    >>> cols = {"sigma[0.weight]": 9.0, "sigma[2.weight]": 1.0, "sigma[4.weight]": 3.0, "sigma[6.weight]": 9.0, "zeta_step": 0.5}
    >>> rule_signal(cols, "sigma"), rule_signal(cols, "zeta_step"), rule_signal(cols, "alpha")
    (2.0, 0.5, nan)
    """
    if signal in columns:
        v = columns[signal]
        return float(v) if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else math.nan
    values = [v for k, v in columns.items() if k.startswith(signal + "[") and k.endswith("]")]
    if len(values) >= 3:
        values = values[1:-1]
    numbers = [float(v) for v in values if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
    finite = [v for v in numbers if math.isfinite(v) and not (v < 0 and "spikes" in signal)]  # -1: a failed fit
    return float(np.mean(finite)) if finite else math.nan


class LabelFreeStopping:
    """The online tracker of a :class:`StoppingRule`: feed it each epoch's columns (:meth:`update`);
    it says when the onset of memorisation has been seen, and which epoch to keep.

    As a :class:`~netsieve.torch.Trainer` callback (``callbacks=[stopper]``) it also keeps a copy of
    the weights of the epoch to keep and asks the trainer to stop at the onset; with a
    :class:`~netsieve.torch.monitor.Monitor`, pass ``d.columns`` of each :class:`Diagnostics`.

    Parameters
    ----------
    rule : str or StoppingRule, default "spectral"
        A name of :data:`RULES` or a rule.
    keep_weights : bool, default True
        As a trainer callback: keep a copy of the model's weights at the epoch to keep.

    Raises
    ------
    ValueError
        An unknown rule name.

    Examples
    --------
    >>> from netsieve.torch.stopping import LabelFreeStopping, StoppingRule
    >>> stopper = LabelFreeStopping(StoppingRule("zeta_step", direction=1, threshold=0.5, window=1, min_epoch=1))
    >>> [stopper.update(e, {"zeta_step": z}) for e, z in enumerate([1.0, 0.8, 0.9, 1.5], start=1)]
    [False, False, False, True]
    >>> stopper.best_epoch, stopper.onset_epoch
    (2, 4)
    """

    def __init__(self, rule: str | StoppingRule = "spectral", *, keep_weights: bool = True) -> None:
        if isinstance(rule, str):
            if rule not in RULES:
                raise ValueError(f"unknown stopping rule {rule!r}; valid names: {', '.join(RULES)}")
            rule = RULES[rule]
        if not isinstance(rule, StoppingRule):
            raise ValueError(f"rule must be a name of RULES or a StoppingRule, got {type(rule).__name__}")
        self.rule, self.keep_weights = rule, keep_weights
        self.values: list[float] = []
        self.best_value = math.inf
        self.best_epoch: int | None = None
        self.onset_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None

    def update(self, epoch: int, columns: Mapping[str, Any]) -> bool:
        """Adds one epoch; True once the onset has been seen (and from then on).

        Parameters
        ----------
        epoch : int
            The epoch (1-based) the columns belong to.
        columns : mapping of str to value

        Returns
        -------
        bool

        Raises
        ------
        Nothing
        """
        if self.onset_epoch is not None:
            return True
        r = self.rule
        self.values.append(rule_signal(columns, r.signal))
        recent = [v for v in self.values[-r.window :] if math.isfinite(v)]
        if len(self.values) < r.min_epoch or not recent:
            return False
        s = r.direction * float(np.mean(recent))
        if self.best_epoch is not None and s > self.best_value + r.threshold * max(abs(self.best_value), 1e-12):
            self.onset_epoch = epoch
            return True
        if s <= self.best_value:
            self.best_value, self.best_epoch = s, epoch
        return False

    def __call__(self, trainer: Any, row: Mapping[str, Any]) -> None:
        epoch = int(row.get("epoch", getattr(trainer, "epoch", len(self.values) + 1)))
        before = self.best_epoch
        stop = self.update(epoch, row)
        if self.keep_weights and self.best_epoch is not None and self.best_epoch != before:
            self.best_state = copy.deepcopy(trainer.model.state_dict())
        if stop:
            trainer.stop_requested = True

    def keep(self, model: Any) -> int | None:
        """At the end of a run: after an onset, loads the weights kept at the best epoch into
        ``model`` and returns that epoch; without an onset (or without kept weights, e.g. in a resumed
        run whose best epoch came before the resumption) leaves the model as it is and returns None.

        Parameters
        ----------
        model : torch.nn.Module

        Returns
        -------
        int or None

        Raises
        ------
        RuntimeError
            Weights that do not fit ``model``.
        """
        if self.onset_epoch is None or self.best_state is None:
            return None
        model.load_state_dict(self.best_state)
        return self.best_epoch


def choose_epoch(history: Sequence[Mapping[str, Any]], rule: str | StoppingRule = "spectral") -> int:
    """The epoch (1-based) a rule keeps, replayed on a finished run's rows (``metrics.jsonl``).

    Parameters
    ----------
    history : sequence of mappings
        One row per epoch, in order, with an ``epoch`` column (else 1, 2, ...).
    rule : str or StoppingRule, default "spectral"

    Returns
    -------
    int
        The rule's best epoch before the onset; the last epoch when no onset is seen.

    Raises
    ------
    ValueError
        An empty history or an unknown rule name.

    Examples
    --------
    >>> from netsieve.torch.stopping import StoppingRule, choose_epoch
    >>> rows = [{"epoch": e, "zeta_step": z} for e, z in enumerate([1.0, 0.8, 0.9, 1.5, 2.0], start=1)]
    >>> choose_epoch(rows, StoppingRule("zeta_step", direction=1, threshold=0.5, window=1, min_epoch=1))
    2
    """
    if not history:
        raise ValueError("the history is empty: no epoch to choose")
    stopper = LabelFreeStopping(rule, keep_weights=False)
    for i, row in enumerate(history, start=1):
        if stopper.update(int(row.get("epoch", i)), row):
            break
    if stopper.onset_epoch is None or stopper.best_epoch is None:
        return int(history[-1].get("epoch", len(history)))
    return stopper.best_epoch
