"""docs/user-guide.md runs: its ``python`` blocks in order in one namespace (their own asserts check
the results), then its ``sh netsieve`` blocks line by line as commands, against the installed
package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"
BLOCK = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def _blocks(kind: str, tag: str = "") -> list[str]:
    return [code for lang, info, code in BLOCK.findall(GUIDE.read_text()) if lang == kind and info.strip() == tag]


def test_the_guide_walks_through_five_jobs():
    headings = re.findall(r"^## (\d)\. ", GUIDE.read_text(), re.M)
    assert headings == ["1", "2", "3", "4", "5"]
    assert len(_blocks("python")) >= 6 and len(_blocks("sh", "netsieve")) >= 2


def test_python_and_shell_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "user_guide"}
    for i, code in enumerate(_blocks("python")):
        exec(compile(code, f"{GUIDE.name}[python block {i}]", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "MPFit(" in printed and "test_acc" in printed
    work = namespace["work"]
    env = {**os.environ, "WORK": str(work), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for block in _blocks("sh", "netsieve"):
        for line in filter(None, (ln.strip() for ln in block.splitlines())):
            run = subprocess.run(line, shell=True, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
            assert run.returncode == 0, f"{line}\n{run.stdout}\n{run.stderr}"
    assert (work / "filtered.safetensors").exists() and (work / "cli.html").read_text().startswith("<!DOCTYPE html>")
