"""Benchmark of netsieve.l1_vertex_descent: vertices per second as n0 (the trained layer's parameter
count) and N grow. One hidden ReLU layer of width w on inputs of dimension 9 (n0 = 10·w), scalar
output, X and y uniform on [−3, 3], weights U(−1, 1); layer 0 trained for a fixed number of
vertices after phase 1. Prints a markdown report; redirect it into benches/results/l1_descent.md.
There is no peer that walks the same vertices; the comparison with gradient training is in
examples/reproduce_l1_landscape.py.

    python benches/bench_l1_descent.py [--vertices 300]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import netsieve as ns


def problem(n, width, seed=0, d=9):
    rng = np.random.default_rng(seed)
    Ws = [rng.uniform(-1, 1, (width, d)), rng.uniform(-1, 1, (1, width))]
    bs = [rng.uniform(-1, 1, width), rng.uniform(-1, 1, 1)]
    return Ws, bs, rng.uniform(-3, 3, (n, d)), rng.uniform(-3, 3, n)


def run(n, width, vertices):
    Ws, bs, X, y = problem(n, width)
    t0 = time.perf_counter()
    res = ns.l1_vertex_descent(Ws, bs, ["relu"], X, y, 0, max_vertices=vertices)
    total = time.perf_counter() - t0
    phase2 = res.seconds  # the kernel's own time, phase 1 included
    return res, total, phase2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vertices", type=int, default=300)
    args = ap.parse_args()
    print("# l1_vertex_descent benchmark\n")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} logical CPUs (shared with other jobs); "
          f"load average before the run: {os.getloadavg()[0]:.1f}")
    print(f"- {args.vertices} phase-2 vertices per run (fewer when a local minimum comes first); one run each\n")
    print("| N | n0 | phase-2 vertices | kernel time [s] | vertices/s (incl. phase 1) | status |")
    print("|---:|---:|---:|---:|---:|---|")
    cases = [(2000, w) for w in (10, 25, 50, 100)] + [(500, 25), (8000, 25)]
    for n, w in cases:
        res, total, kernel = run(n, w, args.vertices)
        print(f"| {n:,} | {res.n_params} | {res.n_vertices} | {kernel:.2f} | {res.n_vertices / kernel:,.0f} | {res.status} |")


if __name__ == "__main__":
    main()
