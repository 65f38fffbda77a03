"""How deep is deep enough? The GDV curve over depth (Schilling et al. 2021) for MLPs on MNIST-1D
(issue 19, part 4), against the depth that is best on held-out data.

MLPs of 1 to 8 hidden ReLU layers (width 64) are trained with the project's trainer (seeded; Adam,
lr 1e-3, batch 64, on the 4000 training samples), three seeds each, until the training loss
plateaus (:class:`Plateau`: the mean loss of the last 10 epochs less than 2 % below the mean of the
10 before, or under 0.01 nats; at most 400 epochs). For every trained network
:func:`netsieve.torch.gdv_curve` measures the GDV of the input and of each hidden layer's
post-ReLU output on the first 1000 training samples (training data only; no test label is used).

The rules, fixed before any result was seen: the depth a network's curve suggests is
:meth:`GDVCurve.saturation_layer` (the first layer reaching 95% of the separation gained from the
input to the curve's minimum) and, beside it, :meth:`GDVCurve.best_layer` (the minimum); the depth
the GDV suggests overall is the median of those over the seeds of the deepest network (Schilling et
al.'s master curve is said not to depend on total depth). The held-out best depth is the one of
highest mean clean test accuracy over the seeds (the 1000 MNIST-1D test samples).

    python examples/gdv_depth.py                 # trains (about 10 min on one loaded core)
    python examples/gdv_depth.py --from-cache    # the table from examples/results/gdv_depth.json
"""


import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import netsieve.torch as nt
from netsieve._files import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
CACHE = RESULTS / "gdv_depth.json"
DEPTHS = (1, 2, 3, 4, 6, 8)
SEEDS = (0, 1, 2)
GDV_SAMPLES = 1000
MAX_EPOCHS, PATIENCE, MIN_GAIN, FITTED_LOSS = 400, 10, 0.02, 0.01


class Plateau:
    """Trainer callback: stops the run once the training loss has plateaued, i.e. the mean loss of
    the last ``patience`` epochs is less than ``min_gain`` (relative) below the mean of the
    ``patience`` epochs before them, or below ``fitted`` nats (the training set is fitted)."""

    def __init__(self, patience: int = PATIENCE, min_gain: float = MIN_GAIN, fitted: float = FITTED_LOSS):
        self.patience, self.min_gain, self.fitted = patience, min_gain, fitted
        self.losses: list[float] = []
        self.epoch: int | None = None  # the epoch the plateau was seen (None: not seen)

    def __call__(self, trainer, row: dict) -> None:
        self.losses.append(float(row["loss"]))
        w = self.patience
        if self.epoch is None and len(self.losses) >= 2 * w:
            last, before = np.mean(self.losses[-w:]), np.mean(self.losses[-2 * w : -w])
            if last > (1 - self.min_gain) * before or last < self.fitted:
                self.epoch = int(row["epoch"])
                trainer.stop_requested = True


def config(depth: int, seed: int, epochs: int = MAX_EPOCHS, n_train: int = 4000, width: int = 64) -> nt.TrainConfig:
    return nt.TrainConfig(dataset="mnist1d", n_train=n_train, hidden=(width,) * depth, optimizer="adam", lr=1e-3,
                          batch_size=64,
                          epochs=epochs, seed=seed, metrics=("loss",), progress=False, plots=False, num_threads=1)


def run_one(cfg: nt.TrainConfig, data) -> dict:
    t0 = time.perf_counter()
    plateau = Plateau()
    res = nt.Trainer(cfg, data=data, callbacks=[plateau]).run()
    t_train = time.perf_counter() - t0
    relus = [m for m in res.model if isinstance(m, nn.ReLU)]
    n = min(GDV_SAMPLES, data.n_train)
    t1 = time.perf_counter()
    curve = nt.gdv_curve(res.model, data.x_train[:n], data.y_train[:n], relus)
    ev = res.evaluate()
    return {"depth": len(cfg.hidden), "seed": cfg.seed, "test_acc": ev["test_acc"], "train_acc": ev["train_acc"],
            "gdv": list(curve.values), "best_layer": curve.best_layer(), "saturation_layer": curve.saturation_layer(),
            "epochs": len(res.history), "plateau": plateau.epoch is not None, "train_loss": res.history[-1]["loss"],
            "seconds": {"train": t_train, "gdv": time.perf_counter() - t1}}


def run_all(depths=DEPTHS, seeds=SEEDS, cache_path: Path = CACHE, log=print, **cfg_options) -> dict:
    """Trains what the cache lacks (saved after each network); returns the cache."""
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {"records": [], "runs": []}
    done = {(r["depth"], r["seed"]) for r in cache["records"]}
    data, started, load0 = None, time.perf_counter(), os.getloadavg()[0]
    todo = [(d, s) for s in seeds for d in depths if (d, s) not in done]  # seed by seed: a stopped run has whole curves
    for d, s in todo:
        cfg = config(d, s, **cfg_options)
        data = data or nt.load_dataset("mnist1d", n_train=cfg.n_train)
        rec = run_one(cfg, data)
        cache["records"].append(rec)
        log(f"depth {d} seed {s}: test {rec['test_acc']:.3f}, GDV {[round(v, 3) for v in rec['gdv']]}")
        atomic_write_text(cache_path, json.dumps(cache, indent=1) + "\n")
    if todo:
        cache["runs"].append({"models": len(todo), "wall_s": time.perf_counter() - started, "load_start": load0,
                              "load_end": os.getloadavg()[0]})
        atomic_write_text(cache_path, json.dumps(cache, indent=1) + "\n")
    return cache


def summary(cache: dict) -> dict:
    """The table's numbers: per depth the mean test accuracy and curves; the depths suggested."""
    recs = cache["records"]
    depths = sorted({r["depth"] for r in recs})
    per = {d: [r for r in recs if r["depth"] == d] for d in depths}
    acc = {d: float(np.mean([r["test_acc"] for r in rs])) for d, rs in per.items()}
    deepest = per[depths[-1]]
    return {
        "depths": depths, "test_acc": acc,
        "test_acc_std": {d: float(np.std([r["test_acc"] for r in rs])) for d, rs in per.items()},
        "curve": {d: np.mean([r["gdv"] for r in rs], axis=0).tolist() for d, rs in per.items()},
        "last_gdv": {d: float(np.mean([r["gdv"][-1] for r in rs])) for d, rs in per.items()},
        "saturation": {d: float(np.median([r["saturation_layer"] for r in rs])) for d, rs in per.items()},
        "best": {d: float(np.median([r["best_layer"] for r in rs])) for d, rs in per.items()},
        "gdv_depth_saturation": float(np.median([r["saturation_layer"] for r in deepest])),
        "gdv_depth_best": float(np.median([r["best_layer"] for r in deepest])),
        "heldout_best_depth": max(acc, key=acc.get),
    }


def format_report(cache: dict) -> str:
    s = summary(cache)
    recs = cache["records"]
    lines = ["depth  epochs (plateau)  train acc  test acc (mean ± std)  GDV per layer (input, hidden 1..L; mean over seeds)"
             "  best layer  95% layer"]
    for d in s["depths"]:
        curve = " ".join(f"{v:6.3f}" for v in s["curve"][d])
        rs = [r for r in recs if r["depth"] == d]
        epochs = ",".join(f"{r.get('epochs', '?')}{'' if r.get('plateau', True) else '*'}" for r in rs)
        lines.append(f"{d:5d}  {epochs:>16s}  {np.mean([r['train_acc'] for r in rs]):9.3f}  "
                     f"{s['test_acc'][d]:.3f} ± {s['test_acc_std'][d]:.3f}          {curve}"
                     f"   {s['best'][d]:g}  {s['saturation'][d]:g}")
    lines.append("(* : stopped at the epoch cap before the loss plateaued)")
    lines += ["", f"depth suggested by the GDV of the deepest nets (median over seeds): 95% rule "
              f"{s['gdv_depth_saturation']:g}, minimum {s['gdv_depth_best']:g}",
              f"depth best on held-out data (mean test accuracy): {s['heldout_best_depth']}"]
    d_last = [s["last_gdv"][d] for d in s["depths"]]
    lines.append("last hidden layer's GDV by depth: " + ", ".join(f"{d}: {v:.3f}" for d, v in zip(s["depths"], d_last)))
    lines.append("per network (median): train {:.1f}s, GDV curve {:.2f}s".format(
        float(np.median([r["seconds"]["train"] for r in recs])), float(np.median([r["seconds"]["gdv"] for r in recs]))))
    for run in cache["runs"]:
        lines.append(f"run: {run['models']} networks in {run['wall_s'] / 60:.1f} min, 1 torch thread, "
                     f"load average {run['load_start']:.1f} -> {run['load_end']:.1f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from-cache", action="store_true", help="rebuild the table from the cache; train nothing")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--out", type=Path, default=RESULTS / "gdv_depth.txt")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cache = json.loads(args.cache.read_text()) if args.from_cache else run_all(cache_path=args.cache)
    text = format_report(cache)
    print(text)
    atomic_write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
