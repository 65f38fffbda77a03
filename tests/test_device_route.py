"""The torch route of the decompositions (``analyze(..., device=...)``): singular values (and
vectors) from batched ``torch.linalg`` calls, every field of the row from the core
(:func:`netsieve.analyze_decomposed_layers`). Exercised on the CPU (``device="cpu"``); the same
comparison on CUDA runs where torch sees a GPU and is skipped otherwise."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import netsieve as ns  # noqa: E402
from netsieve import InvalidInputError  # noqa: E402
from netsieve.torch import analyze  # noqa: E402

from _tiny_llama import tiny_llama  # noqa: E402

RTOL = 1e-9  # the documented tolerance (netsieve.torch.device_route), relative to the largest singular value


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny_llama(tmp_path_factory, shard_bytes=400_000)


def _agree(got, want) -> None:
    assert [r.name for r in got] == [r.name for r in want]
    for a, b in zip(got, want):
        da, db = a.to_dict(arrays=False), b.to_dict(arrays=False)
        for key, value in db.items():
            if isinstance(value, float):
                assert da[key] == pytest.approx(value, rel=1e-6, abs=1e-9), (a.name, key)
            else:
                assert da[key] == value, (a.name, key)
        s_a, s_b = np.asarray(a.singular_values), np.asarray(b.singular_values)
        assert np.max(np.abs(s_a - s_b)) <= RTOL * s_b[0]


@pytest.mark.parametrize("porter_thomas", [False, True])
def test_torch_route_on_the_cpu_gives_the_core_rows(llama, porter_thomas):
    want = analyze(llama, porter_thomas=porter_thomas)
    got = analyze(llama, porter_thomas=porter_thomas, device="cpu")
    _agree(got, want)
    assert {r.n_spikes for r in got} == {2} and got.options["device"] == "cpu"


def test_per_head_and_failures_on_the_torch_route(llama):
    _agree(analyze(llama, porter_thomas=False, per_head=True, device="cpu"), analyze(llama, porter_thomas=False, per_head=True))
    bad = {"a.weight": torch.randn(80, 40), "b.weight": torch.randn(80, 40)}
    bad["b.weight"][1, 2] = float("inf")
    rows = analyze(bad, device="cpu", errors="collect", porter_thomas=False).rows
    assert rows[0].ok and not rows[1].ok and rows[1].error == analyze(bad, errors="collect", porter_thomas=False).rows[1].error


def test_decomposed_layers_binding_checks_its_input():
    w = np.random.default_rng(0).normal(size=(60, 30))
    s = np.linalg.svd(w, compute_uv=False)
    with pytest.raises(InvalidInputError, match="30 singular values"):
        ns.analyze_decomposed_layers({"w": s[:20]}, [(60, 30)])
    with pytest.raises(InvalidInputError, match="vectors"):
        ns.analyze_decomposed_layers({"w": s}, [(60, 30)], porter_thomas=True)
    with pytest.raises(InvalidInputError, match="shapes"):
        ns.analyze_decomposed_layers({"w": s}, [(60, 30), (3, 3)])
    rows = ns.analyze_decomposed_layers({"w": s[::-1].copy()}, [(60, 30)], errors="collect")
    assert not rows["w"].ok and "descending" in rows["w"].error


def test_bad_devices():
    with pytest.raises(InvalidInputError, match="not a torch device"):
        analyze({"w": torch.randn(40, 20)}, device="gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="no CUDA device"):
            analyze({"w": torch.randn(40, 20)}, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("porter_thomas", [False, True])
def test_cuda_gives_the_core_rows(llama, porter_thomas):
    _agree(analyze(llama, porter_thomas=porter_thomas, device="cuda"), analyze(llama, porter_thomas=porter_thomas))
