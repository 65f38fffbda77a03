"""The ``netsieve`` command line. Each subcommand imports what it needs when it runs, so
``netsieve --help`` stays fast and torch is loaded only by the commands that use it."""

from __future__ import annotations

import argparse
import math
import os
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
        W = np.load(args.path, mmap_mode="r", allow_pickle=False)  # mapped: nothing is read yet
        source = args.path
        if W.ndim != 2:
            raise ValueError(f"{args.path} holds a {W.ndim}-D array; spectrum needs a 2-D matrix")
        _check_memory(W.shape[0], W.shape[1])
    else:
        n, m = args.rows, args.cols
        if n < 2 or m < 2:
            raise ValueError(f"--rows and --cols must be at least 2, got {n} and {m}")
        if args.spikes < 0:
            raise ValueError(f"--spikes must be non-negative, got {args.spikes}")
        if not (math.isfinite(args.sigma) and args.sigma > 0):
            raise ValueError(f"--sigma must be a positive finite number, got {args.sigma}")
        if args.seed < 0:
            raise ValueError(f"--seed must be non-negative, got {args.seed}")
        if 20 * args.spikes > min(n, m):
            raise ValueError(f"--spikes {args.spikes} needs at least {20 * args.spikes} rows and columns "
                             "(each planted spike lives on 20 coordinates)")
        _check_memory(n, m)
        rng = np.random.default_rng(args.seed)
        W = rng.normal(0.0, args.sigma, size=(n, m))
        bbp = args.sigma * (n * m) ** 0.25
        for k in range(args.spikes):
            # Localised singular vectors: the structure a Porter–Thomas test tells from random vectors.
            u, v = np.zeros(n), np.zeros(m)
            u[20 * k : 20 * k + 20] = rng.choice([-1.0, 1.0], size=20)
            v[20 * k : 20 * k + 20] = rng.choice([-1.0, 1.0], size=20)
            W += (3.0 + k) * bbp * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
        source = (f"generated {n}×{m} Gaussian noise (σ={args.sigma}) + {args.spikes} spikes at "
                  f"3–{2 + args.spikes}× the BBP threshold, with localised singular vectors")
    res = analyze_spectra({"W": W}, porter_thomas=True)["W"]
    fit, pt, ls = res.fit, res.porter_thomas, res.level_spacing
    print(source)
    print(fit)
    print(f"spikes: {np.array2string(fit.spikes, precision=4)}")
    print(f"Porter–Thomas boundary: {pt.boundary} leading singular-vector pairs are non-random")
    if ls is not None:
        print(f"bulk level statistics: <r> = {ls.mean_ratio:.4f} (GOE 0.5307, Poisson 0.3863), {ls.n_levels} levels")
    return 0


# Peak memory of `spectrum` in float64 copies of the matrix: the matrix, the core's working copy
# and the thin SVD's factors for Porter–Thomas.
_SPECTRUM_COPIES = 4


def _available_memory() -> int | None:
    """Bytes this process may still allocate: MemAvailable, capped by RLIMIT_AS; None when unknown."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            avail = soft if avail is None else min(avail, soft)
    except (ImportError, OSError, ValueError):
        pass
    return avail


def _check_memory(n: int, m: int) -> None:
    need = _SPECTRUM_COPIES * 8 * n * m
    avail = _available_memory()
    if avail is not None and need > avail:
        raise ValueError(
            f"a {n}×{m} matrix needs about {need / 2**30:.1f} GiB to analyse, but only "
            f"{avail / 2**30:.1f} GiB of memory is available"
        )


def _add_train(sub: argparse._SubParsersAction) -> None:
    from ._train_cli import add_train_parser

    add_train_parser(sub)


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="per-layer spectral report of a model checkpoint (.safetensors, folder of shards, torch checkpoint)",
        description="Analyse every weight matrix of a checkpoint: MP noise fit, spikes, Porter–Thomas, "
        "level statistics, norms, ranks and the power-law tail exponent α. Exit code 1 when nothing "
        "could be analysed.",
    )
    p.add_argument("path", help="a .safetensors file, a folder of shards, or a torch checkpoint (weights_only)")
    p.add_argument("--layers", nargs="+", metavar="GLOB", help="only tensors whose names match these globs")
    p.add_argument("--conv-slices", action="store_true", help="one matrix per convolution kernel position")
    p.add_argument("--no-embeddings", action="store_true", help="skip embedding tables")
    p.add_argument("--no-porter-thomas", action="store_true", help="skip the singular-vector test (faster)")
    p.add_argument("--csv", metavar="FILE", help="write the per-layer table as CSV")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--plots", metavar="DIR", help="write plots (needs matplotlib)")
    p.add_argument("--quiet", action="store_true", help="no table, no progress bar")
    p.set_defaults(run=_run_analyze)


def _run_analyze(args: argparse.Namespace) -> int:
    from .torch.analysis import run_cli

    return run_cli(args)


def _add_demo(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .torch.demo import run_cli

    return run_cli(args)



def _add_filter(sub: argparse._SubParsersAction) -> None:
    from ._filter_cli import add_filter_command

    add_filter_command(sub)


_BUILDERS = [_add_demo, _add_spectrum, _add_filter, _add_analyze, _add_train]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="netsieve",
        description="Find the boundary between noise and learned information in deep networks.",
    )
    parser.add_argument("--version", action="version", version=f"netsieve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _BUILDERS:
        add(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# Errors whose message says it all; anything else is shown with its type (it may be a bug).
_EXPECTED = (ValueError, TypeError, OSError, ImportError, RuntimeError)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command. Failures print one line ``netsieve CMD: error: ...`` on stderr and return 1
    (130 when interrupted); ``NETSIEVE_DEBUG=1`` re-raises them with their traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    prefix = f"netsieve {args.command}"
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"\n{prefix}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `netsieve analyze m.safetensors | head`: the reader left
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except Exception as exc:
        if os.environ.get("NETSIEVE_DEBUG"):
            raise
        if isinstance(exc, MemoryError):
            message = "out of memory" + (f" ({_one_line(exc)})" if str(exc) else "")
        elif isinstance(exc, _EXPECTED):
            message = _one_line(exc)
        else:
            message = f"{type(exc).__name__}: {_one_line(exc)}"
        print(f"{prefix}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
