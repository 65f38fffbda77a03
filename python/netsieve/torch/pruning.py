"""Margin-based dynamic data pruning (Banburski et al. 2021).

Once the currently used training set is separated (100 % accuracy on its given labels), every
``prune_every`` epochs the logit margins of the *full* training set are recomputed and training
continues on the ``prune_fraction`` of samples with the lowest margins (so points may re-enter).
For a fixed network, dividing all margins by the product of layer norms (the paper's normalisation)
does not change their order, so raw logit margins select the same samples.
``prune_selection="random"`` keeps a random subset of the same size instead (the control arm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import lowest_margins
from .metrics import EpochContext

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["prune_step"]


def prune_step(trainer: "Trainer", ctx: EpochContext) -> dict[str, Any]:
    """After an epoch's metrics: records separation and, on a pruning epoch, replaces
    ``trainer.active`` (sorted indices into the training set). Returns the row's columns
    ``separated`` and, when it pruned, ``pruned_to``."""
    c = trainer.config
    used = trainer.active
    separated = bool((ctx.train_logits[used].argmax(1) == ctx.noise.labels[used]).all())
    if trainer.separated_epoch is None and separated:
        trainer.separated_epoch = trainer.epoch
    cols: dict[str, Any] = {"separated": separated}
    if trainer.separated_epoch is not None and (trainer.epoch - trainer.separated_epoch) % c.prune_every == 0:
        keep = lowest_margins(ctx.train_margins, fraction=float(c.prune_fraction))
        if c.prune_selection == "random":  # same size, chosen without looking at margins
            keep = torch.randperm(trainer.data.n_train, generator=trainer.rng.prune)[: keep.size].numpy()
        trainer.active = torch.from_numpy(np.sort(keep))
        cols["pruned_to"] = int(trainer.active.numel())
    return cols
