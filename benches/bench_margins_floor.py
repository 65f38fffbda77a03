"""What "one read pass" costs, next to `netsieve.margins` (issue #16), warm and cold.

margins reads the logits and the labels and writes a fresh output, so three floors are measured,
each as the fastest numpy expression we found (numpy runs these on one thread):

* (a) one read of the logits: the faster of ``logits.sum()`` and ``logits.max()``;
* (b) (a) plus one read of the labels (``labels.max()``);
* (c) (b) plus writing a fresh output of the margins' dtype and length: ``logits.max()`` then
  ``labels.astype(logits.dtype)``, which reads the labels and writes the output in one pass.

"warm" repeats on the same arrays (an 8 MB array stays in this machine's 32 MB L3); "cold" first
overwrites a 96 MB buffer so that nothing of the inputs is cached. Best of ``--repeats``.

    python benches/bench_margins_floor.py [--rows 1000000] [--classes 2,3,10,16,100]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import netsieve

_EVICT = np.ones(96 * 2**20 // 8)


def best(fn, repeats: int, cold: bool) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if cold:
            np.add(_EVICT, 1.0, out=_EVICT)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--classes", default="2,3,10,16,100")
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"# one read pass vs margins ({os.cpu_count()} CPUs, shared; RAYON_NUM_THREADS="
          f"{os.environ.get('RAYON_NUM_THREADS', 'all')}; load {os.getloadavg()[0]:.1f} before)\n")
    print("| classes | rows | cache | (a) logits | (b) + labels | (c) + output | `margins` "
          "| / (a) | / (b) | / (c) |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in (int(x) for x in args.classes.split(",")):
        n = args.rows
        logits = rng.standard_normal((n, c), dtype=np.float32)
        labels = rng.integers(0, c, size=n)
        for cold in (False, True):
            t_a = min(best(logits.sum, args.repeats, cold), best(logits.max, args.repeats, cold))
            t_b = best(lambda: (logits.max(), labels.max()), args.repeats, cold)
            t_c = best(lambda: (logits.max(), labels.astype(logits.dtype)), args.repeats, cold)
            t_m = best(lambda: netsieve.margins(logits, labels), args.repeats, cold)
            print(f"| {c:,} | {n:,} | {'cold' if cold else 'warm'} | {t_a * 1e3:.2f} ms | "
                  f"{t_b * 1e3:.2f} ms | {t_c * 1e3:.2f} ms | {t_m * 1e3:.2f} ms | "
                  f"{t_m / t_a:.1f}× | {t_m / t_b:.1f}× | {t_m / t_c:.1f}× |", flush=True)
    print(f"\nLoad average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
