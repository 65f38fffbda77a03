"""The per-epoch metrics of a training run: a registry of named metrics, each the function that
computes its columns of the epoch's row (``metrics.jsonl``).

A metric is a function of an :class:`EpochContext` returning ``{column: value}``, registered with
:func:`register_metric`. :data:`METRICS` lists the built-in ones in registration order, which is
also the order of their columns in a row; :data:`DEFAULT_METRICS` those on by default. The trainer
runs the chosen metrics in registry order: those registered ``before_step=True`` (ζ) before the
epoch's training step, the others after it. Adding a metric is one registered function::

    @register_metric("weight_norm")
    def _weight_norm(ctx):
        return {"weight_norm": float(sum(p.detach().pow(2).sum() for p in ctx.model.parameters()) ** 0.5)}

The context computes what several metrics share once per epoch and only when asked for: the logits
of the training and test sets (eval mode) and the training margins, which pruning reuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from .. import margins
from ._modes import eval_mode
from .diagnostics import geometric_complexity
from .diagnostic_columns import delta_columns, margin_columns, spectral_columns, zeta_columns
from .noise import LabelNoise

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["METRICS", "DEFAULT_METRICS", "Metric", "EpochContext", "register_metric", "metric_names",
           "selected_metrics"]


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``compute(ctx)`` gives its columns of the epoch's row."""

    name: str
    compute: Callable[["EpochContext"], Mapping[str, Any]]
    before_step: bool = False  # measured before the epoch's training step, on the weights it starts from
    default: bool = False  # in DEFAULT_METRICS


_REGISTRY: dict[str, Metric] = {}


def register_metric(name: str, *, before_step: bool = False, default: bool = False):
    """Decorator: registers ``fn(ctx) -> {column: value}`` as the metric ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a metric name must be a non-empty string, got {name!r}")

    def register(fn: Callable[["EpochContext"], Mapping[str, Any]]):
        if name in _REGISTRY:
            raise ValueError(f"metric {name!r} is already registered")
        _REGISTRY[name] = Metric(name, fn, before_step=before_step, default=default)
        return fn

    return register


def metric_names() -> tuple[str, ...]:
    """Every registered metric, built-in ones first, in registry order."""
    return tuple(_REGISTRY)


def selected_metrics(names: Any) -> list[Metric]:
    """The registered metrics among ``names``, in registry order (unknown names are an error)."""
    chosen = set(names)
    unknown = sorted(chosen - set(_REGISTRY))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; valid names: {', '.join(_REGISTRY)}")
    return [m for m in _REGISTRY.values() if m.name in chosen]


# -- evaluation helpers (shared with Trainer / evaluate) --------------------------------------------


@torch.no_grad()
def eval_logits(model: nn.Module, x: torch.Tensor, batch_size: int, device: Any) -> torch.Tensor:
    """The model's float32 CPU outputs for ``x`` in eval mode, in batches of ``batch_size``."""
    with eval_mode(model):
        out = [model(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).to(torch.float64).mean()) if y.numel() else float("nan")


def train_accuracies(logits: torch.Tensor, noise: LabelNoise) -> dict[str, float]:
    """Accuracy on the given labels, and on the clean and the corrupted subsets (NaN when empty)."""
    pred = logits.argmax(1)
    m = noise.mask
    return {
        "train_acc": accuracy(logits, noise.labels),
        "train_acc_clean": accuracy(logits[~m], noise.labels[~m]),
        # On corrupted samples: predicting the given (wrong) label = memorisation; the true one = robustness.
        "train_acc_noisy": float((pred[m] == noise.labels[m]).double().mean()) if m.any() else float("nan"),
        "train_acc_noisy_true": float((pred[m] == noise.clean_labels[m]).double().mean()) if m.any() else float("nan"),
    }


# -- the context -------------------------------------------------------------------------------------


class EpochContext:
    """What a metric sees: the trainer (model, optimizer, data, noise, generators, epoch), the row
    so far (read it, do not change it), the previous epoch's row, the epoch's mean mini-batch loss
    (None before the training step), and shared per-epoch values computed on first use."""

    def __init__(self, trainer: "Trainer", row: Mapping[str, Any], train_loss: float | None = None):
        self.trainer = trainer
        self.row = row
        self.train_loss = train_loss

    @property
    def config(self):
        return self.trainer.config

    @property
    def model(self) -> nn.Module:
        return self.trainer.model

    @property
    def noise(self) -> LabelNoise:
        return self.trainer.noise

    @property
    def previous(self) -> Mapping[str, Any] | None:
        return self.trainer.history[-1] if self.trainer.history else None

    @cached_property
    def train_logits(self) -> torch.Tensor:
        c = self.config
        return eval_logits(self.model, self.trainer.data.x_train, c.eval_batch_size, c.device)

    @cached_property
    def test_logits(self) -> torch.Tensor:
        c = self.config
        return eval_logits(self.model, self.trainer.data.x_test, c.eval_batch_size, c.device)

    @cached_property
    def train_loss_eval(self) -> float:
        return float(nn.functional.cross_entropy(self.train_logits, self.noise.labels))

    @cached_property
    def train_margins(self) -> np.ndarray:
        """Logit margins of the full training set on its given labels (float32 numpy)."""
        return margins(self.train_logits.numpy(), self.noise.labels.numpy())


# -- the built-in metrics, in the order of their columns -------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@register_metric("loss", default=True)
def _loss(ctx: EpochContext) -> dict[str, Any]:
    return {"loss": ctx.train_loss}


@register_metric("train_acc", default=True)
def _train_acc(ctx: EpochContext) -> dict[str, Any]:
    return {**train_accuracies(ctx.train_logits, ctx.noise), "train_loss_eval": ctx.train_loss_eval}


@register_metric("test_acc", default=True)
def _test_acc(ctx: EpochContext) -> dict[str, Any]:
    y = ctx.trainer.data.y_test
    return {"test_acc": accuracy(ctx.test_logits, y),
            "test_loss": float(nn.functional.cross_entropy(ctx.test_logits, y))}


@register_metric("margins", default=True)
def _margins(ctx: EpochContext) -> dict[str, Any]:
    """The summary of the training margins; the margins themselves go to margins.npz."""
    m = ctx.train_margins
    ctx.trainer.margin_snapshots.append(m)
    ctx.trainer.margin_epochs.append(ctx.trainer.epoch)
    return margin_columns(m)  # the Monitor's columns (netsieve.torch.diagnostic_columns): one implementation


@register_metric("delta_acc", default=True)
def _delta_acc(ctx: EpochContext) -> dict[str, Any]:
    """acc_δ on the given labels, and the Berlyand–Jabin–Safsten instability: the training loss fell
    while (δ-robust) accuracy dropped."""
    cols: dict[str, Any] = delta_columns(ctx.train_logits, ctx.noise.labels, ctx.config.deltas)
    acc = {d: cols[f"acc_delta_{d:g}"] for d in ctx.config.deltas}
    loss_now = cols["train_loss_eval"] = ctx.train_loss_eval
    prev = ctx.previous or {}
    dropped = []
    if _is_number(prev.get("train_loss_eval")) and loss_now < prev["train_loss_eval"]:
        dropped = [d for d, a in acc.items()
                   if _is_number(prev.get(f"acc_delta_{d:g}")) and a < prev[f"acc_delta_{d:g}"]]
    cols["accuracy_instability"] = bool(dropped)
    cols["instability_deltas"] = dropped
    return cols


@register_metric("churn")
def _churn(ctx: EpochContext) -> dict[str, Any]:
    """The share of the unlabeled pool (``DataSplit.x_unlabeled``; the test inputs when the split has
    none) whose predicted class changed since the previous epoch, read without labels (the label-free
    stop ``early_stop="churn"``, validated on such a pool); NaN at the first epoch."""
    pool, c = ctx.trainer.data.x_unlabeled, ctx.config
    pred = (ctx.test_logits if pool is None else eval_logits(ctx.model, pool, c.eval_batch_size, c.device)).argmax(1)
    previous, ctx.trainer.churn_predictions = getattr(ctx.trainer, "churn_predictions", None), pred
    return {"churn": float((pred != previous).double().mean()) if previous is not None and pred.numel() else float("nan")}


@register_metric("spectra", default=True)
def _spectra(ctx: EpochContext) -> dict[str, Any]:
    """σ and the spike count of the bulk fit of every weight matrix (white noise where its test
    passes, the deformed law of correlated noise where it fails: ``bulk="auto"``), the white-noise
    spike count and verdict beside them, MP soft rank, the power-law α, and the Porter–Thomas
    boundary: the Monitor's columns (:func:`netsieve.torch.diagnostic_columns.spectral_columns`)."""
    return spectral_columns(ctx.model, porter_thomas=ctx.config.porter_thomas)


@register_metric("susceptibility", before_step=True)
def _susceptibility(ctx: EpochContext) -> dict[str, Any]:
    """ζ: one probe step on a batch with fixed random labels, before the epoch's training step."""
    t, c = ctx.trainer, ctx.config
    idx = torch.randperm(t.data.n_train, generator=t.rng.probe)[: c.zeta_batch_size]
    return zeta_columns(t.model, t.optimizer, t.data.x_train[idx].to(c.device), t.rng.random_labels[idx].to(c.device),
                        t.zeta_terms)  # fmt: skip


@register_metric("geometric_complexity")
def _geometric_complexity(ctx: EpochContext) -> dict[str, Any]:
    t, c = ctx.trainer, ctx.config
    x = t.data.x_train[t.rng.gc_indices].to(c.device)
    return {"geometric_complexity": geometric_complexity(t.model, x, n_probes=c.gc_probes, generator=t.rng.gc)}


METRICS = metric_names()
DEFAULT_METRICS = tuple(m.name for m in _REGISTRY.values() if m.default)
