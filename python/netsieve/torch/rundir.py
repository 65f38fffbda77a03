"""The run directory: atomic file writes, metrics files, checkpoints and the completion marker.

Layout::

    config.json            the TrainConfig (written first)
    metrics.jsonl/.csv     one row per epoch, rewritten atomically after every epoch
    checkpoints/last.safetensors + last.json   tensors (model, optimizer buffers, RNG states) + the rest
    checkpoints/epoch-NNNN.safetensors         the model's weights after epoch NNNN (0: initial), every
                                               ``TrainConfig.keep_checkpoints`` epochs
    model.safetensors      final weights
    margins.npz, spectra.npz, plots/*.png
    doubling.json          the doubling constant of the training inputs (``TrainConfig.doubling``)
    COMPLETE               written last, atomically, only after a successful run

A directory without ``COMPLETE`` is an unfinished (or failed) run; resuming it continues from the
last checkpoint.

Every JSON file here is strict JSON, written by :func:`netsieve._json.dumps`: a NaN metric (such as
``train_acc_noisy`` of a run without label noise) is ``null``, ±Inf the strings ``"inf"`` /
``"-inf"``; metrics.jsonl has one compact object per line. Reading a checkpoint back turns those
into NaN and ±Inf again (:mod:`netsieve.torch.train_state`), so a resumed run's history equals
the uninterrupted one's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from .._files import atomic_write_bytes, atomic_write_text
from .._json import dumps

__all__ = ["prepare_run_dir", "write_config", "write_metrics", "write_doubling", "DOUBLING_FILE",
           "save_checkpoint", "load_checkpoint", "mark_complete", "is_complete", "COMPLETE_MARKER",
           "write_final_spectra", "keep_weights", "epoch_checkpoints"]

COMPLETE_MARKER = "COMPLETE"
DOUBLING_FILE = "doubling.json"
CHECKPOINT_FORMAT = 1
_OWN_ENTRIES = ("config.json", "metrics.jsonl", "metrics.csv", "checkpoints", "model.safetensors",
                "margins.npz", "spectra.npz", "plots", DOUBLING_FILE, COMPLETE_MARKER)


def is_complete(run_dir: Path) -> bool:
    return (Path(run_dir) / COMPLETE_MARKER).exists()


def prepare_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> Path:
    """Creates/validates the run directory before any training; raises a clear error when it cannot
    be written, or when it already holds a run that neither ``resume`` nor ``overwrite`` allows."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=run_dir, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"run directory {str(run_dir)!r} is not writable: {exc.strerror or exc}") from None
    has_run = (run_dir / "config.json").exists()
    if resume:
        if not (run_dir / "checkpoints" / "last.json").exists():
            raise ValueError(f"cannot resume: {str(run_dir)!r} holds no checkpoint (checkpoints/last.json)")
    elif has_run:
        if not overwrite:
            raise ValueError(
                f"run directory {str(run_dir)!r} already holds a run; pass resume=True to continue it "
                "or overwrite=True to replace it"
            )
        _remove_own_entries(run_dir)
    elif any(p.name not in _OWN_ENTRIES for p in run_dir.iterdir()) and not overwrite:
        raise ValueError(f"run directory {str(run_dir)!r} is not empty and holds no netsieve run")
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    return run_dir


def _remove_own_entries(run_dir: Path) -> None:
    import shutil

    (run_dir / COMPLETE_MARKER).unlink(missing_ok=True)
    for name in _OWN_ENTRIES:
        p = run_dir / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def _csv_value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    return v


def write_config(run_dir: Path, record: Mapping[str, Any]) -> None:
    atomic_write_text(Path(run_dir) / "config.json", dumps(record) + "\n")


def write_doubling(run_dir: Path, result: Any) -> None:
    """``doubling.json``: a :class:`netsieve.DoublingResult` with its arrays."""
    atomic_write_text(Path(run_dir) / DOUBLING_FILE, dumps(result.to_dict(arrays=True)) + "\n")


def write_metrics(run_dir: Path, history: Iterable[Mapping[str, Any]]) -> None:
    rows = list(history)
    atomic_write_text(run_dir / "metrics.jsonl", "".join(dumps(r, indent=None) + "\n" for r in rows))
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _csv_value(v) for k, v in r.items()})
    atomic_write_text(run_dir / "metrics.csv", buf.getvalue())


def save_checkpoint(path_stem: Path, tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Writes ``<stem>.safetensors`` then ``<stem>.json`` (which carries the tensors' SHA-256, so a
    JSON file paired with other tensors is detected on load)."""
    from safetensors.torch import save

    blob = save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})
    stem = Path(path_stem)
    atomic_write_bytes(stem.with_suffix(".safetensors"), blob)
    meta = dict(meta, format=CHECKPOINT_FORMAT, tensors_sha256=hashlib.sha256(blob).hexdigest())
    atomic_write_text(stem.with_suffix(".json"), dumps(meta, indent=None))


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Reads a checkpoint given its ``.json``, ``.safetensors`` or stem path."""
    from safetensors.torch import load

    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".json", ".safetensors") else p
    jpath, tpath = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not jpath.exists() or not tpath.exists():
        raise ValueError(f"checkpoint {str(stem)!r} is incomplete: need both {jpath.name} and {tpath.name}")
    try:
        meta = json.loads(jpath.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"checkpoint metadata {str(jpath)!r} is not valid JSON: {exc}") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {str(jpath)!r} has format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    blob = tpath.read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta.get("tensors_sha256"):
        raise ValueError(f"checkpoint {str(stem)!r}: {tpath.name} does not match {jpath.name} (different save)")
    return load(blob), meta


def keep_weights(run_dir: Path, epoch: int, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Writes the weights after ``epoch`` as ``checkpoints/epoch-NNNN.safetensors`` (atomically)."""
    from safetensors.torch import save

    blob = save({k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}, metadata={"epoch": str(epoch)})
    atomic_write_bytes(Path(run_dir) / "checkpoints" / f"epoch-{epoch:04d}.safetensors", blob)


def epoch_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(epoch, file) of the kept weights of a run directory, by epoch."""
    found = []
    for p in (Path(run_dir) / "checkpoints").glob("epoch-*.safetensors"):
        digits = p.stem[len("epoch-"):]
        if digits.isdigit():
            found.append((int(digits), p))
    return sorted(found)


def mark_complete(run_dir: Path, summary: Mapping[str, Any]) -> None:
    atomic_write_text(Path(run_dir) / COMPLETE_MARKER, dumps(summary, indent=None) + "\n")


def write_final_spectra(run_dir: Path, weights: Mapping[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
    """Singular values and bulk fits of the final weights (for the plots); the values go to spectra.npz."""
    import numpy as np

    from .. import analyze_spectra

    res = analyze_spectra(weights, level_statistics=False, errors="collect")
    out, arrays = {}, {}
    for name, r in res.items():
        if r.error is None and r.fit is not None:
            out[name] = {"s": r.singular_values, "shape": r.shape, "sigma": r.fit.sigma, "n_spikes": r.fit.n_spikes,
                         "spike_threshold": r.fit.spike_threshold, "spread": r.fit.spread,
                         "population_shape": r.fit.population_shape}
            arrays[name] = r.singular_values
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(run_dir / "spectra.npz", buf.getvalue())
    return out
