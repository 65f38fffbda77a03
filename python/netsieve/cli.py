"""The ``netsieve`` command line. Each subcommand imports what it needs when it runs, so
``netsieve --help`` stays fast and torch is loaded only by the commands that use it."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

Command = Callable[[argparse.Namespace], int]


def _add_spectrum(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "spectrum",
        help="MP fit, spikes, Porter–Thomas and level statistics of a matrix (.npy) or of a generated one",
        description="Analyse one matrix. Without PATH, a noise matrix carrying planted spikes is generated.",
    )
    p.add_argument("path", nargs="?", help="a 2-D .npy file; omitted: generate a planted-spike matrix")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--cols", type=int, default=1000)
    p.add_argument("--spikes", type=int, default=5, help="planted spikes (generated matrix only)")
    p.add_argument("--sigma", type=float, default=1.0, help="noise std (generated matrix only)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_run_spectrum)


def _run_spectrum(args: argparse.Namespace) -> int:
    import numpy as np

    from .spectral import analyze_spectra

    if args.path:
        W = np.load(args.path, mmap_mode="r", allow_pickle=False)
        source = args.path
    else:
        rng = np.random.default_rng(args.seed)
        n, m = args.rows, args.cols
        W = rng.normal(0.0, args.sigma, size=(n, m))
        bbp = args.sigma * (n * m) ** 0.25
        for k in range(args.spikes):
            u = rng.normal(size=n)
            v = rng.normal(size=m)
            W += (3.0 + k) * bbp * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
        source = f"generated {n}×{m} Gaussian noise (σ={args.sigma}) + {args.spikes} spikes at 3–{2 + args.spikes}× BBP"
    res = analyze_spectra({"W": W}, porter_thomas=True)["W"]
    fit, pt, ls = res.fit, res.porter_thomas, res.level_spacing
    print(source)
    print(fit)
    print(f"spikes: {np.array2string(fit.spikes, precision=4)}")
    print(f"Porter–Thomas boundary: {pt.boundary} leading singular-vector pairs are non-random")
    if ls is not None:
        print(f"bulk level statistics: <r> = {ls.mean_ratio:.4f} (GOE 0.5307, Poisson 0.3863), {ls.n_levels} levels")
    return 0


def _add_filter(sub: argparse._SubParsersAction) -> None:
    from ._filter_cli import add_filter_command

    add_filter_command(sub)


_BUILDERS = [_add_spectrum, _add_filter]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="netsieve", description=__doc__)
    parser.add_argument("--version", action="version", version=f"netsieve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _BUILDERS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from ._netsieve import ConvergenceError

    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, ConvergenceError, OSError) as exc:
        print(f"netsieve {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
