"""The transformers ``TrainerCallback`` of :mod:`netsieve.integrations` (needs ``transformers``)."""

from __future__ import annotations

from typing import Any

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("NetsieveCallback needs transformers: pip install 'netsieve[integrations]'") from exc

from ..torch.monitor import Diagnostics, Monitor

__all__ = ["NetsieveCallback"]


class NetsieveCallback(TrainerCallback):
    """Runs a :class:`~netsieve.integrations.Monitor` at the end of training steps and logs its
    scalars (``netsieve/sigma/<layer>``, ``netsieve/n_spikes/<layer>``, ``netsieve/alpha/<layer>``,
    ``netsieve/mp_soft_rank/<layer>``, ``netsieve/margin_*``, ``netsieve/acc_delta_*``,
    ``netsieve/zeta``) through the Trainer's own logging: on a step where it measured it asks the
    Trainer to log, and adds its values to that log, so TensorBoard (as ``train/netsieve/...``),
    W&B and every other ``report_to`` integration, and ``trainer.state.log_history``, receive them.

    It must see the log before the reporting callbacks do: add it with :meth:`attach` (which puts
    it first), not through ``Trainer(callbacks=[...])`` (which puts it after them).

    Parameters
    ----------
    monitor : Monitor, optional
        Default ``Monitor(**monitor_options)``.
    **monitor_options
        Those of :class:`~netsieve.integrations.Monitor` (``every``, ``eval_batch``, ``layers``, …).

    Attributes
    ----------
    monitor : Monitor
        Its ``history`` holds every measurement.

    Raises
    ------
    InvalidInputError
        Bad monitor options; during training, a model without weight matrices.

    Examples
    --------
    >>> import torch
    >>> from netsieve.integrations import NetsieveCallback
    >>> callback = NetsieveCallback(every=50, eval_batch=(torch.randn(64, 8), torch.randint(0, 2, (64,))))
    >>> callback.monitor.every
    50
    """

    def __init__(self, monitor: Monitor | None = None, **monitor_options: Any) -> None:
        self.monitor = monitor if monitor is not None else Monitor(**monitor_options)
        self._pending: Diagnostics | None = None

    @classmethod
    def attach(cls, trainer: Any, monitor: Monitor | None = None, **monitor_options: Any) -> "NetsieveCallback":
        """Creates the callback and adds it to ``trainer`` ahead of its reporting callbacks.

        Parameters
        ----------
        trainer : transformers.Trainer
        monitor, **monitor_options
            As for the class.

        Returns
        -------
        NetsieveCallback

        Raises
        ------
        TypeError
            ``trainer`` is not a transformers Trainer.

        Examples
        --------
        >>> from netsieve.integrations import NetsieveCallback
        >>> NetsieveCallback.attach(object(), every=10)
        Traceback (most recent call last):
        ...
        TypeError: attach() takes a transformers Trainer, got object
        """
        handler = getattr(trainer, "callback_handler", None)
        if handler is None or not isinstance(getattr(handler, "callbacks", None), list):
            raise TypeError(f"attach() takes a transformers Trainer, got {type(trainer).__name__}")
        callback = cls(monitor, **monitor_options)
        handler.callbacks.insert(0, callback)
        return callback

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
        if model is not None:
            self.monitor.check(model)  # a model without weight matrices: refused before the first step
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None, **kwargs: Any) -> Any:
        d = self.monitor.observe(model, step=state.global_step, epoch=state.epoch, optimizer=optimizer)
        if d is not None:
            self._pending = d
            control.should_log = True
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> Any:
        if self._pending is not None and logs is not None:
            scalars = self._pending.scalars()
            logs.update(scalars)  # seen by the reporting callbacks that come after this one
            # Trainer.log recorded its copy of the log before the callbacks ran: add them there too.
            if state.log_history and state.log_history[-1].get("step") == state.global_step:
                state.log_history[-1].update(scalars)
            self._pending = None
        return control
