"""Reproduction 3 — memorization susceptibility ζ for model selection (Forouzesh, Sedghi & Thiran,
ICLR 2023, arXiv 2212.04461; official code mahf93/tracking-memorization).

Claim tested: over a grid of models trained with 50 % symmetric label noise, choosing the models with
low ζ AND high training accuracy (region 1: ζ below the grid mean, training accuracy on the noisy
labels above the grid mean — the official README's split, fixed before looking at the results)
picks models with higher clean test accuracy than choosing by training accuracy alone: all models
above the mean training accuracy, the same number of models as region 1 taken by highest training
accuracy, and the single most accurate one. The median split is reported as a robustness check.

ζ follows the official procedure (netsieve.torch.diagnostics): at the start of each epoch one step of
the training optimizer (at that epoch's lr) on a 128-sample batch with fixed random labels, in train
mode, loss drop recorded, model and optimizer restored; ζ = the running mean of the drops at the end
of training. Grid (16 models, chosen so that many fit the noisy labels by different routes): MLP
40-h-h-10 with h ∈ {128, 512} × optimizer {SGD lr 0.1 momentum 0.9, Adam lr 1e-3} × weight decay
{0, 5e-4} × batch size {32, 128}, 40 epochs, on MNIST-1D (4000 train samples, 50 % symmetric noise,
clean 1000-sample test set).

First attempt (kept in the git history): 8 MLPs, SGD lr ∈ {0.005, 0.05}, 40 epochs; only two models
fitted the training set and region 1 held one model, which had the lowest clean test accuracy.

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
        base = nt.TrainConfig(dataset="mnist1d", epochs=40, noise_rate=0.5, progress=False,
                              plots=False, num_threads=1, metrics=metrics)
        optimizers = (dict(optimizer="sgd", lr=0.1), dict(optimizer="adam", lr=1e-3))
        points = [dict(hidden=(h, h), **opt, weight_decay=wd, batch_size=bs)
                  for h, opt, wd, bs in itertools.product((128, 512), optimizers, (0.0, 5e-4), (32, 128))]
    return base, points


def select(rows: list[dict], split: str = "mean") -> dict[str, list[dict]]:
    """The paper's regions with thresholds at the grid mean (official README) or median of ζ and of
    training accuracy, and the training-accuracy-only selections they are compared with."""
    centre = np.mean if split == "mean" else np.median
    zeta_t = centre([r["zeta"] for r in rows])
    acc_t = centre([r["train_acc"] for r in rows])
    region1 = [r for r in rows if r["zeta"] < zeta_t and r["train_acc"] > acc_t]
    by_train = sorted(rows, key=lambda r: -r["train_acc"])
    return {
        "region 1 (low ζ, high train acc)": region1,
        "region 2 (high ζ, high train acc)": [r for r in rows if r["zeta"] >= zeta_t and r["train_acc"] > acc_t],
        "high train acc only (above threshold)": [r for r in rows if r["train_acc"] > acc_t],
        "top-n by train acc (n = |region 1|)": by_train[: len(region1)],
        "highest train acc (single model)": by_train[:1],
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
    print(f"{'model':<72} {'ζ':>8} {'train acc':>10} {'clean test acc':>15}")
    for pt in points:
        res = nt.train(base.replace(seed=args.seed, **pt), data=data)
        last = res.history[-1]
        row = {"model": ", ".join(f"{k}={v}" for k, v in pt.items()), "zeta": last["zeta"],
               "train_acc": last["train_acc"], "test_acc": last["test_acc"]}
        rows.append(row)
        print(f"{row['model']:<72} {row['zeta']:>8.4f} {100 * row['train_acc']:>9.2f}% {100 * row['test_acc']:>14.2f}%",
              flush=True)
    for split in ("mean", "median"):
        print(f"\nthresholds at the grid {split} (primary)" if split == "mean" else f"\nthresholds at the grid {split}")
        for name, chosen in select(rows, split).items():
            acc = np.array([100 * r["test_acc"] for r in chosen])
            stats = f"{acc.mean():6.2f}% ± {acc.std(ddof=1) if acc.size > 1 else 0:5.2f}" if acc.size else "   n/a"
            print(f"{name:<40} n={len(chosen):<2d} clean test acc {stats}")
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
