"""The spectra of a training run's checkpoints over epochs: every checkpoint analysed like
:func:`netsieve.torch.analyze` (one core :class:`netsieve.LayerReport` per matrix), then, per
layer, its leading singular values, spike count, σ and bulk edge against the epoch, and one figure
per layer group (the layers of one role: all query projections, all MLP up projections, …; the
layers of a small network, role ``other``, form one group).

Inputs: a run directory of :func:`netsieve.torch.train` with kept weights
(``TrainConfig(keep_checkpoints=k)``: ``checkpoints/epoch-NNNN.safetensors``, epoch 0 the initial
weights; the final ``model.safetensors`` is added when its epoch was not kept), a folder of
checkpoint sub-folders named ``checkpoint-STEP`` (the ``transformers`` Trainer's output folder), or
a list of checkpoints (anything ``analyze`` takes) with their ``epochs``.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from netsieve import InvalidInputError, LayerReport

from .._report import LayerTable
from .rundir import epoch_checkpoints

__all__ = ["Evolution", "LayerEvolution", "evolution", "find_checkpoints"]

_STEP_FOLDER = re.compile(r"checkpoint-(\d+)")


def find_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(epoch or step, checkpoint) of a run directory (module docs), in order.

    Raises
    ------
    FileNotFoundError
        ``run_dir`` is not a folder.
    InvalidInputError
        No kept checkpoints (naming ``keep_checkpoints``).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no such run directory: {run_dir}")
    found = epoch_checkpoints(run_dir)
    final = run_dir / "model.safetensors"
    config = run_dir / "config.json"
    if found and final.is_file() and config.is_file():
        try:
            epochs = json.loads(config.read_text(encoding="utf-8"))["config"]["epochs"]
        except (ValueError, KeyError, TypeError):
            epochs = None
        if isinstance(epochs, int) and epochs not in {e for e, _ in found}:
            found.append((epochs, final))
    if not found:
        found = sorted((int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := _STEP_FOLDER.fullmatch(p.name)))
    if not found:
        raise InvalidInputError(
            f"{run_dir} holds no kept checkpoints (checkpoints/epoch-NNNN.safetensors: train with "
            "TrainConfig(keep_checkpoints=k), --keep-checkpoints K; or checkpoint-STEP folders)"
        )
    return found


@dataclass(frozen=True)
class LayerEvolution:
    """One layer over the checkpoints: its core rows (None where the checkpoint lacks it).

    Attributes
    ----------
    name, block, role
        As in :class:`netsieve.LayerReport`.
    epochs : tuple of int
    rows : tuple of LayerReport or None

    Raises
    ------
    dataclasses.FrozenInstanceError
        On assigning a field.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> w = torch.randn(100, 50, generator=torch.Generator().manual_seed(0))
    >>> layer = nt.evolution([{"fc.weight": w}, {"fc.weight": w + torch.ones(100, 50)}])["fc.weight"]
    >>> layer.epochs, layer.n_spikes.tolist(), layer.singular_values(2).shape
    ((0, 1), [0.0, 1.0], (2, 2))
    """

    name: str
    block: int | None
    role: str
    epochs: tuple[int, ...]
    rows: tuple[LayerReport | None, ...]

    def _field(self, field: str) -> np.ndarray:
        return np.array([np.nan if r is None or getattr(r, field) is None else float(getattr(r, field)) for r in self.rows])

    @property
    def n_spikes(self) -> np.ndarray:
        """Spike count per checkpoint (NaN where absent or failed)."""
        return self._field("n_spikes")

    @property
    def sigma(self) -> np.ndarray:
        return self._field("sigma")

    @property
    def bulk_max(self) -> np.ndarray:
        return self._field("bulk_max")

    def singular_values(self, k: int = 10) -> np.ndarray:
        """The ``k`` leading singular values per checkpoint: an (epochs × k) array, NaN-padded."""
        out = np.full((len(self.rows), k), np.nan)
        for i, r in enumerate(self.rows):
            if r is not None and r.ok:
                s = np.asarray(r.singular_values)[:k]
                out[i, : len(s)] = s
        return out


class Evolution(LayerTable):
    """The reports of a run's checkpoints (:func:`evolution`).

    Attributes
    ----------
    epochs : tuple of int
    checkpoints : tuple of str
    reports : tuple of Report
        One per checkpoint, in epoch order.
    layers : list of LayerEvolution
        Every layer found, in checkpoint order; ``evolution[name]`` picks one.

    Raises
    ------
    KeyError
        ``evolution[name]`` of a layer in no checkpoint.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> g = torch.Generator().manual_seed(3)
    >>> sd = {"model.layers.0.mlp.up_proj.weight": torch.randn(80, 40, generator=g)}
    >>> evo = nt.evolution([sd, sd], epochs=[0, 4])
    >>> evo.epochs, list(evo.groups()), evo.to_csv().splitlines()[0].split(",")[:3]
    ((0, 4), ['mlp.up'], ['epoch', 'checkpoint', 'name'])
    """

    def __init__(self, epochs: Sequence[int], checkpoints: Sequence[str], reports: Sequence[Any], elapsed_s: float,
                 options: dict, inputs: Sequence[str | os.PathLike] = ()):  # fmt: skip
        self.epochs, self.checkpoints, self.reports = tuple(epochs), tuple(checkpoints), tuple(reports)
        self.elapsed_s, self.options, self.inputs = elapsed_s, options, tuple(inputs)
        self.skipped = list(self.reports[-1].skipped) if self.reports else []
        order: dict[str, LayerReport] = {}
        for report in self.reports:
            for r in report.rows:
                order.setdefault(r.name, r)
        by_ckpt = [{r.name: r for r in report.rows} for report in self.reports]
        self.layers = [
            LayerEvolution(n, first.block, first.role, self.epochs, tuple(rows.get(n) for rows in by_ckpt))
            for n, first in order.items()
        ]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[LayerEvolution]:
        return iter(self.layers)

    def __getitem__(self, name: str) -> LayerEvolution:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r} in any checkpoint")

    def groups(self) -> dict[str, list[LayerEvolution]]:
        """Role → its layers, in checkpoint order."""
        out: dict[str, list[LayerEvolution]] = {}
        for layer in self.layers:
            out.setdefault(layer.role, []).append(layer)
        return out

    @property
    def columns(self) -> Sequence[str]:
        return ("epoch", "checkpoint", *LayerReport.SCALAR_FIELDS)

    def layer_rows(self, arrays: bool = False) -> list[dict[str, Any]]:
        from .._json import plain

        return [
            plain({"epoch": e, "checkpoint": c, **r.to_dict(arrays)})
            for e, c, report in zip(self.epochs, self.checkpoints, self.reports)
            for r in report.rows
        ]

    def summary_dict(self) -> dict[str, Any]:
        return {"epochs": list(self.epochs), "checkpoints": list(self.checkpoints), "n_layers": len(self.layers),
                "elapsed_s": self.elapsed_s}  # fmt: skip

    def __str__(self) -> str:
        head = f"netsieve evolution over {len(self.epochs)} checkpoints (epochs {', '.join(map(str, self.epochs))})"
        lines = [head, "spikes per epoch:"]
        width = max([len(layer.name) for layer in self.layers] + [5])
        for layer in self.layers:
            counts = " ".join("—" if np.isnan(v) else str(int(v)) for v in layer.n_spikes)
            lines.append(f"  {layer.name.ljust(width)}  {counts}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Evolution {len(self.layers)} layers over epochs {list(self.epochs)}>"

    def plot(self, role: str, k: int = 10, fig: Any = None) -> Any:
        """The figure of one layer group: per layer, its ``k`` leading singular values and the bulk
        edge against the epoch (a panel each), and a last panel of the spike counts."""
        from .._plotting import pyplot

        layers = self.groups().get(role)
        if not layers:
            raise InvalidInputError(f"no layers of role {role!r}; the groups are {', '.join(self.groups())}")
        plt = pyplot()
        cols = min(4, len(layers) + 1)
        rows = -(-(len(layers) + 1) // cols)
        fig = fig or plt.figure(figsize=(3.2 * cols, 2.6 * rows))
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        x = np.array(self.epochs)
        for ax, layer in zip(axes, layers):
            s = layer.singular_values(k)
            for j in range(s.shape[1]):
                ax.plot(x, s[:, j], "-", lw=1, color=plt.cm.viridis(j / max(1, k - 1)))
            ax.plot(x, layer.bulk_max, "k--", lw=1, label="bulk edge")
            ax.set_title(layer.name, fontsize=7)
            ax.set_xlabel("epoch", fontsize=7)
        spikes = axes[len(layers)]
        for layer in layers:
            spikes.plot(x, layer.n_spikes, "o-", ms=3, label=layer.name if len(layers) <= 8 else None)
        spikes.set_title("spikes", fontsize=8)
        spikes.set_xlabel("epoch", fontsize=7)
        if len(layers) <= 8:
            spikes.legend(fontsize=5)
        for ax in axes[len(layers) + 1 :]:
            ax.axis("off")
        fig.suptitle(f"{role}: leading singular values and bulk edge (dashed) over epochs", fontsize=9)
        fig.tight_layout()
        return fig

    def save_plots(self, folder: str | os.PathLike, k: int = 10) -> list[Path]:
        """Writes ``evolution-ROLE.png`` per layer group into ``folder`` (created; not an input)."""
        from .._files import atomic_write, check_output_folder
        from .._plotting import pyplot

        folder = Path(folder)
        check_output_folder("plots folder", folder, self.inputs)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for role in self.groups():
            fig = self.plot(role, k)
            path = folder / f"evolution-{role.replace('.', '-')}.png"
            atomic_write(path, lambda tmp, fig=fig: fig.savefig(tmp, format="png", dpi=100))
            pyplot().close(fig)
            written.append(path)
        return written


def evolution(run_or_checkpoints: Any, epochs: Sequence[int] | None = None, *, porter_thomas: bool = False,
              progress: bool | None = None, **options: Any) -> Evolution:  # fmt: skip
    """Analyses every checkpoint of a training run and follows each layer over the epochs.

    Parameters
    ----------
    run_or_checkpoints : path or sequence
        A run directory (module docs) or a list of checkpoints (paths, state dicts, modules).
    epochs : sequence of int, optional
        With a list: the epoch (or step) of each (default 0, 1, 2, …).
    porter_thomas : bool, default False
        Off by default: the evolution needs the singular values, not the vectors.
    progress : bool, optional
        A bar over checkpoints (default: when stderr is a terminal).
    **options
        Passed to :func:`netsieve.torch.analyze` (``layers``, ``embeddings``, ``min_dim``,
        ``client``, ...).

    Returns
    -------
    Evolution

    Raises
    ------
    InvalidInputError
        A run directory without kept checkpoints, ``epochs`` of the wrong length or not increasing.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> g = torch.Generator().manual_seed(0)
    >>> w = torch.randn(120, 60, generator=g)
    >>> steps = [{"fc.weight": w + 0.5 * t * torch.ones(120, 60)} for t in range(3)]  # a growing rank-one part
    >>> evo = nt.evolution(steps, epochs=[0, 5, 10])
    >>> evo["fc.weight"].n_spikes.tolist()
    [0.0, 1.0, 1.0]
    """
    from .._progress import progress_bar
    from .analysis import analyze

    start = time.perf_counter()
    if isinstance(run_or_checkpoints, (str, os.PathLike)):
        if epochs is not None:
            raise InvalidInputError("epochs= is for a list of checkpoints; a run directory names its own")
        found = find_checkpoints(run_or_checkpoints)
        epochs, items, inputs = [e for e, _ in found], [p for _, p in found], (str(run_or_checkpoints),)
    else:
        items = list(run_or_checkpoints)
        epochs = list(range(len(items))) if epochs is None else [int(e) for e in epochs]
        inputs = tuple(str(p) for p in items if isinstance(p, (str, os.PathLike)))
    if not items:
        raise InvalidInputError("no checkpoints to follow")
    if len(epochs) != len(items):
        raise InvalidInputError(f"{len(epochs)} epochs for {len(items)} checkpoints")
    if any(b <= a for a, b in zip(epochs, epochs[1:])):
        raise InvalidInputError(f"epochs must increase, got {list(epochs)}")
    bar = progress_bar(len(items), "netsieve evolution", progress, unit="checkpoint")
    reports = []
    try:
        for item in items:
            reports.append(analyze(item, porter_thomas=porter_thomas, progress=False, **options))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    names = [str(p) if isinstance(p, (str, os.PathLike)) else type(p).__name__ for p in items]
    shown = dict(reports[0].options)
    return Evolution(epochs, names, reports, time.perf_counter() - start, shown, inputs)
