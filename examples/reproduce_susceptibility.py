"""Reproduction 3 — memorization susceptibility ζ for model selection (Forouzesh, Sedghi & Thiran,
ICLR 2023, arXiv 2212.04461; official code mahf93/tracking-memorization).

Claim tested: over a grid of models trained with 50 % symmetric label noise, choosing the models with
low ζ AND high training accuracy (region 1: ζ below the grid mean, training accuracy on the noisy
labels above the grid mean) picks models with higher clean test accuracy than choosing by training
accuracy alone (all models above the mean training accuracy, and the single most accurate one).

ζ follows the official procedure (netsieve.torch.diagnostics): at the start of each epoch one SGD step
on a 128-sample batch with fixed random labels, loss drop recorded, model and optimizer restored;
ζ = the running mean of the drops at the end of training. Grid: MLP widths × learning rates × weight
decay on MNIST-1D (4000 samples, 50 % noise), SGD momentum 0.9, batch 100.

    python examples/reproduce_susceptibility.py          # full version (several minutes on 2 cores)
    python examples/reproduce_susceptibility.py --fast   # seconds: small Gaussian-mixture task
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

import netsieve.torch as nt


def grid(fast: bool) -> tuple[nt.TrainConfig, list[dict]]:
    metrics = ("loss", "train_acc", "test_acc", "susceptibility")
    if fast:
        base = nt.TrainConfig(dataset="gaussian_mixture", n_train=500, n_test=500, epochs=8, batch_size=50,
                              noise_rate=0.5, progress=False, plots=False, num_threads=1, metrics=metrics)
        points = [dict(hidden=(h,), lr=lr) for h, lr in itertools.product((16, 256), (0.005, 0.1))]
    else:
        base = nt.TrainConfig(dataset="mnist1d", epochs=40, batch_size=100, noise_rate=0.5, progress=False,
                              plots=False, num_threads=1, metrics=metrics)
        points = [dict(hidden=(h, h), lr=lr, weight_decay=wd)
                  for h, lr, wd in itertools.product((64, 512), (0.005, 0.05), (0.0, 5e-4))]
    return base, points


def select(rows: list[dict]) -> dict[str, list[dict]]:
    zeta_mean = np.mean([r["zeta"] for r in rows])
    acc_mean = np.mean([r["train_acc"] for r in rows])
    best = max(rows, key=lambda r: r["train_acc"])
    return {
        "region 1 (low ζ, high train acc)": [r for r in rows if r["zeta"] < zeta_mean and r["train_acc"] > acc_mean],
        "high train acc only (above mean)": [r for r in rows if r["train_acc"] > acc_mean],
        "highest train acc (single model)": [best],
        "all models": rows,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fast", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    base, points = grid(args.fast)
    data = nt.load_dataset(base.dataset, n_train=base.n_train, n_test=base.n_test)
    rows = []
    print(f"{'model':<44} {'ζ':>8} {'train acc':>10} {'clean test acc':>15}")
    for pt in points:
        res = nt.train(base.replace(seed=args.seed, **pt), data=data)
        last = res.history[-1]
        row = {"model": ", ".join(f"{k}={v}" for k, v in pt.items()), "zeta": last["zeta"],
               "train_acc": last["train_acc"], "test_acc": last["test_acc"]}
        rows.append(row)
        print(f"{row['model']:<44} {row['zeta']:>8.4f} {100 * row['train_acc']:>9.2f}% {100 * row['test_acc']:>14.2f}%")
    print()
    for name, chosen in select(rows).items():
        acc = [100 * r["test_acc"] for r in chosen]
        print(f"{name:<36} n={len(chosen):<2d} clean test acc {np.mean(acc) if acc else float('nan'):6.2f}%")
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
