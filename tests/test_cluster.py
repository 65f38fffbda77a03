"""Analyses on a Dask LocalCluster of 2 worker processes (the ``cluster`` extra): the rows are those
of the in-process path, in checkpoint order; a failing tensor is reported in its row while the
others complete; a worker killed mid-run does not change the result; an unreachable scheduler is
an error naming it. ``import netsieve`` never imports dask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("distributed")
from safetensors.torch import save_file  # noqa: E402

from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import analyze  # noqa: E402
from netsieve.torch import cluster  # noqa: E402

from _examples import load  # noqa: E402


def _generator():
    return load("make_llama_checkpoint", "benches")


@pytest.fixture(scope="module")
def client():
    c = cluster.local_client(2)
    yield c
    cluster.close_client(c)


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("llama") / "tiny"
    _generator().write_llama_checkpoint(out, blocks=11, rank=2, shard_bytes=120_000, hidden=128, intermediate=256,
                                        vocab=200, heads=4, kv_heads=2)  # fmt: skip
    return out


def test_import_netsieve_does_not_import_dask():
    code = "import sys, netsieve, netsieve.torch; print('distributed' in sys.modules or 'dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cluster_rows_equal_the_in_process_rows(client, llama):
    local = analyze(llama, porter_thomas=True)
    remote = analyze(llama, porter_thomas=True, client=client)
    assert [r.name for r in remote] == [r.name for r in local]
    assert remote.rows == local.rows  # every field, the singular values included
    assert [r.block for r in remote][-2] == 10


def test_a_failing_tensor_is_its_row_and_the_others_complete(client, tmp_path):
    good = torch.randn(80, 40)
    bad = torch.randn(80, 40)
    bad[3, 4] = float("nan")
    save_file({"model.layers.0.mlp.up_proj.weight": good, "model.layers.1.mlp.up_proj.weight": bad,
               "model.layers.2.mlp.up_proj.weight": good.clone()}, str(tmp_path / "model.safetensors"))  # fmt: skip
    report = analyze(tmp_path, porter_thomas=False, errors="collect", client=client)
    assert [r.ok for r in report] == [True, False, True]
    assert "NaN" in report[1].error or "finite" in report[1].error
    with pytest.raises(Exception, match="model.layers.1.mlp.up_proj.weight"):
        analyze(tmp_path, porter_thomas=False, client=client)


def test_a_worker_killed_mid_run_still_completes(llama):
    c = cluster.local_client(2)
    try:
        expected = analyze(llama, porter_thomas=True)
        pids = list(c.run(os.getpid).values())
        done: dict = {}
        t = threading.Thread(target=lambda: done.setdefault("report", analyze(llama, porter_thomas=True, client=c)))
        t.start()
        time.sleep(1.0)
        os.kill(pids[0], signal.SIGKILL)  # the nanny restarts it; its tasks rerun elsewhere
        t.join(timeout=300)
        assert done["report"].rows == expected.rows
    finally:
        cluster.close_client(c)


def test_unreachable_scheduler_is_named(capsys, llama):
    assert cli_main(["analyze", str(llama), "--scheduler", "tcp://127.0.0.1:9", "-q"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


def test_cli_workers(llama, tmp_path):
    out = tmp_path / "rows.csv"
    assert cli_main(["analyze", str(llama), "--workers", "2", "--no-porter-thomas", "--csv", str(out), "-q"]) == 0
    assert len(out.read_text().splitlines()) == 11 * 7 + 1 + 1


def test_compare_on_the_cluster_equals_in_process(client, llama, tmp_path):
    from netsieve.torch import compare, open_weights, save_weights

    with open_weights(llama) as src:
        tensors = {n: src.get(n).float() for n in src.names() if ".layers.1." in n or ".layers.10." in n}
    g = torch.Generator().manual_seed(3)
    tuned = {n: t + 0.002 * torch.randn(t.shape, generator=g) for n, t in tensors.items()}
    tuned.pop("model.layers.10.mlp.down_proj.weight")
    save_weights(tensors, tmp_path / "a.safetensors")
    save_weights(tuned, tmp_path / "b.safetensors")
    local = compare(tmp_path / "a.safetensors", tmp_path / "b.safetensors")
    remote = compare(tmp_path / "a.safetensors", tmp_path / "b.safetensors", client=client)
    assert local.summary["n_only_a"] == 1 and local.summary["n_compared"] == 13
    # Identical but for the overlaps: the thin SVD's parallel sums depend on the thread count (1 per worker).
    assert [r.name for r in remote] == [r.name for r in local]
    for x, y in zip(remote, local):
        dx, dy = x.to_dict(), y.to_dict()
        for field in ("overlap_left", "overlap_right"):
            assert (dx.pop(field) is None) == (dy[field] is None) and abs((x.to_dict()[field] or 0) - (dy.pop(field) or 0)) < 1e-12
        assert dx == dy


def _tensors(folder: Path) -> dict:
    from netsieve.torch import open_weights

    with open_weights(folder) as src:
        return {n: src.get(n) for n in src.names()}


def test_filter_of_a_folder_on_the_cluster_equals_in_process(client, llama, tmp_path):
    from netsieve.torch import filter_checkpoint

    before = {p.name: p.read_bytes() for p in llama.iterdir()}
    local = filter_checkpoint(llama, tmp_path / "local", "hard", layers="model.layers.[0-3].*")
    remote = filter_checkpoint(llama, tmp_path / "remote", "hard", layers="model.layers.[0-3].*", client=client)
    assert {p.name: p.read_bytes() for p in llama.iterdir()} == before  # inputs untouched
    assert sorted(p.name for p in (tmp_path / "remote").iterdir()) == sorted(before)  # no part files left
    assert [x.name for x in remote] == [x.name for x in local] and len(local) == 4 * 7
    assert [x.record.kept_rank for x in remote] == [x.record.kept_rank for x in local]
    a, b = _tensors(tmp_path / "local"), _tensors(tmp_path / "remote")
    assert list(a) == list(b) and all(torch.equal(a[n], b[n]) for n in a)
    assert (tmp_path / "remote" / "model.safetensors.index.json").read_text() == (tmp_path / "local" / "model.safetensors.index.json").read_text()


def test_a_failing_tensor_on_the_cluster_leaves_no_output(client, tmp_path):
    from netsieve import InvalidInputError
    from netsieve.torch import filter_checkpoint

    src = tmp_path / "model"
    src.mkdir()
    bad = torch.randn(80, 40)
    bad[3, 4] = float("nan")
    save_file({"model.layers.0.mlp.up_proj.weight": torch.randn(80, 40)}, str(src / "a.safetensors"))
    save_file({"model.layers.1.mlp.up_proj.weight": bad}, str(src / "b.safetensors"))
    with pytest.raises(InvalidInputError, match="finite|NaN"):
        filter_checkpoint(src, tmp_path / "out", "hard", client=client)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # neither OUT nor its temporary folder
    report = filter_checkpoint(src, tmp_path / "out", "hard", client=client, errors="collect")
    assert [x.name for x in report] == ["model.layers.0.mlp.up_proj.weight"] and len(report.failed) == 1
    assert torch.isnan(_tensors(tmp_path / "out")["model.layers.1.mlp.up_proj.weight"]).sum() == 1  # left as it was


def test_cli_filter_workers(llama, tmp_path):
    args = ["filter", str(llama), str(tmp_path / "out"), "--method", "hard", "--layers", "model.layers.10.*", "-q"]
    assert cli_main(args + ["--workers", "2"]) == 0
    assert cli_main(args[:2] + [str(tmp_path / "ref")] + args[3:]) == 0
    a, b = _tensors(tmp_path / "out"), _tensors(tmp_path / "ref")
    assert all(torch.equal(a[n], b[n]) for n in a) and len(a) == len(b)


def test_workers_read_shards_through_an_fsspec_url(client, llama):
    pytest.importorskip("fsspec")
    local = analyze(llama, porter_thomas=False, layers="model.layers.1*")
    remote = analyze(llama, porter_thomas=False, layers="model.layers.1*", client=client, worker_root=f"file://{llama}")
    assert remote.rows == local.rows and len(local) == 2 * 7  # blocks 1 and 10
    gone = analyze(llama, porter_thomas=False, layers="model.layers.1.*", client=client, errors="collect",
                   worker_root=f"file://{llama}-missing")  # fmt: skip
    assert all(not r.ok and "cannot read tensor" in r.error for r in gone)


def _close_rows(got, want) -> None:
    """Equal names and fields, floats to 1e-6 (the torch route in a worker may use other thread counts)."""
    assert [r.name for r in got] == [r.name for r in want]
    for a, b in zip(got, want):
        da, db = a.to_dict(arrays=False), b.to_dict(arrays=False)
        for key, value in db.items():
            if isinstance(value, float):
                assert da[key] == pytest.approx(value, rel=1e-6, abs=1e-9), (a.name, key)
            elif not isinstance(value, dict):
                assert da[key] == value, (a.name, key)


def test_device_route_on_the_workers(client, llama, tmp_path):
    from netsieve.torch import compare, filter_checkpoint, open_weights, save_weights

    layers = "model.layers.1*"
    want = analyze(llama, porter_thomas=True, device="cpu", layers=layers)
    got = analyze(llama, porter_thomas=True, device="cpu", client=client, layers=layers)
    _close_rows(got, want)
    assert got.options["device"] == "cpu" and analyze(llama, porter_thomas=True, layers=layers).rows[0].n_spikes == got[0].n_spikes
    with open_weights(llama) as src:
        tensors = {n: src.get(n).float() for n in src.names() if ".layers.1." in n}
    g = torch.Generator().manual_seed(4)
    save_weights(tensors, tmp_path / "a.safetensors")
    save_weights({n: t + 0.002 * torch.randn(t.shape, generator=g) for n, t in tensors.items()}, tmp_path / "b.safetensors")
    pair = (tmp_path / "a.safetensors", tmp_path / "b.safetensors")
    _close_rows(compare(*pair, device="cpu", client=client), compare(*pair, device="cpu"))
    filter_checkpoint(llama, tmp_path / "in_process", "hard", device="cpu", layers=layers)
    report = filter_checkpoint(llama, tmp_path / "on_cluster", "hard", device="cpu", layers=layers, client=client)
    assert report.layers and all(layer.record.decomposition == "given" for layer in report)
    a, b = _tensors(tmp_path / "in_process"), _tensors(tmp_path / "on_cluster")
    assert a.keys() == b.keys() and all(float((a[n].double() - b[n].double()).abs().max()) <= 1e-2 * float(a[n].double().abs().max()) for n in a)


def test_a_checkpoint_at_a_file_url_on_the_cluster(client, llama, tmp_path):
    pytest.importorskip("fsspec")
    from netsieve.torch import filter_checkpoint

    url = f"file://{llama}"
    assert analyze(url, porter_thomas=False, client=client).rows == analyze(llama, porter_thomas=False).rows
    filter_checkpoint(llama, tmp_path / "local", "hard", layers="model.layers.2*")
    filter_checkpoint(url, tmp_path / "remote", "hard", layers="model.layers.2*", client=client)
    a, b = _tensors(tmp_path / "local"), _tensors(tmp_path / "remote")
    assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
