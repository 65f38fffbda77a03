"""Speed of netsieve's singular-value filters, side by side with the peers, in one run.

(a) every layer of a 784-1024-1024-10 MLP: netsieve.torch.filter_model vs weightwatcher 0.7.7's
    WeightWatcher(model=...).SVDSmoothing() (its defaults);
(b) one 4096×4096 float32 layer: netsieve.shrink(method="operator") vs numpy's SVD plus reconstruction.

Usage: python benches/bench_filter.py [--out benches/results/filter.md] [--repeats 3]
Build the extension with --release first.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
import traceback

import numpy as np


def timed(fn, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def mlp():
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def bench_mlp(repeats, lines):
    import netsieve
    from netsieve.torch import filter_model

    model = mlp()
    lines.append("## (a) every layer of a 784-1024-1024-10 MLP (torch, float32)\n")
    lines.append("| tool | call | best of runs [s] | median [s] | runs |")
    lines.append("|---|---|---|---|---|")
    results = {}
    filter_model(model, "operator", min_dim=2)  # warm-up (thread pool start)
    for method, opts in (("operator", {}), ("hard", {}), ("fraction", {"fraction": 0.5})):
        best, med, (_, report) = timed(lambda: filter_model(model, method, min_dim=2, **opts), repeats)
        results[method] = best
        call = f'filter_model(model, "{method}"{", fraction=0.5" if opts else ""}, min_dim=2)'
        lines.append(f"| netsieve {netsieve.__version__} | `{call}` ({len(report)} layers) | {best:.3f} | {med:.3f} | {repeats} |")
    ww_time = None
    try:
        import weightwatcher as ww

        configs = (
            ("defaults: percent=0.8, method='detX'", {}),
            ("method='svd', percent=0.5: plain truncation, its cheapest path", {"method": "svd", "percent": 0.5}),
        )
        for label, kwargs in configs:

            def run_ww():
                watcher = ww.WeightWatcher(model=copy.deepcopy(model))
                return watcher.SVDSmoothing(model=copy.deepcopy(model), **kwargs)

            best, med, _ = timed(run_ww, 1)
            ww_time = best if ww_time is None else min(ww_time, best)
            lines.append(f"| weightwatcher {ww.__version__} | `WeightWatcher(model=m).SVDSmoothing(model=m{''.join(f', {k}={v!r}' for k, v in kwargs.items())})` ({label}) | {best:.3f} | {med:.3f} | 1 |")
    except Exception as exc:  # record why the peer could not run
        lines.append(f"| weightwatcher | failed: `{type(exc).__name__}: {str(exc)[:200]}` | | | |")
        traceback.print_exc()
    lines.append("")
    if ww_time:
        for method, t in results.items():
            lines.append(f"- speed-up of netsieve `{method}` over the fastest weightwatcher SVDSmoothing run: **{ww_time / t:.1f}×**")
    lines.append("")


def bench_large(lines):
    import netsieve

    n = 4096
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.02, size=(n, n)).astype(np.float32)
    for k in range(8):  # a few learned directions above the bulk
        a, b = rng.normal(size=n), rng.normal(size=n)
        W += np.float32((3 + k) * 0.02 * n**0.5) * np.outer(a / np.linalg.norm(a), b / np.linalg.norm(b)).astype(np.float32)
    lines.append("## (b) one 4096×4096 float32 layer (noise + 8 spikes)\n")
    lines.append("| tool | call | time [s] |")
    lines.append("|---|---|---|")
    t0 = time.perf_counter()
    out, rec = netsieve.shrink_with_record(W, "operator")
    t_ns = time.perf_counter() - t0
    lines.append(f"| netsieve | `shrink(W, method=\"operator\")` ({rec.decomposition} route, kept rank {rec.kept_rank}) | {t_ns:.2f} |")

    def numpy_filter():
        U, s, Vt = np.linalg.svd(W)
        eta = np.zeros_like(s)
        eta[: rec.kept_rank] = rec.shrunk_singular_values[: rec.kept_rank]
        return (U * eta) @ Vt

    t0 = time.perf_counter()
    ref = numpy_filter()
    t_np = time.perf_counter() - t0
    lines.append(f"| numpy {np.__version__} | `U, s, Vt = np.linalg.svd(W)`; `(U * η) @ Vt` | {t_np:.2f} |")
    err = float(np.linalg.norm(out.astype(np.float64) - ref) / np.linalg.norm(ref))
    lines.append("")
    lines.append(f"- speed-up over numpy: **{t_np / t_ns:.1f}×**")
    lines.append(f"- relative difference to the numpy result: {err:.1e}")
    lines.append("")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "filter.md"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-large", action="store_true")
    args = p.parse_args(argv)
    import torch

    lines = [
        "# Filter benchmarks (`benches/bench_filter.py`)\n",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, torch {torch.__version__}",
        f"- load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (the cores are shared with other jobs)",
        "",
    ]
    bench_mlp(args.repeats, lines)
    if not args.skip_large:
        bench_large(lines)
    lines.append(f"- load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    sys.exit(main())
