"""The ``netsieve`` command line: one module per subcommand, each with ``add_parser(sub)`` and
``run(args)``; the library functions they call take plain arguments. Subcommands import what they
need when they run, so ``netsieve --help`` stays fast and torch loads only for the commands that
use it. Defaults come from the core (``netsieve.DEFAULTS``), like the Python API's."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from . import analyze, demo, filter, l1_descent, spectrum, train

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS = (demo, spectrum, filter, analyze, train, l1_descent)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="netsieve",
        description="Find the boundary between noise and learned information in deep networks.",
    )
    parser.add_argument("--version", action="version", version=f"netsieve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub).set_defaults(run=command.run)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# Errors whose message says it all; anything else is shown with its type (it may be a bug).
_EXPECTED = (ValueError, TypeError, OSError, ImportError, RuntimeError)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command. Failures print one line ``netsieve CMD: error: ...`` on stderr and return 1
    (130 when interrupted); ``NETSIEVE_DEBUG=1`` re-raises them with their traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    prefix = f"netsieve {args.command}"
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"\n{prefix}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `netsieve analyze m.safetensors | head`: the reader left
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except Exception as exc:
        if os.environ.get("NETSIEVE_DEBUG"):
            raise
        if isinstance(exc, MemoryError):
            message = "out of memory" + (f" ({_one_line(exc)})" if str(exc) else "")
        elif isinstance(exc, _EXPECTED):
            message = _one_line(exc)
        else:
            message = f"{type(exc).__name__}: {_one_line(exc)}"
        print(f"{prefix}: error: {message}", file=sys.stderr)
        return 1
