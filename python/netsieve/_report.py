"""The one base of netsieve's per-layer reports (the analysis ``Report`` and the ``FilterReport``):
rows of plain values, the skipped entries, and exports to strict JSON, CSV and pandas in one place.

A report knows the inputs it was computed from (files or folders) and refuses to export over
them (:func:`netsieve._files.check_outputs`); files are written atomically.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

from ._json import dumps, plain

__all__ = ["LayerTable"]


def _legacy_arrays(arrays: bool, legacy: dict[str, Any]) -> bool:
    """The old ``include_spectra=`` / ``spectra=`` keywords, with a warning."""
    for key in ("include_spectra", "spectra"):
        if key in legacy:
            import warnings

            warnings.warn(f"{key}= is deprecated; use arrays=", DeprecationWarning, stacklevel=3)
            arrays = bool(legacy.pop(key))
    if legacy:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(legacy)}")
    return arrays


class LayerTable:
    """Export of a per-layer report. Subclasses define :meth:`layer_rows` (one dict of plain values
    per layer), :attr:`columns` (the CSV column order), and set ``skipped``, ``options`` and
    ``inputs``; :meth:`summary` is optional."""

    skipped: Sequence[Any]
    options: Any
    inputs: tuple[str | os.PathLike, ...]

    @property
    def columns(self) -> Sequence[str]:
        raise NotImplementedError

    def layer_rows(self, arrays: bool = False) -> list[dict[str, Any]]:
        raise NotImplementedError

    def summary_dict(self) -> dict[str, Any] | None:
        return None

    def to_dict(self, arrays: bool = False, **legacy: Any) -> dict[str, Any]:
        """Plain Python values: summary (when the report has one), options, layers, skipped."""
        arrays = _legacy_arrays(arrays, legacy)
        out: dict[str, Any] = {}
        summary = self.summary_dict()
        if summary is not None:
            out["summary"] = summary
        out["options"] = plain(dict(self.options))
        out["layers"] = self.layer_rows(arrays)
        out["skipped"] = [s.to_dict() for s in self.skipped]
        return out

    def _write(self, path: str | os.PathLike, text: str, newline: str | None = None) -> None:
        from ._files import atomic_write, check_outputs

        check_outputs([("output", path)], self.inputs)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", newline=newline))

    def to_json(self, path: str | os.PathLike | None = None, *, arrays: bool = False, indent: int = 2, **legacy: Any) -> str:
        """The report as strict JSON (NaN → null, ±Inf → "inf"/"-inf"); written atomically to
        ``path`` when given."""
        text = dumps(self.to_dict(_legacy_arrays(arrays, legacy)), indent=indent)
        if path is not None:
            self._write(path, text)
        return text

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """One CSV row per layer in :attr:`columns` order (None as an empty cell); written
        atomically to ``path`` when given."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        columns = list(self.columns)
        writer.writerow(columns)
        for row in self.layer_rows(False):
            writer.writerow(["" if row.get(k) is None else row[k] for k in columns])
        text = buf.getvalue()
        if path is not None:
            self._write(path, text, newline="")
        return text

    def to_dataframe(self) -> Any:
        """The per-layer table as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_dataframe() needs pandas (pip install pandas)") from exc
        return pd.DataFrame(self.layer_rows(False), columns=list(self.columns))


def union_columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Keys of all rows, in first-seen order."""
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    return columns
