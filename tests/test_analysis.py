"""Whole-model reports: netsieve.torch.analyze, Report exports, bad input, the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402

import netsieve  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import Report, analyze  # noqa: E402


def planted(n: int, m: int, strengths, seed: int = 0, sigma: float = 1.0) -> np.ndarray:
    """Gaussian noise σ plus rank-one spikes of strength d·σ(NM)^¼ (d > 1: above the BBP threshold)."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, sigma, size=(n, m))
    bbp = sigma * (n * m) ** 0.25
    for d in strengths:
        u = rng.normal(size=n)
        v = rng.normal(size=m)
        W += d * bbp * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    return W


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(300, 40)
        self.conv = torch.nn.Conv2d(3, 64, 3)
        self.fc1 = torch.nn.Linear(120, 200)
        self.norm = torch.nn.LayerNorm(200)
        self.attn = torch.nn.MultiheadAttention(40, 4)
        self.head = torch.nn.Linear(200, 5)


# -- planted spikes ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,strengths", [((600, 300), [3.0, 4.0, 6.0]), ((400, 400), [2.5, 5.0]), ((250, 500), [4.0])])
def test_planted_spikes_sigma_and_count(shape, strengths):
    sigma = 0.05
    W = planted(*shape, strengths, seed=3, sigma=sigma)
    report = analyze({"layer.weight": torch.tensor(W, dtype=torch.float32)}, porter_thomas=True)
    r = report["layer.weight"]
    assert r.ok, r.error
    assert r.n_spikes == len(strengths)
    assert abs(r.sigma - sigma) / sigma < 0.03
    assert r.porter_thomas_boundary is not None  # delocalised (Gaussian) spike vectors look random
    assert r.mp_soft_rank < 1.0
    # norms agree with numpy
    s = np.linalg.svd(W.astype(np.float32).astype(np.float64), compute_uv=False)
    assert r.spectral_norm == pytest.approx(s[0], rel=1e-5)
    assert r.frobenius_norm == pytest.approx(np.sqrt((s**2).sum()), rel=1e-5)
    assert r.stable_rank == pytest.approx((s**2).sum() / s[0] ** 2, rel=1e-4)
    p = s / s.sum()
    assert r.effective_rank == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-4)
    assert r.mp_soft_rank == pytest.approx((r.bulk_max / s[0]) ** 2, rel=1e-9)


def test_localised_spikes_give_porter_thomas_boundary():
    rng = np.random.default_rng(5)
    n, m = 500, 250
    W = rng.normal(size=(n, m))
    for d in (6.0, 9.0):
        u = np.zeros(n)
        u[rng.choice(n, 8, replace=False)] = 1.0
        v = np.zeros(m)
        v[rng.choice(m, 8, replace=False)] = 1.0
        W += d * (n * m) ** 0.25 * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    r = analyze({"w": torch.tensor(W)})["w"]
    assert r.n_spikes == 2
    assert r.porter_thomas_boundary == 2


def test_pure_noise_has_no_spikes_and_soft_rank_near_one():
    W = np.random.default_rng(1).normal(size=(800, 400))
    r = analyze({"w": torch.tensor(W)})["w"]
    assert r.n_spikes == 0
    assert 0.9 < r.mp_soft_rank < 1.15
    assert 0.45 < r.mean_r < 0.6  # GOE-like bulk


# -- power-law tail -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(1000, 500), (500, 500), (1536, 384), (300, 120)])
def test_pure_noise_tail_is_not_power_law(seed, shape):
    """weightwatcher reports α from 7 to 49 on Gaussian matrices; netsieve says 'not a power law'."""
    W = np.random.default_rng(seed).normal(size=shape)
    r = analyze({"w": torch.tensor(W)}, porter_thomas=False)["w"]
    assert r.alpha is not None and r.alpha_n_tail >= 10
    assert r.power_law_like is False, (r.alpha, r.alpha_likelihood_ratio, r.alpha_xmax / r.alpha_xmin)
    assert r.alpha_note


def heavy_tailed(n: int, m: int, tail_index: float, seed: int) -> np.ndarray:
    """A matrix whose ESD tail is a power law: i.i.d. Pareto-tailed entries with P(|x|>t) ~ t^-μ.

    For μ < 2 (Lévy regime) the ESD of WᵀW has a power-law tail with exponent α = 1 + μ/2
    (Martin & Mahoney 2021, Table 3 / Burda et al.).
    """
    rng = np.random.default_rng(seed)
    x = rng.pareto(tail_index, size=(n, m)) + 1.0
    return x * rng.choice([-1.0, 1.0], size=(n, m))


@pytest.mark.parametrize("mu", [1.0, 1.5])
def test_heavy_tailed_matrix_gives_alpha_near_truth(mu):
    alphas = []
    for seed in range(3):
        W = heavy_tailed(1000, 500, mu, seed)
        r = analyze({"w": torch.tensor(W)}, porter_thomas=False)["w"]
        assert r.power_law_like, (r.alpha, r.alpha_likelihood_ratio)
        alphas.append(r.alpha)
    truth = 1 + mu / 2
    assert abs(np.median(alphas) - truth) < 0.35, (alphas, truth)


# -- layer selection and skipped tensors -------------------------------------------------------


def test_module_layers_and_skipped_reasons():
    torch.manual_seed(0)
    # The defaults (min_dim 16, no embeddings) would skip the small head and the embedding.
    report = analyze(Net(), porter_thomas=False, embeddings=True, min_dim=2)
    names = [r.name for r in report]
    assert "conv.weight" in names and "fc1.weight" in names and "emb.weight" in names
    assert {"attn.in_proj_weight[q]", "attn.in_proj_weight[k]", "attn.in_proj_weight[v]"} <= set(names)
    assert (report["conv.weight"].rows, report["conv.weight"].cols) == (64, 27)
    reasons = {s.name: s.reason for s in report.skipped}
    assert "1-D" in reasons["fc1.bias"]
    assert "norm scale" in reasons["norm.weight"]
    assert report["head.weight"].ok  # 5×200 analysed (small but valid)
    no_emb = analyze(Net(), embeddings=False, porter_thomas=False, min_dim=2)
    assert "emb.weight" not in [r.name for r in no_emb]
    assert "embedding" in {s.name: s.reason for s in no_emb.skipped}["emb.weight"]


def test_conv_slices_and_layer_globs():
    report = analyze(Net(), layers=["conv"], conv_slices=True, porter_thomas=False, min_dim=2)
    assert [r.name for r in report] == [f"conv.weight[k={i},{j}]" for i in range(3) for j in range(3)]
    assert all(r.rows == 64 and r.cols == 3 for r in report)


def test_nan_layer_reported_others_continue():
    sd = {"a.weight": torch.randn(100, 50), "b.weight": torch.randn(80, 40), "c.weight": torch.randn(60, 30)}
    sd["b.weight"][3, 4] = float("nan")
    sd["c.weight"][0, 0] = float("inf")
    with pytest.raises(netsieve.InvalidInputError, match=r"'b.weight'.*NaN.*row 3, column 4"):
        analyze(sd)  # errors="raise" is the default
    report = analyze(sd, errors="collect")
    assert report["a.weight"].ok
    assert "NaN" in report["b.weight"].error and "1 non-finite" in report["b.weight"].error
    assert "Inf" in report["c.weight"].error
    assert report.summary["n_layers"] == 1 and report.summary["n_errors"] == 2
    assert "error" in str(report)


def test_state_dict_non_tensors_listed_and_scalars_skipped():
    sd = {"w.weight": torch.randn(30, 20), "step": 5, "scale": torch.tensor(2.0), "b": torch.randn(7)}
    report = analyze(sd)
    reasons = {s.name: s.reason for s in report.skipped}
    assert "not a tensor" in reasons["step"]
    assert reasons["scale"] == "scalar"
    assert "1-D" in reasons["b"]
    assert [r.name for r in report] == ["w.weight"]


def test_empty_model_gives_empty_report():
    report = analyze(torch.nn.Sequential(), porter_thomas=False)
    assert len(report) == 0 and report.summary["n_layers"] == 0
    assert "0 layers analysed" in str(report)


def test_bad_arguments():
    with pytest.raises(TypeError, match="nn.Module"):
        analyze(42)
    with pytest.raises(netsieve.InvalidInputError, match="min_tail"):
        analyze({}, min_tail=1)
    with pytest.raises(netsieve.InvalidInputError, match="spike_confidence"):
        analyze({}, spike_confidence=0.5)


# -- files ---------------------------------------------------------------------------------------


def test_safetensors_file_and_folder_of_shards(tmp_path):
    torch.manual_seed(0)
    a = {"enc.0.weight": torch.randn(120, 60), "enc.0.bias": torch.randn(120)}
    b = {"enc.1.weight": torch.randn(60, 120).to(torch.bfloat16)}
    folder = tmp_path / "shards"
    folder.mkdir()
    save_file(a, str(folder / "model-00001-of-00002.safetensors"))
    save_file(b, str(folder / "model-00002-of-00002.safetensors"))
    report = analyze(folder, max_group_bytes=1)  # every layer its own group
    assert [r.name for r in report] == ["enc.0.weight", "enc.1.weight"]
    assert all(r.ok for r in report)
    direct = analyze({"enc.0.weight": a["enc.0.weight"]})
    assert report["enc.0.weight"].sigma == pytest.approx(direct["enc.0.weight"].sigma, rel=1e-12)
    single = analyze(folder / "model-00001-of-00002.safetensors")
    assert [r.name for r in single] == ["enc.0.weight"]


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_duplicate_tensor_names_across_files_are_an_error_naming_both(tmp_path, suffix, capsys):
    folder = tmp_path / "shards"
    folder.mkdir()
    first, second = {"w": torch.randn(60, 40), "a": torch.randn(60, 40)}, {"w": torch.randn(60, 40)}
    for name, tensors in (("part-1", first), ("part-2", second)):
        if suffix == ".safetensors":
            save_file(tensors, str(folder / f"part{name[-2:]}{suffix}"))
        else:
            torch.save(tensors, folder / f"part{name[-2:]}{suffix}")
    with pytest.raises(netsieve.InvalidInputError, match=rf"'w' is in both .*part-1{suffix} and .*part-2{suffix}"):
        analyze(folder)
    out = tmp_path / "out.safetensors"
    assert cli_main(["filter", str(folder), str(out)]) == 1
    assert "part-1" in capsys.readouterr().err and not out.exists()


def _hf_folder(tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    weights = {"enc.weight": torch.tensor(planted(120, 60, [5.0]), dtype=torch.float32), "enc.bias": torch.zeros(120)}
    save_file(weights, str(folder / "model.safetensors"))
    torch.save(weights, folder / "pytorch_model.bin")  # the same weights in the old format
    torch.save({"lr": 0.1}, folder / "training_args.bin")
    (folder / "config.json").write_text("{}")
    (folder / ".cache").mkdir()
    (folder / "model-00002.safetensors").symlink_to(tmp_path / "gone.safetensors")  # e.g. a blob not downloaded
    return folder


def test_folder_files_not_read_are_listed_with_their_reason(tmp_path, capsys):
    folder = _hf_folder(tmp_path)
    report = analyze(folder)
    assert [r.name for r in report] == ["enc.weight"]
    files = {Path(s.name).name: s.reason for s in report.skipped if s.kind == "file"}
    assert set(files) == {".cache", "config.json", "pytorch_model.bin", "training_args.bin", "model-00002.safetensors"}
    assert files["model-00002.safetensors"] == "file not read: broken symbolic link"
    assert "only the .safetensors files are read" in files["pytorch_model.bin"]
    assert "model config (read for the layout)" in files["config.json"] and "trainer state" in files["training_args.bin"]
    assert "folder" in files[".cache"]
    as_json = report.to_dict()["skipped"]
    assert {"kind": "file", "reason": files["config.json"]}.items() <= next(
        s for s in as_json if s["name"].endswith("config.json")).items()
    assert "pytorch_model.bin (file)" in str(report)
    assert cli_main(["analyze", str(folder)]) == 0
    assert "pytorch_model.bin" in capsys.readouterr().out
    assert cli_main(["analyze", str(folder), "--quiet"]) == 0
    assert "5 files not read" in capsys.readouterr().err


def test_filter_lists_the_files_it_did_not_read(tmp_path, capsys):
    from netsieve.torch import filter_checkpoint

    folder = _hf_folder(tmp_path)
    out, rep = tmp_path / "out.safetensors", tmp_path / "r.json"
    report = filter_checkpoint(folder, out, "hard")
    assert {Path(s.name).name for s in report.skipped if s.kind == "file"} >= {"pytorch_model.bin", "config.json"}
    assert cli_main(["filter", str(folder), str(out), "--overwrite", "--report", str(rep)]) == 0
    printed = capsys.readouterr().out
    assert "files not read (5)" in printed and "pytorch_model.bin" in printed
    skipped = json.loads(rep.read_text())["skipped"]
    assert any(s["kind"] == "file" and s["name"].endswith("pytorch_model.bin") for s in skipped)


def test_torch_only_folder_reads_weights_and_lists_the_rest(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    torch.save({"fc.weight": torch.randn(64, 32)}, folder / "pytorch_model.bin")
    torch.save({"state": {}, "param_groups": []}, folder / "optimizer.pt")
    torch.save({"epoch": 3}, folder / "extra.pt")  # loads safely but holds no tensors
    (folder / "notes.txt").write_text("hi")
    report = analyze(folder)
    assert [r.name for r in report] == ["fc.weight"]
    files = {Path(s.name).name: s.reason for s in report.skipped if s.kind == "file"}
    assert files.keys() == {"optimizer.pt", "extra.pt", "notes.txt"}
    assert "holds no state dict" in files["extra.pt"] and "trainer state" in files["optimizer.pt"]


def test_folder_without_weight_files_names_what_it_holds(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(netsieve.InvalidInputError, match=r"no \.safetensors .*config\.json"):
        analyze(folder)


def test_corrupt_and_truncated_safetensors(tmp_path):
    good = tmp_path / "good.safetensors"
    save_file({"w": torch.randn(50, 40)}, str(good))
    data = good.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a safetensors file at all")
    for path in (truncated, garbage):
        with pytest.raises(netsieve.InvalidInputError, match="safetensors"):
            analyze(path)
        assert cli_main(["analyze", str(path), "--quiet"]) == 1


def test_pickle_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"w": torch.randn(5, 5), "payload": Evil()}, str(path))
    with pytest.raises(netsieve.InvalidInputError, match="weights_only"):
        analyze(path)


def test_torch_checkpoint_with_weights_only(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {"fc.weight": torch.randn(64, 32)}}, str(path))
    report = analyze(path)
    assert [r.name for r in report] == ["fc.weight"] and report[0].ok


def test_only_1d_tensors_nothing_analysed(tmp_path, capsys):
    path = tmp_path / "vectors.safetensors"
    save_file({"bias": torch.randn(10), "scale": torch.randn(3)}, str(path))
    report = analyze(path)
    assert len(report) == 0 and len(report.skipped) == 2
    assert cli_main(["analyze", str(path)]) == 1
    err = capsys.readouterr().err
    assert "nothing could be analysed" in err and "1-D" in err


# -- exports ---------------------------------------------------------------------------------------


def test_exports_csv_json_dataframe(tmp_path):
    sd = {"a.weight": torch.tensor(planted(300, 150, [4.0], seed=1)), "b.weight": torch.randn(100, 50)}
    sd["b.weight"][0, 0] = float("nan")
    report = analyze(sd, errors="collect")
    out = tmp_path / "r.csv"
    report.to_csv(out)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["name"] for r in rows] == ["a.weight", "b.weight"]
    assert rows[0]["n_spikes"] == "1" and rows[1]["error"]
    j = json.loads(report.to_json(tmp_path / "r.json"))
    assert j == json.loads((tmp_path / "r.json").read_text())
    assert j["layers"][0]["n_spikes"] == 1 and j["summary"]["n_errors"] == 1
    assert "singular_values" in report.to_dict(arrays=True)["layers"][0]
    assert not list(tmp_path.glob(".*.tmp"))
    pd = pytest.importorskip("pandas")
    df = report.to_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df["name"]) == ["a.weight", "b.weight"]
    with pytest.raises(FileNotFoundError):
        report.to_csv(tmp_path / "missing" / "r.csv")


def test_plots(tmp_path):
    pytest.importorskip("matplotlib")
    report = analyze({"a.weight": torch.tensor(planted(300, 150, [4.0, 6.0], seed=2))})
    ax = report.plot_esd("a.weight")
    assert len(ax.lines) >= 3  # MP density, threshold, spikes
    report.plot_tail(0)
    files = report.save_plots(tmp_path / "plots")
    assert {p.name for p in files} == {"summary.png", "a.weight.png"}
    assert all(p.stat().st_size > 1000 for p in files)


# -- CLI ------------------------------------------------------------------------------------------


def test_cli_analyze_writes_outputs(tmp_path, capsys):
    path = tmp_path / "m.safetensors"
    save_file({"fc.weight": torch.tensor(planted(200, 100, [5.0]), dtype=torch.float32), "fc.bias": torch.randn(200)}, str(path))
    code = cli_main(["analyze", str(path), "--csv", str(tmp_path / "o.csv"), "--json", str(tmp_path / "o.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert "fc.weight" in out and "fc.bias" in out  # skipped list is printed
    assert json.loads((tmp_path / "o.json").read_text())["layers"][0]["n_spikes"] == 1
    assert cli_main(["analyze", str(tmp_path / "nope.safetensors")]) == 1


def test_cli_subprocess_exit_codes(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.randn(40, 30)}, str(path))
    env = dict(os.environ, PYTHONPATH=str(Path(netsieve.__file__).parents[1]))
    ok = subprocess.run([sys.executable, "-m", "netsieve.cli", "analyze", str(path), "--quiet"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "netsieve.cli", "analyze", str(path), "--layers", "nomatch*"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "nothing could be analysed" in bad.stderr


@pytest.mark.parametrize("budget", [0, -1, 2.5e8, "268435456", True])
def test_analyze_checks_max_group_bytes_strictly(budget):
    model = torch.nn.Sequential(torch.nn.Linear(40, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))
    with pytest.raises(netsieve.InvalidInputError, match="max_group_bytes must be a positive integer"):
        analyze(model, max_group_bytes=budget)
