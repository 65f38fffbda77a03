"""The ``netsieve`` command line: one module per subcommand, each with ``add_parser(sub)`` and
``run(args)``; the library functions they call take plain arguments. Subcommands import what they
need when they run, so ``netsieve --help`` stays fast and torch loads only for the commands that
use it. Defaults come from the core (``netsieve.DEFAULTS``), like the Python API's.

Every subcommand takes ``-q/--quiet`` (nothing on stdout, no progress bars: only errors on stderr)
and ``-v/--verbose`` (what was read, and the traceback of a failure). Exit codes (``EXIT_CODES``):
0 success, 1 failure (one line ``netsieve CMD: error: ...`` on stderr), 2 usage error (a bad
flag or value, from argparse), 130 interrupted (Ctrl-C). ``python -m netsieve`` is the same
program."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from typing import Sequence

from . import analyze, compare, demo, doubling, evolution, filter, l1_descent, spectrum, train

__all__ = ["main", "build_parser", "COMMANDS", "EXIT_CODES"]

COMMANDS = (demo, spectrum, filter, analyze, compare, evolution, train, doubling, l1_descent)

EXIT_CODES = {0: "success", 1: "failure (one error line on stderr)", 2: "usage error (bad flag or value)",
              130: "interrupted (Ctrl-C)"}  # fmt: skip


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors; no progress bars")
    group.add_argument("-v", "--verbose", action="store_true", help="say what is read; tracebacks of failures")


def say(args: argparse.Namespace, message: str) -> None:
    """A detail printed with ``--verbose`` only (on stderr, so that stdout stays the result)."""
    if getattr(args, "verbose", False):
        print(f"netsieve {args.command}: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="netsieve",
        description="Find the boundary between noise and learned information in deep networks.",
    )
    parser.add_argument("--version", action="version", version=f"netsieve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        p = command.add_parser(sub)
        _add_verbosity(p)
        p.set_defaults(run=command.run)
    parser.epilog = "exit codes: " + ", ".join(f"{code} {what}" for code, what in EXIT_CODES.items())
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# Errors whose message says it all; anything else is shown with its type (it may be a bug).
_EXPECTED = (ValueError, TypeError, OSError, ImportError, RuntimeError)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command and returns its exit code (module docs, ``EXIT_CODES``).

    Failures print one line ``netsieve CMD: error: ...`` on stderr and return 1 (130 when
    interrupted); ``--verbose`` adds the traceback, ``NETSIEVE_DEBUG=1`` re-raises them.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int

    Raises
    ------
    SystemExit
        From argparse, for ``--help``, ``--version`` and usage errors (code 2).

    Examples
    --------
    >>> from netsieve.cli import main
    >>> main(["spectrum", "/no/such.npy", "--quiet"])  # prints the error line on stderr
    1
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    prefix = f"netsieve {args.command}"
    try:
        with contextlib.ExitStack() as stack:
            if args.quiet:  # every print of the command goes nowhere; files named by flags are still written
                stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
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
        if args.verbose:
            traceback.print_exc()
        if isinstance(exc, MemoryError):
            message = "out of memory" + (f" ({_one_line(exc)})" if str(exc) else "")
        elif isinstance(exc, _EXPECTED):
            message = _one_line(exc)
        else:
            message = f"{type(exc).__name__}: {_one_line(exc)}"
        print(f"{prefix}: error: {message}", file=sys.stderr)
        return 1
