"""Checkpoints at fsspec URLs (netsieve.torch.remote): analyze, compare and filter read a
``.safetensors`` file or a model folder (config, index, shards) through fsspec, ``file://`` and
the in-memory ``memory://`` file system, with the results of the local path; bad remote input is a
clear error naming the URL; without fsspec a URL is an ImportError saying what to install."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
fsspec = pytest.importorskip("fsspec")
pytest.importorskip("safetensors")
from safetensors import safe_open  # noqa: E402

from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import analyze, compare, filter_checkpoint, open_weights  # noqa: E402



@pytest.fixture(scope="module")
def llama(llama_with_tokenizer) -> Path:
    return llama_with_tokenizer


@pytest.fixture()
def in_memory(llama):
    """The checkpoint copied into fsspec's memory file system, as ``memory://tiny``."""
    fs = fsspec.filesystem("memory")
    for p in llama.iterdir():
        fs.pipe(f"/tiny/{p.name}", p.read_bytes())
    yield "memory://tiny"
    fs.rm("/tiny", recursive=True)


def test_analyze_reads_a_folder_at_a_url(llama, in_memory):
    local = analyze(llama, porter_thomas=False)
    assert len({local.source, *(s.name for s in local.skipped)}) > 1
    for url in (f"file://{llama}", in_memory, in_memory + "/"):
        remote = analyze(url, porter_thomas=False)
        assert remote.rows == local.rows and remote.source == url.rstrip("/")
    with open_weights(in_memory) as src:
        assert src.layout.heads == 4 and len(src.layout.shards) >= 2
        assert src.file_of(src.names()[0]).startswith("memory://tiny/model-")
        assert {Path(p).name: r for p, r in src.skipped_files}["tokenizer.json"] == "not one of the model's .safetensors files"
    single = next(p for p in llama.iterdir() if p.suffix == ".safetensors")
    assert analyze(f"file://{single}", porter_thomas=False).rows == analyze(single, porter_thomas=False).rows


def test_compare_of_urls(llama, in_memory):
    c = compare(f"file://{llama}", in_memory)
    assert c.summary["n_compared"] == len(c) and all(r.relative_update == 0 for r in c)


def test_filter_from_a_url_to_a_local_folder(llama, in_memory, tmp_path):
    filter_checkpoint(llama, tmp_path / "local", "hard")
    report = filter_checkpoint(in_memory, tmp_path / "remote", "hard")
    assert report.inputs == (in_memory,)
    names = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "remote").iterdir()) and "tokenizer.json" in names
    for n in names:  # the same tensors and metadata (whose order safetensors does not fix); the same other files
        local, remote = tmp_path / "local" / n, tmp_path / "remote" / n
        if n.endswith(".safetensors"):
            with safe_open(str(local), "pt") as x, safe_open(str(remote), "pt") as y:
                assert x.metadata() == y.metadata() and list(x.keys()) == list(y.keys())
                assert all(torch.equal(x.get_tensor(k), y.get_tensor(k)) for k in x.keys())
        else:
            assert local.read_bytes() == remote.read_bytes(), n
    shard = next(n for n in names if n.endswith(".safetensors"))
    filter_checkpoint(f"{in_memory}/{shard}", tmp_path / "one.safetensors", "hard")
    assert (tmp_path / "one.safetensors").is_file()
    with pytest.raises(InvalidInputError, match="overlaps the input folder"):
        filter_checkpoint(f"file://{llama}", llama / "inside", "hard")
    assert not (llama / "inside").exists()


def test_bad_remote_input_is_named(llama, in_memory, tmp_path):
    fs = fsspec.filesystem("memory")
    index = json.loads(fs.cat_file("/tiny/model.safetensors.index.json"))
    shard = sorted(set(index["weight_map"].values()))[-1]
    fs.rm(f"/tiny/{shard}")
    with pytest.raises(InvalidInputError, match=f"memory://tiny/{shard}"):
        analyze(in_memory)
    fs.pipe(f"/tiny/{shard}", b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(InvalidInputError, match=f"cannot read memory://tiny/{shard} as safetensors"):
        analyze(in_memory)
    with pytest.raises(FileNotFoundError, match="memory://nothing-here"):
        analyze("memory://nothing-here")
    fs.pipe("/ckpt/model.pt", b"x")
    with pytest.raises(InvalidInputError, match="only .safetensors"):
        analyze("memory://ckpt/model.pt")
    with pytest.raises(InvalidInputError, match="nosuchproto"):
        analyze("nosuchproto://x/y")
    with pytest.raises(InvalidInputError, match="revision= and cache_dir= apply only to hub ids"):
        analyze(in_memory, revision="main")
    with pytest.raises(InvalidInputError, match=f"cannot read memory://tiny/{shard}"):
        filter_checkpoint(in_memory, tmp_path / "out", "hard")
    assert not (tmp_path / "out").exists()


def test_a_truncated_tensor_at_a_url_is_its_row(llama, in_memory):
    fs = fsspec.filesystem("memory")
    files = sorted(p for p in fs.ls("/tiny", detail=False) if p.endswith(".safetensors"))
    data = fs.cat_file(files[-1])
    fs.pipe(files[-1], data[: len(data) // 2])
    report = analyze(in_memory, porter_thomas=False, errors="collect")
    failed = [r for r in report if not r.ok]
    assert failed and all("truncated" in r.error for r in failed) and any(r.ok for r in report)


def test_a_url_without_fsspec_says_what_to_install(monkeypatch, in_memory):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(ImportError, match="needs fsspec"):
        analyze(in_memory)


def test_cli_reads_urls(llama, in_memory, tmp_path):
    assert cli_main(["analyze", f"file://{llama}", "--no-porter-thomas", "--csv", str(tmp_path / "a.csv"), "-q"]) == 0
    assert cli_main(["compare", f"file://{llama}", str(llama), "--csv", str(tmp_path / "c.csv"), "-q"]) == 0
    assert cli_main(["filter", f"file://{llama}", str(tmp_path / "f"), "--method", "hard", "-q"]) == 0
    assert (tmp_path / "f" / "config.json").is_file()
    assert cli_main(["analyze", f"file://{llama}", "--no-porter-thomas", "--csv", str(llama / "a.csv"), "-q"]) != 0
    assert not (llama / "a.csv").exists()
