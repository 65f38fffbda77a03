"""``device=`` beyond analyze: compare (the decompositions of W_A, W_B and Δ) and the filters
(``filter_state_dict``, ``filter_checkpoint`` of a file and of a folder of shards) on the torch
route, against the core's own route to the documented tolerances (netsieve.torch.device_route,
netsieve.torch.device_filter); and the core's ``shrink_decomposed`` behind the filters. Run on the
CPU (``device="cpu"``); the CUDA cases skip without CUDA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

import netsieve as ns  # noqa: E402
from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import compare, filter_checkpoint, filter_state_dict, open_weights, save_weights  # noqa: E402

from _examples import load  # noqa: E402

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))]
RTOL = 1e-9  # relative to the largest singular value / entry (the documented tolerance)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """A generated Llama-shape checkpoint (A) and a fine-tuned copy (B: low-rank updates plus noise)."""
    root = tmp_path_factory.mktemp("pair")
    load("make_llama_checkpoint", "benches").write_llama_checkpoint(
        root / "a", blocks=2, rank=2, shard_bytes=400_000, hidden=128, intermediate=256, vocab=200, heads=4, kv_heads=2
    )
    with open_weights(root / "a") as src:
        tensors = {n: src.get(n).float() for n in src.names()}
    g = torch.Generator().manual_seed(11)
    tuned = {}
    for n, t in tensors.items():
        if t.ndim == 2 and "embed" not in n:
            t = t + 0.002 * torch.randn(t.shape, generator=g) + 0.05 * torch.randn(t.shape[0], 2, generator=g) @ torch.randn(
                2, t.shape[1], generator=g) / t.shape[1] ** 0.5  # fmt: skip
        tuned[n] = t
    (root / "b").mkdir()
    (root / "b" / "config.json").write_text((root / "a" / "config.json").read_text())
    save_weights(tuned, root / "b" / "model.safetensors")
    return root / "a", root / "b"


def _same_fields(got: dict, want: dict, where: str) -> None:
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-9), (where, key)
        elif not isinstance(value, (dict, list)):
            assert got[key] == value, (where, key)


@pytest.mark.parametrize("device", DEVICES)
def test_compare_on_the_torch_route_gives_the_core_rows(pair, device):
    want = compare(*pair)
    got = compare(*pair, device=device)
    assert [r.name for r in got] == [r.name for r in want] and got.options["device"] == device
    assert want.summary["n_compared"] == len(want) and {r.update_spikes for r in want} == {2}
    for a, b in zip(got, want):
        _same_fields(a.to_dict(arrays=False), b.to_dict(arrays=False), a.name)
        s_a, s_b = np.asarray(a.update.singular_values), np.asarray(b.update.singular_values)
        assert np.max(np.abs(s_a - s_b)) <= RTOL * s_b[0]


def test_compare_device_keeps_the_special_rows():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(80, 40, generator=g)
    bad = w.clone()
    bad[0, 0] = float("nan")
    a = {"same.weight": w, "nan.weight": w, "lora.weight": w, "only_a.weight": w}
    b = {"same.weight": w.clone(), "nan.weight": bad, "lora.weight": w + torch.randn(80, 1, generator=g) @ torch.randn(1, 40, generator=g)}
    got, want = compare(a, b, device="cpu"), compare(a, b)
    assert [(r.name, r.status, r.error) for r in got] == [(r.name, r.status, r.error) for r in want]
    assert got["same.weight"].update_spikes == 0 and got["same.weight"].update is None  # Δ = 0: nothing to fit
    assert got["lora.weight"].update_spikes == want["lora.weight"].update_spikes and got["nan.weight"].status == "error"
    with pytest.raises(InvalidInputError, match="not a torch device"):
        compare(a, b, device="tpu9")


@pytest.mark.parametrize("method", ["hard", "operator", "optimal_hard", "fraction", "porter_thomas", "optshrink"])
def test_shrink_decomposed_gives_the_records_of_shrink(method):
    rng = np.random.default_rng(5)
    w = rng.normal(size=(300, 120)) + 40 * np.outer(rng.normal(size=300), rng.normal(size=120)) / 190
    options = {"fraction": 0.5} if method == "fraction" else {}
    filtered, want = ns.shrink_with_record(w, method, decomposition="svd", **options)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    got = ns.shrink_decomposed(s, w.shape, method, vectors=(u, vt.T) if method == "porter_thomas" else None, **options)
    assert got.decomposition == "given" and got.kept_rank == want.kept_rank and got.n_spikes == want.n_spikes
    assert np.allclose(got.shrunk_singular_values, want.shrunk_singular_values, rtol=0, atol=RTOL * s[0])
    assert np.allclose((u * got.shrunk_singular_values) @ vt, filtered, rtol=0, atol=RTOL * s[0])


def test_shrink_decomposed_checks_its_input():
    s = np.linalg.svd(np.random.default_rng(0).normal(size=(60, 30)), compute_uv=False)
    with pytest.raises(InvalidInputError, match="30 singular values"):
        ns.shrink_decomposed(s[:20], (60, 30), "hard")
    with pytest.raises(InvalidInputError, match="descending"):
        ns.shrink_decomposed(s[::-1].copy(), (60, 30), "hard")
    with pytest.raises(InvalidInputError, match="singular vectors"):
        ns.shrink_decomposed(s, (60, 30), "porter_thomas")
    with pytest.raises(InvalidInputError, match="U must be 60×30"):
        ns.shrink_decomposed(s, (60, 30), "porter_thomas", vectors=(np.eye(30), np.eye(30)))
    with pytest.raises(TypeError, match="unknown option"):
        ns.shrink_decomposed(s, (60, 30), "hard", decomposition="svd")


def _same_filter(got, want, where: str) -> None:
    assert got.dtype == want.dtype, where
    scale = float(want.double().abs().max())
    tol = RTOL * scale if want.dtype == torch.float64 else 2 * torch.finfo(want.dtype).eps * scale
    assert float((got.double() - want.double()).abs().max()) <= tol, where


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", ["hard", "operator", "porter_thomas", "fraction"])
def test_filter_state_dict_on_the_torch_route(device, method):
    g = torch.Generator().manual_seed(4)
    sd = {"a.weight": torch.randn(200, 100, generator=g, dtype=torch.float64),
          "b.weight": torch.randn(200, 100, generator=g, dtype=torch.float64),
          "c.weight": torch.randn(64, 150, generator=g), "d.bias": torch.zeros(5)}  # fmt: skip
    sd["a.weight"] += 3 * torch.randn(200, 1, generator=g, dtype=torch.float64) @ torch.randn(1, 100, generator=g, dtype=torch.float64)
    options = {"fraction": 0.3} if method == "fraction" else {}
    want, rep_want = filter_state_dict(sd, method, **options)
    got, rep_got = filter_state_dict(sd, method, device=device, **options)
    for n in ("a.weight", "b.weight", "c.weight"):
        _same_filter(got[n], want[n], n)
        r_got, r_want = rep_got[n].record, rep_want[n].record
        assert (r_got.kept_rank, r_got.n_spikes, r_got.pt_boundary) == (r_want.kept_rank, r_want.n_spikes, r_want.pt_boundary)
        assert r_got.decomposition == "given"
    assert got["d.bias"] is sd["d.bias"]


def test_filter_checkpoint_folder_and_file_on_the_torch_route(pair, tmp_path):
    a, _ = pair
    filter_checkpoint(a, tmp_path / "core", "operator")
    report = filter_checkpoint(a, tmp_path / "torch", "operator", device="cpu")
    assert sorted(p.name for p in (tmp_path / "torch").iterdir()) == sorted(p.name for p in (tmp_path / "core").iterdir())
    with open_weights(tmp_path / "core") as want, open_weights(tmp_path / "torch") as got:
        assert want.names() == got.names()
        for n in want.names():
            _same_filter(got.get(n), want.get(n), n)
    assert all(layer.record.decomposition == "given" for layer in report)
    filter_checkpoint(a, tmp_path / "one.safetensors", "hard", device="cpu", layers="*.mlp.*")
    with open_weights(tmp_path / "one.safetensors") as got:
        assert len(got.names()) == len(open_weights(a).names())
    with pytest.raises(InvalidInputError, match="not a torch device"):
        filter_checkpoint(a, tmp_path / "never", "hard", device="gpu0")
    assert not (tmp_path / "never").exists()


def test_filter_device_with_nan_names_the_problem():
    sd = {"w": torch.randn(64, 32)}
    sd["w"][1, 1] = float("inf")
    _, rep = filter_state_dict(sd, "hard", device="cpu", errors="collect")
    _, rep_core = filter_state_dict(sd, "hard", errors="collect")
    assert [n for n, _ in rep.failed] == ["w"] and rep.failed == rep_core.failed


def test_cli_device_flags(pair, tmp_path):
    a, b = pair
    assert cli_main(["compare", str(a), str(b), "--device", "cpu", "--csv", str(tmp_path / "c.csv"), "-q"]) == 0
    assert cli_main(["filter", str(a), str(tmp_path / "f"), "--method", "hard", "--device", "cpu", "-q"]) == 0
    assert (tmp_path / "f" / "model.safetensors.index.json").is_file()
    assert cli_main(["analyze", str(a), "--device", "cpu", "--no-porter-thomas", "--csv", str(tmp_path / "a.csv"), "-q"]) == 0
    assert len((tmp_path / "a.csv").read_text().splitlines()) == 1 + 2 * 7 + 1  # 7 per block, lm_head
