"""The Dask options shared by the commands that can run one task per tensor on a cluster."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any


def add_cluster_arguments(p: argparse.ArgumentParser, workers_help: str, scheduler_help: str) -> None:
    """``--workers N`` or ``--scheduler ADDRESS``, one of them at most."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N", help=workers_help)
    where.add_argument("--scheduler", metavar="ADDRESS", help=scheduler_help)


def check_cluster_arguments(args: argparse.Namespace) -> None:
    """Refuses a worker count below one (before anything is read)."""
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")


@contextlib.contextmanager
def cluster_client(args: argparse.Namespace) -> Iterator[Any]:
    """The Dask client the options ask for (None without them), closed on the way out."""
    if args.workers is None and not args.scheduler:
        yield None
        return
    from ..torch import cluster

    client = cluster.local_client(args.workers) if args.workers is not None else cluster.connect(args.scheduler)
    try:
        yield client
    finally:
        cluster.close_client(client)
