"""netsieve.margins across class counts (issue #16), side by side in one run with one read pass of
the logits ((a): the faster of `logits.sum()` and `logits.max()`), the memory floor of the margins
themselves ((c): read the logits and the labels, write the output) and the torch expressions a user
would write. netsieve and the floors are timed alternately, best of --repeats, with int64 labels
(numpy's and torch's default) and with int32 labels (half the label traffic; read in place too).
Prints a markdown table.

    .venv/bin/python benches/bench_margins_classes.py [--rows 1000000] [--classes 2,10,100,1000]
    .venv/bin/python benches/bench_margins_classes.py --quick     # classes 2,3,10 only
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import netsieve


def best(fn, repeats: int) -> float:
    return alternating({"": fn}, repeats)[""]


def alternating(fns: dict, repeats: int) -> dict:
    """Best time of each function, timed in turn round after round, so that a burst of load from
    other processes hits all of them alike."""
    for fn in fns.values():
        fn()
    times = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - t0)
    return times


def torch_peers(torch, t, y):
    """The usual torch spellings of f_y − max_{c≠y} f_c; each is checked against netsieve."""
    rows = torch.arange(t.shape[0])

    def masked_fill():
        fy = t.gather(1, y[:, None])[:, 0]
        return fy - t.masked_fill(torch.nn.functional.one_hot(y, t.shape[1]).bool(), -torch.inf).amax(1)

    def scatter():
        fy = t[rows, y]
        return fy - t.scatter(1, y[:, None], -torch.inf).amax(1)

    def topk2():
        top = t.topk(2, dim=1)
        fy = t.gather(1, y[:, None])[:, 0]
        first_is_y = top.indices[:, 0] == y
        return fy - torch.where(first_is_y, top.values[:, 1], top.values[:, 0])

    return {"masked_fill + amax": masked_fill, "scatter(−inf) + amax": scatter, "topk(2)": topk2}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--classes", default="2,3,10,16,17,100,1000,100000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="only classes 2,3,10 (overrides --classes)")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch expressions")
    args = ap.parse_args()
    if args.quick:
        args.classes = "2,3,10"
    try:
        import torch
    except ImportError:
        torch = None
    if args.no_torch:
        torch = None
    rng = np.random.default_rng(0)
    print(f"# margins across class counts ({os.cpu_count()} CPUs, shared; RAYON_NUM_THREADS="
          f"{os.environ.get('RAYON_NUM_THREADS', 'all')}; torch threads "
          f"{torch.get_num_threads() if torch else '-'}; load {os.getloadavg()[0]:.1f} before)\n")
    print("(c64), (c32): (c) with int64 and with int32 labels; margins timed with the same labels.\n")
    print("| classes | rows | `margins` int64 labels | int32 labels | (a) read logits | int64 / (a) "
          "| int32 / (a) | (c64) | (c32) | int64 / (c64) | int32 / (c32) | best torch | "
          "torch / margins (int64) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for c in (int(x) for x in args.classes.split(",")):
        n = max(1000, min(args.rows, 400_000_000 // (4 * c)))  # at most 400 MB of logits
        logits = rng.standard_normal((n, c), dtype=np.float32)
        labels = rng.integers(0, c, size=n)
        labels32 = labels.astype(np.int32)
        # (a) one read of the logits (the faster of sum and max); (c) also reads the labels and
        # writes a fresh output of the margins' dtype (see bench_margins_floor.py).
        t = alternating({
            "margins": lambda: netsieve.margins(logits, labels),
            "margins32": lambda: netsieve.margins(logits, labels32),
            "sum": logits.sum,
            "max": logits.max,
            "floor": lambda: (logits.max(), labels.astype(logits.dtype)),
            "floor32": lambda: (logits.max(), labels32.astype(logits.dtype)),
        }, args.repeats)
        t_ns, t_read, t_floor = t["margins"], min(t["sum"], t["max"]), t["floor"]
        t_ns32, t_floor32 = t["margins32"], t["floor32"]
        peer = "-"
        ratio = float("nan")
        if torch is not None:
            t, y = torch.from_numpy(logits), torch.from_numpy(labels)
            want = netsieve.margins(logits, labels)
            times = {}
            for name, fn in torch_peers(torch, t, y).items():
                assert np.array_equal(fn().numpy(), want), name
                times[name] = best(fn, max(1, args.repeats // 2))
            name = min(times, key=times.get)
            peer = f"{name}: {times[name] * 1e3:.1f} ms"
            ratio = times[name] / t_ns
        print(f"| {c:,} | {n:,} | {t_ns * 1e3:.2f} ms | {t_ns32 * 1e3:.2f} ms | {t_read * 1e3:.2f} ms | "
              f"{t_ns / t_read:.2f}× | {t_ns32 / t_read:.2f}× | {t_floor * 1e3:.2f} ms | "
              f"{t_floor32 * 1e3:.2f} ms | {t_ns / t_floor:.2f}× | {t_ns32 / t_floor32:.2f}× | "
              f"{peer} | {ratio:.1f}× |", flush=True)
    print(f"\nLoad average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
