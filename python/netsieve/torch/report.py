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


def _text(value: Any, spec: str) -> str:
    """A table cell; "—" for a quantity the route did not compute."""
    return "—" if value is None else format(value, spec)


class Report(LayerTable):
    """Per-layer rows, the skipped tensors with their reasons, and a model-level summary.

    Made by :func:`analyze`. ``len(report)``, iteration and ``report[i]`` / ``report["name"]`` give
    the rows; ``str(report)`` is the text table. The exports :meth:`to_dict`, :meth:`to_json`
    (strict JSON: NaN → null, ±Inf → "inf"/"-inf"), :meth:`to_csv` (one row per layer in
    :attr:`columns` order) and :meth:`to_dataframe` (needs pandas) come from
    :class:`netsieve._report.LayerTable`: ``to_json(path)`` and ``to_csv(path)`` also write the file,
    atomically, and refuse to write over the report's inputs.

    Parameters
    ----------
    rows : list of LayerReport
        One per analysed matrix, failed ones (``error`` set) included.
    skipped : list of Skipped
        The tensors (and files) not analysed, each with its reason.
    source : str
        What was analysed: a path, ``"state dict"`` or the model's class name.
    elapsed_s : float
    options : dict
        The options of the analysis, as recorded in the exports.
    inputs : sequence of path, default ()
        The files or folders analysed: exports refuse to write over them.

    Attributes
    ----------
    analysed, errors : list of LayerReport
        The rows without and with an error.
    summary : dict
        Counts (``n_layers``, ``n_errors``, ``n_skipped``, ``n_parameters``, ``n_spikes_total``,
        ``n_power_law_like``), the median and mean of α over the power-law-like layers, medians of
        MP soft rank, stable rank and ⟨r⟩ (None when there is nothing to take them over),
        ``heavy_tailed_layers`` (power-law-like, α < 2), ``noise_like_layers`` (no spikes),
        ``source`` and ``elapsed_s``.
    columns : sequence of str
        The CSV columns, ``LayerReport.SCALAR_FIELDS``.

    Raises
    ------
    KeyError, IndexError
        ``report["name"]`` of a layer that was not analysed, ``report[i]`` out of range.

    Examples
    --------
    >>> import numpy as np, torch, netsieve.torch as nt
    >>> from netsieve.synthetic import planted_spikes
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
    >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # ≈ 3× the BBP threshold
    >>> net[0].weight.data = torch.from_numpy(W).float()
    >>> report = nt.analyze(net, porter_thomas=False)
    >>> [(r.name, r.n_spikes) for r in report], [s.name for s in report.skipped]
    ([('0.weight', 1)], ['0.bias', '2.weight', '2.bias'])
    >>> report["0.weight"].rows, report.summary["n_spikes_total"], report.summary["noise_like_layers"]
    (128, 1, [])
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.json"
    >>> json.loads(report.to_json(path))["summary"]["n_layers"], path.exists()
    (1, True)
    >>> report.to_csv().splitlines()[0].split(",")[:5], report.to_dataframe().shape[0]
    (['name', 'tensor_name', 'layer_type', 'block', 'role'], 1)
    >>> report["0.weight"].block, report["0.weight"].role  # from the name: block 0 of a Sequential
    (0, 'other')
    """

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
        return {**self.summary, "by_block": [s.to_dict() for s in self.by_block()]}

    def by_block(self) -> list:
        """One :class:`~netsieve.torch.depth.BlockRoleSummary` per (block, role) of the analysed rows
        (mean σ, spikes, MP soft rank; median α), by block then role; in the JSON summary too."""
        from .depth import by_block

        return by_block(self)

    def plot_depth(self, fig: Any = None) -> Any:
        """σ, α, spikes and MP soft rank against the block index, one line per role
        (:func:`netsieve.torch.depth.plot_depth`; ``save_plots`` writes it as depth.png)."""
        from .depth import plot_depth

        return plot_depth(self, fig)

    # -- text -----------------------------------------------------------------------------------
    def __str__(self) -> str:
        head = ("layer", "shape", "σ", "bulk", "spikes", "MP spikes", "p_MP", "softrank", "PT", "⟨r⟩", "‖W‖₂",
                "srank", "erank", "α")  # fmt: skip
        lines = []
        for r in self.rows:
            shape = f"{r.rows}×{r.cols}"
            if not r.ok:
                lines.append((r.name, shape, f"error: {r.error}"))
                continue
            alpha = "—" if r.alpha is None else (f"{r.alpha:.2f}" if r.power_law_like else f"({r.alpha:.1f})")
            lines.append((
                r.name, shape, f"{r.sigma:.4g}", "mp" if r.bulk == "mp" else f"τ={r.spread:.2f}", str(r.n_spikes),
                _text(r.mp_n_spikes, "d"), _text(r.mp_ks_pvalue, ".2g"), f"{r.mp_soft_rank:.3f}",
                _text(r.porter_thomas_boundary, "d"), _text(r.mean_r, ".3f"), f"{r.spectral_norm:.4g}",
                f"{r.stable_rank:.1f}", _text(r.effective_rank, ".1f"), alpha,
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
        """Histogram of the singular values with the fitted MP density; spikes in red.

        Parameters
        ----------
        layer : str or int
            A row's name or index.
        ax : matplotlib.axes.Axes, optional
            Where to draw; default a new 6×4-inch figure (the Agg backend unless one was chosen).

        Returns
        -------
        matplotlib.axes.Axes

        Raises
        ------
        KeyError, IndexError
            No such layer.
        InvalidInputError
            The layer was not analysed (its row has an ``error``).
        ImportError
            matplotlib is not installed (the ``plot`` extra).

        Examples
        --------
        >>> import numpy as np, torch, netsieve.torch as nt
        >>> from netsieve.synthetic import planted_spikes
        >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
        >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # ≈ 3× the BBP threshold
        >>> net[0].weight.data = torch.from_numpy(W).float()
        >>> report = nt.analyze(net, porter_thomas=False)
        >>> ax = report.plot_esd("0.weight")
        >>> type(ax).__name__, ax.get_title()
        ('Axes', '0.weight (128×64, bulk is MP)')
        >>> import matplotlib.pyplot as plt; plt.close(ax.figure)
        """
        from .report_plots import plot_esd

        return plot_esd(self, layer, ax)

    def plot_tail(self, layer: str | int, ax: Any = None) -> Any:
        """Log-log complementary CDF of λ = s² with the fitted power law above xmin.

        Parameters
        ----------
        layer : str or int
            A row's name or index.
        ax : matplotlib.axes.Axes, optional
            Where to draw; default a new figure.

        Returns
        -------
        matplotlib.axes.Axes

        Raises
        ------
        KeyError, IndexError
            No such layer.
        InvalidInputError
            The layer was not analysed (its row has an ``error``).
        ImportError
            matplotlib is not installed (the ``plot`` extra).

        Examples
        --------
        >>> import numpy as np, torch, netsieve.torch as nt
        >>> from netsieve.synthetic import planted_spikes
        >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
        >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # ≈ 3× the BBP threshold
        >>> net[0].weight.data = torch.from_numpy(W).float()
        >>> report = nt.analyze(net, porter_thomas=False)
        >>> ax = report.plot_tail(0)
        >>> ax.get_xscale(), ax.get_yscale(), ax.get_title()
        ('log', 'log', '0.weight')
        >>> import matplotlib.pyplot as plt; plt.close(ax.figure)
        """
        from .report_plots import plot_tail

        return plot_tail(self, layer, ax)

    def plot_summary(self, fig: Any = None) -> Any:
        """Per-layer α, spikes, MP soft rank and stable rank.

        Parameters
        ----------
        fig : matplotlib.figure.Figure, optional
            Where to draw four stacked panels; default a new figure sized to the number of layers.

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        InvalidInputError
            No layer was analysed.
        ImportError
            matplotlib is not installed.

        Examples
        --------
        >>> import numpy as np, torch, netsieve.torch as nt
        >>> from netsieve.synthetic import planted_spikes
        >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
        >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # ≈ 3× the BBP threshold
        >>> net[0].weight.data = torch.from_numpy(W).float()
        >>> report = nt.analyze(net, porter_thomas=False)
        >>> fig = report.plot_summary()
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['α', 'MP spikes', 'λ₊/λmax', 'stable rank']
        >>> import matplotlib.pyplot as plt; plt.close(fig)
        """
        from .report_plots import plot_summary

        return plot_summary(self, fig)

    def to_html(self, path: str | os.PathLike, title: str | None = None) -> None:
        """Writes one self-contained HTML page: summary, sortable/filterable table, ESD plots.

        Everything is inline (CSS, script, PNG plots); the page never fetches anything
        (:mod:`netsieve.torch.html_report`). Written atomically.

        Parameters
        ----------
        path : str or os.PathLike
            The file; it may not be a folder or an input of the report.
        title : str, optional
            Default ``"netsieve analysis of <source>"``.

        Returns
        -------
        None

        Raises
        ------
        InvalidInputError
            ``path`` is a folder (or another non-file) or an input of the report.
        ImportError
            matplotlib is not installed (the ``plot`` extra).

        Examples
        --------
        >>> import pathlib, tempfile, torch, netsieve.torch as nt
        >>> report = nt.analyze(torch.nn.Linear(64, 32), porter_thomas=False)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
        >>> report.to_html(path)
        >>> text = path.read_text(); text.startswith("<!DOCTYPE html>"), 'data-key="alpha"' in text, "://" in text
        (True, True, False)
        """
        from .html_report import write_html

        write_html(self, path, title)

    def save_plots(self, folder: str | os.PathLike) -> list[Path]:
        """Writes summary.png, depth.png (with two blocks or more) and one <layer>.png (ESD and tail)
        per analysed layer, atomically.

        Parameters
        ----------
        folder : str or os.PathLike
            Created if needed; it may not be (or lie in) an input of the report. Characters of a
            layer name other than letters, digits and ``._-`` become ``_`` in its file name.

        Returns
        -------
        list of pathlib.Path
            The files written, summary.png first.

        Raises
        ------
        InvalidInputError
            ``folder`` is a file or an input folder of the report, or no layer was analysed.
        PermissionError
            The folder (or its nearest existing parent) is not writable.
        OSError
            A file cannot be written.
        ImportError
            matplotlib is not installed.

        Examples
        --------
        >>> import numpy as np, torch, netsieve.torch as nt
        >>> from netsieve.synthetic import planted_spikes
        >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
        >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # ≈ 3× the BBP threshold
        >>> net[0].weight.data = torch.from_numpy(W).float()
        >>> report = nt.analyze(net, porter_thomas=False)
        >>> import pathlib, tempfile
        >>> [p.name for p in report.save_plots(pathlib.Path(tempfile.mkdtemp()) / "plots")]
        ['summary.png', '0.weight.png']
        """
        from .report_plots import save_plots

        return save_plots(self, folder)
