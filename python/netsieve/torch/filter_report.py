"""What a filter did to a model: one :class:`LayerFilter` per filtered matrix (its identity and the
core's :class:`netsieve.ShrinkRecord`), the skipped tensors and files, and the failed layers; the
text table and the exports of the one report base (strict JSON, CSV, pandas)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from netsieve import ShrinkRecord

from .._report import LayerTable, _legacy_arrays, union_columns
from ._weights import Skipped

__all__ = ["FilterReport", "LayerFilter"]


@dataclass(frozen=True)
class LayerFilter:
    """One filtered matrix: where it came from and what the filter did to it."""

    name: str
    tensor_name: str
    layer_type: str
    dtype: str
    record: ShrinkRecord = field(repr=False)

    def to_dict(self, arrays: bool = False, **legacy: Any) -> dict[str, Any]:
        arrays = _legacy_arrays(arrays, legacy)
        ids = {"name": self.name, "tensor": self.tensor_name, "layer_type": self.layer_type, "dtype": self.dtype}
        return {**ids, **self.record.to_dict(arrays)}


@dataclass(frozen=True)
class FilterReport(LayerTable):
    """One row per filtered matrix, the tensors (and files) that were skipped and why, and the
    layers that failed (with ``errors="collect"``; their weights are left as they were)."""

    method: str
    options: Mapping[str, Any]
    layers: tuple[LayerFilter, ...]
    skipped: tuple[Skipped, ...]
    failed: tuple[tuple[str, str], ...] = ()
    inputs: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, name: str) -> LayerFilter:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def columns(self) -> Sequence[str]:
        return union_columns(self.layer_rows(False))

    def layer_rows(self, arrays: bool = False) -> list[dict[str, Any]]:
        return [layer.to_dict(arrays) for layer in self.layers]

    def to_dict(self, arrays: bool = False, **legacy: Any) -> dict[str, Any]:
        out = {"method": self.method, **super().to_dict(arrays, **legacy)}
        out["failed"] = [{"name": n, "error": e} for n, e in self.failed]
        return out

    def to_dataframe(self) -> Any:
        df = super().to_dataframe()
        return df.set_index("name") if len(df) else df

    def __str__(self) -> str:
        head = f"{'layer':<40} {'shape':>13} {'σ':>10} {'spikes':>6} {'kept':>5} {'energy':>7} {'Δ‖W‖':>7}"
        lines = [f"netsieve filter, method={self.method!r}", head, "-" * len(head)]
        for layer in self.layers:
            r = layer.record
            sigma = "-" if r.sigma is None else f"{r.sigma:.4g}"
            spikes = "-" if r.n_spikes is None else str(r.n_spikes)
            shape = f"{r.shape[0]}×{r.shape[1]}"
            lines.append(
                f"{layer.name[:40]:<40} {shape:>13} {sigma:>10} {spikes:>6} {r.kept_rank:>5} {r.kept_energy:>7.3f} {r.relative_change:>7.3f}"
            )
        for name, error in self.failed:
            lines.append(f"failed, left as it was: {name}: {error}")
        if self.skipped:
            tensors = [s for s in self.skipped if s.kind != "file"]
            files = [s for s in self.skipped if s.kind == "file"]
            if tensors:
                lines.append(f"skipped {len(tensors)}: " + ", ".join(f"{s.name} ({s.reason})" for s in tensors))
            if files:  # their tensors are not in the output either
                lines.append(f"files not read ({len(files)}): " + "; ".join(f"{s.name} ({s.reason})" for s in files))
        return "\n".join(lines)
