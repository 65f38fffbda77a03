"""Overhead of netsieve.integrations.Monitor as a fraction of training time, in a plain PyTorch loop.

The same seeded training (an MLP on random data, SGD, mini-batches) runs without a monitor, with the
default adaptive schedule (budget 5 %), and with fixed schedules. The overhead is the share of each
monitored run's wall-clock time spent inside the monitor (what the adaptive schedule bounds): one
number from one run, so it holds up on a machine shared with other jobs, where comparing two runs'
wall-clock (or process CPU) times does not (on the 2-core development machine under load both
swung by more than the monitor's cost; OpenMP threads spin while starved). Prints a markdown
report; redirect it into benches/results/monitor.md.

    python benches/bench_monitor.py [--width 512] [--steps 600] [--batch 100]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from _timing import machine
from netsieve.integrations import Monitor


def run(args: argparse.Namespace, monitor: Monitor | None) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of the process) of the training loop."""
    torch.manual_seed(0)
    w = args.width
    model = torch.nn.Sequential(torch.nn.Linear(40, w), torch.nn.ReLU(), torch.nn.Linear(w, w), torch.nn.ReLU(),
                                torch.nn.Linear(w, 10))  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4000, 40, generator=g), torch.randint(0, 10, (4000,), generator=g)
    t0, c0 = time.perf_counter(), time.process_time()
    for step in range(1, args.steps + 1):
        i = torch.randint(0, 4000, (args.batch,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i]), y[i]).backward()
        opt.step()
        if monitor is not None:
            monitor.observe(model, step=step, optimizer=opt)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=100)
    args = p.parse_args()
    g = torch.Generator().manual_seed(2)
    batch = (torch.randn(500, 40, generator=g), torch.randint(0, 10, (500,), generator=g))
    rows = []
    for label, make in [
        ("default (adaptive, budget 5 %), spectra", lambda: Monitor()),
        ("default (adaptive, budget 5 %), spectra + margins + acc_δ + ζ", lambda: Monitor(eval_batch=batch, susceptibility=True)),
        ("every 100 steps, spectra + margins + acc_δ + ζ", lambda: Monitor(every=100, eval_batch=batch, susceptibility=True)),
        ("every 10 steps, spectra + margins + acc_δ + ζ", lambda: Monitor(every=10, eval_batch=batch, susceptibility=True)),
    ]:
        m = make()
        wall, _ = run(args, m)
        per = m.seconds / max(1, len(m.history))
        rows.append(f"| {label} | {len(m.history)} | {per * 1e3:.0f} ms | {(wall - m.seconds) / args.steps * 1e3:.1f} ms | "
                    f"{m.seconds / wall * 100:.1f} % |")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# Monitor overhead\n\n{machine()} (load average {load} at the end), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; MLP 40-{args.width}-{args.width}-10, batch {args.batch}, "
          f"{args.steps} SGD steps per run.\n")
    print("| schedule | measurements | time per measurement | training time per step (same run) | "
          "share of the run's wall-clock time in the monitor |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
