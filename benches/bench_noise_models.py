"""Speed of the noise-model fits and of OptShrink, side by side, in one run.

(a) fits on 4096 singular values (a 4096×4096 matrix's spectrum, computed once): the white-noise
    fit (bulk="mp") against the deformed fit (bulk="deformed"), on white noise and on Toeplitz
    AR(1) noise of condition number 4 per side; target: the deformed fit under 50 ms;
(b) one 4096×4096 float32 matrix: shrink(method="optshrink") against shrink(method="operator")
    (both one decomposition); target: OptShrink within +10 %.

Usage: python benches/bench_noise_models.py [--out benches/results/noise_models.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_time, machine, table  # noqa: E402

import netsieve as ns  # noqa: E402


def sqrt_toeplitz(n: int, rho: float) -> np.ndarray:
    i = np.arange(n)
    w, v = np.linalg.eigh(rho ** np.abs(i[:, None] - i[None, :]))
    return (v * np.sqrt(w)) @ v.T


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "noise_models.md"))
    args = p.parse_args()
    rng = np.random.default_rng(0)
    n = 4096
    lines = [f"# Noise-model fits and OptShrink (netsieve {ns.__version__}; {machine()})", ""]
    white = rng.standard_normal((n, n)).astype(np.float32)
    a = sqrt_toeplitz(n, 0.6).astype(np.float32)
    correlated = a @ rng.standard_normal((n, n)).astype(np.float32) @ a
    lines.append("## (a) fits on 4096 singular values (best of 5, after one warm-up)\n")
    rows = []
    for label, w in (("white noise", white), ("Toeplitz AR(1), cond 4 per side", correlated)):
        s = ns.singular_values(w)
        for bulk in ("mp", "deformed", "auto"):
            t = best_time(lambda: ns.fit_mp(s, shape=(n, n), bulk=bulk), repeat=5)
            f = ns.fit_mp(s, shape=(n, n), bulk=bulk)
            rows.append((f'{label}: fit_mp(bulk="{bulk}") → {f.bulk}, τ={f.spread:.2f}, {f.n_spikes} spikes', t))
    lines.append(table(rows, rows[0][0]))
    lines.append("\n## (b) one 4096×4096 float32 matrix with 3 planted spikes (best of 3, after one warm-up)\n")
    u = np.linalg.qr(rng.standard_normal((n, 3)))[0]
    v = np.linalg.qr(rng.standard_normal((n, 3)))[0]
    w = (correlated + (u * np.array([400.0, 600.0, 900.0])) @ v.T).astype(np.float32)
    rows = [(f'shrink(W, "{m}")', best_time(lambda: ns.shrink(w, m), repeat=3)) for m in ("operator", "optshrink")]
    lines.append(table(rows, rows[0][0]))
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
