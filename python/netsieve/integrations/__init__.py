"""Training-time diagnostics where users already train: a plain-loop :class:`Monitor` (the one
implementation of the diagnostics, shared with netsieve's own trainer) and callbacks that drive
it from the frameworks' hooks and log through the frameworks' own loggers:

- :class:`NetsieveCallback` — a transformers ``TrainerCallback`` (module
  :mod:`netsieve.integrations.transformers_callback`; its values reach TensorBoard, W&B and every
  other ``report_to`` integration, and ``trainer.state.log_history``);
- :class:`NetsieveLightningCallback` — a Lightning ``Callback`` (module
  :mod:`netsieve.integrations.lightning_callback`; its values go to every logger of the Lightning
  trainer: TensorBoard, CSV, W&B, …).

Importing this package imports torch; transformers and Lightning are imported only when their
callback is first used (the ``integrations`` extra installs them with TensorBoard).
"""

from __future__ import annotations

from typing import Any

from ..torch.monitor import Diagnostics, Monitor

__all__ = ["Monitor", "Diagnostics", "NetsieveCallback", "NetsieveLightningCallback"]


def __getattr__(name: str) -> Any:
    if name == "NetsieveCallback":
        from .transformers_callback import NetsieveCallback

        return NetsieveCallback
    if name == "NetsieveLightningCallback":
        from .lightning_callback import NetsieveLightningCallback

        return NetsieveLightningCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
