"""Both bulk fits on the demo's trained networks: every weight matrix of every run directory of
`netsieve demo --out DIR`, white-noise against deformed fit, with one plot of the middle layer.

Usage: python examples/noise_models_demo_runs.py DIR  (appends to examples/results/noise_models.txt)
"""

from __future__ import annotations

import sys
from pathlib import Path

from netsieve.torch import analyze

ROOT = Path(__file__).resolve().parents[1]
runs = sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "model.safetensors").exists())
lines = ["", "## The demo's trained networks (MLP 40-512-512-10 on MNIST-1D), every matrix with a side ≥ 16", "",
         "| run | layer | shape | KS MP (p) | MP spikes | deformed τ, shape | KS deformed (p) | deformed spikes |",
         "|---|---|---|---|---:|---|---|---:|"]  # fmt: skip
for run in runs:
    rep = analyze(run / "model.safetensors", porter_thomas=False, progress=False)
    for r in rep:
        fitted = ("(MP kept)", "—") if r.bulk == "mp" else (
            f"{r.spread:.2f}, {r.population_shape}", f"{r.bulk_ks_distance:.3f} ({r.bulk_ks_pvalue:.2g})")
        lines.append(f"| {run.name} | {r.name} | {r.rows}×{r.cols} | {r.mp_ks_distance:.3f} ({r.mp_ks_pvalue:.2g}) "
                     f"| {r.mp_n_spikes} | {fitted[0]} | {fitted[1]} | {r.n_spikes} |")  # fmt: skip
    if run.name == "noise0.4-seed0":
        ax = rep.plot_esd(rep.rows[1].name)
        ax.figure.set_size_inches(6, 4)
        ax.figure.tight_layout()
        ax.figure.savefig(ROOT / "docs" / "img" / "bulk_demo_noise40_middle_layer.png", dpi=90)
print("\n".join(lines))
with open(ROOT / "examples" / "results" / "noise_models.txt", "a") as f:
    f.write("\n".join(lines) + "\n")
