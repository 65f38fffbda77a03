"""Sweeps: train at several noise levels × seeds → optional post-filter → evaluate, the skeleton of
``netsieve demo``, and the table of the results (mean ± std over seeds)::

    from netsieve.torch import TrainConfig, sweep
    cfg = TrainConfig(dataset="mnist1d", hidden=(512, 512), epochs=150, progress=False)
    out = sweep(cfg, noise_rates=[0.0, 0.2, 0.4], seeds=[0, 1, 2],
                post_filter=lambda m: filter_model(m, method="...")[0], run_root="runs/demo")
    print(out.format_table())          # clean test accuracy before/after, mean ± std over seeds
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from torch import nn

from .builtin_data import load_dataset
from .data import DataSplit
from .noise import check_noise_rate
from .train_config import TrainConfig

__all__ = ["sweep", "SweepRecord", "SweepResult"]


@dataclass
class SweepRecord:
    """One run of a :func:`sweep`: its noise rate and seed, the evaluations and the history.

    Parameters
    ----------
    noise_rate : float
    seed : int
    before, after : dict of str to float
        :func:`evaluate` of the trained model and of its post-filtered copy (``after`` is None
        without ``post_filter``).
    history : list of dict
        The run's rows, one per epoch.
    run_dir : pathlib.Path, optional
        ``run_root/noise<rate>-seed<seed>`` when the sweep had a ``run_root``.

    Raises
    ------
    TypeError
        A missing field.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> rec = nt.SweepRecord(0.2, 0, {"test_acc": 0.5}, None, history=[])
    >>> rec.noise_rate, rec.after, rec.run_dir
    (0.2, None, None)
    """

    noise_rate: float
    seed: int
    before: dict[str, float]
    after: dict[str, float] | None
    history: list[dict[str, Any]] = field(repr=False)
    run_dir: Path | None = None


@dataclass
class SweepResult:
    """The records of a :func:`sweep`, one per noise rate × seed, and their table.

    Parameters
    ----------
    records : list of SweepRecord

    Raises
    ------
    TypeError
        A missing field.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> recs = [nt.SweepRecord(0.2, seed, {"test_acc": b}, {"test_acc": a}, history=[])
    ...         for seed, (b, a) in enumerate([(0.5, 0.55), (0.7, 0.7)])]
    >>> out = nt.SweepResult(recs)
    >>> len(out.records), out.table()[0]["n_seeds"]
    (2, 2)
    """

    records: list[SweepRecord]

    def table(self, metric: str = "test_acc") -> list[dict[str, float]]:
        """Per noise level: mean and sample std over seeds of ``metric`` before/after the post-filter.

        Parameters
        ----------
        metric : str, default "test_acc"
            A key of the records' evaluations (see :func:`evaluate`).

        Returns
        -------
        list of dict
            One per noise rate, ascending: ``noise_rate``, ``n_seeds``, ``before_mean``,
            ``before_std`` (0 for one seed) and, when every record has ``after``, ``after_mean``,
            ``after_std`` and ``change_mean`` (the mean paired change).

        Raises
        ------
        KeyError
            ``metric`` is not in the evaluations.

        Examples
        --------
        >>> import netsieve.torch as nt
        >>> recs = [nt.SweepRecord(0.2, seed, {"test_acc": b}, {"test_acc": a}, history=[])
        ...         for seed, (b, a) in enumerate([(0.5, 0.55), (0.7, 0.7)])]
        >>> {k: round(v, 3) for k, v in nt.SweepResult(recs).table()[0].items()}
        {'noise_rate': 0.2, 'n_seeds': 2, 'before_mean': 0.6, 'before_std': 0.141, 'after_mean': 0.625, 'after_std': 0.106, 'change_mean': 0.025}
        """
        def std(v: np.ndarray) -> float:
            return float(v.std(ddof=1)) if len(v) > 1 else 0.0

        rows = []
        for rate in sorted({r.noise_rate for r in self.records}):
            recs = [r for r in self.records if r.noise_rate == rate]
            b = np.array([r.before[metric] for r in recs])
            row = {"noise_rate": rate, "n_seeds": len(recs), "before_mean": float(b.mean()), "before_std": std(b)}
            if all(r.after is not None for r in recs):
                a = np.array([r.after[metric] for r in recs])
                row.update(after_mean=float(a.mean()), after_std=std(a), change_mean=float((a - b).mean()))
            rows.append(row)
        return rows

    def format_table(self, metric: str = "test_acc") -> str:
        """:meth:`table` as text, in percent: mean ± std before (and after, with the change).

        Parameters
        ----------
        metric : str, default "test_acc"

        Returns
        -------
        str

        Raises
        ------
        KeyError
            ``metric`` is not in the evaluations.

        Examples
        --------
        >>> import netsieve.torch as nt
        >>> recs = [nt.SweepRecord(0.2, seed, {"test_acc": b}, {"test_acc": a}, history=[])
        ...         for seed, (b, a) in enumerate([(0.5, 0.55), (0.7, 0.7)])]
        >>> print(nt.SweepResult(recs).format_table())
         noise  seeds       test_acc before        test_acc after    change
          0.20      2         60.00 ± 14.14         62.50 ± 10.61      +2.50
        """
        rows = self.table(metric)
        has_after = rows and "after_mean" in rows[0]
        head = f"{'noise':>6}  {'seeds':>5}  {metric + ' before':>20}" + (f"  {metric + ' after':>20}  {'change':>8}" if has_after else "")
        lines = [head]
        for r in rows:
            s = f"{r['noise_rate']:>6.2f}  {r['n_seeds']:>5d}  {100 * r['before_mean']:>12.2f} ± {100 * r['before_std']:<5.2f}"
            if has_after:
                s += f"  {100 * r['after_mean']:>12.2f} ± {100 * r['after_std']:<5.2f}  {100 * r['change_mean']:>+8.2f}"
            lines.append(s)
        return "\n".join(lines)


def sweep(
    config: TrainConfig,
    noise_rates: Iterable[float],
    seeds: Iterable[int],
    *,
    post_filter: Callable[[nn.Module], nn.Module] | None = None,
    run_root: str | os.PathLike | None = None,
    data: DataSplit | None = None,
    overwrite: bool = False,
) -> SweepResult:
    """Trains ``config`` at every noise rate × seed, evaluates, applies ``post_filter`` to a deep copy
    of each trained model and evaluates again. The dataset is loaded once. With ``run_root`` each run
    gets ``run_root/noise<rate>-seed<seed>``.

    Parameters
    ----------
    config : TrainConfig
        Its ``noise_rate`` and ``seed`` are replaced for each run.
    noise_rates : iterable of float
        Each in [0, 1).
    seeds : iterable of int
    post_filter : callable, optional
        ``model -> model`` (e.g. ``lambda m: filter_model(m, "hard")[0]``); given a deep copy.
    run_root : str or os.PathLike, optional
        A run directory per run under it; default in memory.
    data : DataSplit, optional
        Default: ``config``'s dataset, loaded once.
    overwrite : bool, default False
        Replace runs already in ``run_root``.

    Returns
    -------
    SweepResult

    Raises
    ------
    TypeError
        A ``post_filter`` that is not callable or does not return an ``nn.Module``; a noise rate that
        is not a number.
    ValueError
        No noise rate or no seed, a rate outside [0, 1), and the errors of :class:`Trainer`.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> cfg = nt.TrainConfig(dataset="teacher", n_train=200, hidden=(32,), epochs=1, progress=False)
    >>> out = nt.sweep(cfg, noise_rates=[0.0, 0.4], seeds=[0],
    ...                post_filter=lambda m: nt.filter_model(m, "hard", layers="1")[0])
    >>> [(r.noise_rate, r.seed, r.after is not None) for r in out.records]
    [(0.0, 0, True), (0.4, 0, True)]
    """
    from .trainer import Trainer  # the trainer re-exports this module's names

    if post_filter is not None and not callable(post_filter):
        raise TypeError("post_filter must be a callable model -> model")
    rates = [check_noise_rate(r) for r in noise_rates]
    seeds = [int(s) for s in seeds]
    if not rates or not seeds:
        raise ValueError("sweep needs at least one noise rate and one seed")
    if data is None:
        data = load_dataset(config.dataset, seed=config.data_seed, n_train=config.n_train, n_test=config.n_test)
    records = []
    for rate in rates:
        for seed in seeds:
            cfg = config.replace(noise_rate=rate, seed=seed)
            rd = Path(run_root) / f"noise{rate:g}-seed{seed}" if run_root is not None else None
            res = Trainer(cfg, data=data, run_dir=rd, overwrite=overwrite).run()
            before = res.evaluate()
            after = None
            if post_filter is not None:
                filtered = post_filter(copy.deepcopy(res.model))
                if not isinstance(filtered, nn.Module):
                    raise TypeError(f"post_filter must return an nn.Module, got {type(filtered).__name__}")
                after = res.evaluate(filtered)
            records.append(SweepRecord(rate, seed, before, after, res.history, rd))
    return SweepResult(records)
