"""netsieve against weightwatcher 0.7.7 on the same weights of the TinyLlama-1.1B shape
(benches/make_llama_checkpoint.py, bf16 with planted components): the issue's "≥ 10× faster than
weightwatcher on the same weights"; weightwatcher is far too slow for the whole checkpoint on this
machine, so both run on the first ``--blocks`` blocks plus the lm_head, and the whole 22-block time
is extrapolated from per-block and head costs (said so in the output).

weightwatcher gets the weights as float32 ``torch.nn.Linear`` modules and its usual call
``WeightWatcher(model=m).analyze(mp_fit=True)`` (as in bench_analyze.py); netsieve analyses the
checkpoint folder itself (``netsieve.torch.analyze``), once with its defaults (Porter–Thomas on) and
once without Porter–Thomas, and once by the partial route (σ and spikes only, #17).
weightwatcher is not a dependency of netsieve: install it yourself.

    python benches/bench_checkpoint_vs_weightwatcher.py --blocks 1
    python benches/bench_checkpoint_vs_weightwatcher.py --partial-only --folder /tmp/ckpt  # netsieve's partial route alone
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

import netsieve.torch as nt

HERE = Path(__file__).resolve().parent
FULL_BLOCKS = 22


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--partial-only", action="store_true",
                    help="time only netsieve's partial route (no weightwatcher, no full route), best of --repeat")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the partial route with --partial-only")
    ap.add_argument("--folder", type=Path, help="with --partial-only: reuse (or write once) the checkpoint here")
    args = ap.parse_args()
    if args.partial_only:
        partial_only(args)
        return
    import weightwatcher as ww

    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    torch.set_num_threads(2)
    import make_llama_checkpoint as gen  # a sibling script (benches/ is on sys.path)
    tmp = Path(tempfile.mkdtemp())
    try:
        folder = tmp / "ckpt"
        gen.write_llama_checkpoint(folder, shape="tinyllama", blocks=args.blocks)
        with nt.open_weights(folder) as src:
            names = [n for n in src.names() if len(src.shape(n)) == 2 and "embed_tokens" not in n]
            model = torch.nn.Sequential()
            for i, n in enumerate(names):
                w = src.get(n).float()
                lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
                lin.weight.data.copy_(w)
                model.add_module(f"m{i}", lin)
        print(f"# netsieve vs weightwatcher {ww.__version__}, TinyLlama-1.1B shape, {args.blocks} block(s) + lm_head "
              f"({len(names)} matrices); load {os.getloadavg()[0]:.1f} before")  # fmt: skip
        t_pt, rep = timed(lambda: nt.analyze(folder, progress=False))
        t_nopt, rep2 = timed(lambda: nt.analyze(folder, porter_thomas=False, progress=False))
        lean = dict(porter_thomas=False, level_statistics=False, progress=False)
        t_part, rep3 = timed(lambda: nt.analyze(folder, route="partial", **lean))
        t_ww, df = timed(lambda: ww.WeightWatcher(model=model).analyze(mp_fit=True))
        answered = sum("partial" in (r.route or "") for r in rep3)
        same = all((a.n_spikes, round(a.sigma, 4)) == (b.n_spikes, round(b.sigma, 4)) for a, b in zip(rep2, rep3))
        print(f"| tool | time | speed-up vs weightwatcher |\n|---|---:|---:|\n"
              f"| weightwatcher `analyze(mp_fit=True)` ({len(df)} layers) | {t_ww:.1f} s | 1.0× |\n"
              f"| netsieve `analyze(folder)`, Porter–Thomas on ({len(rep.rows)} rows) | {t_pt:.1f} s | {t_ww / t_pt:.1f}× |\n"
              f"| netsieve `analyze(folder, porter_thomas=False)` | {t_nopt:.1f} s | {t_ww / t_nopt:.1f}× |\n"
              f"| netsieve `analyze(folder, route=\"partial\", porter_thomas=False, level_statistics=False)` "
              f"({answered} of {len(rep3.rows)} rows answered by the partial route; spikes and σ to 4 digits "
              f"{'equal to' if same else 'NOT equal to'} the full route's) | {t_part:.1f} s | {t_ww / t_part:.1f}× |")  # fmt: skip
        print(f"spikes found by netsieve: {sorted({r.n_spikes for r in rep})} (planted 4); load {os.getloadavg()[0]:.1f} after")
    finally:
        shutil.rmtree(tmp)


def partial_only(args) -> None:
    """The partial route alone, best of ``--repeat`` after one warm-up, with its per-matrix rows."""
    torch.set_num_threads(2)
    import make_llama_checkpoint as gen  # a sibling script (benches/ is on sys.path)
    tmp = None
    folder = args.folder
    if folder is None:
        tmp = Path(tempfile.mkdtemp())
        folder = tmp / "ckpt"
    try:
        if not folder.exists():
            gen.write_llama_checkpoint(folder, shape="tinyllama", blocks=args.blocks)
        lean = dict(porter_thomas=False, level_statistics=False, progress=False)
        load = os.getloadavg()[0]
        rep = nt.analyze(folder, route="partial", **lean)
        best = min(timed(lambda: nt.analyze(folder, route="partial", **lean))[0] for _ in range(args.repeat))
        answered = sum("partial" in (r.route or "") for r in rep)
        print(f"netsieve `analyze(folder, route=\"partial\", porter_thomas=False, level_statistics=False)`, "
              f"{args.blocks} block(s) + lm_head: best of {args.repeat} {best:.2f} s ({answered} of {len(rep.rows)} "
              f"rows by the partial route); load {load:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
    finally:
        if tmp is not None:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
