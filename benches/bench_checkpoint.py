"""Analysis of a generated Llama-architecture checkpoint (benches/make_llama_checkpoint.py): the
whole ``netsieve analyze`` in a fresh process (wall time and peak RSS, VmHWM), per-matrix time by
role, and, with ``--workers``, the same analysis on a Dask LocalCluster (``analyze(client=...)``).

The checkpoint is generated once into ``--folder`` (default a temporary folder; kept with
``--keep``). The machine may be shared: the script prints the load average before and after, and
every number in BENCHMARKS.md states it.

Run:  PYTHONPATH=python python benches/bench_checkpoint.py --blocks 2 [--porter-thomas] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUN = """
import json, threading, time, netsieve as ns, netsieve.torch as nt
{setup}
def status(field):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(field + ":"))
ns.singular_values(nt.open_weights({path!r}).get("model.layers.0.self_attn.k_proj.weight").float())  # pool, mmap
base, base_anon = status("VmRSS"), status("RssAnon")
# VmHWM also counts the touched pages of the memory-mapped shards (file-backed page cache); the
# process's own allocations are the anonymous pages, sampled every 10 ms for their peak.
peak_anon, done = [base_anon], threading.Event()
def sample():
    while not done.wait(0.01):
        peak_anon[0] = max(peak_anon[0], status("RssAnon"))
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
t = time.perf_counter()
report = nt.analyze({path!r}, porter_thomas={pt}, progress=False{client}{route})
elapsed = time.perf_counter() - t
done.set()
sampler.join()
{teardown}
hwm = status("VmHWM")
print(json.dumps({{"elapsed": elapsed, "hwm": hwm, "base": base, "anon": peak_anon[0], "base_anon": base_anon,
                  "rows": len(report.rows), "spikes": [r.n_spikes for r in report],
                  "partial": sum(r.route == "partial" for r in report)}}))
"""

PER_ROLE = """
import json, time, collections, netsieve as ns, netsieve.torch as nt
from netsieve._layer_names import block_and_role
times = collections.defaultdict(list)
with nt.open_weights({path!r}) as src:
    for name in src.names():
        shape = src.shape(name)
        if len(shape) != 2:
            continue
        m = src.get(name).float()
        t = time.perf_counter()
        ns.analyze_layers([m], porter_thomas={pt})
        times[block_and_role(name)[1] + f" {{shape[0]}}×{{shape[1]}}"].append(time.perf_counter() - t)
print(json.dumps({{k: [len(v), sum(v) / len(v)] for k, v in times.items()}}))
"""


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--shape", default="tinyllama")
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--porter-thomas", action="store_true")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--skip-per-role", action="store_true")
    ap.add_argument("--route", choices=["full", "partial"], default="full",
                    help="partial: route=\"partial\" without level statistics (σ and spikes only)")
    args = ap.parse_args()
    import make_llama_checkpoint as gen  # a sibling script (benches/ is on sys.path)
    tmp = None
    folder = args.folder
    if folder is None:
        tmp = Path(tempfile.mkdtemp())
        folder = tmp / "ckpt"
    if not folder.exists():
        gen.write_llama_checkpoint(folder, shape=args.shape, blocks=args.blocks)
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    largest = max(n * m for _, shp in gen.tensor_shapes(**{**gen.SHAPES[args.shape], "blocks": args.blocks})
                  if len(shp) == 2 for n, m in [shp])  # fmt: skip
    print(f"checkpoint {folder}: {args.shape} shape, {args.blocks} blocks, {size / 1e9:.2f} GB bf16; largest tensor "
          f"{largest * 8 / 2**20:.0f} MiB as float64; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    pt = bool(args.porter_thomas)
    route = ', route="partial", level_statistics=False' if args.route == "partial" else ""
    res = _run(RUN.format(path=str(folder), pt=pt, setup="", teardown="", client="", route=route))
    above = res["hwm"] - res["base"]
    print(f"in-process: {res['elapsed']:.1f} s, peak RSS {res['hwm'] / 2**30:.2f} GiB, {above / 2**30:.2f} GiB above the "
          f"{res['base'] / 2**30:.2f} GiB before the call ({above / (largest * 8):.2f}× the largest tensor in float64), {res['rows']} rows, "
          f"spikes {sorted(set(res['spikes']))}, {res['partial']} rows answered by the partial route; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    anon = res["anon"] - res["base_anon"]
    print(f"peak anonymous memory (the process's own allocations, sampled every 10 ms): {anon / 2**30:.2f} GiB above "
          f"the {res['base_anon'] / 2**30:.2f} GiB before the call ({anon / (largest * 8):.2f}× the largest tensor in "
          f"float64)")  # fmt: skip
    if args.workers:
        setup = f"from netsieve.torch import cluster\nc = cluster.local_client({args.workers})"
        res2 = _run(RUN.format(path=str(folder), pt=pt, setup=setup, teardown="cluster.close_client(c)", client=", client=c",
                               route=route))
        print(f"LocalCluster of {args.workers} processes: {res2['elapsed']:.1f} s (in-process {res['elapsed']:.1f} s: "
              f"{res['elapsed'] / res2['elapsed']:.2f}×), same spikes: {res2['spikes'] == res['spikes']}; "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    if not args.skip_per_role:
        per = _run(PER_ROLE.format(path=str(folder), pt=pt))
        print("| role, shape | matrices | mean time per matrix [s] |\n|---|---:|---:|")
        for k, (n, t) in per.items():
            print(f"| {k} | {n} | {t:.2f} |")
    if tmp is not None and not args.keep:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
