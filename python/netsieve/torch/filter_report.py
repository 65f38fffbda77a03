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
    """One filtered matrix: where it came from and what the filter did to it.

    Parameters
    ----------
    name : str
        The matrix's name (``"fc.weight"``, ``"conv.weight[k=1]"``, ``"attn.in_proj_weight[q]"``).
    tensor_name : str
        The parameter or state-dict key it is (part of).
    layer_type : str
        The owning module's class (``"Linear"``, ``"Conv2d"``, ...), or ``"matrix"`` when inferred
        from a state dict's names and shapes.
    dtype : str
        The tensor's dtype (``"float32"``, ``"bfloat16"``, ...).
    record : ShrinkRecord
        The core's record: σ, bulk edges, threshold, kept rank and energy, relative change.

    Raises
    ------
    dataclasses.FrozenInstanceError
        On assigning a field.

    Examples
    --------
    >>> import numpy as np, torch, netsieve.torch as nt
    >>> from netsieve.synthetic import planted_spikes
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
    >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # one spike, σ = 0.05
    >>> net[0].weight.data = torch.from_numpy(W).float()
    >>> _, report = nt.filter_model(net, "hard")
    >>> layer = report["0.weight"]
    >>> layer.layer_type, layer.dtype, layer.record.kept_rank, round(layer.record.sigma, 2)
    ('Linear', 'float32', 1, 0.05)
    """

    name: str
    tensor_name: str
    layer_type: str
    dtype: str
    record: ShrinkRecord = field(repr=False)

    def to_dict(self, arrays: bool = False, **legacy: Any) -> dict[str, Any]:
        """The identity (``name``, ``tensor``, ``layer_type``, ``dtype``) and the record's fields.

        Parameters
        ----------
        arrays : bool, default False
            Also the singular values before and after the filter (``singular_values``,
            ``shrunk_singular_values``).
        **legacy
            ``include_spectra=`` / ``spectra=``, the former names of ``arrays`` (DeprecationWarning).

        Returns
        -------
        dict
            Plain Python values (JSON-ready).

        Raises
        ------
        TypeError
            Any other keyword argument.

        Examples
        --------
        >>> import numpy as np, torch, netsieve.torch as nt
        >>> from netsieve.synthetic import planted_spikes
        >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
        >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # one spike, σ = 0.05
        >>> net[0].weight.data = torch.from_numpy(W).float()
        >>> _, report = nt.filter_model(net, "hard")
        >>> row = report["0.weight"].to_dict()
        >>> row["name"], row["tensor"], row["kept_rank"], "singular_values" in row
        ('0.weight', '0.weight', 1, False)
        >>> len(report["0.weight"].to_dict(arrays=True)["singular_values"])
        64
        """
        arrays = _legacy_arrays(arrays, legacy)
        ids = {"name": self.name, "tensor": self.tensor_name, "layer_type": self.layer_type, "dtype": self.dtype}
        return {**ids, **self.record.to_dict(arrays)}


@dataclass(frozen=True)
class FilterReport(LayerTable):
    """One row per filtered matrix, the tensors (and files) that were skipped and why, and the
    layers that failed (with ``errors="collect"``; their weights are left as they were).

    Made by :func:`filter_model`, :func:`filter_state_dict` and :func:`filter_checkpoint`.
    ``len(report)``, iteration and ``report["name"]`` give the :class:`LayerFilter` rows;
    ``str(report)`` is the text table. ``to_json(path=None)`` (strict JSON) and
    ``to_csv(path=None)`` come from :class:`netsieve._report.LayerTable` and write the file when
    given a path (atomically; never over the report's inputs).

    Parameters
    ----------
    method : str
        The shrinkage method.
    options : mapping
        The options of the call (``layers``, ``sigma``, the method's options, the selection).
    layers : tuple of LayerFilter
    skipped : tuple of Skipped
        Tensors (and, for a folder, files) that were not filtered, each with its reason.
    failed : tuple of (str, str), default ()
        (matrix name, error) of the layers that failed with ``errors="collect"``.
    inputs : tuple of str, default ()
        The file or folder read by :func:`filter_checkpoint`.

    Attributes
    ----------
    columns : sequence of str
        The CSV columns: the union of the rows' keys, in first-seen order.

    Raises
    ------
    KeyError
        ``report["name"]`` of a matrix that was not filtered.

    Examples
    --------
    >>> import numpy as np, torch, netsieve.torch as nt
    >>> from netsieve.synthetic import planted_spikes
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
    >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # one spike, σ = 0.05
    >>> net[0].weight.data = torch.from_numpy(W).float()
    >>> _, report = nt.filter_model(net, "hard")
    >>> len(report), [layer.name for layer in report], [s.name for s in report.skipped]
    (1, ['0.weight'], ['0.bias', '2.weight', '2.bias'])
    >>> report.to_csv().splitlines()[0].split(",")[:4]
    ['name', 'tensor', 'layer_type', 'dtype']
    >>> str(report).splitlines()[0]
    "netsieve filter, method='hard'"
    """

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
        """Plain Python values: ``method``, ``options``, ``layers`` (one :meth:`LayerFilter.to_dict`
        each), ``skipped`` and ``failed`` (``{"name", "error"}`` dicts).

        Parameters
        ----------
        arrays : bool, default False
            Include each layer's singular values before and after.
        **legacy
            ``include_spectra=`` / ``spectra=``, the former names of ``arrays`` (DeprecationWarning).

        Returns
        -------
        dict

        Raises
        ------
        TypeError
            Any other keyword argument.

        Examples
        --------
        >>> import numpy as np, torch, netsieve.torch as nt
        >>> from netsieve.synthetic import planted_spikes
        >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
        >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # one spike, σ = 0.05
        >>> net[0].weight.data = torch.from_numpy(W).float()
        >>> _, report = nt.filter_model(net, "hard")
        >>> d = report.to_dict()
        >>> list(d), d["layers"][0]["name"], d["failed"]
        (['method', 'options', 'layers', 'skipped', 'failed'], '0.weight', [])
        """
        out = {"method": self.method, **super().to_dict(arrays, **legacy)}
        out["failed"] = [{"name": n, "error": e} for n, e in self.failed]
        return out

    def to_dataframe(self) -> Any:
        """The per-layer table as a pandas DataFrame indexed by matrix name (needs pandas).

        Returns
        -------
        pandas.DataFrame
            One row per filtered matrix, the :attr:`columns` but ``name`` as columns (an empty
            report gives an empty frame, not indexed by name).

        Raises
        ------
        ImportError
            pandas is not installed.

        Examples
        --------
        >>> import numpy as np, torch, netsieve.torch as nt
        >>> from netsieve.synthetic import planted_spikes
        >>> net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 4))
        >>> W = planted_spikes(np.random.default_rng(0), 128, 64, [1.4], sigma=0.05)  # one spike, σ = 0.05
        >>> net[0].weight.data = torch.from_numpy(W).float()
        >>> _, report = nt.filter_model(net, "hard")
        >>> df = report.to_dataframe()
        >>> df.index.tolist(), int(df.loc["0.weight", "kept_rank"])
        (['0.weight'], 1)
        """
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
