"""singular_values on the shapes of issue #16, side by side with `numpy.linalg.eigvalsh(W.T @ W)`
(float64, the one-liner a user tries first) in one run, with a fixed thread count for both.

    python benches/bench_spectra_shapes.py --threads 1 [--shapes 1024x1024,2048x5632,4096x11008]
        [--batch 200] [--accuracy] [--repeat 3]

Each shape is timed stored tall and stored wide (the Hugging Face `down_proj` layout), and as a
well-conditioned Gaussian matrix and an ill-conditioned one (rank-deficient by one zero line of the short side:
λ_min/λ_max = 0, so the automatic route must take the SVD). With --accuracy the largest relative
error of the smallest 1 % of singular values against float64 LAPACK gesdd is reported for both.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _threads() -> int:
    for i, a in enumerate(sys.argv):
        if a == "--threads":
            return int(sys.argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 2


# Thread counts are fixed before numpy, OpenBLAS and rayon start their pools.
_T = str(_threads())
for _var in ("RAYON_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _T

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_time, machine  # noqa: E402

import netsieve as ns  # noqa: E402


def shape_list(text: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in t.split("x")) for t in text.split(",") if t]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", default="1024x1024,2048x5632,4096x11008")
    ap.add_argument("--batch", type=int, default=200, help="batch of 256×256 matrices (0: skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--accuracy", action="store_true")
    ap.add_argument("--ill", action="store_true", help="also time the ill-conditioned draw")
    ap.add_argument("--routes", type=int, default=0, metavar="MAX_DIM",
                    help="also time decomposition='gram' and 'svd' on shapes up to this larger side")
    ap.add_argument("--record", help="append the route timings to this JSON file (tests read it)")
    args = ap.parse_args()
    recorded = []
    rng = np.random.default_rng(0)
    print(f"# singular_values on the shapes of #16 ({machine()}; numpy {np.__version__}; "
          f"{args.threads} thread(s) for everyone; load average {os.getloadavg()[0]:.1f} before)\n")
    print("| shape (float32) | netsieve | `eigvalsh(W.T @ W)` f64 | ratio (>1: netsieve faster) | "
          "max rel. error of smallest 1 % vs gesdd: netsieve / eigvalsh |")
    print("|---|---:|---:|---:|---|")
    for rows, cols in shape_list(args.shapes):
        W = rng.standard_normal((rows, cols), dtype=np.float32)
        cases = [("tall" if rows >= cols else "wide", W)]
        cases.append(("wide" if rows >= cols else "tall", np.ascontiguousarray(W.T)))
        if args.ill:
            ill = W.copy()
            if rows >= cols:
                ill[:, 0] = 0.0  # one zero column of the short side: rank-deficient
            else:
                ill[0] = 0.0
            cases.append(("ill-conditioned", ill))
        for label, X in cases:
            def peer(X=X):
                A = X.astype(np.float64)
                return np.linalg.eigvalsh(A.T @ A if A.shape[0] >= A.shape[1] else A @ A.T)
            t_ns = best_time(lambda X=X: ns.singular_values(X), args.repeat, 1)
            t_np = best_time(peer, args.repeat, 1)
            err = ""
            if args.accuracy:
                ref = scipy.linalg.svd(X.astype(np.float64), compute_uv=False, lapack_driver="gesdd")
                k = max(1, len(ref) // 100)
                mine = ns.singular_values(X)
                theirs = np.sqrt(np.clip(np.sort(peer())[::-1], 0, None))
                small = slice(len(ref) - k, len(ref))
                tiny = ref[small] > 1e-12 * ref[0]
                e1 = np.max(np.abs(mine[small] - ref[small])[tiny] / ref[small][tiny], initial=0.0)
                e2 = np.max(np.abs(theirs[small] - ref[small])[tiny] / ref[small][tiny], initial=0.0)
                err = f"{e1:.1e} / {e2:.1e}"
            print(f"| {X.shape[0]}×{X.shape[1]} {label} | {t_ns:.3f} s | {t_np:.3f} s | "
                  f"{t_np / t_ns:.2f}× | {err} |", flush=True)
            if max(X.shape) <= args.routes:
                own = {r: best_time(lambda r=r, X=X: ns.singular_values(X, decomposition=r), args.repeat, 1)
                       for r in ("gram", "svd")}
                print(f"| ↳ own routes: gram {own['gram']:.3f} s, svd {own['svd']:.3f} s | | | | |", flush=True)
                recorded.append({"shape": list(X.shape), "case": label, "threads": args.threads,
                                 "auto": t_ns, **own})
    if args.batch:
        Ws = [rng.standard_normal((256, 256), dtype=np.float32) for _ in range(args.batch)]
        stacked = np.stack(Ws)
        # The deformed fit keeps the laws it solves for the process: the first call solves them,
        # repeats of the same matrices find every one, fresh draws of the shape most (the τ scan).
        t0 = time.perf_counter()
        ns.analyze_spectra(Ws)
        t_first = time.perf_counter() - t0
        t_batch = best_time(lambda: ns.analyze_spectra(Ws), args.repeat, 1)
        fresh = [rng.standard_normal((256, 256), dtype=np.float32) for _ in range(args.batch)]
        t0 = time.perf_counter()
        ns.analyze_spectra(fresh)
        t_fresh = time.perf_counter() - t0
        t_loop = best_time(lambda: [ns.singular_values(w) for w in Ws], args.repeat, 1)

        def peer_batch():
            A = stacked.astype(np.float64)
            return np.linalg.eigvalsh(np.swapaxes(A, 1, 2) @ A)

        t_np = best_time(peer_batch, args.repeat, 1)
        print(f"| {args.batch} × 256² `analyze_spectra` | {t_batch:.3f} s | {t_np:.3f} s (stacked) | "
              f"{t_np / t_batch:.2f}× | |")
        print(f"| ↳ first call of the process | {t_first:.3f} s | | {t_np / t_first:.2f}× | |")
        print(f"| ↳ {args.batch} fresh draws, one call | {t_fresh:.3f} s | | {t_np / t_fresh:.2f}× | |")
        print(f"| {args.batch} × 256² `singular_values` loop | {t_loop:.3f} s | {t_np:.3f} s (stacked) | "
              f"{t_np / t_loop:.2f}× | |")
    print(f"\nLoad average after: {os.getloadavg()[0]:.1f}")
    if args.record and recorded:
        import json

        path = args.record
        old = json.load(open(path)) if os.path.exists(path) else []
        with open(path, "w") as f:
            json.dump(old + recorded, f, indent=1)


if __name__ == "__main__":
    main()
