"""``netsieve demo``: the main job (:func:`netsieve.torch.demo.run_demo`): networks trained on
MNIST-1D at several label-noise rates, their weights filtered, compared with early stopping."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="the main job: train MLPs on MNIST-1D with label noise, filter their weights, compare (≈2 min)",
        description="Trains networks at several label-noise levels on built-in data, filters their weights "
        "with random-matrix shrinkage and prints clean test accuracy before/after, with early stopping "
        "on a noisy validation split as the baseline. Plots and metrics go to --out.",
    )
    p.add_argument("--out", default="netsieve-demo", help="output folder (default: %(default)s)")
    p.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.4], help="label-noise rates")
    p.add_argument("--seeds", type=int, default=3, help="seeds per noise rate")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--fast", action="store_true", help="a small version that runs in seconds")
    return p


def _check(args: argparse.Namespace) -> None:
    """The flags, before anything is trained (a bad noise rate was found only when its turn came)."""
    from .._files import check_output_folder
    from ..torch.noise import check_noise_rate

    for rate in args.noise:
        try:
            check_noise_rate(rate)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--noise: {exc}") from None
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    check_output_folder("--out", args.out)


def run(args: argparse.Namespace) -> int:
    _check(args)
    import torch

    from ..torch.demo import DemoConfig, run_demo, summary_lines

    cfg = DemoConfig.fast() if args.fast else DemoConfig(
        noise_rates=tuple(args.noise), seeds=tuple(range(args.seeds)), epochs=args.epochs, progress=not args.quiet
    )  # fmt: skip
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    res = run_demo(cfg, args.out)
    print()
    print(res.table())
    print()
    for line in summary_lines(res):
        print(line)
    print(f"\n{len(cfg.noise_rates) * len(cfg.seeds)} networks trained and filtered in {res.seconds:.0f} s; "
          f"plots and metrics per run under {args.out}/")  # fmt: skip
    return 0
