"""``netsieve filter IN OUT``: the command-line front of :func:`netsieve.torch.filter_checkpoint`.

Kept free of torch imports so that ``netsieve --help`` stays fast; torch loads when the command runs.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from .shrink import METHODS

MIN_DIM = 16  # same as netsieve.torch.filtering.MIN_DIM (checked by the tests)


def add_filter_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "filter",
        help="filter the weight matrices of a .safetensors file or torch checkpoint",
        description=(
            "Shrink the singular values of every weight matrix of a checkpoint (see netsieve.shrink "
            "for the methods) and write the result atomically (temporary file + rename). Torch "
            "checkpoints are loaded with weights_only=True; the output holds all tensors of the input."
        ),
    )
    p.add_argument("input", help=".safetensors file, folder of .safetensors shards, or torch checkpoint (.pt/.pth/.bin/.ckpt)")
    p.add_argument("output", help="output file: .safetensors by suffix, otherwise a torch checkpoint")
    p.add_argument("--method", default="operator", choices=METHODS)
    p.add_argument("--layers", nargs="+", metavar="GLOB", help="only tensors matching these names/globs")
    p.add_argument("--sigma", type=float, help="known noise level per entry (default: fitted per matrix)")
    p.add_argument("--fraction", type=float, help="method 'fraction': share of singular values to zero")
    p.add_argument("--derepel", action=argparse.BooleanOptionalAction, default=None, help="fraction/porter_thomas: de-repel kept spikes")
    p.add_argument("--sigma-method", choices=("quantile", "median"))
    p.add_argument("--spike-confidence", type=float, choices=(0.9, 0.95, 0.975, 0.99))
    p.add_argument("--embeddings", action="store_true", help="also filter embedding matrices")
    p.add_argument("--attention", action="store_true", help="also filter fused attention projections (in_proj_weight)")
    p.add_argument("--conv-slices", action="store_true", help="one matrix per convolution kernel position")
    p.add_argument("--min-dim", type=int, default=MIN_DIM, help=f"skip matrices with a side below this (default {MIN_DIM})")
    p.add_argument("--report", help="also write the per-layer report (.json or .csv)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (or the input itself)")
    p.set_defaults(run=run_filter_command)


def run_filter_command(args: argparse.Namespace) -> int:
    from ._files import check_outputs

    if not Path(args.input).exists():
        raise FileNotFoundError(f"no such file or folder: {args.input}")
    report_path = Path(args.report) if args.report else None
    # All outputs are checked before any work: OUTPUT may be the input file (--overwrite filters it
    # in place), the report may be neither the input nor OUTPUT.
    check_outputs([("OUTPUT", args.output), ("--report", report_path)], [args.input], overwrite=args.overwrite,
                  in_place=("OUTPUT",), overwrite_hint="pass --overwrite to replace it")
    from .torch.filtering import filter_checkpoint

    options: dict[str, Any] = {}
    for key in ("sigma", "fraction", "derepel", "sigma_method", "spike_confidence"):
        value = getattr(args, key)
        if value is not None:
            options[key] = value
    report = filter_checkpoint(
        args.input,
        args.output,
        args.method,
        args.layers,
        overwrite=args.overwrite,
        embeddings=args.embeddings,
        attention=args.attention,
        conv_slices=args.conv_slices,
        min_dim=args.min_dim,
        **options,
    )
    if report_path is not None:
        _write_report(report, report_path)
    print(report)
    print(f"wrote {args.output}")
    return 0


def _write_report(report: Any, path: Path) -> None:
    from ._files import atomic_write_text

    if path.suffix == ".csv":  # with the csv module: pandas may be missing, and OUTPUT is written by now
        rows = [layer.to_dict() for layer in report.layers]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["name"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buf.getvalue())
    else:
        atomic_write_text(path, json.dumps(report.to_dict(), indent=2, default=_json_default))


def _json_default(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return str(x)
