"""The full filter route against the Gram-`eigh` and SVD one-liners (issue #16, "filters at the
same standard"), side by side in one run, with one and with two threads.

    python benches/bench_filter_routes.py [--threads 1,2] [--shapes 2048x5632,4096x11008]
        [--spikes 32] [--repeat 2] [--no-svd] [--partial] [--out benches/results/filter_routes.md [--append]]

On float32 noise plus 32 planted rank-one components (strengths 2–4× the detection threshold):
- netsieve: `shrink_with_record(W, "operator")` (its kept rank k and shrunk values η);
- scipy: `eigh(G, subset_by_index=[m−k, m−1])` of the float64 Gram matrix of the short side,
  then the same reconstruction U_k·diag(η/s)·U_kᵀ·W (float32 out);
- numpy: `numpy.linalg.svd(W, full_matrices=False)` + (U_k·η)·V_kᵀ.
With --partial, instead (the partial route of #16):
- netsieve full: `shrink_with_record(W, "operator")` (the reference values and kept rank);
- netsieve partial: `shrink_with_record(W, "operator", route="partial")`;
- torch: `torch.svd_lowrank(W, q=42)` + (U_k·η)·V_kᵀ with the partial route's k and η
  (torch.set_num_threads to the same count), once with its default niter=2 and once with
  --torch-niter power iterations (default 16, what its kept values need for about 1e-6 here);
and reports the kept ranks, the largest relative difference of the partial route's kept values
from the full route's, ‖W'_partial − W'_full‖_F/‖W'_full‖_F and the time ratios.
Each thread count runs in its own process (pools are fixed at start). Wall time (best of
--repeat after one warm-up, the SVD once) and that run's process CPU time; load average before
and after; accuracy: kept rank, largest relative difference of the kept values, and
‖W'_netsieve − W'_scipy‖_F / ‖W'_scipy‖_F.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def planted(rows, cols, spikes, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    W = rng.standard_normal((rows, cols), dtype=np.float32)
    threshold = (rows * cols) ** 0.25
    theta = threshold * (2.0 + 2.0 * np.arange(spikes) / max(spikes, 1))
    A = rng.standard_normal((rows, spikes)) * (theta / np.sqrt(rows * cols))
    B = rng.standard_normal((cols, spikes))
    W += (A @ B.T).astype(np.float32)
    return W


def timed(fn, repeat, warmup):
    for _ in range(warmup):
        fn()
    best = (float("inf"), 0.0, None)
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if wall < best[0]:
            best = (wall, cpu, out)
    return best


def one_process_partial(args):
    import numpy as np
    import torch

    import netsieve as ns

    threads = int(os.environ["RAYON_NUM_THREADS"])
    torch.set_num_threads(threads)
    for text in args.shapes.split(","):
        rows, cols = (int(x) for x in text.split("x"))
        W = planted(rows, cols, args.spikes)
        load = os.getloadavg()[0]
        t_full, c_full, (out_full, full) = timed(lambda: ns.shrink_with_record(W, "operator"), 1, 0)
        t_p, c_p, (out_p, rec) = timed(lambda: ns.shrink_with_record(W, "operator", route="partial"), args.repeat, 1)
        k, eta = rec.kept_rank, np.asarray(rec.shrunk_singular_values)[: rec.kept_rank]
        s_p, s_f = np.asarray(rec.singular_values)[:k], np.asarray(full.singular_values)[:k]
        kept_rel = float(np.max(np.abs(s_p / s_f - 1))) if k and k == full.kept_rank else float("nan")
        diff = float(np.linalg.norm(out_p - out_full) / max(np.linalg.norm(out_full), 1e-300))
        Wt, eta_t = torch.from_numpy(W), torch.from_numpy(eta.astype(np.float32))

        def lowrank(niter):
            torch.manual_seed(0)
            U, S, V = torch.svd_lowrank(Wt, q=42, niter=niter)
            return ((U[:, :k] * eta_t) @ V[:, :k].T).numpy(), S

        t_t, c_t, (out_t, s_t) = timed(lambda: lowrank(2), args.repeat, 1)
        torch_rel = float(np.max(np.abs(s_t.numpy()[:k] / s_f - 1))) if k else 0.0
        # torch's default niter=2 leaves its kept values far from the full route's; more power
        # iterations, enough for about 1e-6 on these matrices, compare equal answers.
        t_a, c_a, (_, s_a) = timed(lambda: lowrank(args.torch_niter), args.repeat, 1)
        torch_rel_a = float(np.max(np.abs(s_a.numpy()[:k] / s_f - 1))) if k else 0.0
        row = [f"{rows}×{cols}", str(threads), f"{load:.1f}", f"{t_full:.2f} s ({c_full:.1f})",
               f"{t_p:.2f} s ({c_p:.1f})", f"{t_t:.2f} s ({c_t:.1f})", f"{t_p / t_t:.2f}×", f"{t_full / t_p:.1f}×",
               f"{k} / {full.kept_rank} / {args.spikes}", f"{kept_rel:.1e}", f"{torch_rel:.1e}", f"{diff:.1e}",
               f"{t_a:.2f} s ({c_a:.1f})", f"{torch_rel_a:.1e}", f"{t_p / t_a:.2f}×", rec.route, (rec.route_note or "").replace("|", "/")]
        print("| " + " | ".join(row) + " |", flush=True)


def one_process(args):
    import numpy as np
    import scipy.linalg

    import netsieve as ns

    threads = int(os.environ["RAYON_NUM_THREADS"])
    for text in args.shapes.split(","):
        rows, cols = (int(x) for x in text.split("x"))
        W = planted(rows, cols, args.spikes)
        load = os.getloadavg()[0]
        t_ns, c_ns, (out_ns, rec) = timed(lambda: ns.shrink_with_record(W, "operator"), args.repeat, 1)
        k, eta = rec.kept_rank, np.asarray(rec.shrunk_singular_values)[: rec.kept_rank]

        def gram_eigh():
            A = W.astype(np.float64)
            G = A @ A.T if rows <= cols else A.T @ A
            m = G.shape[0]
            lam, U = scipy.linalg.eigh(G, subset_by_index=[m - k, m - 1])
            lam, U = lam[::-1], U[:, ::-1]
            s = np.sqrt(np.clip(lam, 0, None))
            # W' = U·diag(η/s)·Uᵀ·W on the short side (or its transpose).
            if rows <= cols:
                out = (U * (eta / s)) @ (U.T @ A)
            else:
                out = (A @ U) @ (U * (eta / s)).T
            return out.astype(np.float32), s

        t_sc, c_sc, (out_sc, s_sc) = timed(gram_eigh, args.repeat, 1)
        kept_rel = float(np.max(np.abs(np.asarray(rec.singular_values)[:k] / s_sc - 1))) if k else 0.0
        diff = float(np.linalg.norm(out_ns - out_sc) / max(np.linalg.norm(out_sc), 1e-300))
        row = [f"{rows}×{cols}", str(threads), f"{load:.1f}", f"{t_ns:.2f} s ({c_ns:.1f})",
               f"{t_sc:.2f} s ({c_sc:.1f})", f"{t_sc / t_ns:.2f}×"]
        if args.svd:
            def svd():
                U, s, Vt = np.linalg.svd(W, full_matrices=False)
                return (U[:, :k] * eta) @ Vt[:k]

            t_sv, c_sv, _ = timed(svd, 1, 0)
            row += [f"{t_sv:.1f} s ({c_sv:.0f})", f"{t_sv / t_ns:.1f}×"]
        else:
            row += ["—", "—"]
        row += [f"{k} / {args.spikes}", f"{kept_rel:.1e}", f"{diff:.1e}", rec.decomposition]
        print("| " + " | ".join(row) + " |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--shapes", default="2048x5632,4096x11008")
    ap.add_argument("--spikes", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-svd", dest="svd", action="store_false")
    ap.add_argument("--out")
    ap.add_argument("--partial", action="store_true", help="the partial route vs torch.svd_lowrank (module docs)")
    ap.add_argument("--torch-niter", type=int, default=16, help="torch's power iterations for the equal-accuracy column")
    ap.add_argument("--append", action="store_true", help="append the run to --out as a new section")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        (one_process_partial if args.partial else one_process)(args)
        return
    lines = [
        f"## The partial route vs torch.svd_lowrank (#16), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"`python benches/bench_filter_routes.py --partial --threads {args.threads} --shapes {args.shapes}"
        f" --spikes {args.spikes} --repeat {args.repeat}`; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the start; wall time best of {args.repeat} after one warm-up (the full route once;"
        " process CPU seconds in brackets). torch: `svd_lowrank(W, q=42)` + (U_k·η)·V_kᵀ, torch.set_num_threads(threads).",
        "",
        "| shape (float32) | threads | load before | netsieve full | netsieve partial | torch svd_lowrank + recon. "
        "| partial / torch | full / partial | kept rank partial / full / planted | kept values partial vs full (rel.) "
        "| torch values vs full (rel.) | ‖ΔW'‖/‖W'‖ partial vs full "
        f"| torch niter={args.torch_niter} + recon. | its values vs full (rel.) | partial / torch niter={args.torch_niter} "
        "| route | route note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ] if args.partial else [
        f"# The filter route vs Gram-eigh and SVD (#16), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"`python benches/bench_filter_routes.py --threads {args.threads} --shapes {args.shapes}"
        f" --spikes {args.spikes} --repeat {args.repeat}{'' if args.svd else ' --no-svd'}`; "
        f"{os.cpu_count()} cores; wall time best of {args.repeat} (process CPU seconds in brackets).",
        "",
        "| shape (float32) | threads | load before | netsieve `shrink(W, \"operator\")` | scipy `eigh(G, subset)` + recon. "
        "| scipy / netsieve | numpy SVD + recon. | SVD / netsieve | kept rank / planted | kept values vs eigh (rel.) "
        "| ‖ΔW'‖/‖W'‖ vs scipy | route |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    print("\n".join(lines), flush=True)
    for t in args.threads.split(","):
        env = dict(os.environ)
        for var in ("RAYON_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = t
        cmd = [sys.executable, __file__, "--child", "--shapes", args.shapes, "--spikes", str(args.spikes),
               "--repeat", str(args.repeat), "--torch-niter", str(args.torch_niter)] + ([] if args.svd else ["--no-svd"]) + (["--partial"] if args.partial else [])
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if out.returncode:
            sys.stderr.write(out.stderr)
            raise SystemExit(out.returncode)
        sys.stdout.write(out.stdout)
        lines += out.stdout.strip().splitlines()
    lines += ["", f"Load average after: {os.getloadavg()[0]:.1f}", ""]
    if args.out:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        tmp = args.out + ".tmp"
        before = ""
        if args.append and os.path.exists(args.out):
            with open(args.out) as f:
                before = f.read().rstrip("\n") + "\n\n"
        with open(tmp, "w") as f:
            f.write(before + "\n".join(lines))
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
