"""Singular values of a 4096×4096 float32 matrix and fit_mp on precomputed singular values,
side by side with torch and numpy in one run. Usage: python benches/bench_spectral.py [--n 4096]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_time, machine, table  # noqa: E402

import netsieve as ns  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    n = args.n
    W = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)

    rows = []
    rows.append(("netsieve.singular_values (auto: f64 Gram route)", best_time(lambda: ns.singular_values(W), args.repeat, 0)))
    rows.append(("netsieve.singular_values(decomposition='svd')", best_time(lambda: ns.singular_values(W, decomposition="svd"), args.repeat, 0)))
    try:
        import torch

        t = torch.from_numpy(W)
        rows.append((f"torch.linalg.svdvals (torch {torch.__version__})", best_time(lambda: torch.linalg.svdvals(t), args.repeat, 0)))
    except ImportError:
        pass
    rows.append(("numpy.linalg.svd(compute_uv=False)", best_time(lambda: np.linalg.svd(W, compute_uv=False), args.repeat, 0)))
    rows.append(("numpy.linalg.eigvalsh(W.T @ W)", best_time(lambda: np.linalg.eigvalsh(W.T @ W), args.repeat, 0)))

    s = ns.singular_values(W)
    ref = np.linalg.svd(W.astype(np.float64), compute_uv=False)
    rel_err = float(np.max(np.abs(s - ref) / ref))
    fit_time = best_time(lambda: ns.fit_mp(s, shape=W.shape), repeat=50, warmup=3)

    print(f"# Spectral core ({machine()}; numpy {np.__version__})\n")
    print(f"Singular values of a {n}×{n} float32 Gaussian matrix (best of {args.repeat}):\n")
    print(table(rows, "numpy.linalg.svd(compute_uv=False)"))
    print(f"\nLargest relative error of the auto route against float64 LAPACK: {rel_err:.2e}")
    print(f"\nfit_mp on the {n} precomputed singular values: {fit_time * 1e3:.2f} ms (best of 50)")


if __name__ == "__main__":
    main()
