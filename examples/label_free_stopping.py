"""When does a network start memorising, judged without labels? (issue #19, parts 1 and 2)

The grid: MNIST-1D generated at scale (``mnist1d`` ``make_dataset`` with ``num_samples``), nested
training sets of 3,200 / 12,800 / 51,200 samples, symmetric label noise 0 / 20 / 40 / 60 %, two MLPs
(40-256-256-10 and 40-128-128-128-10), SGD lr 0.05, momentum 0.9, batch 256, for 60 / 30 / 12 epochs
(750 / 1500 / 2400 steps: what one loaded core allows). Seed 0 is the development seed (the rules
were fixed on it); seeds 1-3 are fresh. The second architecture, added after the rules were fixed
and evaluated with them unchanged: a 1-D CNN (conv 32, conv 64 stride 2, global average pooling,
dense 128, the trainer's ``cnn1d``; same data, optimizer and epochs) on fresh seeds 4-6 only.

Every epoch records, for the rules (no label of any kind): per weight matrix the spectral fields of
:func:`netsieve.analyze_layers` (σ, spikes above the fitted bulk and above the MP edge, MP soft rank,
α, the deformation τ, KS distances of the bulk to MP and to the fitted law, the mean spacing ratio
⟨r⟩ of the bulk, stable rank, norms), ζ (one probe step on fixed random labels), and the prediction
churn on unlabeled inputs; for the baselines: accuracy on a noisy validation split (a quarter of the
training size, same noise); for judging only: clean test accuracy on two disjoint halves of a
4,000-sample test set (half A for the development seed, half B for the fresh seeds). Part 2: the
final network filtered (middle layer) with the cuts of ``netsieve demo`` chosen without clean labels.

    python examples/label_free_stopping.py --train          # ~1 h on one loaded core, writes the cache
    python examples/label_free_stopping.py --train --cnn    # the CNN arm (seeds 4-6), same cache
    python examples/label_free_stopping.py --from-cache     # rebuilds the tables from the cache

The rules themselves are :data:`netsieve.torch.stopping.RULES`; their choice on the development
seed is recorded in ``examples/results/label_free_stopping.md``.
``examples/label_free_long.py`` trains the 51,200-sample regime long enough to memorise.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "label_free_runs.json.gz"
SIZES = (3200, 12800, 51200)
EPOCHS = {3200: 60, 12800: 30, 51200: 12}
NOISES = (0.0, 0.2, 0.4, 0.6)
ARCHS = {"mlp256x2": {"model": "mlp", "hidden": (256, 256)}, "mlp128x3": {"model": "mlp", "hidden": (128, 128, 128)}}
CNN_ARCHS = {"cnn1d": {"model": "cnn1d", "channels": (32, 64), "hidden": (128,)}}
MODEL_OPTIONS = {**ARCHS, **CNN_ARCHS}
DEV_SEEDS, FRESH_SEEDS, CNN_SEEDS = (0,), (1, 2, 3), (4, 5, 6)
N_TEST_HALF, N_UNLABELED = 2000, 1000
LAYER_FIELDS = ("sigma", "n_spikes", "mp_n_spikes", "mp_soft_rank", "spread", "bulk_ks_distance",
                "mp_ks_distance", "mean_r", "stable_rank", "spectral_norm", "frobenius_norm", "alpha")


def scaled_mnist1d(n_total: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_total`` MNIST-1D samples (x float32, y int64) from the package's generator, cached."""
    from netsieve.torch.builtin_data import cache_dir

    path = cache_dir() / f"mnist1d-scaled-{n_total}-seed{seed}.npz"
    if path.exists():
        with np.load(path) as z:
            return z["x"], z["y"]
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = n_total, seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x = np.concatenate([d["x"], d["x_test"]]).astype(np.float32)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y)
    return x, y


def pools(max_train: int = max(SIZES)):
    """Fixed disjoint pools: test (2 halves), unlabeled inputs, validation, training (nested subsets)."""
    n_val = max_train // 4
    x, y = scaled_mnist1d(2 * N_TEST_HALF + N_UNLABELED + n_val + max_train)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    cut = np.cumsum([2 * N_TEST_HALF, N_UNLABELED, n_val])
    return {"test": (x[: cut[0]], y[: cut[0]]), "unlabeled": x[cut[0] : cut[1]],
            "val": (x[cut[1] : cut[2]], y[cut[1] : cut[2]]), "train": (x[cut[2] :], y[cut[2] :])}


class Recorder:
    """Trainer callback: the per-epoch label-free features, the noisy-validation accuracy and the
    clean test accuracy of both halves (the last two never reach a rule)."""

    def __init__(self, x_val, y_val_noisy, x_unlabeled, x_test, y_test):
        self.x_val, self.y_val, self.x_unl, self.x_test, self.y_test = x_val, y_val_noisy, x_unlabeled, x_test, y_test
        self.rows: list[dict] = []
        self._prev_pred = None

    @torch.no_grad()
    def __call__(self, trainer, row: dict) -> None:
        import netsieve as ns
        from netsieve.torch.diagnostics import weight_matrices

        t0 = time.perf_counter()
        model = trainer.model
        model.eval()
        val_acc = float((model(self.x_val).argmax(1) == self.y_val).float().mean())
        test_ok = (model(self.x_test).argmax(1) == self.y_test).float()
        half = len(test_ok) // 2
        pred = model(self.x_unl).argmax(1)
        model.train()
        churn = float((pred != self._prev_pred).float().mean()) if self._prev_pred is not None else float("nan")
        self._prev_pred = pred
        rec = {"epoch": row["epoch"], "val_acc_noisy": val_acc, "test_acc_a": float(test_ok[:half].mean()),
               "test_acc_b": float(test_ok[half:].mean()), "churn": churn,
               "train_acc": row.get("train_acc"), "train_acc_noisy": row.get("train_acc_noisy"),
               "zeta": row.get("zeta"), "zeta_step": row.get("zeta_step"), "loss": row.get("loss")}
        weights = list(weight_matrices(model).items())
        middle = dict(weights[1:-1])  # the hidden-to-hidden matrices: all the rules look at (and half the cost)
        res = ns.analyze_layers(middle, level_statistics=True, errors="collect")
        for i, (_, r) in enumerate(res.items(), start=1):
            for f in LAYER_FIELDS:
                v = getattr(r, f, None) if r.error is None else None
                rec[f"{f}[{i}]"] = float(v) if v is not None else float("nan")
        # The cost per epoch: training with the trainer's metrics, and this recorder's measurements.
        rec["epoch_time_s"], rec["record_s"] = row.get("epoch_time_s"), time.perf_counter() - t0
        self.rows.append(rec)


def filter_rows(model, x_val, y_val, x_test, y_test) -> dict[str, dict[str, float]]:
    """Part 2: the final network's middle layer filtered with the cuts of ``netsieve demo``."""
    from netsieve.torch.demo import FILTERS, FRACTIONS, _filter

    def acc(m, x, y):
        m.eval()
        with torch.no_grad():
            return float((m(x).argmax(1) == y).float().mean())

    half = len(y_test) // 2

    def both(m):
        return {"val": acc(m, x_val, y_val), "a": acc(m, x_test[:half], y_test[:half]),
                "b": acc(m, x_test[half:], y_test[half:])}

    out = {"unfiltered": both(model)}
    for name in ("middle layer, hard cut at the MP edge", "middle layer, operator (bulk removed, spikes de-repelled)",
                 "middle layer, OptShrink (rank: outliers of the fitted bulk)", "middle layer, Frobenius-optimal shrinker"):
        try:
            out[name] = both(FILTERS[name](model))
        except Exception as exc:  # a failed fit is recorded, not fatal to the grid
            out[name] = {"error": str(exc)}
    try:
        fractions = [(both(_filter("fraction", "middle", fraction=f, derepel=True)(model)), f) for f in FRACTIONS]
    except ValueError as exc:  # the demo's filters take MLPs only (the CNN arm records the error)
        out["fraction on noisy validation"] = {"error": str(exc)}
        return out
    best, frac = max(fractions, key=lambda c: (c[0]["val"], -c[1]))
    out["fraction on noisy validation"] = {**best, "fraction": frac}
    return out


def train_one(arch: str, n: int, noise: float, seed: int, epochs: int, data) -> dict:
    from netsieve.torch import TrainConfig, Trainer
    from netsieve.torch.data import from_tensors
    from netsieve.torch.noise import corrupt_labels

    x_tr, y_tr = data["train"][0][:n], data["train"][1][:n]
    x_val, y_val = data["val"][0][: n // 4], data["val"][1][: n // 4]
    y_val_noisy = corrupt_labels(y_val, noise, n_classes=10, seed=20_000 + seed).labels
    x_test, y_test = data["test"]
    split = from_tensors(x_tr, y_tr, x_test, y_test, n_classes=10, name="mnist1d-scaled")
    cfg = TrainConfig(dataset="custom", **MODEL_OPTIONS[arch], noise_rate=noise, lr=0.05, momentum=0.9,
                      batch_size=256, epochs=epochs, seed=seed, metrics=("loss", "train_acc", "susceptibility"),
                      plots=False, progress=False, num_threads=1)
    rec = Recorder(x_val, y_val_noisy, data["unlabeled"], x_test, y_test)
    t0 = time.perf_counter()
    res = Trainer(cfg, data=split, callbacks=[rec]).run()
    filters = filter_rows(res.model, x_val, y_val_noisy, x_test, y_test)
    return {"arch": arch, "n": n, "noise": noise, "seed": seed, "epochs": epochs, "seconds": time.perf_counter() - t0,
            "rows": rec.rows, "filters": filters}


def load_cache(path: Path = CACHE) -> list[dict]:
    if not path.exists():
        return []
    with gzip.open(path, "rt") as f:
        return json.load(f)


def save_cache(runs: list[dict], path: Path = CACHE) -> None:
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt") as f:
        json.dump(runs, f)
    tmp.replace(path)


def train_grid(seeds, epochs: dict = EPOCHS, path: Path = CACHE, log=print, archs=ARCHS, by_size=False) -> list[dict]:
    """Trains the missing runs of the grid, saving the cache after each: seed by seed (small sizes
    first), or with ``by_size`` size by size (every seed of a size before the next size)."""
    runs = load_cache(path)
    done = {(r["arch"], r["n"], r["noise"], r["seed"]) for r in runs}
    data = pools()
    # The development seed first, so the rules can be fixed while the fresh seeds train; then each
    # fresh seed over the whole grid before the next one.
    order = [(seed, n) for seed in sorted(seeds, key=lambda s: (s not in DEV_SEEDS, s)) for n in SIZES]
    if by_size:
        order.sort(key=lambda t: (t[1], t[0]))
    for seed, n in order:
        for arch in archs:
            for noise in NOISES:
                if (arch, n, noise, seed) in done:
                    continue
                run = train_one(arch, n, noise, seed, epochs[n], data)
                runs.append(run)
                save_cache(runs, path)
                last = run["rows"][-1]
                log(f"{arch} n={n} noise={noise:.0%} seed={seed}: {run['seconds']:.0f} s, "
                    f"last test {100 * last['test_acc_b']:.1f}%, best {100 * max(r['test_acc_b'] for r in run['rows']):.1f}%",
                    flush=True)
    return runs


# -- the rules, evaluated post hoc on the recorded epochs -----------------------------------------------

SIGNALS = ("n_spikes", "mp_n_spikes", "mp_soft_rank", "spread", "bulk_ks_distance", "mp_ks_distance", "mean_r",
           "stable_rank", "sigma", "alpha", "spectral_norm", "zeta_step", "zeta", "churn")
THRESHOLDS = (0.02, 0.05, 0.1, 0.2, 0.5)


def features(run: dict) -> list[dict]:
    """A run's rows with only what a label-free rule may see (no accuracy, no loss on any label)."""
    hidden = ("val_acc_noisy", "test_acc_a", "test_acc_b", "train_acc", "train_acc_noisy", "loss")
    return [{k: v for k, v in row.items() if k not in hidden} for row in run["rows"]]


def candidate_rules() -> dict[str, callable]:
    """Every rule tried on the development seed: name -> (run -> chosen 0-based epoch index). The
    spectral and ζ/churn rules are :class:`netsieve.torch.stopping.StoppingRule` (online: past epochs only)."""
    from netsieve.torch.stopping import StoppingRule, choose_epoch

    def online(rule):
        return lambda run: choose_epoch(features(run), rule) - 1

    rules = {}
    for name in SIGNALS:
        for direction in (1, -1):
            for q in THRESHOLDS:
                word = "rises" if direction == 1 else "falls"
                rules[f"{name} {word} {q:g} beyond its best"] = online(StoppingRule(name, direction, q))
    for f in (0.1, 0.25, 0.5, 0.75, 1.0):  # the label-free null: a fixed share of the planned epochs
        rules[f"fixed {f:.0%} of the epochs"] = (lambda f: lambda run: max(1, round(f * len(run["rows"]))) - 1)(f)
    return rules


def baselines(run: dict, half: str) -> dict[str, int]:
    test = np.array([r[f"test_acc_{half}"] for r in run["rows"]])
    val = np.array([r["val_acc_noisy"] for r in run["rows"]])
    return {"last epoch": len(test) - 1, "early stopping on noisy validation": int(np.argmax(val)),
            "oracle (clean test)": int(np.argmax(test))}


def score(runs: list[dict], rule, half: str) -> np.ndarray:
    """Per run: clean test accuracy at the rule's epoch minus the oracle's (points)."""
    out = []
    for run in runs:
        test = np.array([r[f"test_acc_{half}"] for r in run["rows"]])
        out.append(100 * (test[rule(run)] - test.max()))
    return np.array(out)


def develop(runs: list[dict], top: int = 15) -> list[tuple[str, float, float]]:
    """The candidate rules ranked by mean regret on the development runs (test half A)."""
    ranked = []
    for name, rule in candidate_rules().items():
        s = score(runs, rule, "a")
        ranked.append((name, float(s.mean()), float(s.min())))
    ranked.sort(key=lambda t: -t[1])
    return ranked[:top]


# -- the tables ---------------------------------------------------------------------------------------

def stopping_table(runs: list[dict], rules: dict, half: str = "b") -> str:
    """Clean test accuracy (%) at the chosen epoch, mean over the runs of each regime (and the chosen epochs)."""
    names = ["last epoch", *rules, "early stopping on noisy validation", "oracle (clean test)"]
    head = "| model | n train | noise | seeds | " + " | ".join(names) + " |"
    lines = [head, "|" + "---|" * 4 + "---:|" * len(names)]
    regimes = sorted({(r["arch"], r["n"], r["noise"]) for r in runs})
    totals = {k: [] for k in names}
    for arch, n, noise in regimes:
        group = [r for r in runs if (r["arch"], r["n"], r["noise"]) == (arch, n, noise)]
        cells = []
        for name in names:
            accs, epochs = [], []
            for run in group:
                test = np.array([row[f"test_acc_{half}"] for row in run["rows"]])
                t = rules[name](run) if name in rules else baselines(run, half)[name]
                accs.append(100 * test[t])
                epochs.append(t + 1)
            totals[name].append(np.mean(accs))
            cells.append(f"{np.mean(accs):.1f} (ep {np.median(epochs):.0f})")
        lines.append(f"| {arch} | {n} | {noise:.0%} | {len(group)} | " + " | ".join(cells) + " |")
    lines.append("| **mean over regimes** | | | | " + " | ".join(f"**{np.mean(totals[k]):.1f}**" for k in names) + " |")
    return "\n".join(lines)


def regret_summary(runs: list[dict], rules: dict, half: str = "b") -> str:
    """Per rule: mean and worst loss against the oracle, and the share of runs where it beats the noisy-validation stop."""
    out = []
    for name, rule in rules.items():
        reg = score(runs, rule, half)
        es = score(runs, lambda run: baselines(run, half)["early stopping on noisy validation"], half)
        last = score(runs, lambda run: len(run["rows"]) - 1, half)
        out.append(f"{name}: mean loss vs oracle {reg.mean():+.2f} points (worst {reg.min():+.1f}); "
                   f"vs noisy-validation stop {np.mean(reg - es):+.2f} (better or equal in {np.mean(reg >= es):.0%} of runs); "
                   f"vs last epoch {np.mean(reg - last):+.2f}")
    return "\n".join(out)


def size_table(runs: list[dict], rules: dict, half: str = "b") -> str:
    """Per rule and training-set size: mean clean test accuracy change (points) against training to
    the end, and against early stopping on the noisy validation split."""
    sizes = sorted({r["n"] for r in runs})
    lines = ["| rule | " + " | ".join(f"n = {n}: vs last / vs noisy-val stop" for n in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for name, rule in rules.items():
        cells = []
        for n in sizes:
            group = [r for r in runs if r["n"] == n]
            reg = score(group, rule, half)
            last = score(group, lambda run: len(run["rows"]) - 1, half)
            es = score(group, lambda run: baselines(run, half)["early stopping on noisy validation"], half)
            cells.append(f"{np.mean(reg - last):+.1f} / {np.mean(reg - es):+.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def filter_table(runs: list[dict], half: str = "b") -> str:
    """Part 2: clean test accuracy (%) of the final network, filtered, per size × noise (both models, all seeds)."""
    methods = list(runs[0]["filters"])
    lines = ["| n train | noise | runs | " + " | ".join(methods) + " |", "|---|---|---|" + "---:|" * len(methods)]
    for n, noise in sorted({(r["n"], r["noise"]) for r in runs}):
        group = [r for r in runs if (r["n"], r["noise"]) == (n, noise)]
        base = np.array([100 * r["filters"]["unfiltered"][half] for r in group])
        cells = []
        for m in methods:
            vals = np.array([100 * r["filters"][m][half] if half in r["filters"][m] else np.nan for r in group])
            d = vals - base
            cells.append(f"{np.nanmean(vals):.1f}" if m == "unfiltered" else f"{np.nanmean(vals):.1f} ({np.nanmean(d):+.1f} ± {np.nanstd(d):.1f})")
        lines.append(f"| {n} | {noise:.0%} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


SPECTRAL_SIGNALS = SIGNALS[:11]  # from the weights alone
UNLABELED_SIGNALS = SIGNALS[11:]  # ζ and churn: from inputs without labels


def select_rules(dev: list[dict]) -> dict[str, str]:
    """The selection procedure, written down before the development seed had finished: among the
    candidate rules, the one with the smallest mean loss against the oracle on the development runs
    (test half A) (1) of the spectral signals, on every development run; (2) of the spectral
    signals, on the development runs at the smallest size present (the regime where the issue's lead
    expects memorisation to show in the spectrum); (3) of the unlabeled-data signals (ζ, churn)."""
    rules = candidate_rules()
    small = [r for r in dev if r["n"] == min(r["n"] for r in dev)]  # 3,200 in the grid

    def best(runs, signals):
        names = [k for k in rules if k.split(" ")[0] in signals]
        return max(names, key=lambda k: (score(runs, rules[k], "a").mean(), -names.index(k)))

    return {"spectral": best(dev, SPECTRAL_SIGNALS), "spectral_small_n": best(small, SPECTRAL_SIGNALS),
            "churn": best(dev, UNLABELED_SIGNALS)}


def shipped_rules() -> dict[str, callable]:
    """The rules of :data:`netsieve.torch.stopping.RULES` (fixed on the development seed), as run -> epoch index."""
    from netsieve.torch.stopping import RULES, choose_epoch

    return {f"label-free: {name}": (lambda r: lambda run: choose_epoch(features(run), r) - 1)(rule)
            for name, rule in RULES.items()}


def report(runs: list[dict]) -> str:
    """The development ranking (seed 0, test half A) and the evaluation on the fresh seeds (test half B)."""
    dev = [r for r in runs if r["seed"] in DEV_SEEDS and r["arch"] in ARCHS]
    fresh = [r for r in runs if r["seed"] not in DEV_SEEDS and r["arch"] in ARCHS]
    cnn = [r for r in runs if r["arch"] in CNN_ARCHS]
    out = [f"runs: {len(dev)} development (seed {', '.join(map(str, DEV_SEEDS))}), {len(fresh)} fresh "
           f"(seeds {sorted({r['seed'] for r in fresh})}); training time {sum(r['seconds'] for r in dev + fresh) / 60:.0f} min "
           "(one thread, loaded 2-core machine)", "",
           "## Development: candidate rules ranked by mean loss against the clean-test oracle (seed 0, test half A)", ""]
    out += [f"{mean:+6.2f} points (worst {worst:+6.1f})  {name}" for name, mean, worst in develop(dev, top=25)]
    out += ["", "selected (README Results 6; netsieve.torch.stopping.RULES):"]
    out += [f"  {k}: {v}" for k, v in select_rules(dev).items()]
    rules = shipped_rules()
    # The label-free null: the share of the planned epochs that did best on the development runs.
    candidates = candidate_rules()
    fixed = [k for k in candidates if k.startswith("fixed ")]
    null = max(fixed, key=lambda k: score(dev, candidates[k], "a").mean())
    rules[f"null: {null} (best share on development)"] = candidates[null]
    if fresh:
        out += ["", "## Fresh seeds: clean test accuracy (%) at the chosen epoch (test half B; median epoch)", "",
                stopping_table(fresh, rules, "b"), "", regret_summary(fresh, rules, "b"), "",
                "## Fresh seeds by training-set size (points)", "", size_table(fresh, rules, "b"), "",
                "## Part 2: filters of the final network, fresh seeds (test half B; change vs unfiltered, mean ± std)", "",
                filter_table(fresh, "b")]
    if cnn:
        out += ["", f"## Second architecture, rules unchanged: 1-D CNN, fresh seeds {sorted({r['seed'] for r in cnn})} "
                f"({len(cnn)} runs, {sum(r['seconds'] for r in cnn) / 60:.0f} min; test half B)", "",
                stopping_table(cnn, rules, "b"), "", regret_summary(cnn, rules, "b"), "",
                size_table(cnn, rules, "b")]
    return "\n".join(out)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", action="store_true", help="train the missing runs of the grid (cached after each run)")
    p.add_argument("--seeds", type=int, nargs="*", help="default: 0-3, with --cnn 4-6")
    p.add_argument("--cnn", action="store_true", help="train the CNN arm (fresh seeds, rules unchanged)")
    p.add_argument("--from-cache", action="store_true", help="only rebuild the report from the cache")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.train:
        seeds = a.seeds or list(CNN_SEEDS if a.cnn else DEV_SEEDS + FRESH_SEEDS)
        train_grid(seeds, archs=CNN_ARCHS if a.cnn else ARCHS, by_size=a.cnn)
        sys.exit(0)
    text = report(load_cache())
    print(text)
    (RESULTS / "label_free_stopping.txt").write_text(text + "\n")
