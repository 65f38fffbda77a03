"""The analysis report: one :class:`netsieve.LayerReport` row per weight matrix (the core's own
record), the tensors and files that were skipped and why, a model-level summary, the text table,
exports (strict JSON, CSV, pandas, through :class:`netsieve._report.LayerTable`) and plots
(:mod:`netsieve.torch.report_plots`)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from netsieve import LayerReport

from .._report import LayerTable
from ._weights import Skipped

__all__ = ["Report", "LayerResult"]

LayerResult = LayerReport  # the row type's former name


class Report(LayerTable):
    """Per-layer rows, the skipped tensors with their reasons, and a model-level summary."""

    def __init__(self, rows: list[LayerReport], skipped: list[Skipped], source: str, elapsed_s: float, options: dict,
                 inputs: Sequence[str | os.PathLike] = ()):
        self.rows = rows
        self.skipped = skipped
        self.source = source
        self.elapsed_s = elapsed_s
        self.options = options
        self.inputs = tuple(inputs)  # the files or folders analysed: exports refuse to write over them

    # -- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[LayerReport]:
        return iter(self.rows)

    def __getitem__(self, key: int | str) -> LayerReport:
        if isinstance(key, str):
            for r in self.rows:
                if r.name == key:
                    return r
            raise KeyError(f"no analysed layer named {key!r}")
        return self.rows[key]

    @property
    def analysed(self) -> list[LayerReport]:
        return [r for r in self.rows if r.ok]

    @property
    def errors(self) -> list[LayerReport]:
        return [r for r in self.rows if not r.ok]

    @property
    def summary(self) -> dict[str, Any]:
        ok = self.analysed
        pl = [r for r in ok if r.power_law_like]

        def med(values: list) -> float | None:
            vals = [v for v in values if v is not None and math.isfinite(v)]
            return float(np.median(vals)) if vals else None

        return {
            "source": self.source,
            "n_layers": len(ok),
            "n_errors": len(self.errors),
            "n_skipped": len(self.skipped),
            "n_parameters": int(sum(r.rows * r.cols for r in ok)),
            "n_spikes_total": int(sum(r.n_spikes for r in ok)),
            "n_power_law_like": len(pl),
            "alpha_median": med([r.alpha for r in pl]),
            "alpha_mean": float(np.mean([r.alpha for r in pl])) if pl else None,
            "mp_soft_rank_median": med([r.mp_soft_rank for r in ok]),
            "stable_rank_median": med([r.stable_rank for r in ok]),
            "mean_r_median": med([r.mean_r for r in ok]),
            "heavy_tailed_layers": [r.name for r in pl if r.alpha < 2],
            "noise_like_layers": [r.name for r in ok if r.n_spikes == 0],
            "elapsed_s": self.elapsed_s,
        }

    # -- export (LayerTable) ----------------------------------------------------------------------
    @property
    def columns(self) -> Sequence[str]:
        return LayerReport.SCALAR_FIELDS

    def layer_rows(self, arrays: bool = False) -> list[dict[str, Any]]:
        from .._json import plain

        return [plain(r.to_dict(arrays)) for r in self.rows]

    def summary_dict(self) -> dict[str, Any]:
        return self.summary

    # -- text -----------------------------------------------------------------------------------
    def __str__(self) -> str:
        head = ("layer", "shape", "σ", "spikes", "softrank", "KS_MP", "PT", "⟨r⟩", "‖W‖₂", "srank", "erank", "α")
        lines = []
        for r in self.rows:
            shape = f"{r.rows}×{r.cols}"
            if not r.ok:
                lines.append((r.name, shape, f"error: {r.error}"))
                continue
            alpha = "—" if r.alpha is None else (f"{r.alpha:.2f}" if r.power_law_like else f"({r.alpha:.1f})")
            lines.append((
                r.name, shape, f"{r.sigma:.4g}", str(r.n_spikes), f"{r.mp_soft_rank:.3f}",
                f"{r.mp_ks_distance:.3f}", "—" if r.porter_thomas_boundary is None else str(r.porter_thomas_boundary),
                "—" if r.mean_r is None else f"{r.mean_r:.3f}", f"{r.spectral_norm:.4g}",
                f"{r.stable_rank:.1f}", f"{r.effective_rank:.1f}", alpha,
            ))  # fmt: skip
        full = [ln for ln in lines if len(ln) == len(head)]
        widths = [max([len(h)] + [len(ln[i]) for ln in full]) for i, h in enumerate(head)]
        widths[0] = max([widths[0]] + [len(ln[0]) for ln in lines])
        out = [f"netsieve analysis of {self.source}"]
        out.append("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        out.append("  ".join("─" * w for w in widths))
        for ln in lines:
            if len(ln) == len(head):
                out.append("  ".join(v.ljust(w) for v, w in zip(ln, widths)))
            else:
                out.append(f"{ln[0].ljust(widths[0])}  {ln[1].ljust(widths[1])}  {ln[2]}")
        out.append("α in parentheses: the tail is not power-law-like (bounded, noise-like); see alpha_note")
        if self.skipped:
            out.append(f"skipped ({len(self.skipped)}):")
            out.extend(f"  {s}" for s in self.skipped)
        s = self.summary
        alpha = "—" if s["alpha_median"] is None else f"{s['alpha_median']:.2f}"
        out.append(
            f"{s['n_layers']} layers analysed ({s['n_parameters']:,} weights), {s['n_errors']} failed, "
            f"{s['n_skipped']} skipped; {s['n_spikes_total']} spikes in total; "
            f"{s['n_power_law_like']} power-law-like tails, median α {alpha}; {s['elapsed_s']:.2f} s"
        )
        return "\n".join(out)

    def __repr__(self) -> str:
        s = self.summary
        return f"<Report {self.source}: {s['n_layers']} layers, {s['n_errors']} errors, {s['n_skipped']} skipped>"

    # -- plots (report_plots.py) ----------------------------------------------------------------
    def plot_esd(self, layer: str | int, ax: Any = None) -> Any:
        """Histogram of the singular values with the fitted MP density; spikes in red."""
        from .report_plots import plot_esd

        return plot_esd(self, layer, ax)

    def plot_tail(self, layer: str | int, ax: Any = None) -> Any:
        """Log-log complementary CDF of λ = s² with the fitted power law above xmin."""
        from .report_plots import plot_tail

        return plot_tail(self, layer, ax)

    def plot_summary(self, fig: Any = None) -> Any:
        """Per-layer α, spikes, MP soft rank and stable rank."""
        from .report_plots import plot_summary

        return plot_summary(self, fig)

    def save_plots(self, folder: str | os.PathLike) -> list[Path]:
        """Writes summary.png and one <layer>.png (ESD and tail) per analysed layer, atomically."""
        from .report_plots import save_plots

        return save_plots(self, folder)
