"""Speed of the doubling condition: the issue's target (N = 10⁶ points in ℝ⁴⁰, D = 1000 directions,
G = 16 widths, under 30 s on 2 cores), scaling in N and in D, and the same data-centred sweep written
in numpy (matrix product, np.sort, np.searchsorted for both widths: what a user would write), side
by side in one run. The local search is off in the scaling rows (it works on a fixed 20,000-point
subsample, a constant cost reported in its own row).

    python benches/bench_doubling.py            # writes benches/results/doubling.md
    python benches/bench_doubling.py --quick    # smaller sizes, prints only
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

import netsieve as ns

from _timing import machine

DIM, G = 40, 16


def deltas() -> np.ndarray:
    return 0.25 * 0.5 ** np.arange(G)[::-1]


def numpy_sweep(X: np.ndarray, W: np.ndarray, widths: np.ndarray, m: int) -> np.ndarray:
    """The largest ratio per width over slabs centred on the data, in numpy (the same counts)."""
    best = np.zeros(len(widths))
    for w in W:
        p = np.sort(X @ w)
        for g, d in enumerate(widths):
            inner = np.searchsorted(p, p + d, "left") - np.searchsorted(p, p - d, "right")
            outer = np.searchsorted(p, p + 2 * d, "left") - np.searchsorted(p, p - 2 * d, "right")
            ok = inner >= m
            if ok.any():
                best[g] = max(best[g], float(np.max(outer[ok] / inner[ok])))
    return best


class Lines(list):
    """The report's lines, each printed as soon as it is measured."""

    def __init__(self, first: list[str]) -> None:
        super().__init__()
        self += first

    def append(self, line: str) -> None:
        print(line, flush=True)
        super().append(line)

    def __iadd__(self, more):
        for line in more:
            self.append(line)
        return self


CPU = {"last": 0.0}


def timed(fn) -> tuple[float, object]:
    """Wall time of fn(); its CPU time (all threads of this process) is left in CPU["last"]."""
    c, t = time.process_time(), time.perf_counter()
    out = fn()
    CPU["last"] = time.process_time() - c
    return time.perf_counter() - t, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    big = 200_000 if args.quick else 1_000_000
    X = rng.normal(size=(big, DIM))
    widths = deltas()
    lines = Lines([f"# Doubling condition ({machine()})", "",
                   f"Gaussian points in ℝ^{DIM}, {G} widths (δ = ¼·2^−k), m = ⌈√N⌉, one run each.", ""])  # fmt: skip

    # The target: N × D = 1e6 × 1000 (960 random + 40 principal axes), no search.
    t, r = timed(lambda: ns.doubling_condition(X, deltas=widths, n_directions=1000 - DIM, search=False))
    lines += ["## Target", "", f"Load average before the run: {os.getloadavg()[0]:.1f} (2 cores).", "",
              "| N | D | G | search | time | CPU time (both threads) | directions/s |",
              "|---:|---:|---:|---|---:|---:|---:|",
              f"| {big:,} | {len(r.sources)} | {G} | off | {t:.2f} s | {CPU['last']:.1f} s | {len(r.sources) / t:.0f} |"]  # fmt: skip
    t, r = timed(lambda: ns.doubling_condition(X, deltas=widths, n_directions=1000 - DIM))
    lines.append(f"| {big:,} | {len(r.sources)} | {G} | on | {t:.2f} s | {CPU['last']:.1f} s | {len(r.sources) / t:.0f} |")  # fmt: skip

    # Scaling in N (D = 100) and in D (N = 125,000).
    lines += ["", "## Scaling", "", "| N | D | time | time / (N·D) |", "|---:|---:|---:|---:|"]
    for n in (big // 8, big // 4, big // 2, big):
        t, r = timed(lambda: ns.doubling_condition(X[:n], deltas=widths, n_directions=100 - DIM, search=False))
        lines.append(f"| {n:,} | 100 | {t:.3f} s | {t / (n * 100) * 1e9:.2f} ns |")
    n = big // 8
    for d in (100, 200, 400, 800):
        t, r = timed(lambda: ns.doubling_condition(X[:n], deltas=widths, n_directions=d - DIM, search=False))
        lines.append(f"| {n:,} | {d} | {t:.3f} s | {t / (n * d) * 1e9:.2f} ns |")

    # numpy's version of the same sweep, on 20 directions, against the core on the same directions.
    n, D = big // 8, 20
    W = rng.normal(size=(D, DIM))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    m = int(np.ceil(np.sqrt(n)))
    t_np, best_np = timed(lambda: numpy_sweep(X[:n], W, widths, m))
    t_ns, r = timed(lambda: ns.doubling_condition(X[:n], deltas=widths, min_points=m, n_directions=0,
                                                   directions=W, search=False))  # fmt: skip
    given = np.array(r.sources) == "given"
    best_ns = np.nanmax(np.where(np.isnan(r.ratios[given]), 0, r.ratios[given]), axis=0)
    assert np.allclose(best_np, best_ns), (best_np, best_ns)  # the same counts
    lines += ["", "## Against numpy (same directions, same counts)", "",
              "| what | N | D | time | speed vs numpy |", "|---|---:|---:|---:|---:|",
              f"| numpy sort + searchsorted | {n:,} | {D} | {t_np:.2f} s | 1.00× |",
              f"| netsieve (+{DIM} principal axes) | {n:,} | {D + DIM} | {t_ns:.2f} s | {t_np / t_ns:.1f}× |"]  # fmt: skip
    text = "\n".join(lines) + "\n"
    if not args.quick:
        out = Path(__file__).parent / "results" / "doubling.md"
        out.write_text(text)


if __name__ == "__main__":
    main()
