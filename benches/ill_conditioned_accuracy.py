"""Accuracy and time of `singular_values` on ill-conditioned families (issue #16), against float64
LAPACK gesdd, with `eigvalsh(W.T @ W)` and netsieve's own SVD route alongside, in one run.

    python benches/ill_conditioned_accuracy.py [--shape 5632x2048] [--threads 1] [--seed 0]

Families (tall N×M, float64): one zero column (exact deflation), one tiny column (norm 1e-7
relative), five tiny columns (1e-6..1e-9), a geometric decay from 1 to 1e-9 over the last 5 % of
the spectrum, a geometric decay over the whole spectrum, and a rank-M/2 product. Errors: the
largest relative error of the smallest 1 % of values whose reference exceeds 1e-12·s_max, and
the largest absolute error over all values in units of s_max. The yardstick "QR+svd" is a second
backward-stable SVD (gesdd of R from a QR of the column-permuted matrix): its disagreement with
gesdd is the accuracy an SVD has.
"""

from __future__ import annotations

import argparse
import os
import sys

for _i, _a in enumerate(sys.argv):
    if _a == "--threads":
        for _var in ("RAYON_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
            os.environ[_var] = sys.argv[_i + 1]

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_time  # noqa: E402

import netsieve as ns  # noqa: E402


def with_singular_values(rng, rows, s):
    U, _ = np.linalg.qr(rng.standard_normal((rows, len(s))))
    V, _ = np.linalg.qr(rng.standard_normal((len(s), len(s))))
    return (U * s) @ V.T


def families(rows, cols, rng):
    G = rng.standard_normal((rows, cols))
    out = {"gaussian": G}
    A = G.copy()
    A[:, 0] = 0.0
    out["one zero column"] = A
    A = G.copy()
    A[:, 0] *= 1e-7
    out["one tiny column"] = A
    A = G.copy()
    A[:, :5] *= np.array([1e-6, 1e-7, 3e-8, 1e-8, 1e-9])
    out["five tiny columns"] = A
    q = max(2, cols // 20)
    bulk = np.sort(rng.uniform(0.5, 1.0, cols - q))[::-1]
    out["decay over last 5 %"] = with_singular_values(
        rng, rows, np.concatenate([bulk, np.geomspace(0.5, 1e-9, q + 1)[1:]]))
    out["decay over all"] = with_singular_values(rng, rows, np.geomspace(1.0, 1e-9, cols))
    r = cols // 2
    out["rank M/2 product"] = rng.standard_normal((rows, r)) @ rng.standard_normal((r, cols)) / np.sqrt(r)
    return out


def errors(s, ref):
    k = max(1, len(ref) // 100)
    small = slice(len(ref) - k, len(ref))
    keep = ref[small] > 1e-12 * ref[0]
    rel = np.max(np.abs(s[small] - ref[small])[keep] / ref[small][keep], initial=0.0)
    return rel, np.max(np.abs(s - ref)) / ref[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="2048x1024")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    rows, cols = (int(x) for x in args.shape.split("x"))
    rng = np.random.default_rng(args.seed)
    print(f"# ill-conditioned families, {rows}×{cols} float64, {args.threads} thread(s), seed {args.seed}, "
          f"load average {os.getloadavg()[0]:.1f} before\n")
    print("| family | auto | auto time | svd route time | rel. err. smallest 1 % (abs/s_max): auto | "
          "svd route | eigvalsh(WᵀW) | QR+svd yardstick |")
    print("|---|---|---:|---:|---|---|---|---|")
    for name, A in families(rows, cols, rng).items():
        ref = scipy.linalg.svd(A, compute_uv=False, lapack_driver="gesdd")
        perm = np.random.default_rng(1).permutation(cols)
        yard = scipy.linalg.svd(np.linalg.qr(A[:, perm])[1], compute_uv=False, lapack_driver="gesdd")
        peer = np.sqrt(np.clip(np.linalg.eigvalsh(A.T @ A), 0, None))[::-1]
        auto = ns.singular_values(A)
        svd = ns.singular_values(A, decomposition="svd")
        t_auto = best_time(lambda: ns.singular_values(A), args.repeat, 1)
        t_svd = best_time(lambda: ns.singular_values(A, decomposition="svd"), args.repeat, 1)
        cells = [f"{e[0]:.1e} ({e[1]:.0e})" for e in map(lambda s: errors(s, ref), (auto, svd, peer, yard))]
        route = "svd" if np.array_equal(auto, svd) else ("gram, exact zeros" if np.any(auto == 0.0) else "gram")
        print(f"| {name} | {route} | {t_auto:.3f} s | {t_svd:.3f} s | " + " | ".join(cells) + " |", flush=True)
    print(f"\nLoad average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
