"""Training runs with diagnostics: :class:`Trainer` / :func:`train` and :func:`evaluate`::

    from netsieve.torch import TrainConfig, train
    res = train(TrainConfig(dataset="mnist1d", noise_rate=0.2, epochs=150), run_dir="runs/x")
    res.history[-1]["test_acc"], res.evaluate()

The parts of a run live in their own modules: the configuration (:mod:`.train_config`), the
per-epoch metrics (:mod:`.metrics`, a registry), the checkpointed state, its randomness and resume
(:mod:`.train_state`), margin-based data pruning (:mod:`.pruning`), sweeps over noise rates and
seeds (:mod:`.sweeps`) and the run directory (:mod:`.rundir`). Their public names are importable
from here as before (and from :mod:`netsieve.torch`).

Determinism: the model is initialised after ``torch.manual_seed(seed)``; everything random after
that draws from the run's own seeded generators (:class:`.train_state.RunRandomness`), so switching
a diagnostic on or off never changes the trained weights. Deterministic algorithms are enabled for
the duration of a run (and restored after).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .._progress import progress_bar
from . import rundir as _rd
from . import train_state as _state
from ._batching import device_of
from .builtin_data import load_dataset
from .data import DataSplit
from .diagnostics import training_doubling, weight_matrices
from .metrics import DEFAULT_METRICS, METRICS, EpochContext, accuracy, eval_logits, selected_metrics, train_accuracies
from .models import build_model, model_options
from .noise import LabelNoise, corrupt_labels
from .pruning import prune_step
from .sweeps import SweepRecord, SweepResult, sweep
from .train_config import OPTIMIZERS, SCHEDULES, TrainConfig, make_optimizer, scheduled_lr
from .stopping import LabelFreeStopping
from .train_config import check_device  # noqa: F401  (defined here before the split; still importable)
from .train_state import RunRandomness

__all__ = ["TrainConfig", "Trainer", "TrainResult", "train", "evaluate", "sweep", "SweepResult",
           "SweepRecord", "METRICS", "DEFAULT_METRICS", "OPTIMIZERS", "SCHEDULES"]


@dataclass
class TrainResult:
    """What a run produced. ``history`` has one dict per epoch (the rows of metrics.jsonl).

    Parameters
    ----------
    config, model, data, noise, history, run_dir
        The run's TrainConfig, trained model, DataSplit, LabelNoise, rows and folder (or None).
    active_indices : torch.Tensor, optional
        With pruning: the training samples in use at the end.
    kept_epoch : int, optional
        With ``early_stop``: the epoch the label-free rule kept (the model holds its weights).

    Raises
    ------
    TypeError
        A missing field (a plain record, made by :meth:`Trainer.run`).

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> res = nt.train(nt.TrainConfig(dataset="teacher", n_train=200, hidden=(32,), epochs=2, progress=False))
    >>> len(res.history), res.history[-1]["epoch"], res.run_dir, res.active_indices
    (2, 2, None, None)
    >>> res.evaluate()["test_acc"] == res.history[-1]["test_acc"]  # or res.evaluate(another_model)
    True
    """

    config: TrainConfig
    model: nn.Module
    data: DataSplit
    noise: LabelNoise
    history: list[dict[str, Any]]
    run_dir: Path | None
    active_indices: torch.Tensor | None = None
    kept_epoch: int | None = None  # with early_stop: the epoch whose weights the model holds

    def evaluate(self, model: nn.Module | None = None) -> dict[str, float]:
        """Test and train accuracies of ``model`` (default: the trained one) on this run's data."""
        return evaluate(model if model is not None else self.model, self.data, self.noise,
                        batch_size=self.config.eval_batch_size)


def evaluate(model: nn.Module, data: DataSplit, noise: LabelNoise | None = None, *, batch_size: int = 2000,
             device: str | None = None) -> dict[str, float]:
    """Clean test accuracy/loss and train accuracies (overall on the given labels, clean and noisy
    subsets) of a model. Without ``noise`` the training labels are taken as clean.

    Parameters
    ----------
    model : torch.nn.Module
    data : DataSplit
    noise : LabelNoise, optional
    batch_size : int, default 2000
    device : str, optional
        Default: the device of the model's parameters.

    Returns
    -------
    dict of str to float
        ``test_acc``/``test_loss`` (clean test labels), ``train_acc`` (given labels), ``train_acc_clean``,
        ``train_acc_noisy`` (the given, wrong label predicted), ``train_acc_noisy_true``; NaN when empty.

    Raises
    ------
    RuntimeError
        A model that does not take the data's inputs.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> data = nt.load_dataset("gaussian_mixture", n_train=100, n_test=50, input_dim=4, n_classes=2)
    >>> out = nt.evaluate(torch.nn.Linear(4, 2), data)
    >>> 0 <= out["test_acc"] <= 1, out["train_acc_noisy"]  # without noise: no corrupted subset
    (True, nan)
    """
    device = device_of(model, device)
    if noise is None:
        noise = corrupt_labels(data.y_train, 0.0, n_classes=data.n_classes)
    test = eval_logits(model, data.x_test, batch_size, device)
    train = eval_logits(model, data.x_train, batch_size, device)
    out = {"test_acc": accuracy(test, data.y_test),
           "test_loss": float(nn.functional.cross_entropy(test, data.y_test)) if data.n_test else float("nan")}
    out.update(train_accuracies(train, noise))
    return out


@contextlib.contextmanager
def _run_environment(cfg: TrainConfig):
    det, warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    if cfg.device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        yield
    finally:
        torch.use_deterministic_algorithms(det, warn_only=warn)
        torch.set_num_threads(threads)


class Trainer:
    """One training run. ``data`` / ``model`` override the config's dataset / model builder (the
    config then records ``"custom"`` unless it names them). ``run_dir=None`` keeps everything in
    memory. ``resume=True`` continues from ``run_dir/checkpoints/last``; a path resumes from that
    checkpoint. ``callbacks`` are called as ``cb(trainer, row)`` after every epoch.

    Parameters
    ----------
    config : TrainConfig or mapping
    data : DataSplit, optional
    model : torch.nn.Module, optional
    run_dir : str or os.PathLike, optional
        Its layout: :mod:`netsieve.torch.rundir`.
    resume : bool or path, default False
        The config may differ from the checkpoint's only in ``epochs``, ``progress``, ``plots``, ``num_threads``
        and ``checkpoint_every``.
    overwrite : bool, default False
    callbacks : sequence of callable, default ()

    Raises
    ------
    TypeError
        A config, data or model of the wrong type.
    ValueError
        A ``"custom"`` dataset or model without ``data=``/``model=``, ``resume=True`` without ``run_dir``, a run
        directory that is not writable or already holds a run (or other files), a checkpoint that is
        missing, damaged or does not fit.

    Examples
    --------
    >>> import pathlib, tempfile, netsieve.torch as nt
    >>> cfg = nt.TrainConfig(dataset="teacher", n_train=200, hidden=(32,), epochs=2, progress=False, plots=False)
    >>> run_dir = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> _ = nt.Trainer(cfg, run_dir=run_dir).run()
    >>> res = nt.Trainer(cfg.replace(epochs=3), run_dir=run_dir, resume=True).run()  # one more epoch
    >>> [row["epoch"] for row in res.history], (run_dir / "COMPLETE").exists()
    ([1, 2, 3], True)
    """

    def __init__(
        self,
        config: TrainConfig | Mapping[str, Any],
        *,
        data: DataSplit | None = None,
        model: nn.Module | None = None,
        run_dir: str | os.PathLike | None = None,
        resume: bool | str | os.PathLike = False,
        overwrite: bool = False,
        callbacks: Sequence[Callable[["Trainer", dict], None]] = (),
    ):
        cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
        if not isinstance(cfg, TrainConfig):
            raise TypeError(f"config must be a TrainConfig or a mapping, got {type(config).__name__}")
        if data is not None and not isinstance(data, DataSplit):
            raise TypeError("data must be a DataSplit (see netsieve.torch.from_tensors / from_datasets)")
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if data is None and cfg.dataset == "custom":
            raise ValueError("dataset='custom' needs data= (a DataSplit)")
        if model is None and cfg.model == "custom":
            raise ValueError("model='custom' needs model= (an nn.Module)")
        self.config = cfg
        self.callbacks = list(callbacks)
        resume_path: Path | None = None
        if resume:
            if isinstance(resume, (str, os.PathLike)):
                resume_path = Path(resume)
            elif run_dir is None:
                raise ValueError("resume=True needs run_dir (or pass the checkpoint path as resume=)")
            else:
                resume_path = Path(run_dir) / "checkpoints" / "last"
        # The run directory is checked before anything expensive happens.
        self.run_dir = None
        if run_dir is not None:
            in_place = resume_path is not None and resume_path.parent.parent.resolve() == Path(run_dir).resolve()
            self.run_dir = _rd.prepare_run_dir(Path(run_dir), resume=in_place, overwrite=overwrite)
        ckpt = _rd.load_checkpoint(resume_path) if resume_path is not None else None
        if ckpt is not None:
            _state.check_resume(cfg, ckpt[1])

        self.data = data if data is not None else load_dataset(
            cfg.dataset, seed=cfg.data_seed, n_train=cfg.n_train, n_test=cfg.n_test)
        self.noise = corrupt_labels(self.data.y_train, cfg.noise_rate, kind=cfg.noise_kind,
                                    n_classes=self.data.n_classes,
                                    seed=cfg.seed if cfg.noise_seed is None else cfg.noise_seed)
        torch.manual_seed(cfg.seed)
        if model is None:
            # The config's fields of the same names, for the options this builder takes.
            options = {key: getattr(cfg, key) for key in model_options(cfg.model)}
            model = build_model(cfg.model, self.data.input_shape, self.data.n_classes, **options)
        self.model = model.to(cfg.device)
        self.optimizer = make_optimizer(cfg, self.model.parameters())
        self.rng = RunRandomness.seeded(cfg.seed, self.data.n_train, self.data.n_classes, cfg.gc_samples)
        self.active = torch.arange(self.data.n_train)
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.zeta_terms: list[float] = []
        self.separated_epoch: int | None = None
        self.margin_snapshots: list[np.ndarray] = []
        self.margin_epochs: list[int] = []
        if ckpt is not None:
            _state.restore(self, *ckpt)
        self.stop_requested = False  # set by a callback (the label-free stop) to end the run after this epoch
        self.stopper = LabelFreeStopping(cfg.early_stop) if cfg.early_stop else None
        for row in self.history if self.stopper is not None else ():  # a resumed run replays its epochs
            self.stopper.update(int(row["epoch"]), row)
        if self.run_dir is not None and not (self.run_dir / "config.json").exists():
            _rd.write_config(self.run_dir, self._config_record())
        self.doubling = training_doubling(self.data.x_train, self.noise.labels, cfg.seed) if cfg.doubling else None
        if self.doubling is not None and self.run_dir is not None and not (self.run_dir / _rd.DOUBLING_FILE).exists():
            _rd.write_doubling(self.run_dir, self.doubling)

    def _config_record(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "data": {"name": self.data.name, "n_train": self.data.n_train,
                "n_test": self.data.n_test, "n_classes": self.data.n_classes,
                "input_shape": list(self.data.input_shape), "fingerprint": self.data.fingerprint()},
                "noise": {"rate": self.noise.rate, "kind": self.noise.kind, "n_corrupted": self.noise.n_corrupted}}

    def lr_at(self, epoch: int) -> float:
        """Learning rate of (0-based) epoch ``epoch``; schedules step once per epoch; epochs after the
        one that separated the data are scaled by ``separated_lr_factor``."""
        lr = scheduled_lr(self.config, epoch)
        if self.separated_epoch is not None and epoch >= self.separated_epoch:
            lr *= self.config.separated_lr_factor
        return lr

    def save_checkpoint(self) -> None:
        """Writes ``run_dir/checkpoints/last`` (ValueError without a run directory); run() calls it."""
        if self.run_dir is None:
            raise ValueError("this trainer has no run directory")
        _rd.save_checkpoint(self.run_dir / "checkpoints" / "last", _state.state_tensors(self), _state.state_meta(self))
        if self.margin_snapshots:
            _state.save_margins(self)

    # ------------------------------------------------------------------ the epoch
    def _train_epoch(self, lr: float) -> float:
        c, dev = self.config, self.config.device
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.model.train()
        order = self.active[torch.randperm(self.active.numel(), generator=self.rng.shuffle)]
        x, y = self.data.x_train, self.noise.labels
        total, count = 0.0, 0
        for start in range(0, order.numel(), c.batch_size):
            idx = order[start : start + c.batch_size]
            xb, yb = x[idx].to(dev), y[idx].to(dev)
            self.optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(self.model(xb), yb)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the training loss became {float(loss.detach())} at epoch {self.epoch + 1}; lower lr")
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * idx.numel()
            count += idx.numel()
        return total / max(count, 1)

    def _step_epoch(self) -> dict[str, Any]:
        """One epoch: the metrics measured before the step, the training step, the other metrics in
        registry order, then pruning; returns the epoch's row."""
        c = self.config
        t0 = time.perf_counter()
        lr = self.lr_at(self.epoch)
        row: dict[str, Any] = {"epoch": self.epoch + 1, "lr": lr, "n_active": int(self.active.numel())}
        for g in self.optimizer.param_groups:
            g["lr"] = lr  # the ζ probe steps with this epoch's learning rate, as in the official code
        chosen = selected_metrics(c.metrics)
        before = EpochContext(self, row)
        for metric in chosen:
            if metric.before_step:
                row.update(metric.compute(before))
        loss = self._train_epoch(lr)
        self.epoch += 1
        after = EpochContext(self, row, train_loss=loss)
        for metric in chosen:
            if not metric.before_step:
                row.update(metric.compute(after))
        if c.prune_fraction is not None:
            row.update(prune_step(self, after))
        row["epoch_time_s"] = time.perf_counter() - t0
        return row

    # ------------------------------------------------------------------ the run
    def run(self) -> TrainResult:
        """Trains up to ``config.epochs``: per epoch the metrics, a training pass and pruning.

        Returns
        -------
        TrainResult

        Raises
        ------
        FloatingPointError
            The training loss became NaN or Inf (lower ``lr``).
        OSError
            A file of the run directory cannot be written.

        Examples
        --------
        >>> import netsieve.torch as nt
        >>> cfg = nt.TrainConfig(dataset="teacher", n_train=200, hidden=(32,), epochs=2, progress=False)
        >>> [row["epoch"] for row in nt.Trainer(cfg).run().history]
        [1, 2]
        """
        c, bar = self.config, None
        if self.run_dir is not None:  # a resumed run is not complete until it finishes again
            (self.run_dir / _rd.COMPLETE_MARKER).unlink(missing_ok=True)
        with _run_environment(c):
            if c.progress and self.epoch < c.epochs:
                bar = progress_bar(c.epochs, "train", True, unit="epoch")
                if bar is not None and self.epoch:  # a resumed run starts part-way
                    bar.initial = bar.n = self.epoch
                    bar.refresh()
            try:
                if self.run_dir is not None and c.keep_checkpoints and self.epoch == 0:
                    _rd.keep_weights(self.run_dir, 0, self.model.state_dict())
                while self.epoch < c.epochs:
                    row = self._step_epoch()
                    self.history.append(row)
                    if self.run_dir is not None:
                        _rd.write_metrics(self.run_dir, self.history)
                        if self.epoch % c.checkpoint_every == 0 or self.epoch == c.epochs:
                            self.save_checkpoint()
                        if c.keep_checkpoints and self.epoch % c.keep_checkpoints == 0:
                            _rd.keep_weights(self.run_dir, self.epoch, self.model.state_dict())
                    for cb in self.callbacks + ([self.stopper] if self.stopper is not None else []):
                        cb(self, row)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix({k: f"{row[k]:.4g}" for k in ("loss", "train_acc", "test_acc", "zeta") if k in row})
                    if self.stop_requested:
                        break
            finally:
                if bar is not None:
                    bar.close()
        if self.run_dir is not None and self.epoch % c.checkpoint_every != 0:
            self.save_checkpoint()  # the last epoch's state, before a label-free stop restores the kept weights
        kept = self.stopper.keep(self.model) if self.stopper is not None else None
        if self.run_dir is not None:
            self._finish()
        return TrainResult(c, self.model, self.data, self.noise, self.history, self.run_dir,
                           self.active if c.prune_fraction is not None else None, kept)

    def _finish(self) -> None:
        from safetensors.torch import save

        d = self.run_dir
        _rd.write_metrics(d, self.history)
        _rd.atomic_write_bytes(d / "model.safetensors", save({k: v.detach().cpu().contiguous().clone()
                                                              for k, v in self.model.state_dict().items()}))
        if self.margin_snapshots:
            _state.save_margins(self)
        spectra = _rd.write_final_spectra(d, weight_matrices(self.model))
        if self.config.plots:
            from .plots import plot_run

            plot_run(d, self.history, self.margin_epochs, self.margin_snapshots, self.noise.mask.numpy(), spectra)
        final = self.history[-1] if self.history else {}
        _rd.mark_complete(d, {"epochs": self.epoch, "final": final})


def train(config: TrainConfig | Mapping[str, Any] | None = None, **kwargs: Any) -> TrainResult:
    """Trains one run: ``train(TrainConfig(...), run_dir="runs/x")``. Keyword arguments are those of
    :class:`Trainer`; with no config the defaults (MLP 40-512-512-10 on MNIST-1D) are used.

    Parameters
    ----------
    config : TrainConfig or mapping, optional
    **kwargs
        Those of :class:`Trainer`.

    Returns
    -------
    TrainResult

    Raises
    ------
    TypeError, ValueError, FloatingPointError, OSError
        As for :class:`Trainer` and :meth:`Trainer.run`.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> res = nt.train({"dataset": "teacher", "n_train": 200, "noise_rate": 0.1, "epochs": 1, "progress": False})
    >>> res.noise.n_corrupted, len(res.history)
    (20, 1)
    """
    return Trainer(config if config is not None else TrainConfig(), **kwargs).run()
