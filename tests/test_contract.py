"""The contract: every name, default, check and result field is defined once, in the Rust core; the
Python layers sit on the public API. Each test pins one behaviour that used to differ between
layers (the issue's list), or checks the contract mechanically (stub, imports, module sizes)."""

from __future__ import annotations

import doctest
import inspect
import json
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import netsieve as ns
from netsieve import _netsieve
from netsieve._json import dumps
from netsieve.synthetic import bbp_threshold, planted_spikes

PACKAGE = Path(ns.__file__).parent


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


# -- names and defaults come from the core -----------------------------------------------------------


def test_names_are_the_cores():
    assert ns.SHRINK_METHODS == [
        "hard", "optimal_hard", "operator", "frobenius", "nuclear", "porter_thomas", "fraction", "optshrink"
    ]  # fmt: skip
    assert ns.BULK_MODELS == ["auto", "mp", "deformed"] and ns.DEFAULTS["bulk"] == "auto"
    import importlib

    shrink_module = importlib.import_module("netsieve.shrink")  # the module (ns.shrink is the function)

    assert shrink_module.METHODS is ns.SHRINK_METHODS
    assert set(ns.SHRINK_METHOD_OPTIONS) == set(ns.SHRINK_METHODS)
    assert ns.SIGMA_METHODS == ["quantile", "median"] and ns.DECOMPOSITIONS == ["auto", "gram", "svd"]
    assert ns.SPIKE_CONFIDENCES == {0.9: 0.4501, 0.95: 0.9793, 0.975: 1.4527, 0.99: 2.0234}
    assert ns.GOE_MEAN_RATIO == _netsieve.GOE_MEAN_RATIO and abs(ns.POISSON_MEAN_RATIO - (2 * np.log(2) - 1)) < 1e-15
    # No Python copy of a core table remains.
    sources = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    assert "2.0234" not in sources and "0.5307" not in sources


def test_cli_choices_are_the_cores():
    from netsieve.cli import build_parser

    filt = build_parser()._subparsers._group_actions[0].choices["filter"]
    choices = {a.dest: a.choices for a in filt._actions if a.choices}
    assert list(choices["method"]) == ns.SHRINK_METHODS
    assert list(choices["sigma_method"]) == ns.SIGMA_METHODS
    assert sorted(choices["spike_confidence"]) == sorted(ns.SPIKE_CONFIDENCES)
    assert list(choices["decomposition"]) == ns.DECOMPOSITIONS
    assert list(choices["bulk"]) == ns.BULK_MODELS


def test_one_default_for_every_shared_option():
    torch = pytest.importorskip("torch")
    import netsieve.torch as nt

    d = ns.DEFAULTS
    for func in (nt.analyze, nt.filter_model, nt.filter_state_dict):
        params = inspect.signature(func).parameters
        assert params["embeddings"].default is d["embeddings"] is False, func
        assert params["min_dim"].default == d["min_dim"] == 16, func
        assert params["errors"].default == d["errors"] == "raise", func
    a = inspect.signature(nt.analyze).parameters
    for name in ("spike_confidence", "decomposition", "window", "alpha", "min_tail", "min_span", "level_statistics"):
        assert a[name].default == d[name], name
    assert nt.MIN_DIM == d["min_dim"]
    del torch


def test_documented_defaults_match_the_cores():
    # Docstrings say "name : ..., default X"; X must be DEFAULTS[name] wherever the name is shared.
    shared = {"sigma_method", "spike_confidence", "decomposition", "errors", "alpha", "min_tail", "min_span"}
    checked = 0
    for name in ns.__all__:
        doc = getattr(getattr(ns, name), "__doc__", None) or ""
        for param, default in re.findall(r"^(\w+) : [^\n]*?, default ([^\s,]+)\s*$", doc, re.M):
            if param in shared:
                assert str(default).strip('"') == str(ns.DEFAULTS[param]), (name, param, default)
                checked += 1
    assert checked >= 10


# -- disagreements the contract removed --------------------------------------------------------------


def test_fit_mp_accepts_singular_values_in_any_order():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(300, 100))
    s = ns.singular_values(W)
    for order in (s[::-1], rng.permutation(s)):
        assert ns.fit_mp(order, shape=W.shape) == ns.fit_mp(s, shape=W.shape)
    lv = ns.level_statistics(s[::-1])
    assert lv.mean_ratio == ns.level_statistics(s).mean_ratio


def test_a_bad_sigma_method_names_sigma_method():
    W = np.random.default_rng(1).normal(size=(60, 30))
    for call in (lambda: ns.fit_mp(W, sigma_method="magic"), lambda: ns.shrink(W, sigma_method="magic"),
                 lambda: ns.analyze_spectra([W], sigma_method="magic")):  # fmt: skip
        with pytest.raises(ns.InvalidInputError, match=r"`sigma_method`.*'quantile', 'median'"):
            call()


def test_direct_is_an_alias_of_svd_everywhere():
    W = np.random.default_rng(2).normal(size=(80, 40))
    np.testing.assert_array_equal(ns.singular_values(W, "direct"), ns.singular_values(W, "svd"))
    assert ns.shrink_with_record(W, "hard", decomposition="direct")[1].decomposition == "svd"
    assert ns.analyze_spectra([W], decomposition="direct")[0].fit == ns.analyze_spectra([W], decomposition="svd")[0].fit
    assert ns.porter_thomas(W, decomposition="direct").boundary == ns.porter_thomas(W, decomposition="svd").boundary


def test_results_are_typed_records_not_dicts():
    rng = np.random.default_rng(3)
    W = planted_spikes(rng, 200, 100, [4 * bbp_threshold(200, 100)])
    logits, labels = rng.normal(size=(50, 4)), rng.integers(0, 4, 50)
    records = [
        ns.fit_mp(W), ns.level_statistics(W), ns.porter_thomas(W), ns.analyze_spectra([W])[0],
        ns.analyze_layers([W])[0], ns.shrink_with_record(W, "operator")[1], ns.margin_summary(ns.margins(logits, labels)),
        ns.gdv(rng.normal(size=(40, 3)), np.repeat([0, 1], 20), components=True),
    ]  # fmt: skip
    for rec in records:
        cls = type(rec)
        assert cls.__module__ == "netsieve" and cls.FIELDS
        d = rec.to_dict()
        assert list(d) == [f for f in cls.FIELDS if f in d]
        strict_json(dumps(d))
        again = pickle.loads(pickle.dumps(rec))
        assert again == rec and type(again) is cls
        assert cls(**{f: getattr(rec, f) for f in cls.FIELDS}) == rec
        with pytest.raises(AttributeError):
            setattr(rec, cls.FIELDS[0], None)  # immutable
        assert repr(rec).startswith(cls.__name__)
        arrays = [f for f in cls.FIELDS if isinstance(getattr(rec, f), np.ndarray)]
        for f in arrays:
            assert not getattr(rec, f).flags.writeable
            assert f not in rec.to_dict(arrays=False)


def test_the_batch_error_keeps_its_cause():
    good, bad = np.eye(10), np.full((10, 10), np.nan)
    with pytest.raises(ns.InvalidInputError, match=r"matrix 'bad': .*NaN") as info:
        ns.analyze_spectra({"good": good, "bad": bad})
    assert isinstance(info.value.__cause__, ns.InvalidInputError)
    out = ns.analyze_spectra({"good": good, "bad": bad}, errors="collect")
    assert out["good"].error is None and isinstance(out["bad"].error, ns.InvalidInputError)
    pairs = ns.shrink_many([good * 1.0 + np.random.default_rng(0).normal(size=(10, 10)), bad], "hard", errors="collect")
    assert pairs[1][0] is None and isinstance(pairs[1][1], ns.InvalidInputError)


def test_names_that_collide_after_str_are_an_error():
    with pytest.raises(ns.InvalidInputError, match="same name '1'"):
        ns.analyze_spectra({1: np.eye(5), "1": np.eye(5)})


def test_tensor_policy():
    torch = pytest.importorskip("torch")
    W = torch.randn(60, 40, generator=torch.Generator().manual_seed(0))
    s = ns.singular_values(W)
    assert isinstance(s, torch.Tensor) and s.dtype == torch.float64
    assert isinstance(ns.singular_values(W.numpy()), np.ndarray)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        out = ns.shrink(W.to(dtype), "hard", sigma=1.0)
        assert isinstance(out, torch.Tensor) and out.dtype == dtype and out.shape == W.shape
    m = ns.margins(W[:, :5], torch.zeros(60, dtype=torch.int64))
    assert isinstance(m, torch.Tensor) and m.dtype == torch.float32
    idx = ns.lowest_margins(m, 3)
    assert isinstance(idx, torch.Tensor) and idx.dtype == torch.int64
    assert isinstance(ns.mp_pdf(torch.tensor([1.0, 2.0]), (100, 50), 0.2), torch.Tensor)
    assert isinstance(ns.mp_pdf([1.0, 2.0], (100, 50), 0.2), np.ndarray)
    assert isinstance(ns.mp_pdf(1.0, (100, 50), 0.2), float)
    with pytest.raises(ns.InvalidInputError, match="meta device"):
        ns.singular_values(torch.empty(10, 10, device="meta"))


@pytest.mark.skipif("torch" not in sys.modules and not __import__("importlib").util.find_spec("torch"), reason="torch")
def test_tensor_policy_on_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    W = torch.randn(60, 40, device="cuda")
    out = ns.shrink(W, "hard", sigma=1.0)
    assert out.device == W.device and out.dtype == W.dtype
    assert ns.singular_values(W).device == W.device


def test_deprecated_names_still_work_with_a_warning():
    W = np.random.default_rng(4).normal(size=(80, 40))
    with pytest.deprecated_call(match="sigma_method"):
        fit = ns.fit_mp(W, method="median")
    assert fit.sigma_method == "median"
    with pytest.deprecated_call(match="decomposition"):
        ns.singular_values(W, method="svd")
    with pytest.deprecated_call(match="decomposition"):
        ns.analyze_spectra([W], svd_method="svd")
    with pytest.deprecated_call(match="level_statistics"):
        ls = ns.level_spacing(ns.singular_values(W), a=5)
    assert ls == ns.level_statistics(ns.singular_values(W), window=5)
    with pytest.deprecated_call(match="LevelStatistics"):
        assert ns.LevelSpacingResult is ns.LevelStatistics
    with pytest.deprecated_call(match="sigma_method"):
        assert fit.method == "median"
    with pytest.deprecated_call(match="level_statistics"):
        assert ns.analyze_spectra([W])[0].level_spacing is not None
    rec = ns.shrink_with_record(W, "hard")[1]
    with pytest.deprecated_call(match="arrays"):
        assert "singular_values" not in rec.to_dict(spectra=False)
    with pytest.raises(TypeError, match="both"):
        ns.fit_mp(W, method="median", sigma_method="quantile")


def test_strict_scalars_and_shapes():
    W = np.random.default_rng(5).normal(size=(40, 20))
    for bad in ({"spike_confidence": "0.99"}, {"spike_confidence": True}):
        with pytest.raises(TypeError):
            ns.fit_mp(W, **bad)
    with pytest.raises(TypeError):
        ns.porter_thomas(W, window="3")
    with pytest.raises(TypeError):
        ns.porter_thomas(W, alpha="0.05")
    with pytest.raises(TypeError):
        ns.shrink(W, "fraction", fraction="0.5")
    with pytest.raises(TypeError):
        ns.shrink(W, "fraction", fraction=True)
    with pytest.raises(TypeError):
        ns.lowest_margins([1.0, 2.0], fraction=True)
    with pytest.raises(ns.InvalidInputError, match="shape"):
        ns.mp_pdf(1.0, (2.5, 40), 1.0)
    with pytest.raises(ns.InvalidInputError, match="too large"):
        ns.mp_pdf(1.0, (10**30, 40), 1.0)
    with pytest.raises(ns.InvalidInputError, match="non-negative"):
        ns.porter_thomas(W, window=-1)


# -- JSON ----------------------------------------------------------------------------------------------


def test_filter_report_json_is_strict_with_infinities(tmp_path):
    torch = pytest.importorskip("torch")
    from netsieve.cli import main

    # A constant-plus-noise layer and sigma far below its scale: thresholds and records hold ±inf/NaN.
    rng = np.random.default_rng(6)
    sd = {"a.weight": torch.tensor(rng.normal(size=(64, 32)), dtype=torch.float32),
          "b.weight": torch.tensor(planted_spikes(rng, 64, 32, [1e30]), dtype=torch.float32)}  # fmt: skip
    from safetensors.torch import save_file

    src = tmp_path / "m.safetensors"
    save_file(sd, str(src))
    for report in ("r.json", "r.csv"):
        assert main(["filter", str(src), str(tmp_path / f"o{report}.safetensors"), "--method", "fraction",
                     "--fraction", "0.5", "--report", str(tmp_path / report)]) == 0  # fmt: skip
    data = strict_json((tmp_path / "r.json").read_text())
    assert [row["name"] for row in data["layers"]] == ["a.weight", "b.weight"]
    assert (tmp_path / "r.csv").read_text().splitlines()[0].startswith("name,")
    # The writer itself: NaN → null, ±inf → strings.
    from netsieve._json import dumps

    assert strict_json(dumps({"x": [float("nan"), float("inf"), -float("inf"), np.float32(1.5)]})) == {
        "x": [None, "inf", "-inf", 1.5]
    }


# -- the contract, mechanically -------------------------------------------------------------------------


def test_stub_matches_the_module():
    pytest.importorskip("mypy")
    run = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--ignore-disjoint-bases", "netsieve._netsieve"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_torch_layer_uses_only_the_public_api():
    offenders = [str(p.relative_to(PACKAGE)) for p in (PACKAGE / "torch").rglob("*.py") if "_netsieve" in p.read_text()]
    assert offenders == []


def test_no_module_is_much_over_400_lines():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {k: v for k, v in sizes.items() if v > 450} == {}


def test_torch_is_imported_only_by_the_modules_that_face_it():
    run = subprocess.run([sys.executable, "-c", "import sys, netsieve, netsieve.cli, netsieve.synthetic;"
                          "print('torch' in sys.modules, 'matplotlib' in sys.modules)"],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.stdout.split() == ["False", "False"], run.stderr


PUBLIC_FUNCTIONS = [name for name in ns.__all__ if callable(getattr(ns, name)) and not isinstance(getattr(ns, name), type)]


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_functions_have_numpydoc_sections_and_examples(name):
    doc = inspect.getdoc(getattr(ns, name)) or ""
    for section in ("Parameters", "Returns", "Raises", "Examples"):
        assert re.search(rf"^{section}\n-+$", doc, re.M), f"{name}: no {section} section"


def _doctests(objects):
    finder, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    ran = 0
    for name, obj in objects:
        doc = inspect.getdoc(obj) or ""
        test = finder.get_doctest(doc, {}, name, None, 0)
        if test.examples:
            with warnings.catch_warnings():
                warnings.simplefilter("error", DeprecationWarning)
                result = runner.run(test)
            assert result.failed == 0, f"{name}: doctest failed"
            ran += 1
    return ran


def test_docstring_examples_run():
    objects = [(n, getattr(ns, n)) for n in ns.__all__] + [("synthetic.planted_spikes", ns.synthetic.planted_spikes)]
    assert _doctests(objects) >= len(PUBLIC_FUNCTIONS)


def test_torch_docstring_examples_run():
    pytest.importorskip("torch")
    import netsieve.torch as nt

    public = [(n, getattr(nt, n)) for n in nt.__all__ if callable(getattr(nt, n))]
    assert _doctests(public) >= 4
