"""What shells and scripts expect of the command line: ``python -m netsieve`` is the same program,
``--version``, documented exit codes (0, 1, 2, 130), ``--quiet`` prints nothing but errors and
``--verbose`` adds the traceback of a failure."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import netsieve
from netsieve.cli import EXIT_CODES


def _run(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netsieve", *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={k: v for k, v in os.environ.items() if k != "NETSIEVE_DEBUG"})  # fmt: skip


def test_python_dash_m_and_version(tmp_path):
    run = _run("--version", cwd=tmp_path)
    assert (run.returncode, run.stdout.strip()) == (0, f"netsieve {netsieve.__version__}")
    run = _run("--help", cwd=tmp_path)
    assert run.returncode == 0 and "exit codes: 0 success, 1 failure" in " ".join(run.stdout.split())


def test_exit_codes(tmp_path):
    assert sorted(EXIT_CODES) == [0, 1, 2, 130]
    np.save(tmp_path / "w.npy", np.random.default_rng(0).normal(size=(120, 60)))
    assert _run("spectrum", "w.npy", cwd=tmp_path).returncode == 0
    failed = _run("spectrum", "missing.npy", cwd=tmp_path)
    assert failed.returncode == 1 and failed.stderr.startswith("netsieve spectrum: error:") and failed.stderr.count("\n") == 1
    usage = _run("spectrum", "--no-such-flag", cwd=tmp_path)
    assert usage.returncode == 2 and "unrecognized arguments" in usage.stderr
    assert _run(cwd=tmp_path).returncode == 2  # no command: the help, as a usage error


def test_quiet_and_verbose(tmp_path):
    np.save(tmp_path / "w.npy", np.random.default_rng(0).normal(size=(120, 60)))
    loud = _run("spectrum", "w.npy", cwd=tmp_path)
    quiet = _run("spectrum", "w.npy", "--quiet", cwd=tmp_path)
    assert loud.stdout.strip() and (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    verbose = _run("spectrum", "missing.npy", "-v", cwd=tmp_path)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    assert verbose.stderr.rstrip().splitlines()[-1].startswith("netsieve spectrum: error:")
    both = _run("spectrum", "w.npy", "-q", "-v", cwd=tmp_path)
    assert both.returncode == 2 and "not allowed with" in both.stderr
