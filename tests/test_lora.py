"""LoRA / PEFT adapters: the updates s·B·A keyed by base names, merged into a base; the comparison of
base and merged finds the adapter's rank; bad adapters are errors naming the file or tensor."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from netsieve import InvalidInputError  # noqa: E402
from netsieve.torch import adapter_updates, compare, merge_adapter, save_weights  # noqa: E402

KEY = "model.layers.0.mlp.up_proj"


def _adapter(folder, rank=4, alpha=8, rslora=False, drop_b=False):
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "lora_alpha": alpha, "use_rslora": rslora}))
    g = torch.Generator().manual_seed(0)
    t = {f"base_model.model.{KEY}.lora_A.weight": torch.randn(rank, 64, generator=g) * 0.1,
         f"base_model.model.{KEY}.lora_B.weight": torch.randn(160, rank, generator=g) * 0.1}  # fmt: skip
    if drop_b:
        del t[f"base_model.model.{KEY}.lora_B.weight"]
    save_weights(t, folder / "adapter_model.safetensors")
    return folder, t


def test_updates_are_scaled_products(tmp_path):
    folder, t = _adapter(tmp_path / "a")
    up = adapter_updates(folder)
    b, a = t[f"base_model.model.{KEY}.lora_B.weight"], t[f"base_model.model.{KEY}.lora_A.weight"]
    assert list(up) == [f"{KEY}.weight"] and torch.allclose(up[f"{KEY}.weight"], 2.0 * (b @ a))
    folder2, _ = _adapter(tmp_path / "b", rslora=True)
    assert torch.allclose(adapter_updates(folder2)[f"{KEY}.weight"], 4.0 * (b @ a))  # alpha/sqrt(r)


def test_merged_comparison_finds_the_rank(tmp_path):
    folder, _ = _adapter(tmp_path / "a")
    g = torch.Generator().manual_seed(1)
    base = {f"{KEY}.weight": torch.randn(160, 64, generator=g) * 0.02, f"{KEY}.bias": torch.zeros(160)}
    merged = merge_adapter(base, folder)
    assert torch.equal(merged[f"{KEY}.bias"], base[f"{KEY}.bias"])
    row = compare(base, merged)[f"{KEY}.weight"]
    assert row.ok and row.update_spikes == 4


def test_bad_adapters_are_named(tmp_path):
    with pytest.raises(InvalidInputError, match="adapter_config.json is missing"):
        adapter_updates(tmp_path)
    folder, _ = _adapter(tmp_path / "a", drop_b=True)
    with pytest.raises(InvalidInputError, match="lora_B.weight"):
        adapter_updates(folder)
    good, _ = _adapter(tmp_path / "b")
    with pytest.raises(InvalidInputError, match="does not hold"):
        merge_adapter({"other.weight": torch.zeros(3, 3)}, good)
    with pytest.raises(InvalidInputError, match=r"\(160, 64\)"):
        merge_adapter({f"{KEY}.weight": torch.zeros(64, 160)}, good)
