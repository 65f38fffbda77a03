"""``netsieve spectrum [PATH]``: MP fit, spikes, Porter–Thomas and level statistics of one matrix
(a .npy file, or a generated noise matrix carrying planted spikes with localised vectors)."""

from __future__ import annotations

import argparse
import math

from . import _memory

# Peak memory in float64 copies of the matrix: the matrix, the core's working copy and the thin
# SVD's factors for Porter–Thomas.
_COPIES = 4
_SUPPORT = 20  # coordinates of each planted spike


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
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
    return p


def _check_generated(rows: int, cols: int, spikes: int, sigma: float, seed: int) -> None:
    if rows < 2 or cols < 2:
        raise ValueError(f"--rows and --cols must be at least 2, got {rows} and {cols}")
    if spikes < 0:
        raise ValueError(f"--spikes must be non-negative, got {spikes}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"--sigma must be a positive finite number, got {sigma}")
    if seed < 0:
        raise ValueError(f"--seed must be non-negative, got {seed}")
    if _SUPPORT * spikes > min(rows, cols):
        raise ValueError(f"--spikes {spikes} needs at least {_SUPPORT * spikes} rows and columns "
                         f"(each planted spike lives on {_SUPPORT} coordinates)")  # fmt: skip


def spectrum_report(W, source: str) -> list[str]:
    """The lines ``netsieve spectrum`` prints for matrix ``W``."""
    import numpy as np

    from netsieve import GOE_MEAN_RATIO, POISSON_MEAN_RATIO, analyze_spectra

    res = analyze_spectra({"W": W}, porter_thomas=True)["W"]
    fit, pt, ls = res.fit, res.porter_thomas, res.level_statistics
    lines = [source, str(fit), f"spikes: {np.array2string(fit.spikes, precision=4)}",
             f"Porter–Thomas boundary: {pt.boundary} leading singular-vector pairs are non-random"]  # fmt: skip
    if ls is not None:
        lines.append(f"bulk level statistics: <r> = {ls.mean_ratio:.4f} (GOE {GOE_MEAN_RATIO:.4f}, "
                     f"Poisson {POISSON_MEAN_RATIO:.4f}), {ls.n_levels} levels")  # fmt: skip
    return lines


def run(args: argparse.Namespace) -> int:
    import numpy as np

    if args.path:
        W = np.load(args.path, mmap_mode="r", allow_pickle=False)  # mapped: nothing is read yet
        source = args.path
        if W.ndim != 2:
            raise ValueError(f"{args.path} holds a {W.ndim}-D array; spectrum needs a 2-D matrix")
        _memory.check_memory(_COPIES * 8 * W.shape[0] * W.shape[1], f"a {W.shape[0]}×{W.shape[1]} matrix")
    else:
        from netsieve.synthetic import bbp_threshold, planted_spikes

        n, m = args.rows, args.cols
        _check_generated(n, m, args.spikes, args.sigma, args.seed)
        _memory.check_memory(_COPIES * 8 * n * m, f"a {n}×{m} matrix")
        strengths = [(3.0 + k) * bbp_threshold(n, m, args.sigma) for k in range(args.spikes)]
        W = planted_spikes(np.random.default_rng(args.seed), n, m, strengths, sigma=args.sigma,
                           vectors="localized", support=_SUPPORT)  # fmt: skip
        source = (f"generated {n}×{m} Gaussian noise (σ={args.sigma}) + {args.spikes} spikes at "
                  f"3–{2 + args.spikes}× the BBP threshold, with localised singular vectors")  # fmt: skip
    for line in spectrum_report(W, source):
        print(line)
    return 0
