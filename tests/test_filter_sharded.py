"""Filtering a Hugging Face model folder into a folder (in process): the same shards, index and
config; the filtered tensors equal those of the single-file filter; the planted ranks kept; nothing
at OUT after a failure; the input untouched. (The Dask route is tested in test_cluster.py.)"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from netsieve import InvalidInputError  # noqa: E402
from netsieve.cli import main as cli_main  # noqa: E402
from netsieve.torch import filter_checkpoint, open_weights  # noqa: E402

from _tiny_llama import tiny_llama  # noqa: E402


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return tiny_llama(tmp_path_factory, blocks=3, shard_bytes=120_000)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_folder_to_folder_keeps_the_layout_and_equals_the_file_filter(llama, tmp_path):
    before = _digest(llama)
    report = filter_checkpoint(llama, tmp_path / "out", "hard")
    assert _digest(llama) == before  # the input is only read
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # shards, index, config
    index_in = json.loads((llama / "model.safetensors.index.json").read_text())
    index_out = json.loads((out / "model.safetensors.index.json").read_text())
    assert index_out["weight_map"] == index_in["weight_map"]
    assert index_out["metadata"]["total_size"] == sum((out / s).stat().st_size for s in set(index_in["weight_map"].values()))
    assert (out / "config.json").read_text() == (llama / "config.json").read_text()
    filter_checkpoint(llama, tmp_path / "one.safetensors", "hard")
    with open_weights(out) as got, open_weights(tmp_path / "one.safetensors") as want:
        assert got.names() and sorted(got.names()) == sorted(want.names())
        for n in want.names():
            assert got.get(n).dtype == torch.bfloat16 and torch.equal(got.get(n), want.get(n)), n
        changed = [n for n in want.names() if not torch.equal(got.get(n), open_weights(llama).get(n))]
    assert len(report) == 3 * 7 + 1  # every projection and the head (embeddings are not selected)
    assert set(changed) == {layer.tensor_name for layer in report}
    assert {layer.record.kept_rank for layer in report} == {2}  # the planted rank, in every matrix
    assert {layer.dtype for layer in report} == {"bfloat16"}  # read from the headers
    assert [s.name for s in report.skipped if s.kind == "file"] == [str(llama / "config.json"), str(llama / "model.safetensors.index.json")]


def test_a_failure_leaves_nothing_at_out(llama, tmp_path):
    with pytest.raises(InvalidInputError, match="fraction"):
        filter_checkpoint(llama, tmp_path / "out", "fraction", fraction=1.5)
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in llama.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    from safetensors.torch import save_file

    shard = sorted(bad.glob("*.safetensors"))[-1]
    with open_weights(shard) as src:
        tensors = {n: src.get(n) for n in src.names()}
    name = next(n for n in tensors if n.endswith("down_proj.weight") or n == "lm_head.weight")
    tensors[name] = tensors[name].clone()
    tensors[name][0, 0] = float("nan")
    save_file(tensors, str(shard), metadata={"format": "pt"})
    with pytest.raises(InvalidInputError, match="finite|NaN"):
        filter_checkpoint(bad, tmp_path / "out", "hard")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]  # no OUT, no temporary folder left


def test_existing_output_and_overlaps_are_refused(llama, tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(InvalidInputError, match="exists"):
        filter_checkpoint(llama, tmp_path / "out", "hard")
    with pytest.raises(InvalidInputError, match="overlaps the input"):
        filter_checkpoint(llama, llama / "inside", "hard")
    filter_checkpoint(llama, tmp_path / "out", "hard", overwrite=True)
    assert (tmp_path / "out" / "model.safetensors.index.json").is_file()


def test_cli_filters_a_folder_into_a_folder(llama, tmp_path):
    assert cli_main(["filter", str(llama), str(tmp_path / "cli-out"), "--method", "hard", "--layers", "*.mlp.*", "-q"]) == 0
    with open_weights(tmp_path / "cli-out") as got, open_weights(llama) as src:
        same = [n for n in src.names() if torch.equal(got.get(n), src.get(n))]
    assert all(".mlp." not in n or not n.endswith("proj.weight") for n in same)
    assert any(n.endswith("q_proj.weight") for n in same)  # attention not selected: copied unchanged
