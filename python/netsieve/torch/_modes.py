"""Train/eval mode of a model for the duration of a block, restored afterwards.

Every part of netsieve.torch that evaluates or probes a model it does not own (margins, the
trainer's evaluation passes, the diagnostics) switches modes through :func:`eval_mode` or
:func:`model_mode`, so the caller's model comes back exactly as it was: each submodule keeps its
own flag, so a model with some submodules deliberately left in eval mode (frozen BatchNorm, say)
is not flattened to one mode.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn

__all__ = ["eval_mode", "model_mode"]


@contextlib.contextmanager
def model_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """``model.train(training)`` inside the block; every submodule's own mode restored after it,
    also when the block raises."""
    saved = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        model.train(saved[0][1])  # through the model's own train(), which subclasses may extend
        for m, was in saved:
            if m.training != was:
                m.training = was


def eval_mode(model: nn.Module) -> contextlib.AbstractContextManager[nn.Module]:
    """``with eval_mode(model): ...`` evaluates in eval mode (BatchNorm with running statistics,
    no dropout) and restores the previous modes afterwards."""
    return model_mode(model, False)
