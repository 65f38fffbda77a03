"""``netsieve evolution RUN_DIR``: the spectra of a training run's kept checkpoints over epochs
(:func:`netsieve.torch.evolution`): spike counts per layer and epoch as a table, CSV/JSON of every
(epoch, layer) row, and one figure per layer group."""

from __future__ import annotations

import argparse

from .. import DEFAULTS
from ._cluster import add_cluster_arguments, check_cluster_arguments, cluster_client


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evolution",
        help="singular values and spike counts of every layer over a training run's checkpoints",
        description="Analyse every kept checkpoint of a run directory (checkpoints/epoch-NNNN.safetensors, "
        "written with --keep-checkpoints K; or checkpoint-STEP folders) and follow each layer's leading "
        "singular values, bulk edge and spike count over the epochs.",
    )
    p.add_argument("run_dir", help="run directory of `netsieve train --keep-checkpoints K` (or of checkpoint-STEP folders)")
    p.add_argument("--layers", nargs="+", metavar="GLOB", help="only tensors whose names match these globs")
    p.add_argument("--embeddings", action="store_true", help="also follow embedding tables")
    p.add_argument("--min-dim", type=int, default=DEFAULTS["min_dim"],
                   help=f"skip matrices with a side below this (default {DEFAULTS['min_dim']})")
    p.add_argument("--top", type=int, default=10, help="leading singular values drawn per layer (default 10)")
    p.add_argument("--csv", metavar="FILE", help="write one row per (epoch, layer) as CSV")
    p.add_argument("--json", metavar="FILE", help="write the evolution as JSON")
    p.add_argument("--plots", "--plot", metavar="DIR", help="write evolution-ROLE.png per layer group (needs matplotlib)")
    add_cluster_arguments(p, "one task per tensor on a local Dask cluster of N processes",
                          "run on the Dask scheduler at ADDRESS (tcp://HOST:PORT)")
    return p


def run(args: argparse.Namespace) -> int:
    from .._files import check_output_folder, check_outputs

    check_outputs([("--csv", args.csv), ("--json", args.json)], [args.run_dir])
    check_output_folder("--plots", args.plots, [args.run_dir])
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    if args.plots:
        from .._plotting import pyplot

        pyplot()
    check_cluster_arguments(args)
    from ..torch.evolution import evolution

    with cluster_client(args) as client:
        result = evolution(args.run_dir, layers=args.layers or None, embeddings=args.embeddings, min_dim=args.min_dim,
                           progress=None if not args.quiet else False, client=client, errors="collect")  # fmt: skip
    print(result)
    if args.csv:
        result.to_csv(args.csv)
    if args.json:
        result.to_json(args.json)
    if args.plots:
        for path in result.save_plots(args.plots, k=args.top):
            print(f"wrote {path}")
    return 0
