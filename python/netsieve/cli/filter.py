"""``netsieve filter IN OUT``: the command-line front of :func:`netsieve.torch.filter_checkpoint`.
Every method option of the core has a flag; the flags of options a method does not take are
refused by the core, as in Python."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import BULK_MODELS, DECOMPOSITIONS, DEFAULTS, ROUTES, SHRINK_METHODS, SIGMA_METHODS, SPIKE_CONFIDENCES
from ._cluster import add_cluster_arguments, check_cluster_arguments, cluster_client

# flag → option of netsieve.shrink (None: not given, the method's default applies)
_METHOD_FLAGS = ("sigma", "fraction", "derepel", "sigma_method", "spike_confidence", "decomposition", "route", "window",
                 "alpha", "bulk", "rank")  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "filter",
        help="filter the weight matrices of a .safetensors file or torch checkpoint",
        description=(
            "Shrink the singular values of every weight matrix of a checkpoint (see netsieve.shrink "
            "for the methods) and write the result atomically (temporary file + rename). Torch "
            "checkpoints are loaded with weights_only=True; the output holds all tensors of the input. "
            "A folder of .safetensors shards filtered to OUTPUT without a suffix becomes a folder of the "
            "same shards and index, renamed into place only when every tensor succeeded."
        ),
    )
    p.add_argument("input", help=".safetensors file, folder of .safetensors shards, torch checkpoint (.pt/.pth/.bin/.ckpt), "
                   "an fsspec URL of .safetensors (s3://…, file://…), "
                   "or a Hugging Face id org/name already in the local cache (never downloaded)")
    p.add_argument("--revision", help="hub ids: branch, tag or commit in the cache (default main)")
    p.add_argument("--cache-dir", metavar="DIR", help="hub ids: the cache folder (default HF_HUB_CACHE, HF_HOME/hub, …)")
    p.add_argument("output", help="output file: .safetensors by suffix, otherwise a torch checkpoint; "
                   "for a folder of shards, a name without a suffix writes a folder of shards")
    p.add_argument("--method", default=DEFAULTS["method"], choices=SHRINK_METHODS)
    p.add_argument("--layers", nargs="+", metavar="GLOB", help="only tensors matching these names/globs")
    p.add_argument("--sigma", type=float, help="known noise level per entry (default: fitted per matrix)")
    p.add_argument("--fraction", type=float, help="method 'fraction': share of singular values to zero")
    p.add_argument("--derepel", action=argparse.BooleanOptionalAction, default=None, help="fraction/porter_thomas: de-repel kept spikes")
    p.add_argument("--sigma-method", choices=SIGMA_METHODS)
    p.add_argument("--spike-confidence", type=float, choices=sorted(SPIKE_CONFIDENCES))
    p.add_argument("--decomposition", choices=DECOMPOSITIONS)
    p.add_argument("--route", choices=ROUTES, help="partial: the spikes by block Krylov where the bulk is white noise, "
                   "else the full route (hard, optimal_hard, operator, frobenius, nuclear; default full)")
    p.add_argument("--window", type=int, help="porter_thomas: moving-average half-width")
    p.add_argument("--alpha", type=float, help="porter_thomas: test level")
    p.add_argument("--bulk", choices=BULK_MODELS, help="hard/optshrink: noise model of the bulk (default auto)")
    p.add_argument("--rank", type=int, help="optshrink: components kept (default: the fit's outliers)")
    p.add_argument("--embeddings", action="store_true", help="also filter embedding matrices")
    p.add_argument("--attention", action="store_true", help="also filter fused attention projections (in_proj_weight)")
    p.add_argument("--conv-slices", action="store_true", help="one matrix per convolution kernel position")
    p.add_argument("--min-dim", type=int, default=DEFAULTS["min_dim"],
                   help=f"skip matrices with a side below this (default {DEFAULTS['min_dim']})")
    p.add_argument("--device", metavar="DEV",
                   help="decompose with torch.linalg on this torch device (cuda, cpu); with --workers/--scheduler on each worker")
    p.add_argument("--report", help="also write the per-layer report (.json or .csv)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (or the input itself)")
    add_cluster_arguments(p, "folder to folder: one task per tensor on a local Dask cluster of N processes (needs netsieve[cluster])",
                          "folder to folder: run on the Dask scheduler at ADDRESS; both folders must be reachable by every worker")
    return p


def run(args: argparse.Namespace) -> int:
    from .._files import check_outputs
    from . import say
    from ._inputs import locate_input

    where, hub, inputs = locate_input(args.input, args.revision, args.cache_dir)  # a path, URL or cached hub model
    if hub is not None:
        say(args, f"reading {hub} from {hub.snapshot}")
    report_path = args.report or None  # a path or an fsspec URL
    # All outputs are checked before any work: OUTPUT may be the input file (--overwrite filters it
    # in place), the report may be neither the input nor OUTPUT.
    from ..torch.sharded_filter import is_folder_output

    folder_out = is_folder_output(where, args.output)  # checked by the folder filter itself
    check_outputs([("OUTPUT", None if folder_out else args.output), ("--report", report_path)], inputs, overwrite=args.overwrite,
                  in_place=("OUTPUT",) if hub is None else (), overwrite_hint="pass --overwrite to replace it")  # fmt: skip
    check_cluster_arguments(args)
    from ..torch.filtering import filter_checkpoint

    options: dict[str, Any] = {k: getattr(args, k) for k in _METHOD_FLAGS if getattr(args, k) is not None}
    with cluster_client(args) as client:
        report = filter_checkpoint(
            args.input, args.output, args.method, args.layers, overwrite=args.overwrite, embeddings=args.embeddings,
            attention=args.attention, conv_slices=args.conv_slices, min_dim=args.min_dim, revision=args.revision,
            cache_dir=args.cache_dir, client=client, device=args.device, **options,
        )  # fmt: skip
    if report_path is not None:
        if Path(report_path).suffix == ".csv":
            report.to_csv(report_path)
        else:
            report.to_json(report_path)
    print(report)
    print(f"wrote {args.output}")
    return 0
