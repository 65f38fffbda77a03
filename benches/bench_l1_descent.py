"""Benchmark of netsieve.l1_vertex_descent: vertices per second as n0 (the trained layer's parameter
count) and N grow. One hidden ReLU layer of width w on inputs of dimension 9 (n0 = 10·w), scalar
output, X and y uniform on [−3, 3], weights U(−1, 1); layer 0 trained for a fixed number of
vertices after phase 1. Prints a markdown report; redirect it into benches/results/l1_descent.md.
There is no peer that walks the same vertices; the comparison with gradient training is in
examples/reproduce_l1_landscape.py.

With ``--threads`` it also times one problem (N = 8000, n0 = 250) with RAYON_NUM_THREADS=1 and 2,
each in a fresh process (the pool's size is fixed when it starts): the parallel speed-up of the
forward-mode ratio test, the unit updates and the gradient over N.

    python benches/bench_l1_descent.py [--vertices 300] [--threads]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
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


def threads_row(n, width, vertices, threads):
    """Kernel seconds of one run in a fresh process with RAYON_NUM_THREADS=threads."""
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"from bench_l1_descent import run; res, _, k = run({n}, {width}, {vertices}); "
            "print(res.n_vertices, k, res.status)")  # fmt: skip
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    verts, seconds, status = out.stdout.split()
    return int(verts), float(seconds), status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vertices", type=int, default=300)
    ap.add_argument("--threads", action="store_true", help="only the 1- against 2-thread comparison")
    args = ap.parse_args()
    if args.threads:
        print("# l1_vertex_descent: 1 against 2 threads\n")
        print(f"- machine: {platform.machine()}, {os.cpu_count()} logical CPUs (shared with other jobs); "
              f"load average before the run: {os.getloadavg()[0]:.1f}\n")
        print("| N | n0 | threads | phase-2 vertices | kernel time [s] | vertices/s | status |")
        print("|---:|---:|---:|---:|---:|---:|---|")
        for t in (1, 2, 1, 2):  # alternated, so that a change of load hits both
            v, k, st = threads_row(8000, 25, args.vertices, t)
            print(f"| 8,000 | 250 | {t} | {v} | {k:.2f} | {v / k:,.0f} | {st} |", flush=True)
        return
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
