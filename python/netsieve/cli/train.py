"""The ``netsieve train`` subcommand. The parser is torch-free (so ``netsieve --help`` stays fast);
options left out take :class:`netsieve.torch.TrainConfig`'s defaults."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# (flag, config field, type, help) — the help states the default where it is worth knowing.
_OPTIONS = [
    ("--dataset", "dataset", str, "mnist1d | digits | teacher | gaussian_mixture (default mnist1d)"),
    ("--n-train", "n_train", int, "training samples (default: all / 4000 for synthetic tasks)"),
    ("--n-test", "n_test", int, "test samples"),
    ("--data-seed", "data_seed", int, "seed of the synthetic tasks / digits split"),
    ("--model", "model", str, "mlp | cnn1d | cnn2d (default mlp)"),
    ("--hidden", "hidden", str, "hidden widths, comma-separated (default 512,512)"),
    ("--channels", "channels", str, "CNN channels, comma-separated (default 32,64)"),
    ("--kernel-size", "kernel_size", int, "CNN kernel size"),
    ("--activation", "activation", str, "relu | tanh | gelu | leaky_relu | abs"),
    ("--dropout", "dropout", float, "Dropout probability after each hidden activation (default 0: none)"),
    ("--noise-rate", "noise_rate", float, "label-noise rate in [0, 1) (default 0)"),
    ("--noise-kind", "noise_kind", str, "symmetric | pair"),
    ("--optimizer", "optimizer", str, "sgd | adam | adamw (default sgd)"),
    ("--lr", "lr", float, "learning rate (default 0.05)"),
    ("--momentum", "momentum", float, "SGD momentum (default 0.9)"),
    ("--weight-decay", "weight_decay", float, "weight decay (default 0)"),
    ("--schedule", "schedule", str, "constant | cosine | step"),
    ("--step-size", "step_size", int, "epochs per step of the step schedule"),
    ("--gamma", "gamma", float, "factor per step of the step schedule"),
    ("--epochs", "epochs", int, "epochs (default 150)"),
    ("--batch-size", "batch_size", int, "mini-batch size (default 100)"),
    ("--seed", "seed", int, "seed of initialisation, batch order and label noise (default 0)"),
    ("--metrics", "metrics", str,
     "comma-separated: loss,train_acc,test_acc,margins,delta_acc,spectra,susceptibility,geometric_complexity"),
    ("--deltas", "deltas", str, "δ grid of acc_δ (default 0,0.05,0.1,0.2,0.5)"),
    ("--prune-fraction", "prune_fraction", float, "after separation keep this lowest-margin fraction"),
    ("--prune-every", "prune_every", int, "recompute margins for pruning every k epochs"),
    ("--prune-selection", "prune_selection", str, "lowest (margins, default) | random (control)"),
    ("--separated-lr-factor", "separated_lr_factor", float,
     "multiply the learning rate by this once the training set is separated (needs --prune-fraction)"),
    ("--checkpoint-every", "checkpoint_every", int, "checkpoint every k epochs (default 1)"),
    ("--keep-checkpoints", "keep_checkpoints", int, "keep the weights every k epochs as checkpoints/epoch-NNNN.safetensors (default 0: none)"),
    ("--threads", "num_threads", int, "torch threads during the run"),
    ("--device", "device", str, "torch device (default cpu)"),
]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a network with label noise and per-epoch diagnostics into a run directory",
        description="Train a model on a built-in dataset, writing config, metrics (CSV, JSON lines), "
        "safetensors checkpoints and plots into a run directory.",
    )
    p.add_argument("--config", help="a JSON file of TrainConfig fields (command-line options override it)")
    p.add_argument("--out", "--run-dir", dest="run_dir", help="run directory (default runs/<dataset>-<model>-noise<r>-seed<s>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    for flag, dest, typ, text in _OPTIONS:
        p.add_argument(flag, dest=dest, type=typ, default=argparse.SUPPRESS, help=text)
    p.add_argument("--porter-thomas", dest="porter_thomas", action="store_true", default=argparse.SUPPRESS,
                   help="add the Porter–Thomas boundary to the per-epoch spectra")
    p.add_argument("--doubling", dest="doubling", action="store_true", default=argparse.SUPPRESS,
                   help="write the doubling constant of the training inputs to doubling.json")
    p.add_argument("--batch-norm", dest="batch_norm", action="store_true", default=argparse.SUPPRESS,
                   help="BatchNorm after each hidden layer of the built model")
    p.add_argument("--no-plots", dest="plots", action="store_false", default=argparse.SUPPRESS)
    p.add_argument("--no-progress", dest="progress", action="store_false", default=argparse.SUPPRESS)
    return p


def run(args: argparse.Namespace) -> int:
    from ..torch import TrainConfig, train

    fields = {}
    if args.config:
        try:
            fields = json.loads(Path(args.config).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"--config {args.config!r} is not valid JSON: {exc}") from None
        if isinstance(fields, dict) and "config" in fields and isinstance(fields["config"], dict):
            fields = fields["config"]  # a run directory's config.json
        if not isinstance(fields, dict):
            raise ValueError(f"--config {args.config!r} must hold a JSON object of TrainConfig fields")
    names = {dest for _, dest, _, _ in _OPTIONS} | {"porter_thomas", "doubling", "batch_norm", "plots", "progress"}
    fields.update({k: v for k, v in vars(args).items() if k in names})
    if args.quiet:
        fields["progress"] = False
    cfg = TrainConfig.from_dict(fields)
    run_dir = args.run_dir or f"runs/{cfg.dataset}-{cfg.model}-noise{cfg.noise_rate:g}-seed{cfg.seed}"
    result = train(cfg, run_dir=run_dir, resume=args.resume, overwrite=args.overwrite)
    final = result.history[-1] if result.history else {}
    shown = {k: final[k] for k in ("epoch", "loss", "train_acc", "train_acc_clean", "train_acc_noisy", "test_acc", "zeta")
             if k in final}
    print(f"run directory: {run_dir}")
    print("final: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
    return 0
