"""Outputs at fsspec URLs (netsieve._url_files): filtering a model folder into ``memory://`` and
``s3://`` and ``gs://`` (local emulators) gives the bytes of the local filter, built under a staging prefix and
published with the index last; a failing tensor leaves nothing at OUT and no staging prefix; a
failure while publishing deletes what it copied and keeps the staging prefix, naming it; existing
outputs need overwrite; CSV/JSON reports and single files are written as one object."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
fsspec = pytest.importorskip("fsspec")
pytest.importorskip("safetensors")
from safetensors.torch import load as load_bytes  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from netsieve import InvalidInputError  # noqa: E402
from netsieve.torch import analyze, filter_checkpoint, open_weights  # noqa: E402

import _store_emulators as s3  # noqa: E402


@pytest.fixture(scope="module")
def llama(llama_with_tokenizer) -> Path:
    return llama_with_tokenizer


@pytest.fixture(scope="module")
def broken(llama, tmp_path_factory) -> Path:
    """The checkpoint with a NaN in one matrix of its last shard: filtering it fails there."""
    out = tmp_path_factory.mktemp("broken")
    for p in llama.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    shard = sorted(out.glob("*.safetensors"))[-1]
    with open_weights(shard) as src:
        tensors = {n: src.get(n).clone() for n in src.names()}
    name = next(n for n in tensors if n.endswith("down_proj.weight") or n == "lm_head.weight")
    tensors[name][0, 0] = float("nan")
    save_file(tensors, str(shard), metadata={"format": "pt"})
    return out


@pytest.fixture(scope="module")
def expected(llama, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("expected") / "local"
    filter_checkpoint(llama, out, "hard")
    return out


@pytest.fixture(params=["memory", "s3", "gs"])
def store(request, llama):
    """A folder URL on each kind of store, holding nothing yet (the s3 one on a fresh emulator)."""
    if request.param == "memory":
        yield "memory://out-tests"
        memory = fsspec.filesystem("memory")
        if memory.exists("/out-tests"):
            memory.rm("/out-tests", recursive=True)
        return
    if request.param == "gs":
        pytest.importorskip("gcsfs")
        pytest.importorskip("gcp_storage_emulator")
        with s3.gcs_server():
            yield "gs://models/out-tests"
        return
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    with s3.s3_server():
        fsspec.filesystem("s3").mkdir("out-tests")
        yield "s3://out-tests"


def _same_folder(url: str, local: Path) -> None:
    fs, root = fsspec.core.url_to_fs(url)
    assert s3.listing(url) == sorted(p.name for p in local.iterdir())
    for p in local.iterdir():
        data = fs.cat_file(f"{root.rstrip('/')}/{p.name}")
        if p.suffix == ".safetensors":
            got, want = load_bytes(data), load_bytes(p.read_bytes())
            assert sorted(got) == sorted(want) and all(torch.equal(got[k], want[k]) for k in want)
        else:
            assert data == p.read_bytes(), p.name


def test_filter_into_a_store_equals_the_local_filter(llama, expected, store, tmp_path):
    report = filter_checkpoint(llama, f"{store}/filtered", "hard")
    _same_folder(f"{store}/filtered", expected)
    assert s3.listing(store) == [f"filtered/{n}" for n in s3.listing(f"{store}/filtered")]  # no staging prefix left
    assert [r.name for r in report] == [r.name for r in filter_checkpoint(llama, tmp_path / "again", "hard")]
    with pytest.raises(InvalidInputError, match="exists; pass overwrite=True"):
        filter_checkpoint(llama, f"{store}/filtered", "hard")
    fs, root = fsspec.core.url_to_fs(store)
    fs.pipe_file(f"{root}/filtered/stale.txt", b"old")
    filter_checkpoint(llama, f"{store}/filtered", "hard", overwrite=True)
    _same_folder(f"{store}/filtered", expected)  # replaced; the object the new folder lacks deleted


def test_a_failing_tensor_leaves_nothing_in_the_store(broken, store):
    with pytest.raises(InvalidInputError, match="finite|NaN"):
        filter_checkpoint(broken, f"{store}/out", "hard")
    assert s3.listing(store) == []  # neither OUT nor a staging prefix


def test_the_index_is_published_last_and_a_failed_publish_is_undone(llama, store, monkeypatch):
    from netsieve import _url_files

    copied: list[str] = []
    real = _url_files._copy_object

    def recording(fs, source, target):
        copied.append(target.rsplit("/", 1)[-1])
        real(fs, source, target)

    monkeypatch.setattr(_url_files, "_copy_object", recording)
    filter_checkpoint(llama, f"{store}/ordered", "hard")
    assert copied[-1] == "model.safetensors.index.json" and len(copied) == len(s3.listing(f"{store}/ordered"))

    def failing(fs, source, target):
        if target.endswith("index.json"):  # after every shard was copied
            raise ConnectionError("link lost")
        real(fs, source, target)

    monkeypatch.setattr(_url_files, "_copy_object", failing)
    with pytest.raises(OSError, match=r"cannot publish .*/failed.*link lost.*kept at .*netsieve-staging-") as info:
        filter_checkpoint(llama, f"{store}/failed", "hard")
    assert s3.listing(f"{store}/failed") == []
    staging = str(info.value).rsplit("kept at ", 1)[1]
    assert "model.safetensors.index.json" in s3.listing(staging)  # the complete output, to publish by hand


def test_reports_and_single_files_are_written_as_one_object(llama, store, tmp_path):
    fs, root = fsspec.core.url_to_fs(store)
    report = analyze(llama, porter_thomas=False)
    report.to_csv(f"{store}/r.csv")
    report.to_json(f"{store}/r.json")
    assert fs.cat_file(f"{root}/r.csv").decode() == report.to_csv()
    assert fs.cat_file(f"{root}/r.json").decode() == report.to_json()
    shard = sorted(llama.glob("*.safetensors"))[0]
    filter_checkpoint(shard, f"{store}/one.safetensors", "hard")
    filter_checkpoint(shard, tmp_path / "one.safetensors", "hard")
    got, want = load_bytes(fs.cat_file(f"{root}/one.safetensors")), load_bytes((tmp_path / "one.safetensors").read_bytes())
    assert sorted(got) == sorted(want) and all(torch.equal(got[k], want[k]) for k in want)
    with pytest.raises(InvalidInputError, match="exists; pass overwrite=True"):
        filter_checkpoint(shard, f"{store}/one.safetensors", "hard")
    with pytest.raises(InvalidInputError, match="plots are written to a local folder"):
        report.save_plots(f"{store}/plots")


def test_output_into_a_missing_bucket_is_refused_before_any_work(llama):
    pytest.importorskip("s3fs")
    pytest.importorskip("moto.server")
    with s3.s3_server():
        with pytest.raises(FileNotFoundError, match="bucket 'nowhere' of s3://nowhere/out does not exist"):
            filter_checkpoint(llama, "s3://nowhere/out", "hard")
        with pytest.raises(FileNotFoundError, match="bucket 'nowhere'"):
            analyze(llama, porter_thomas=False).to_csv("s3://nowhere/r.csv")
