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

from .data import DataSplit, load_dataset
from .noise import check_noise_rate
from .train_config import TrainConfig

__all__ = ["sweep", "SweepRecord", "SweepResult"]


@dataclass
class SweepRecord:
    noise_rate: float
    seed: int
    before: dict[str, float]
    after: dict[str, float] | None
    history: list[dict[str, Any]] = field(repr=False)
    run_dir: Path | None = None


@dataclass
class SweepResult:
    records: list[SweepRecord]

    def table(self, metric: str = "test_acc") -> list[dict[str, float]]:
        """Per noise level: mean and sample std over seeds of ``metric`` before/after the post-filter."""
        rows = []
        for rate in sorted({r.noise_rate for r in self.records}):
            recs = [r for r in self.records if r.noise_rate == rate]
            b = np.array([r.before[metric] for r in recs])
            row = {"noise_rate": rate, "n_seeds": len(recs), "before_mean": float(b.mean()),
                   "before_std": float(b.std(ddof=1)) if len(b) > 1 else 0.0}
            if all(r.after is not None for r in recs):
                a = np.array([r.after[metric] for r in recs])
                row.update(after_mean=float(a.mean()), after_std=float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                           change_mean=float((a - b).mean()))
            rows.append(row)
        return rows

    def format_table(self, metric: str = "test_acc") -> str:
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
    gets ``run_root/noise<rate>-seed<seed>``."""
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
