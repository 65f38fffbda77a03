"""The state of a training run that a checkpoint carries, and how a run resumes from one.

Randomness (:class:`RunRandomness`): the model is initialised after ``torch.manual_seed(seed)``;
mini-batch order, the ζ probe batches, the geometric-complexity probes and the random control arm
of pruning each have their own ``torch.Generator`` seeded from ``seed``, and the ζ random labels
and the geometric-complexity samples are drawn once from generators of their own, so switching a
diagnostic on or off never changes the trained weights.

A checkpoint is tensors (model, optimizer buffers, generator states, the active indices) plus JSON
metadata (config, epoch, optimizer scalars, history, ζ terms, separation epoch), written by
:func:`netsieve.torch.rundir.save_checkpoint`. Strict JSON stores NaN as null and ±Inf as
"inf"/"-inf"; :func:`restore` reads them back as the floats they were.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch

from . import rundir as _rd
from .train_config import TrainConfig

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["RunRandomness", "check_resume", "state_tensors", "state_meta", "restore", "save_margins",
           "RESUMABLE_CHANGES"]

# Fields that may differ between a checkpoint and the config that resumes it: they do not change
# what the run computed so far.
RESUMABLE_CHANGES = frozenset({"epochs", "progress", "plots", "num_threads", "checkpoint_every", "keep_checkpoints"})

# Generators that advance during a run (saved in checkpoints) and their seed offsets; offsets 2 and 4
# seed the one-off draws of the ζ random labels and the geometric-complexity samples.
_GENERATORS = {"shuffle": 0, "probe": 1, "gc": 3, "prune": 5}


@dataclass
class RunRandomness:
    """The generators of a run and its fixed random draws (see the module docs)."""

    shuffle: torch.Generator
    probe: torch.Generator
    gc: torch.Generator
    prune: torch.Generator
    random_labels: torch.Tensor  # ζ's labels, fixed once like the official code's corrupt_prob=1 copy
    gc_indices: torch.Tensor

    @classmethod
    def seeded(cls, seed: int, n_train: int, n_classes: int, gc_samples: int) -> "RunRandomness":
        gens = {name: torch.Generator().manual_seed(seed + k) for name, k in _GENERATORS.items()}
        labels = torch.randint(0, n_classes, (n_train,), generator=torch.Generator().manual_seed(seed + 2))
        gc_indices = torch.randperm(n_train, generator=torch.Generator().manual_seed(seed + 4))[:gc_samples]
        return cls(**gens, random_labels=labels, gc_indices=gc_indices)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """torch's global RNG state and each generator's, as checkpoint tensors ``rng.*``."""
        return {"rng.torch": torch.get_rng_state(),
                **{f"rng.{name}": getattr(self, name).get_state() for name in _GENERATORS}}

    def restore(self, tensors: Mapping[str, torch.Tensor]) -> None:
        torch.set_rng_state(tensors["rng.torch"])
        for name in _GENERATORS:
            getattr(self, name).set_state(tensors[f"rng.{name}"])


def check_resume(config: TrainConfig, meta: Mapping[str, Any]) -> None:
    """Refuses a checkpoint written under a different configuration, or beyond ``config.epochs``."""
    saved = meta.get("config", {})
    now = config.to_dict()
    diff = sorted(k for k in set(saved) | set(now) if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))
    if diff:
        details = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs config {now.get(k)!r}" for k in diff)
        raise ValueError(f"cannot resume: the checkpoint was written by a different configuration ({details})")
    if meta.get("epoch", 0) > config.epochs:
        raise ValueError(f"cannot resume: the checkpoint is at epoch {meta['epoch']}, beyond epochs={config.epochs}")


def state_tensors(trainer: "Trainer") -> dict[str, torch.Tensor]:
    t = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    for idx, st in trainer.optimizer.state_dict()["state"].items():
        for name, v in st.items():
            if isinstance(v, torch.Tensor):
                t[f"optim.{idx}.{name}"] = v
    t.update(trainer.rng.state_tensors())
    t["prune.active"] = trainer.active
    return t


def state_meta(trainer: "Trainer") -> dict[str, Any]:
    osd = trainer.optimizer.state_dict()
    scalars = {str(i): {k: v for k, v in st.items() if not isinstance(v, torch.Tensor)} for i, st in osd["state"].items()}
    return {"config": trainer.config.to_dict(), "epoch": trainer.epoch, "data_fingerprint": trainer.data.fingerprint(),
            "optimizer_param_groups": osd["param_groups"], "optimizer_scalars": scalars,
            "history": trainer.history, "zeta_terms": trainer.zeta_terms, "separated_epoch": trainer.separated_epoch,
            "margin_epochs": trainer.margin_epochs}


def _number(v: Any) -> Any:
    """A metric value read back from strict JSON: null → NaN, "inf"/"-inf" → ±Inf (no metric is a
    string or None); lists item by item."""
    if v is None:
        return math.nan
    if isinstance(v, str) and v in ("inf", "-inf"):
        return float(v)
    if isinstance(v, list):
        return [_number(x) for x in v]
    return v


def restore(trainer: "Trainer", tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Puts a checkpoint's state into a freshly built trainer (same config, data and model shape)."""
    if meta.get("data_fingerprint") != trainer.data.fingerprint():
        raise ValueError("cannot resume: the checkpoint was trained on different data")
    msd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    own = trainer.model.state_dict()
    if set(msd) != set(own) or any(tuple(msd[k].shape) != tuple(own[k].shape) for k in own):
        raise ValueError("cannot resume: the checkpoint's model has different layers or shapes")
    trainer.model.load_state_dict(msd)
    state: dict[int, dict[str, Any]] = {int(i): dict(sc) for i, sc in meta["optimizer_scalars"].items()}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, idx, name = k.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    try:
        trainer.optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer_param_groups"]})
    except (ValueError, KeyError) as exc:
        raise ValueError(f"cannot resume: the checkpoint's optimizer state does not fit: {exc}") from None
    trainer.rng.restore(tensors)
    trainer.active = tensors["prune.active"].to(torch.int64)
    trainer.epoch = int(meta["epoch"])
    trainer.history = [{k: _number(v) for k, v in r.items()} for r in meta["history"]]
    trainer.zeta_terms = [_number(v) for v in meta["zeta_terms"]]
    trainer.separated_epoch = meta["separated_epoch"]
    trainer.margin_epochs = list(meta.get("margin_epochs", []))
    run_dir = trainer.run_dir
    if run_dir is not None and trainer.margin_epochs and (run_dir / "margins.npz").exists():
        with np.load(run_dir / "margins.npz") as z:
            keep = [i for i, e in enumerate(z["epochs"].tolist()) if e <= trainer.epoch]
            trainer.margin_snapshots = [z["margins"][i] for i in keep]
            trainer.margin_epochs = [int(z["epochs"][i]) for i in keep]
    else:
        trainer.margin_epochs = []


def save_margins(trainer: "Trainer") -> None:
    """The training margins of every epoch so far, with their epochs and the noisy mask, as margins.npz."""
    buf = io.BytesIO()
    np.savez(buf, epochs=np.asarray(trainer.margin_epochs, dtype=np.int64),
             margins=np.stack(trainer.margin_snapshots).astype(np.float32), noisy_mask=trainer.noise.mask.numpy())
    _rd.atomic_write_bytes(trainer.run_dir / "margins.npz", buf.getvalue())
