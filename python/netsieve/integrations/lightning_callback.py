"""The Lightning ``Callback`` of :mod:`netsieve.integrations` (needs ``lightning`` or
``pytorch_lightning``)."""

from __future__ import annotations

from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the standalone package
    try:
        from pytorch_lightning.callbacks import Callback
    except ImportError as exc:  # pragma: no cover - the message is the point
        raise ImportError("NetsieveLightningCallback needs Lightning: pip install 'netsieve[integrations]'") from exc

from netsieve import InvalidInputError

from ..torch.monitor import Monitor

__all__ = ["NetsieveLightningCallback"]


class NetsieveLightningCallback(Callback):
    """Runs a :class:`~netsieve.integrations.Monitor` after training batches (or epochs) and logs
    its scalars (``netsieve/sigma/<layer>``, ``netsieve/alpha/<layer>``, …, see
    :class:`NetsieveCallback`) to every logger of the Lightning trainer (TensorBoard, CSV, W&B, …)
    at the trainer's global step.

    Parameters
    ----------
    monitor : Monitor, optional
        Default ``Monitor(**monitor_options)``.
    on : {"step", "epoch"}, default "step"
        Which hook counts for the monitor's schedule: each training batch, or each epoch's end.
    **monitor_options
        Those of :class:`~netsieve.integrations.Monitor`.

    Attributes
    ----------
    monitor : Monitor

    Raises
    ------
    InvalidInputError
        A bad ``on`` or monitor option; during training, a model without weight matrices.

    Examples
    --------
    >>> from netsieve.integrations import NetsieveLightningCallback
    >>> NetsieveLightningCallback(on="epoch", every=1).monitor.every
    1
    """

    def __init__(self, monitor: Monitor | None = None, *, on: str = "step", **monitor_options: Any) -> None:
        if on not in ("step", "epoch"):
            raise InvalidInputError(f"on must be 'step' or 'epoch', got {on!r}")
        self.monitor = monitor if monitor is not None else Monitor(**monitor_options)
        self.on = on

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.monitor.check(pl_module)  # a model without weight matrices: refused before the first step

    def _observe(self, trainer: Any, pl_module: Any) -> None:
        optimizers = getattr(trainer, "optimizers", None) or [None]
        d = self.monitor.observe(pl_module, step=trainer.global_step, epoch=trainer.current_epoch, optimizer=optimizers[0])
        if d is not None:
            for logger in trainer.loggers:
                logger.log_metrics(d.scalars(), step=trainer.global_step)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.on == "step":
            self._observe(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.on == "epoch":
            self._observe(trainer, pl_module)
