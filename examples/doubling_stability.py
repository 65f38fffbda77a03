"""Does the doubling constant of the training data predict accuracy instability in training?

Berlyand, Jabin & Safsten (arXiv 2002.04122) prove that accuracy stays high once it is high when the
training data satisfy a doubling condition on slabs (networks with the absolute-value activation);
Shmalo (arXiv 2210.08415) makes the condition uniform and extends it to Leaky ReLU. Flat portions
of the data (many points in a thin slab) are the named source of instability. This script relates
Ĉ of the training inputs (netsieve.doubling_condition, defaults: m = max(10, ⌈√N⌉), 12 widths
halving from a quarter of the data's spread) to the instability observed after accuracy first
becomes high.

The rule, fixed before any run:
- data: MNIST-1D, digits, a Gaussian mixture, and the same mixture with 30 % of its points on one
  hyperplane (flat_mixture); MLP d-128-128-10 with the activation |·| or Leaky ReLU, SGD lr 0.05,
  momentum 0.9, batch 100, 60 epochs, seeds 0, 1, 2 (no label noise);
- "high" is reached at the first epoch t₀ whose training accuracy is ≥ 90 % of the run's maximum;
- instability after t₀: (a) the fraction of epochs the trainer flags (training loss fell while some
  acc_δ, δ ∈ {0, 0.05, 0.1, 0.2, 0.5}, dropped: netsieve's ``accuracy_instability``); (b) the largest
  drop of training accuracy below its running maximum since t₀ (points);
- the relation: Spearman's rank correlation of Ĉ with (a) and (b) over the 8 (data, activation)
  cells, each cell's instability averaged over seeds.
- Added after the first full run stopped on a NaN loss (an outcome the rule had not foreseen, the
  rule itself unchanged): a run whose loss becomes NaN/Inf ends there, is measured up to its last
  finite epoch, and is counted in a "diverged" column (also correlated with Ĉ).

    python examples/doubling_stability.py          # the full table (minutes on 2 cores)
    python examples/doubling_stability.py --fast   # seconds: two small data sets, one seed, 6 epochs
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import netsieve as ns
import netsieve.torch as nt

DATASETS = {"mnist1d": {}, "digits": {}, "gaussian_mixture": {}, "flat_mixture": {}}
ACTIVATIONS = ("abs", "leaky_relu")
HIGH = 0.9  # "accuracy is high": 90 % of the run's best training accuracy


def instability(history: list[dict]) -> tuple[int, float, float]:
    """(t₀, flagged fraction after t₀, largest accuracy drop after t₀ in points)."""
    acc = np.array([r["train_acc"] for r in history])
    t0 = int(np.argmax(acc >= HIGH * acc.max()))
    after = history[t0 + 1 :]
    flagged = float(np.mean([bool(r["accuracy_instability"]) for r in after])) if after else 0.0
    running = np.maximum.accumulate(acc[t0:])
    drop = float(100 * np.max(running - acc[t0:]))
    return t0 + 1, flagged, drop


def ranks(values) -> np.ndarray:
    """Ranks with ties at their average rank."""
    a = np.asarray(values, dtype=float)
    r = np.empty(len(a))
    r[np.argsort(a, kind="stable")] = np.arange(len(a))
    for v in np.unique(a):
        r[a == v] = r[a == v].mean()
    return r


def spearman(a, b) -> float:
    """Spearman's ρ (NaN when either side is constant)."""
    ra, rb = ranks(a), ranks(b)
    if np.std(ra) == 0 or np.std(rb) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def run(fast: bool) -> tuple[list[dict], dict, dict]:
    """Trains the grid; returns its rows, the doubling result of each data set and the settings."""
    if fast:
        datasets = {"gaussian_mixture": dict(n_train=600, n_test=200), "flat_mixture": dict(n_train=600, n_test=200)}
        settings = dict(seeds=(0,), epochs=6, hidden=(32, 32))
    else:
        datasets = DATASETS
        settings = dict(seeds=(0, 1, 2), epochs=60, hidden=(128, 128))
    constants = {}
    for name, size in datasets.items():
        split = nt.load_dataset(name, seed=0, **size)
        x = split.x_train.reshape(split.n_train, -1).double().numpy()
        constants[name] = ns.doubling_condition(x, labels=split.y_train.numpy(), seed=0)
    rows = []
    for name, size in datasets.items():
        for act in ACTIVATIONS:
            runs = []
            for seed in settings["seeds"]:
                cfg = nt.TrainConfig(dataset=name, **size, hidden=settings["hidden"], activation=act, lr=0.05,
                                     epochs=settings["epochs"], batch_size=100, seed=seed, data_seed=0,
                                     metrics=("loss", "train_acc", "delta_acc"), progress=False, plots=False)  # fmt: skip
                trainer = nt.Trainer(cfg)
                diverged = False
                try:
                    trainer.run()
                except FloatingPointError:  # the loss became NaN/Inf: the run ends there
                    diverged = True
                history = trainer.history
                runs.append(instability(history) + (history[-1]["train_acc"], diverged))
            t0, flagged, drop, final = (float(np.mean(v)) for v in list(zip(*runs))[:4])
            rows.append(dict(data=name, activation=act, t0=t0, flagged=flagged, drop=drop, final=final,
                             drop_max=max(r[2] for r in runs), diverged=sum(r[4] for r in runs)))  # fmt: skip
    return rows, constants, settings


def report(rows: list[dict], constants: dict, settings: dict, seconds: float) -> str:
    lines = ["Doubling constant of the training inputs (defaults) and accuracy instability after t₀",
             f"seeds {list(settings['seeds'])}, {settings['epochs']} epochs, MLP hidden {list(settings['hidden'])}; "
             f"{seconds:.0f} s", "",
             f"{'data':<17} {'N':>5} {'d':>4} {'Ĉ':>7} {'δ of Ĉ':>8} {'Ĉ class':>8} {'act':<11} "
             f"{'t₀':>5} {'flagged':>8} {'drop':>6} {'max drop':>8} {'final acc':>9} {'diverged':>8}"]  # fmt: skip
    for row in rows:
        r = constants[row["data"]]
        per_class = float(np.median([c.constant for c in r.by_class.values() if c is not None]))
        lines.append(f"{row['data']:<17} {r.n_points:5d} {r.directions.shape[1]:4d} {r.constant:7.3g} "
                     f"{r.worst.delta:8.3g} {per_class:8.3g} {row['activation']:<11} {row['t0']:5.1f} "
                     f"{row['flagged']:8.2f} {row['drop']:6.2f} {row['drop_max']:8.2f} {row['final']:9.3f} "
                     f"{row['diverged']:8d}")  # fmt: skip
    c = [constants[row["data"]].constant for row in rows]
    lines += ["", f"Spearman ρ(Ĉ, flagged fraction) = {spearman(c, [row['flagged'] for row in rows]):.2f}, "
                  f"ρ(Ĉ, accuracy drop) = {spearman(c, [row['drop'] for row in rows]):.2f} "
                  f"ρ(Ĉ, diverged runs) = {spearman(c, [row['diverged'] for row in rows]):.2f} "
                  f"over {len(rows)} (data, activation) cells",
              "t₀: first epoch at ≥ 90 % of the run's best training accuracy; flagged: fraction of the epochs after "
              "t₀ where the loss fell while some acc_δ dropped; drop: largest fall of training accuracy below its "
              "running maximum after t₀ (points); seed means, max drop over seeds; a diverged run (NaN loss) is "
              "measured up to its last finite epoch."]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true")
    args = parser.parse_args()
    start = time.time()
    rows, constants, settings = run(args.fast)
    print(report(rows, constants, settings, time.time() - start))


if __name__ == "__main__":
    main()
