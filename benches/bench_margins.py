"""Benchmark of netsieve.margins and netsieve.lowest_margins, side by side with their peers in one
run. Prints a markdown report (ratios included); redirect it into benches/results/margins.md.

    PYTHONPATH=python python benches/bench_margins.py [--rows 1000000] [--classes 100] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

import netsieve


def timeit(fn, repeats):
    fn()  # warm-up: page faults, thread pool start
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def numpy_margins(logits, labels):
    """The straightforward numpy expression: fancy indexing for f_y, masked max for the rest."""
    rows = np.arange(labels.shape[0])
    fy = logits[rows, labels]
    masked = logits.copy()
    masked[rows, labels] = -np.inf
    return fy - masked.max(axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    n, c, r = args.rows, args.classes, args.repeats

    rng = np.random.default_rng(0)
    logits = rng.standard_normal((n, c), dtype=np.float32)
    labels = rng.integers(0, c, size=n)
    assert np.array_equal(netsieve.margins(logits, labels), numpy_margins(logits, labels))

    print(f"# margins benchmark\n")
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs "
          f"(shared with other jobs), numpy {np.__version__}")
    print(f"- rayon threads: {os.environ.get('RAYON_NUM_THREADS', 'default (all cores)')}; "
          f"load average before the run: {os.getloadavg()[0]:.1f}")
    print(f"- logits {n:,} × {c} float32 ({logits.nbytes / 2**20:.0f} MiB), int64 labels; "
          f"best / median of {r} runs after a warm-up, all in this one run\n")

    t_ns, m_ns = timeit(lambda: netsieve.margins(logits, labels), r)
    t_np, m_np = timeit(lambda: numpy_margins(logits, labels), r)
    t_sum, m_sum = timeit(lambda: logits.sum(), r)
    fortran = np.asfortranarray(logits[: n // 4])
    t_f, m_f = timeit(lambda: netsieve.margins(fortran, labels[: n // 4]), r)
    t_p, m_p = timeit(lambda: netsieve.margins(logits, labels, kind="probability"), max(1, r // 3))
    t_k, m_k = timeit(lambda: netsieve.margins(logits, labels, top_k=3), max(1, r // 3))

    print("| operation | best (ms) | median (ms) |")
    print("|---|---:|---:|")
    print(f"| `netsieve.margins(logits, labels)` | {t_ns*1e3:.1f} | {m_ns*1e3:.1f} |")
    print(f"| numpy fancy indexing + masked max | {t_np*1e3:.1f} | {m_np*1e3:.1f} |")
    print(f"| `logits.sum()` (reading the array once) | {t_sum*1e3:.1f} | {m_sum*1e3:.1f} |")
    print(f"| `netsieve.margins`, Fortran-ordered, {n//4:,} rows | {t_f*1e3:.1f} | {m_f*1e3:.1f} |")
    print(f"| `netsieve.margins(kind=\"probability\")` | {t_p*1e3:.1f} | {m_p*1e3:.1f} |")
    print(f"| `netsieve.margins(top_k=3)` | {t_k*1e3:.1f} | {m_k*1e3:.1f} |")
    print()
    print(f"- speed-up over numpy: **{t_np / t_ns:.1f}×** (target ≥ 5×)")
    print(f"- time relative to `logits.sum()`: **{t_ns / t_sum:.2f}×** (target ≤ 2×)\n")

    print("## lowest_margins: selection, linear in N\n")
    print("| N | k = 1 % | `lowest_margins` (ms) | ns per element | `np.argsort` (ms) |")
    print("|---:|---:|---:|---:|---:|")
    for size in (100_000, 1_000_000, 10_000_000):
        m = rng.standard_normal(size).astype(np.float32)
        k = size // 100
        t_sel, _ = timeit(lambda: netsieve.lowest_margins(m, k), 3)
        t_sort, _ = timeit(lambda: np.argsort(m, kind="stable"), 3)
        print(f"| {size:,} | {k:,} | {t_sel*1e3:.2f} | {t_sel/size*1e9:.1f} | {t_sort*1e3:.2f} |")

    large_top_k(rng)
    layer_margins_cost(r)


def large_top_k(rng):
    """top_k = C/2 at C = 80,000: selection per row (it was an insertion buffer, O(C·k))."""
    c, k, rows = 80_000, 40_000, 100
    logits = rng.random((rows, c), dtype=np.float32)
    labels = rng.integers(0, c, rows)
    t_ns, _ = timeit(lambda: netsieve.margins(logits, labels, top_k=k), 3)
    m = netsieve.margins(logits, labels, top_k=k)

    def numpy_kth():
        out = np.empty(rows, dtype=np.float32)
        for i in range(rows):
            comp = np.delete(logits[i], labels[i])
            out[i] = logits[i, labels[i]] - np.partition(comp, c - 1 - k)[c - 1 - k]
        return out

    t_np, _ = timeit(numpy_kth, 3)
    assert np.array_equal(m, numpy_kth())
    print(f"\n## margins with top_k = {k:,} of {c:,} classes, {rows} rows\n")
    print("| call | best (ms) | per row (ms) |")
    print("|---|---:|---:|")
    print(f"| `netsieve.margins(logits, labels, top_k={k})` | {t_ns*1e3:.1f} | {t_ns*1e3/rows:.2f} |")
    print(f"| numpy per row: `np.delete` + `np.partition` | {t_np*1e3:.1f} | {t_np*1e3/rows:.2f} |")


def layer_margins_cost(repeats):
    """layer_margins against plain forward+backward passes over the same batches."""
    try:
        import torch
        from torch import nn

        from netsieve.torch import layer_margins
    except ImportError:
        print("\n(torch not installed: layer_margins cost skipped)")
        return
    torch.manual_seed(0)
    x = torch.randn(8192, 784)
    y = torch.randint(0, 10, (8192,))
    net = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)).eval()

    def forward_backward():
        for s in range(0, 8192, 256):
            net.zero_grad()
            nn.functional.cross_entropy(net(x[s : s + 256]), y[s : s + 256]).backward()

    layers = ["input", "1", "3"]
    t_fb, _ = timeit(forward_backward, max(1, repeats // 2))
    t_lm, _ = timeit(lambda: layer_margins(net, (x, y), layers=layers, batch_size=256), max(1, repeats // 2))
    print("\n## layer_margins cost\n")
    print(f"MLP 784-512-512-10, 8192 examples, batch 256, layers {layers}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)\n")
    print("| operation | best (ms) |")
    print("|---|---:|")
    print(f"| one forward+backward pass per batch (cross-entropy) | {t_fb*1e3:.1f} |")
    print(f"| `layer_margins` (3 layers, incl. total variation) | {t_lm*1e3:.1f} |")
    print(f"\n- layer_margins / (forward+backward): **{t_lm / t_fb:.2f}×** (target ≤ about 2×)")


if __name__ == "__main__":
    main()
