"""Shared timing helpers for the benchmark scripts: best-of-k wall time and a markdown table."""

from __future__ import annotations

import os
import platform
import time
from typing import Callable


def best_time(fn: Callable[[], object], repeat: int = 3, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(rows: list[tuple[str, float]], reference: str) -> str:
    """Markdown table of times with each row's speed relative to ``reference`` (ratio > 1: faster)."""
    ref = dict(rows)[reference]
    out = ["| what | time | speed vs " + reference + " |", "|---|---:|---:|"]
    for name, t in rows:
        unit = f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"
        out.append(f"| {name} | {unit} | {ref / t:.2f}× |")
    return "\n".join(out)
