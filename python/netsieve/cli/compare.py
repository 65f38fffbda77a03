"""``netsieve compare A B``: two checkpoints of one model compared layer by layer
(:func:`netsieve.torch.compare`): the spectrum of the update Δ = W_B − W_A, the change of σ, α and
spikes, the overlap of the leading singular subspaces; a table by block and role, CSV, JSON and a
plot. Layers in one side only and shape mismatches are rows, not failures; exit code 1 when no
layer could be compared."""

from __future__ import annotations

import argparse
import sys

from .. import BULK_MODELS, DECOMPOSITIONS, DEFAULTS, SPIKE_CONFIDENCES
from ._cluster import add_cluster_arguments, check_cluster_arguments, cluster_client


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "compare",
        help="compare two checkpoints of one model layer by layer (the spectrum of the update W_B − W_A)",
        description="Compare every weight matrix of checkpoint B with the same matrix of A: MP fit and spikes "
        "of the update Δ = W_B − W_A (its effective rank), ‖Δ‖/‖W_A‖, the change of σ, α and spike count, and "
        "the overlap of the leading singular subspaces. Exit code 1 when no layer could be compared.",
    )
    p.add_argument("a", help="checkpoint A (.safetensors, folder of shards, torch checkpoint, an fsspec URL of "
                   ".safetensors, or a cached hub id)")
    p.add_argument("b", help="checkpoint B, of the same model")
    p.add_argument("--layers", nargs="+", metavar="GLOB", help="only tensors whose names match these globs")
    p.add_argument("--embeddings", action="store_true", help="also compare embedding tables")
    p.add_argument("--split-fused", action="store_true", help="split fused q/k/v projections (c_attn, query_key_value)")
    p.add_argument("--per-head", action="store_true",
                   help="compare each attention head's block of the q/k/v/o projections (head counts from A's config.json)")
    p.add_argument("--device", metavar="DEV",
                   help="decompose with torch.linalg on this torch device (cuda, cpu); with --workers/--scheduler on each worker")
    p.add_argument("--min-dim", type=int, default=DEFAULTS["min_dim"],
                   help=f"skip matrices with a side below this (default {DEFAULTS['min_dim']})")
    p.add_argument("--overlap-k", type=int, default=DEFAULTS["overlap_k"],
                   help=f"leading singular directions compared (default {DEFAULTS['overlap_k']})")
    p.add_argument("--spike-confidence", type=float, choices=sorted(SPIKE_CONFIDENCES), default=DEFAULTS["spike_confidence"])
    p.add_argument("--bulk", choices=BULK_MODELS, default=DEFAULTS["bulk"])
    p.add_argument("--decomposition", choices=DECOMPOSITIONS, default=DEFAULTS["decomposition"])
    p.add_argument("--csv", metavar="FILE", help="write the per-layer table as CSV")
    p.add_argument("--json", metavar="FILE", help="write the comparison as JSON")
    p.add_argument("--plots", metavar="DIR", help="write comparison.png (needs matplotlib)")
    add_cluster_arguments(p, "one task per layer on a local Dask cluster of N processes",
                          "run on the Dask scheduler at ADDRESS (tcp://HOST:PORT)")
    return p


def run(args: argparse.Namespace) -> int:
    from .._files import check_output_folder, check_outputs
    from ._inputs import locate_input

    inputs = []
    for arg in (args.a, args.b):
        inputs += locate_input(arg)[2]
    check_outputs([("--csv", args.csv), ("--json", args.json)], inputs)  # before anything is read
    check_output_folder("--plots", args.plots, inputs)
    if args.plots:
        from .._plotting import pyplot

        pyplot()
    check_cluster_arguments(args)
    from ..torch.compare import compare

    with cluster_client(args) as client:
        result = compare(
            args.a, args.b, layers=args.layers or None, embeddings=args.embeddings, split_fused=args.split_fused,
            min_dim=args.min_dim, overlap_k=args.overlap_k, spike_confidence=args.spike_confidence, bulk=args.bulk,
            decomposition=args.decomposition, progress=None if not args.quiet else False, client=client,
            per_head=args.per_head, device=args.device,
        )  # fmt: skip
    print(result)
    if args.csv:
        result.to_csv(args.csv)
    if args.json:
        result.to_json(args.json)
    if args.plots and result.compared:
        result.save_plots(args.plots)
    if not result.compared:
        print(f"netsieve compare: error: no layer could be compared ({len(result.rows)} rows: see the table)", file=sys.stderr)
        return 1
    return 0
