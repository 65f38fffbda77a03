"""Peak memory of batch analysis: ``netsieve.torch.analyze`` of four 4000×4000 float32 layers (the
case that peaked at 1.61 GB above its baseline, 25× the largest tensor, before the working-set
budget), with the Porter–Thomas test, for several ``max_group_bytes``; and ``analyze_spectra`` of the
same matrices with ``max_working_bytes``. Each measurement runs in a fresh process; the peak is
VmHWM after a reset (``/proc/self/clear_refs``) minus the resident size before the call, measured
twice: with glibc's defaults (what a user sees) and with a fixed mmap threshold (memory in use).

Run:  PYTHONPATH=python python benches/bench_memory.py [--n 4000] [--out benches/results/memory.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

CODE = """
import time, torch, netsieve as ns, netsieve.torch as nt
def status(key):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(key))
g = torch.Generator().manual_seed(0)
sd = {{f"l{{i}}.weight": torch.randn({n}, {n}, generator=g) for i in range(4)}}
ns.singular_values(torch.randn(64, 64, generator=g))  # start the pool
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")
rss = status("VmRSS")
t = time.perf_counter()
{call}
print(status("VmHWM") - rss, time.perf_counter() - t)
"""


def measure(n: int, call: str, fixed_threshold: bool) -> tuple[float, float]:
    env = dict(os.environ)
    if fixed_threshold:
        env["MALLOC_MMAP_THRESHOLD_"] = "1048576"
    code = textwrap.dedent(CODE.format(n=n, call=call))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    peak, seconds = out.stdout.split()
    return float(peak), float(seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    n = args.n
    layer = 4 * n * n
    one = 8 * (4.5 + 7) * n * n  # the core's working-set estimate of one n×n thin SVD
    lines = [f"# Peak memory of batch analysis (bench_memory.py): 4 × {n}×{n} float32, Porter–Thomas on", "",
             f"One layer is {layer / 2**20:.0f} MiB; the core's working-set estimate for one is {one / 2**20:.0f} MiB.", "",
             "| call | peak above baseline, glibc defaults [MiB] | peak, fixed mmap threshold (memory in use) [MiB] | time [s] | ratio to one layer |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    calls = [
        (f"nt.analyze(sd, max_group_bytes={int(one)})  (one working set)", f"nt.analyze(sd, max_group_bytes={int(one)}, progress=False)"),
        ("nt.analyze(sd)  (default 256 MiB)", "nt.analyze(sd, progress=False)"),
        ("nt.analyze(sd, max_group_bytes=2**40)  (no bound)", "nt.analyze(sd, max_group_bytes=2**40, progress=False)"),
        ("ns.analyze_spectra(list(sd.values()), porter_thomas=True)  (default 1 GiB)",
         "ns.analyze_spectra(list(sd.values()), porter_thomas=True)"),
    ]
    for label, call in calls:
        default_peak, t = measure(n, call, False)
        used_peak, _ = measure(n, call, True)
        lines.append(f"| `{label}` | {default_peak / 2**20:.0f} | {used_peak / 2**20:.0f} | {t:.1f} | {default_peak / layer:.1f}× |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
