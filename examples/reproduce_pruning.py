"""Reproduction 2 — margin-based dynamic data pruning (Banburski et al. 2021, arXiv 2107.10199).

Claim tested: after the training set is separated, training on ≤ 1 % of the data, re-chosen every
k epochs as the lowest-margin samples, keeps clean test accuracy within 2 points of full-data
training; a random 1 % subset (same size, same schedule) is the control.

Protocol (ours; the paper's exact procedure could not be read, see the research notes): MLP
40-512-512-10 on MNIST-1D (4000 train samples, no label noise), SGD lr 0.05, momentum 0.9, batch 100.
Three arms with identical seeds: full data; lowest-margin p = 1 % from separation on, re-selected every
k = 5 epochs; random 1 %. Reported: final test accuracy, mean ± std over seeds.

    python examples/reproduce_pruning.py            # full version (several minutes on 2 cores)
    python examples/reproduce_pruning.py --fast     # seconds: small Gaussian-mixture task
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import netsieve.torch as nt


def run(fast: bool, seeds: list[int]) -> dict[str, list[dict]]:
    if fast:
        base = nt.TrainConfig(dataset="gaussian_mixture", n_train=600, n_test=600, hidden=(128,), epochs=24,
                              batch_size=50, lr=0.05, progress=False, plots=False, num_threads=1,
                              metrics=("loss", "train_acc", "test_acc"), prune_every=2)
        fraction = 0.05
    else:
        base = nt.TrainConfig(dataset="mnist1d", hidden=(512, 512), epochs=100, batch_size=100, lr=0.05,
                              progress=False, plots=False, num_threads=1,
                              metrics=("loss", "train_acc", "test_acc"), prune_every=5)
        fraction = 0.01
    data = nt.load_dataset(base.dataset, n_train=base.n_train, n_test=base.n_test)
    arms = {
        "full data": base,
        f"lowest-margin {fraction:.0%}": base.replace(prune_fraction=fraction, prune_selection="lowest"),
        f"random {fraction:.0%}": base.replace(prune_fraction=fraction, prune_selection="random"),
    }
    out: dict[str, list[dict]] = {}
    for name, cfg in arms.items():
        out[name] = []
        for seed in seeds:
            res = nt.train(cfg.replace(seed=seed), data=data)
            h = res.history
            sep = next((r["epoch"] for r in h if r.get("separated")), None)
            out[name].append({"seed": seed, "test_acc": h[-1]["test_acc"], "train_acc": h[-1]["train_acc"],
                              "separated_epoch": sep, "final_n_active": h[-1]["n_active"],
                              "test_acc_at_separation": h[sep - 1]["test_acc"] if sep else None})
    return out


def report(out: dict[str, list[dict]]) -> str:
    lines = [f"{'arm':<22} {'test acc (%)':>16} {'separated at epoch':>20} {'samples used at end':>20}"]
    full = np.mean([r["test_acc"] for r in next(iter(out.values()))])
    for name, recs in out.items():
        acc = np.array([r["test_acc"] for r in recs]) * 100
        sep = [r["separated_epoch"] for r in recs]
        n = [r["final_n_active"] for r in recs]
        lines.append(f"{name:<22} {acc.mean():>9.2f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:<5.2f} "
                     f"{str(sep):>20} {str(n):>20}")
    for name, recs in list(out.items())[1:]:
        gap = 100 * (np.mean([r["test_acc"] for r in recs]) - full)
        lines.append(f"{name}: {gap:+.2f} points vs full data ({'within' if abs(gap) <= 2 else 'NOT within'} 2 points)")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fast", action="store_true")
    p.add_argument("--seeds", type=int, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    seeds = list(range(args.seeds if args.seeds else (1 if args.fast else 3)))
    t0 = time.perf_counter()
    out = run(args.fast, seeds)
    print(report(out))
    print(f"wall time {time.perf_counter() - t0:.0f} s, seeds {seeds}")


if __name__ == "__main__":
    main()
