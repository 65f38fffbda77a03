"""Benchmark of netsieve.lad_fit, side by side with its peers in one run: scipy's HiGHS on the dual
LP (its fastest formulation: max yᵀd s.t. [X 1]ᵀd = 0, −1 ≤ d ≤ 1) and statsmodels' QuantReg(q=0.5)
(iteratively reweighted least squares). Prints a markdown report; redirect it into
benches/results/l1.md.

    python benches/bench_l1.py [--n 100000] [--p 20] [--n-statsmodels 20000] [--scaling 1000000]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import netsieve as ns


def problem(n, p, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X @ rng.normal(size=p) + rng.standard_t(2, size=n)
    return X, y


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def highs_dual(X, y):
    from scipy.optimize import linprog

    A = np.column_stack([X, np.ones(len(y))])
    res = linprog(-y, A_eq=A.T, b_eq=np.zeros(A.shape[1]), bounds=(-1, 1), method="highs")
    assert res.status == 0, res.message
    return -res.fun  # = Σ|r| at the optimum


def statsmodels_lad(X, y):
    import statsmodels.api as sm

    A = sm.add_constant(X)
    fit = sm.QuantReg(y, A).fit(q=0.5)
    return float(np.abs(y - A @ fit.params).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--p", type=int, default=20)
    ap.add_argument("--n-statsmodels", type=int, default=20_000)
    ap.add_argument("--scaling", type=int, default=1_000_000, help="largest N of the scaling series")
    args = ap.parse_args()

    print("# lad_fit benchmark\n")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} logical CPUs (shared with other jobs); "
          f"load average before the run: {os.getloadavg()[0]:.1f}")
    print("- data: X ~ N(0, 1), y = Xβ + t₂ noise, intercept fitted; one run each, all in this process\n")

    print(f"## N = {args.n:,}, p = {args.p}: netsieve vs HiGHS (dual LP)\n")
    X, y = problem(args.n, args.p)
    t_ns, fit = timed(lambda: ns.lad_fit(X, y))
    t_hi, loss_hi = timed(lambda: highs_dual(X, y))
    print("| solver | time [s] | Σ|r| | pivots | pivots/s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| netsieve.lad_fit | {t_ns:.3f} | {fit.loss:.10g} | {fit.n_pivots} | {fit.n_pivots / t_ns:,.0f} |")
    print(f"| scipy linprog(highs), dual | {t_hi:.3f} | {loss_hi:.10g} | | |")
    print(f"\nratio HiGHS / netsieve: **{t_hi / t_ns:.1f}×**; relative loss difference "
          f"{abs(fit.loss - loss_hi) / loss_hi:.1e}\n")

    n2 = args.n_statsmodels
    print(f"## N = {n2:,}, p = {args.p}: netsieve vs statsmodels QuantReg(q=0.5) vs HiGHS\n")
    X2, y2 = problem(n2, args.p, seed=1)
    t_ns2, fit2 = timed(lambda: ns.lad_fit(X2, y2))
    t_sm, loss_sm = timed(lambda: statsmodels_lad(X2, y2))
    t_hi2, loss_hi2 = timed(lambda: highs_dual(X2, y2))
    print("| solver | time [s] | Σ|r| | excess over the LP optimum |")
    print("|---|---:|---:|---:|")
    for name, t, loss in [("netsieve.lad_fit", t_ns2, fit2.loss), ("statsmodels QuantReg", t_sm, loss_sm),
                          ("scipy linprog(highs), dual", t_hi2, loss_hi2)]:  # fmt: skip
        print(f"| {name} | {t:.3f} | {loss:.10g} | {(loss - loss_hi2) / loss_hi2:.1e} |")
    print(f"\nratios: statsmodels / netsieve **{t_sm / t_ns2:.1f}×**, HiGHS / netsieve **{t_hi2 / t_ns2:.1f}×**\n")

    print("## Scaling: pivots and the cost of one pivot\n")
    print("| N | p | time [s] | pivots | ms per pivot | ns per pivot per N·q |")
    print("|---:|---:|---:|---:|---:|---:|")
    cases = [(n, args.p) for n in (10_000, 100_000, args.scaling)] + [(100_000, p) for p in (5, 50)]
    for n, p in cases:
        X3, y3 = problem(n, p, seed=2)
        t, f = timed(lambda: ns.lad_fit(X3, y3))
        per = t / max(f.n_pivots, 1)
        print(f"| {n:,} | {p} | {t:.3f} | {f.n_pivots} | {per * 1e3:.2f} | {per / (n * (p + 1)) * 1e9:.2f} |")


if __name__ == "__main__":
    main()
