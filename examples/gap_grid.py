"""Which measurement of a trained network predicts its generalization gap? A grid of MLPs on MNIST-1D
and scikit-learn digits (issue 19, part 3; Jiang, Krishnan, Mobahi & Bengio, ICLR 2019).

Each grid point draws width, depth, learning rate, batch size, weight decay, dropout, label noise and
training-set size from fixed levels (a seeded draw, not a search). Every model is trained with the
project's trainer for a fixed number of optimizer steps (Adam; demogen also fixed the steps; seeded;
the per-epoch metrics are the loss and the susceptibility ζ only), then
:func:`netsieve.torch.gap_features` measures on the training set, with the labels it was trained on,
the normalized margin distributions at the input and at the first three hidden layers (pre-ReLU, as
the demogen code hooks them), the output-margin AUC, norms and spectra. The gap is train accuracy
(on the given, possibly noisy labels) minus clean test accuracy.

Comparison protocol, fixed before any grid result was seen: the predictors of
``netsieve.torch.GAP_PREDICTORS`` with their transforms; :class:`GapPredictor` with 10 folds, the
k-fold R² averaged over fold seeds 0–4; scored per dataset and on both pooled; a predictor is scored
on the models whose columns are all finite (n is reported). Nothing is tuned on the results.

Every finished model's record goes to the cache file at once (written atomically), so a stopped run
resumes where it was; ``--from-cache`` rebuilds the table without training::

    python examples/gap_grid.py                       # trains what the cache lacks (about an hour, 1 core)
    python examples/gap_grid.py --from-cache          # the table from examples/results/gap_grid.json
"""


import argparse
import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import netsieve.torch as nt
from netsieve import InvalidInputError
from netsieve._files import atomic_write_text
from netsieve.torch.diagnostics import susceptibility_probe

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "gap_grid.json"
LEVELS = {
    "width": (32, 64, 128),
    "depth": (3, 4),
    "lr": (1e-3, 3e-3, 1e-2),
    "batch_size": (64, 256),
    "weight_decay": (0.0, 1e-4, 1e-3),
    "dropout": (0.0, 0.1, 0.3),
    "noise_rate": (0.0, 0.1, 0.25),
}
N_TRAIN = {"mnist1d": (500, 1000, 2000), "digits": (300, 600, 1200)}
STEPS = 1000  # optimizer steps per model, whatever the batch size and training-set size
# The follow-up grid (--fitted), fixed before it ran: MNIST-1D only, levels that reach (near) zero
# training error as demogen's models do, 3000 steps; same predictors, folds and seeds.
LEVELS_FITTED = {**LEVELS, "width": (64, 128), "lr": (3e-3,), "batch_size": (64,), "dropout": (0.0, 0.1)}
STEPS_FITTED = 3000


@dataclass(frozen=True)
class GridPoint:
    """One model of the grid."""

    dataset: str
    n_train: int
    width: int
    depth: int
    lr: float
    batch_size: int
    weight_decay: float
    dropout: float
    noise_rate: float
    seed: int
    steps: int

    @property
    def epochs(self) -> int:
        """Epochs of about ``steps`` optimizer steps."""
        return max(1, round(self.steps / math.ceil(self.n_train / self.batch_size)))

    @property
    def key(self) -> str:
        return "-".join(f"{v}" for v in asdict(self).values())


def grid_points(n_mnist1d: int = 48, n_digits: int = 32, steps: int = STEPS, seed: int = 2019,
                levels: dict = LEVELS) -> list[GridPoint]:
    """The grid: each factor drawn uniformly from its levels (seeded); MNIST-1D and digits points
    interleaved so that a stopped run covers both."""
    rng = np.random.default_rng(seed)
    per = {"mnist1d": [], "digits": []}
    for ds, n in (("mnist1d", n_mnist1d), ("digits", n_digits)):
        for i in range(n):
            draw = {k: v[int(rng.integers(len(v)))] for k, v in levels.items()}
            per[ds].append(GridPoint(ds, N_TRAIN[ds][int(rng.integers(3))], seed=i, steps=steps, **draw))
    out = []
    for i in range(max(n_mnist1d, n_digits)):
        out += [p[i] for p in per.values() if i < len(p)]
    return out


def build_mlp(input_dim: int, n_classes: int, width: int, depth: int, dropout: float) -> nn.Sequential:
    """input → depth × (Linear, ReLU, Dropout) → Linear (the trainer's MLP with dropout added)."""
    layers: list[nn.Module] = [nn.Flatten()]
    d = input_dim
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
        d = width
    layers.append(nn.Linear(d, n_classes))
    return nn.Sequential(*layers)


def run_point(p: GridPoint, data_cache: dict) -> dict:
    """Trains one model and measures its gap and features; the record of the cache."""
    if (p.dataset, p.n_train) not in data_cache:
        data_cache[(p.dataset, p.n_train)] = nt.load_dataset(p.dataset, n_train=p.n_train)
    data = data_cache[(p.dataset, p.n_train)]
    cfg = nt.TrainConfig(dataset="custom", model="custom", n_train=p.n_train, optimizer="adam", lr=p.lr, batch_size=p.batch_size,
                         weight_decay=p.weight_decay, noise_rate=p.noise_rate, seed=p.seed, epochs=p.epochs,
                         metrics=("loss", "susceptibility"), progress=False, plots=False, num_threads=1)
    torch.manual_seed(p.seed)
    model = build_mlp(int(np.prod(data.input_shape)), data.n_classes, p.width, p.depth, p.dropout)
    t0 = time.perf_counter()
    trainer = nt.Trainer(cfg, data=data, model=model)
    res = trainer.run()
    t_train = time.perf_counter() - t0
    ev = res.evaluate()
    hidden = [m for m in model if isinstance(m, nn.Linear)][:3]
    t1 = time.perf_counter()
    feats = nt.gap_features(model, (data.x_train, res.noise.labels), ["input", *hidden],
                            zeta=res.history[-1]["zeta"])
    t_features = time.perf_counter() - t1
    # ζ's cost per epoch: one probe step, as the trainer takes it (everything restored after).
    x = data.x_train[: cfg.zeta_batch_size]
    t2 = time.perf_counter()
    susceptibility_probe(model, trainer.optimizer, x, trainer.rng.random_labels[: x.shape[0]])
    t_zeta = time.perf_counter() - t2
    epoch_s = float(np.mean([r["epoch_time_s"] for r in res.history]))
    return {"key": p.key, "point": asdict(p), "train_acc": ev["train_acc"], "test_acc": ev["test_acc"],
            "gap": ev["train_acc"] - ev["test_acc"], "features": feats.to_dict(),
            "seconds": {"train": t_train, "epoch": epoch_s, "features": t_features, "zeta_probe": t_zeta}}


def load_cache(path: Path) -> dict:
    if not path.exists():
        return {"records": [], "failed": [], "runs": []}
    return json.loads(path.read_text())


def save_cache(path: Path, cache: dict) -> None:
    atomic_write_text(path, json.dumps(cache, indent=1, allow_nan=True) + "\n")


def run_grid(points: list[GridPoint], cache_path: Path, log=print) -> dict:
    """Trains the points the cache lacks, saving after each; returns the cache."""
    cache = load_cache(cache_path)
    done = {r["key"] for r in cache["records"]} | {f["key"] for f in cache["failed"]}
    todo = [p for p in points if p.key not in done]
    started, data_cache = time.perf_counter(), {}
    load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    for i, p in enumerate(todo):
        try:
            rec = run_point(p, data_cache)
            cache["records"].append(rec)
            log(f"[{i + 1}/{len(todo)}] {p.key}: gap {rec['gap']:.3f} ({rec['seconds']['train']:.1f}s train, "
                f"{rec['seconds']['features']:.2f}s features)")
        except (FloatingPointError, InvalidInputError) as exc:
            cache["failed"].append({"key": p.key, "point": asdict(p), "error": f"{type(exc).__name__}: {exc}"})
            log(f"[{i + 1}/{len(todo)}] {p.key}: FAILED {exc}")
        save_cache(cache_path, cache)
    if todo:
        cache["runs"].append({"models": len(todo), "wall_s": time.perf_counter() - started,
                              "load_start": load0, "load_end": os.getloadavg()[0], "torch_threads": 1,
                              "machine": platform.processor() or platform.machine()})
        save_cache(cache_path, cache)
    return cache


def scores_by_subset(cache: dict, folds: int = 10, seeds=(0, 1, 2, 3, 4)) -> dict[str, list[nt.PredictorScore]]:
    """The comparison of the module docs, per dataset and pooled."""
    recs = cache["records"]
    subsets = {"mnist1d": [r for r in recs if r["point"]["dataset"] == "mnist1d"],
               "digits": [r for r in recs if r["point"]["dataset"] == "digits"], "both": recs}
    out = {}
    for name, rs in subsets.items():
        if len(rs) < folds:
            continue
        feats = [nt.GapFeatures.from_dict(r["features"]) for r in rs]
        out[name] = nt.compare_gap_predictors(feats, [r["gap"] for r in rs], folds=folds, seeds=seeds)
    return out


POST_HOC = {  # added after the table above was seen: context, not contenders
    "training accuracy alone": lambda r: [r["train_acc"]],
    "the grid's noise rate and log n_train": lambda r: [r["point"]["noise_rate"], math.log(r["point"]["n_train"])],
}


FITTED = 0.95  # "near interpolation", the regime of demogen's models


def post_hoc_lines(cache: dict, folds: int = 10, seeds=(0, 1, 2, 3, 4)) -> list[str]:
    """k-fold R² of two references outside the fixed protocol, same folds and seeds."""
    recs = cache["records"]
    lines = ["", "post hoc references (chosen after the table above was seen; not gap predictors from the model alone):"]
    for name, cols in POST_HOC.items():
        row = f"{name:46s} {len(cols(recs[0])) if recs else 0:3d}"
        for ds in ("mnist1d", "digits", "both"):
            rs = [r for r in recs if ds == "both" or r["point"]["dataset"] == ds]
            if len(rs) < folds:
                continue
            x, g = np.array([cols(r) for r in rs]), np.array([r["gap"] for r in rs])
            try:
                r2 = [nt.GapPredictor("none", folds=folds, seed=s).fit(x, g).cv_r2_ for s in seeds]
                row += f" {f'{np.mean(r2):.2f}±{np.std(r2):.2f}':>23s}"
            except InvalidInputError as exc:
                row += f" {'n/a: ' + str(exc)[:17]:>23s}"
        lines.append(row)
    fitted = [r for r in recs if r["point"]["dataset"] == "mnist1d" and r["train_acc"] >= FITTED]
    if len(fitted) >= folds:
        feats = [nt.GapFeatures.from_dict(r["features"]) for r in fitted]
        scores = nt.compare_gap_predictors(feats, [r["gap"] for r in fitted], folds=folds, seeds=seeds)
        lines += ["", f"post hoc: the {len(fitted)} MNIST-1D models at >= {FITTED:.0%} training accuracy, k-fold R²:"]
        lines += [f"{s.name:46s} {s.n_features:3d} " + (f"n/a: {s.error}" if s.error else
                  f"{s.cv_r2_mean:6.2f}±{s.cv_r2_std:.2f}") for s in scores]
    return lines


def format_report(cache: dict, folds: int = 10) -> str:
    recs = cache["records"]
    lines = []
    for ds in ("mnist1d", "digits"):
        rs = [r for r in recs if r["point"]["dataset"] == ds]
        if rs:
            g = np.array([r["gap"] for r in rs]); te = np.array([r["test_acc"] for r in rs])
            lines.append(f"{ds}: {len(rs)} models, gap {g.min():.3f}..{g.max():.3f} (mean {g.mean():.3f}), "
                         f"test acc {te.min():.3f}..{te.max():.3f}")
    if cache["failed"]:
        lines.append(f"failed runs (left out): {len(cache['failed'])}")
    scores = scores_by_subset(cache, folds)
    names = [s.name for s in next(iter(scores.values()))] if scores else []
    head = f"{'predictor':46s} {'p':>3s}" + "".join(f" {k + ' k-fold R²':>23s}" for k in scores)
    lines += ["", f"k-fold R² ({folds} folds, mean ± std over fold seeds 0-4; n models in brackets; "
              "adjusted R² of the full fit after /)", head]
    for i, name in enumerate(names):
        row = f"{name:46s} {scores[next(iter(scores))][i].n_features:3d}"
        for sub in scores.values():
            s = sub[i]
            row += f" {'n/a: ' + s.error[:17]:>23s}" if s.error else \
                f" {s.cv_r2_mean:6.2f}±{s.cv_r2_std:4.2f} /{s.adjusted_r2:5.2f} [{s.n_models}]".rjust(23)
        lines.append(row)
    lines += post_hoc_lines(cache, folds)
    secs = [r["seconds"] for r in recs]
    if secs:
        lines += ["", "per model (median): train {:.1f}s, epoch {:.3f}s, features {:.2f}s, ζ probe {:.4f}s "
                  "(= {:.1f}% of an epoch)".format(
                      *(float(np.median([s[k] for s in secs])) for k in ("train", "epoch", "features", "zeta_probe")),
                      100 * float(np.median([s["zeta_probe"] / s["epoch"] for s in secs])))]
    for run in cache["runs"]:
        lines.append(f"run: {run['models']} models in {run['wall_s'] / 60:.1f} min, 1 torch thread, "
                     f"load average {run['load_start']:.1f} -> {run['load_end']:.1f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from-cache", action="store_true", help="rebuild the table from the cache; train nothing")
    ap.add_argument("--cache", type=Path, default=None, help="default: results/gap_grid[_fitted].json")
    ap.add_argument("--mnist1d", type=int, default=48, help="models on MNIST-1D")
    ap.add_argument("--digits", type=int, default=32, help="models on digits")
    ap.add_argument("--out", type=Path, default=None, help="default: results/gap_grid[_fitted].txt")
    ap.add_argument("--fitted", action="store_true", help="the follow-up grid of MNIST-1D models trained to fit "
                    "(40 models, 3000 steps; cache results/gap_grid_fitted.json)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    stem = "gap_grid_fitted" if args.fitted else "gap_grid"
    cache_path = args.cache or RESULTS / f"{stem}.json"
    out = args.out or RESULTS / f"{stem}.txt"
    if args.from_cache:
        cache = load_cache(cache_path)
    elif args.fitted:
        cache = run_grid(grid_points(40, 0, STEPS_FITTED, seed=2020, levels=LEVELS_FITTED), cache_path)
    else:
        cache = run_grid(grid_points(args.mnist1d, args.digits), cache_path)
    text = format_report(cache)
    print(text)
    atomic_write_text(out, text + "\n")


if __name__ == "__main__":
    main()
