"""Checkpoints on an object store: ``s3://`` through a local S3 emulator (moto's server on
127.0.0.1, started here; s3fs as the client), ``gs://`` through a local GCS emulator
(gcp-storage-emulator; gcsfs). analyze, compare and the Dask ``client=`` path read the
shards at their s3:// URLs, each worker process reading its own tensors (it imports s3fs itself and
runs tasks); a missing bucket or key and an unreachable endpoint are clear errors naming the URL."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("s3fs")
pytest.importorskip("moto.server")
from safetensors import safe_open  # noqa: E402

from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import analyze, compare, filter_checkpoint, open_weights  # noqa: E402

import _store_emulators as s3  # noqa: E402
from _examples import load  # noqa: E402


@pytest.fixture(scope="module")
def llama(llama_with_tokenizer) -> Path:
    return llama_with_tokenizer


@pytest.fixture(scope="module")
def bucket(llama):
    """The checkpoint at s3://models/tiny on a fresh emulator; yields the endpoint."""
    import fsspec

    with s3.s3_server() as endpoint:
        fsspec.filesystem("s3").mkdir("models")
        s3.upload(llama, "s3://models/tiny")
        yield endpoint


def test_analyze_and_compare_read_s3(llama, bucket):
    local = analyze(llama, porter_thomas=False)
    remote = analyze("s3://models/tiny", porter_thomas=False)
    assert remote.rows == local.rows and remote.source == "s3://models/tiny"
    with open_weights("s3://models/tiny") as src:
        assert src.layout.heads == 4 and len(src.layout.shards) >= 2
        assert all(src.file_of(n).startswith("s3://models/tiny/model-") for n in src.names())
    c = compare(llama, "s3://models/tiny")
    assert c.summary["n_compared"] == len(c) > 0 and all(r.relative_update == 0 for r in c)
    shard = sorted(p.name for p in llama.glob("*.safetensors"))[0]
    one = analyze(f"s3://models/tiny/{shard}", porter_thomas=False)
    assert one.rows == analyze(llama / shard, porter_thomas=False).rows


def test_missing_bucket_key_and_shard_are_named(llama, bucket):
    import fsspec

    with pytest.raises(FileNotFoundError, match="bucket 'no-such-bucket' of s3://no-such-bucket/tiny does not exist"):
        analyze("s3://no-such-bucket/tiny")
    with pytest.raises(FileNotFoundError, match="no such file or folder: s3://models/absent"):
        analyze("s3://models/absent")
    fs = fsspec.filesystem("s3")
    s3.upload(llama, "s3://models/broken")
    shard = sorted(p.name for p in llama.glob("*.safetensors"))[-1]
    fs.rm_file(f"models/broken/{shard}")
    with pytest.raises(InvalidInputError, match=f"s3://models/broken/{shard}"):
        analyze("s3://models/broken")
    with pytest.raises(InvalidInputError, match=f"s3://models/broken/{shard}"):
        compare(llama, "s3://models/broken")


def test_an_unreachable_endpoint_is_named(bucket):
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with s3.environment({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_MAX_ATTEMPTS": "1"}):
        with pytest.raises(OSError, match="cannot reach s3://models/tiny: EndpointConnectionError"):
            analyze("s3://models/tiny")


def test_the_cluster_workers_read_their_tensors_from_s3(llama, bucket, tmp_path):
    from netsieve.torch import cluster

    client = cluster.local_client(2)  # started after the emulator: the workers inherit its endpoint
    try:
        assert not any(client.run(lambda: "s3fs" in sys.modules).values())
        from distributed import get_task_stream

        local = analyze(llama, porter_thomas=False)
        with get_task_stream(client) as stream:
            remote = analyze("s3://models/tiny", porter_thomas=False, client=client)
        assert remote.rows == local.rows
        tasks = [t for t in stream.data if str(t["key"]).startswith("netsieve-")]
        assert len(tasks) == len({r.tensor_name for r in local})  # one task per tensor
        assert len({t["worker"] for t in tasks}) == 2  # both workers ran tasks …
        assert all(client.run(lambda: "s3fs" in sys.modules).values())  # … and read from S3 themselves
        c = compare(llama, "s3://models/tiny", client=client)
        assert len(c) > 0 and all(r.relative_update == 0 for r in c)
        filter_checkpoint(llama, tmp_path / "local", "hard", layers="model.layers.0.*")
        filter_checkpoint("s3://models/tiny", "s3://models/filtered-on-cluster", "hard", layers="model.layers.0.*", client=client)
        assert s3.listing("s3://models/filtered-on-cluster") == sorted(p.name for p in (tmp_path / "local").iterdir())
        assert not [p for p in s3.listing("s3://models") if "staging" in p]
        import fsspec

        fs = fsspec.filesystem("s3")
        for p in (tmp_path / "local").glob("*.safetensors"):
            got = tmp_path / "got.safetensors"
            got.write_bytes(fs.cat_file(f"models/filtered-on-cluster/{p.name}"))
            with safe_open(str(p), "pt") as x, safe_open(str(got), "pt") as y:
                assert list(x.keys()) == list(y.keys()) and x.metadata() == y.metadata()
                assert all(torch.equal(x.get_tensor(k), y.get_tensor(k)) for k in x.keys())
    finally:
        cluster.close_client(client)


def test_cli_reads_s3_and_writes_reports_there(llama, bucket, tmp_path):
    import fsspec

    assert cli_main(["analyze", "s3://models/tiny", "--no-porter-thomas", "-q", "--csv", "s3://models/reports/a.csv",
                     "--json", str(tmp_path / "a.json")]) == 0  # fmt: skip
    fs = fsspec.filesystem("s3")
    csv = fs.cat_file("models/reports/a.csv").decode()
    assert csv == analyze(llama, porter_thomas=False).to_csv()
    assert cli_main(["compare", str(llama), "s3://models/tiny", "-q", "--json", "s3://models/reports/c.json"]) == 0
    assert b'"n_compared"' in fs.cat_file("models/reports/c.json")
    # a report into a bucket that does not exist: refused before the analysis
    assert cli_main(["analyze", "s3://models/tiny", "-q", "--csv", "s3://no-such-bucket/a.csv"]) != 0


def test_gs_through_a_local_gcs_emulator(llama, tmp_path):
    """The same reads from gs:// (gcsfs against gcp-storage-emulator), on 2 Dask workers too."""
    pytest.importorskip("gcsfs")
    pytest.importorskip("gcp_storage_emulator")
    from netsieve.torch import cluster

    with s3.gcs_server():
        s3.upload(llama, "gs://models/tiny")
        local = analyze(llama, porter_thomas=False)
        assert analyze("gs://models/tiny", porter_thomas=False).rows == local.rows
        with pytest.raises(FileNotFoundError, match="bucket 'no-such-bucket' of gs://no-such-bucket/tiny does not exist"):
            analyze("gs://no-such-bucket/tiny")
        client = cluster.local_client(2)
        try:
            assert analyze("gs://models/tiny", porter_thomas=False, client=client).rows == local.rows
            assert all(client.run(lambda: "gcsfs" in sys.modules).values())
        finally:
            cluster.close_client(client)
