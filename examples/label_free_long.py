"""The 51,200-sample regime of ``examples/label_free_stopping.py`` trained long enough for
memorisation to set in (issue #19, part 1): the grid trained it 12 epochs, and its clean test
accuracy was still rising at the end.

Same data pools, model (40-256-256-10), optimizer (SGD lr 0.05, momentum 0.9, batch 256), noise
levels (0 / 20 / 40 / 60 %) and per-epoch recording as the grid, for ``EPOCHS`` epochs, on fresh
seeds 7-9 (never used before). The rules are :data:`netsieve.torch.stopping.RULES` unchanged (fixed
on the grid's development seed); the table is built with the grid's own functions (test half B).
Each row also records its cost: ``epoch_time_s`` (the training pass with the trainer's metrics)
and ``record_s`` (the recorder: spectra of the middle layers, ζ's columns, churn, the evaluations).

    python examples/label_free_long.py --train          # ~15-30 min on one loaded core, writes the cache
    python examples/label_free_long.py                  # rebuilds the report from the cache
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import label_free_stopping as grid  # noqa: E402

CACHE = grid.RESULTS / "label_free_long.json.gz"
ARCH, N, EPOCHS, SEEDS = "mlp256x2", 51200, 60, (7, 8, 9)


def train(seeds=SEEDS, epochs: int = EPOCHS, path: Path = CACHE, log=print, data=None, n: int = N,
          noises=grid.NOISES) -> list[dict]:
    """Trains the missing runs (seed by seed, every noise level of a seed before the next seed)."""
    runs = grid.load_cache(path)
    done = {(r["noise"], r["seed"]) for r in runs}
    data = data or grid.pools()
    for seed in seeds:
        for noise in noises:
            if (noise, seed) in done:
                continue
            run = grid.train_one(ARCH, n, noise, seed, epochs, data)
            runs.append(run)
            grid.save_cache(runs, path)
            test = [r["test_acc_b"] for r in run["rows"]]
            log(f"noise={noise:.0%} seed={seed}: {run['seconds']:.0f} s, peak {100 * max(test):.1f}% at epoch "
                f"{int(np.argmax(test)) + 1}, last {100 * test[-1]:.1f}%", flush=True)
    return runs


def peak_table(runs: list[dict]) -> str:
    """Per noise level: the clean test accuracy's peak (epoch), its last value, and the fall between."""
    lines = ["| noise | seeds | peak clean test % (epoch) | last epoch % | fall, points | train acc on given labels at the end % |",
             "|---|---|---:|---:|---:|---:|"]
    for noise in sorted({r["noise"] for r in runs}):
        group = [r for r in runs if r["noise"] == noise]
        test = [np.array([row["test_acc_b"] for row in r["rows"]]) for r in group]
        peak, last = np.array([100 * t.max() for t in test]), np.array([100 * t[-1] for t in test])
        ep = [int(np.argmax(t)) + 1 for t in test]
        train = np.mean([100 * r["rows"][-1]["train_acc"] for r in group])
        lines.append(f"| {noise:.0%} | {len(group)} | {peak.mean():.1f} (ep {', '.join(map(str, ep))}) | {last.mean():.1f} | "
                     f"{np.mean(last - peak):+.1f} | {train:.1f} |")
    return "\n".join(lines)


def cost(runs: list[dict]) -> str:
    """Seconds per epoch: training with the trainer's metrics, and the recorder's diagnostics."""
    rows = [row for r in runs for row in r["rows"] if row.get("epoch_time_s") is not None]
    if not rows:
        return "cost per epoch: not recorded"
    train, rec = np.mean([r["epoch_time_s"] for r in rows]), np.mean([r["record_s"] for r in rows])
    return (f"cost per epoch (mean over {len(rows)} epochs, one thread, loaded 2-core machine): training with the "
            f"trainer's metrics {train:.2f} s, the recorder's diagnostics {rec:.2f} s ({100 * rec / (train + rec):.0f} %)")


def report(runs: list[dict]) -> str:
    rules = grid.shipped_rules()
    return "\n".join([
        f"{ARCH}, n = {sorted({r['n'] for r in runs})}, {len(runs)} runs (seeds {sorted({r['seed'] for r in runs})}), "
        f"{max(r['epochs'] for r in runs)} epochs; {sum(r['seconds'] for r in runs) / 60:.0f} min", "", cost(runs), "",
        "## Does memorisation set in? Clean test accuracy (test half B)", "", peak_table(runs), "",
        "## The rules, unchanged: clean test accuracy (%) at the chosen epoch (median epoch)", "",
        grid.stopping_table(runs, rules, "b"), "", grid.regret_summary(runs, rules, "b")])


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", action="store_true", help="train the missing runs (cached after each)")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.train:
        train(epochs=a.epochs)
    text = report(grid.load_cache(CACHE))
    print(text)
    (grid.RESULTS / "label_free_long.txt").write_text(text + "\n")
