"""``netsieve analyze PATH``: the per-layer spectral report of a checkpoint
(:func:`netsieve.torch.analyze`), printed as a table and optionally written as CSV, JSON and
plots. Layers that fail become rows with their error; exit code 1 when nothing could be analysed."""

from __future__ import annotations

import argparse
import sys

from .. import BULK_MODELS, DECOMPOSITIONS, DEFAULTS, SPIKE_CONFIDENCES
from ._cluster import add_cluster_arguments, check_cluster_arguments, cluster_client


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "analyze",
        help="per-layer spectral report of a model checkpoint (.safetensors, folder of shards, torch checkpoint)",
        description="Analyse every weight matrix of a checkpoint: MP noise fit, spikes, Porter–Thomas, "
        "level statistics, norms, ranks and the power-law tail exponent α. Exit code 1 when nothing "
        "could be analysed.",
    )
    p.add_argument("path", help="a .safetensors file, a folder of shards, a torch checkpoint (weights_only), an fsspec "
                   "URL of .safetensors (s3://…, file://…), "
                   "or a Hugging Face id org/name already in the local cache (never downloaded)")
    p.add_argument("--revision", help="hub ids: branch, tag or commit in the cache (default main)")
    p.add_argument("--cache-dir", metavar="DIR", help="hub ids: the cache folder (default HF_HUB_CACHE, HF_HOME/hub, …)")
    p.add_argument("--layers", nargs="+", metavar="GLOB", help="only tensors whose names match these globs")
    p.add_argument("--conv-slices", action="store_true", help="one matrix per convolution kernel position")
    p.add_argument("--split-fused", action="store_true", help="split fused q/k/v projections (c_attn, query_key_value)")
    p.add_argument("--per-head", action="store_true",
                   help="analyse each attention head's block of the q/k/v/o projections (head counts from config.json)")
    p.add_argument("--embeddings", action="store_true", help="also analyse embedding tables")
    p.add_argument("--no-embeddings", action="store_true", help=argparse.SUPPRESS)  # the default since 0.2
    p.add_argument("--min-dim", type=int, default=DEFAULTS["min_dim"],
                   help=f"skip matrices with a side below this (default {DEFAULTS['min_dim']})")
    p.add_argument("--spike-confidence", type=float, choices=sorted(SPIKE_CONFIDENCES), default=DEFAULTS["spike_confidence"])
    p.add_argument("--bulk", choices=BULK_MODELS, default=DEFAULTS["bulk"],
                   help="noise model: mp (white), deformed (correlated), auto (deformed where the white-noise test fails)")
    p.add_argument("--decomposition", choices=DECOMPOSITIONS, default=DEFAULTS["decomposition"])
    p.add_argument("--no-porter-thomas", action="store_true", help="skip the singular-vector test (faster)")
    p.add_argument("--device", metavar="DEV",
                   help="decompose with torch.linalg on this torch device (cuda, cpu); with --workers/--scheduler on each worker")
    p.add_argument("--partial", action="store_true",
                   help="σ and spikes from the leading singular values where the bulk passes a white-noise check "
                        "(implies --no-porter-thomas, no level statistics; other layers: the full route)")
    p.add_argument("--csv", metavar="FILE", help="write the per-layer table as CSV")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--plots", metavar="DIR", help="write plots (needs matplotlib)")
    p.add_argument("--html", metavar="FILE", help="write one self-contained HTML report page (needs matplotlib)")
    add_cluster_arguments(p, "run one task per tensor on a local Dask cluster of N processes (needs netsieve[cluster])",
                          "run on the Dask scheduler at ADDRESS (tcp://HOST:PORT); PATH must be readable by every worker")
    return p


def run(args: argparse.Namespace) -> int:
    from .._files import check_output_folder, check_outputs
    from . import say
    from ._inputs import locate_input

    where, hub, inputs = locate_input(args.path, args.revision, args.cache_dir)  # a path, URL or cached hub model
    if hub is not None:
        say(args, f"reading {hub} from {hub.snapshot}")
    # Every output is checked before the analysis: none may be the input or lie in an input folder.
    check_outputs([("--csv", args.csv), ("--json", args.json), ("--html", args.html)], inputs)
    check_output_folder("--plots", args.plots, inputs)
    if args.plots or args.html:
        from .._plotting import pyplot

        pyplot()  # matplotlib missing: say so now, not after the analysis
    if args.no_embeddings:
        print("netsieve analyze: --no-embeddings is the default now and will be removed", file=sys.stderr)
    check_cluster_arguments(args)
    from ..torch import analysis

    with cluster_client(args) as client:
        if client is not None:
            say(args, f"running on {client}")
        report = analysis.analyze(
            args.path, layers=args.layers or None, conv_slices=args.conv_slices, embeddings=args.embeddings,
            min_dim=args.min_dim, porter_thomas=not (args.no_porter_thomas or args.partial), spike_confidence=args.spike_confidence,
            route="partial" if args.partial else DEFAULTS["route"], level_statistics=not args.partial,
            bulk=args.bulk, decomposition=args.decomposition, errors="collect", progress=None if not args.quiet else False,
            revision=args.revision, cache_dir=args.cache_dir, split_fused=args.split_fused, per_head=args.per_head,
            client=client, device=args.device,
        )  # fmt: skip
    if not args.quiet:
        print(report)
    else:  # files of the folder that were not read are worth a line even when quiet
        files = [s for s in report.skipped if s.kind == "file"]
        if files:
            print(f"netsieve analyze: {len(files)} files not read: " + "; ".join(str(s) for s in files), file=sys.stderr)
    if args.csv:
        report.to_csv(args.csv)
    if args.json:
        report.to_json(args.json)
    if args.plots and report.analysed:
        report.save_plots(args.plots)
    if args.html:
        report.to_html(args.html, title=f"netsieve analysis of {hub}" if hub is not None else None)
        say(args, f"wrote {args.html}")
    if not report.analysed:
        reasons = [f"{r.name}: {r.error}" for r in report.errors] + [f"{s.name}: {s.reason}" for s in report.skipped]
        detail = "; ".join(reasons[:10]) or "no tensors matched"
        print(f"netsieve analyze: error: nothing could be analysed in {report.source} ({detail})", file=sys.stderr)
        return 1
    return 0
