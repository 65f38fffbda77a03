"""Every failure of a `netsieve` command is one line `netsieve CMD: error: ...` on stderr with exit
code 1 (130 when interrupted), found before any work where it can be, and leaves no output file and
no temporary behind."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from netsieve import _files  # noqa: E402
from netsieve.cli import main  # noqa: E402
from netsieve.torch import save_weights  # noqa: E402

PYTHONPATH = str(Path(_files.__file__).parents[1])


def model_file(path):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(96, 64, generator=g, dtype=torch.float64) * 0.05
    a, b = torch.randn(96, 1, generator=g, dtype=torch.float64), torch.randn(1, 64, generator=g, dtype=torch.float64)
    w += 0.05 * 6 * (96 * 64) ** 0.25 * (a / a.norm()) @ (b / b.norm())
    state = {"fc.weight": w.float(), "fc.bias": torch.zeros(96)}
    if str(path).endswith(".safetensors"):
        save_weights(state, path)
    else:
        torch.save(state, path)
    return Path(path)


def one_error_line(err: str, command: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"netsieve {command}: error: ") and "Traceback" not in err, err
    return lines[0]


def listing(folder) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir())


def run_cli(args, limit_bytes=None, **kw):
    """The CLI in a subprocess, optionally with RLIMIT_FSIZE (writes beyond it fail with EFBIG)."""
    def limit():
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-B", "-m", "netsieve.cli", *args], env=dict(os.environ, PYTHONPATH=PYTHONPATH),
                          capture_output=True, text=True, preexec_fn=limit, timeout=300, **kw)


# -- write failures -------------------------------------------------------------------------------


@pytest.mark.parametrize("out_name", ["out.safetensors", "out.pt"])
def test_file_too_large_while_filtering_is_one_line_and_leaves_nothing(tmp_path, out_name):
    src = model_file(tmp_path / "in.pt")
    before = listing(tmp_path)
    run = run_cli(["filter", str(src), str(tmp_path / out_name)], limit_bytes=8192)
    assert run.returncode == 1
    line = one_error_line(run.stderr, "filter")
    assert out_name in line and "cannot write" in line
    assert listing(tmp_path) == before  # no output, no temporary


def test_file_too_large_in_place_leaves_the_input(tmp_path):
    src = model_file(tmp_path / "in.safetensors")
    raw = src.read_bytes()
    run = run_cli(["filter", str(src), str(src), "--overwrite"], limit_bytes=8192)
    assert run.returncode == 1
    assert "File too large" in one_error_line(run.stderr, "filter")
    assert src.read_bytes() == raw and listing(tmp_path) == ["in.safetensors"]


def test_file_too_large_for_analysis_outputs(tmp_path):
    src = model_file(tmp_path / "m.safetensors")
    run = run_cli(["analyze", str(src), "--quiet", "--json", str(tmp_path / "r.json")], limit_bytes=200)
    assert run.returncode == 1
    assert "r.json" in one_error_line(run.stderr, "analyze")
    assert listing(tmp_path) == ["m.safetensors"]


@pytest.mark.parametrize("kind", ["oserror", "safetensors"])
def test_disk_full_during_filter(tmp_path, capsys, monkeypatch, kind):
    import safetensors.torch
    from safetensors import SafetensorError

    def full(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        if kind == "oserror":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })')

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    src = model_file(tmp_path / "in.pt")
    assert main(["filter", str(src), str(tmp_path / "out.safetensors")]) == 1
    line = one_error_line(capsys.readouterr().err, "filter")
    assert "No space left on device" in line and "out.safetensors" in line
    assert listing(tmp_path) == ["in.pt"]


# -- checks before any work -------------------------------------------------------------------------


def test_missing_report_folder_is_found_before_the_model_is_written(tmp_path, capsys):
    src = model_file(tmp_path / "in.safetensors")
    out = tmp_path / "out.safetensors"
    assert main(["filter", str(src), str(out), "--report", str(tmp_path / "missing" / "r.json")]) == 1
    assert "output folder does not exist" in one_error_line(capsys.readouterr().err, "filter")
    assert not out.exists()


def test_analyze_checks_its_outputs_before_analysing(tmp_path, capsys, monkeypatch):
    import netsieve.torch.analysis as analysis

    calls = []
    monkeypatch.setattr(analysis, "analyze", lambda *a, **k: calls.append(1))
    src = model_file(tmp_path / "m.safetensors")
    for flags in (["--csv", str(tmp_path / "missing" / "r.csv")], ["--json", str(src)], ["--plots", str(src)]):
        assert main(["analyze", str(src), *flags]) == 1
        one_error_line(capsys.readouterr().err, "analyze")
    assert calls == []


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_spectrum_sigma_must_be_positive_and_finite(capsys, value):
    assert main(["spectrum", "--sigma", value]) == 1
    assert "--sigma" in one_error_line(capsys.readouterr().err, "spectrum")


def test_spectrum_refuses_a_matrix_larger_than_memory_before_allocating():
    # RLIMIT_AS keeps the machine safe should the check ever be missing.
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))

    run = subprocess.run([sys.executable, "-B", "-m", "netsieve.cli", "spectrum", "--rows", "100000", "--cols", "100000"],
                         env=dict(os.environ, PYTHONPATH=PYTHONPATH), capture_output=True, text=True,
                         preexec_fn=limit, timeout=120)
    assert run.returncode == 1
    line = one_error_line(run.stderr, "spectrum")
    assert "100000×100000" in line and "GiB" in line


def test_spectrum_memory_check_uses_what_is_available(monkeypatch, capsys):
    import netsieve.cli._memory as memory

    monkeypatch.setattr(memory, "available_memory", lambda: 2**16)
    assert main(["spectrum", "--rows", "200", "--cols", "100"]) == 1
    assert "available" in one_error_line(capsys.readouterr().err, "spectrum")
    monkeypatch.setattr(memory, "available_memory", lambda: None)  # unknown: no refusal
    assert main(["spectrum", "--rows", "200", "--cols", "100", "--spikes", "1"]) == 0


def test_spectrum_bad_npy_files(tmp_path, capsys):
    import numpy as np

    np.save(tmp_path / "v.npy", np.ones(10))
    assert main(["spectrum", str(tmp_path / "v.npy")]) == 1
    assert "2-D" in one_error_line(capsys.readouterr().err, "spectrum")
    assert main(["spectrum", str(tmp_path / "missing.npy")]) == 1
    one_error_line(capsys.readouterr().err, "spectrum")


# -- unexpected failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc,code,text",
    [
        (KeyboardInterrupt(), 130, "interrupted"),
        (MemoryError(), 1, "out of memory"),
        (RuntimeError("first line\nsecond line"), 1, "first line second line"),
        (LookupError("odd"), 1, "LookupError: odd"),
    ],
)
def test_unexpected_failures_are_one_line(tmp_path, capsys, monkeypatch, exc, code, text):
    import netsieve.torch.analysis as analysis

    def fail(*a, **k):
        raise exc

    monkeypatch.setattr(analysis, "analyze", fail)
    src = model_file(tmp_path / "m.safetensors")
    assert main(["analyze", str(src)]) == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and lines[0].startswith("netsieve analyze: ")
    monkeypatch.setenv("NETSIEVE_DEBUG", "1")
    if code == 1:
        with pytest.raises(type(exc)):
            main(["analyze", str(src)])
