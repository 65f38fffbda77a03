"""What defines a training run: :class:`TrainConfig`, its validation, the parsing of list fields
given as strings (``hidden="512,512"`` from a command line or a hand-written JSON file), and what
its names mean: the optimizers (:data:`OPTIMIZERS`) and learning-rate schedules (:data:`SCHEDULES`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Mapping

import numpy as np
import torch

from .builtin_data import DATASETS
from .diagnostics import DEFAULT_DELTAS
from .metrics import DEFAULT_METRICS, METRICS, metric_names
from .models import ACTIVATIONS, MODELS
from .noise import NOISE_KINDS, check_noise_rate

__all__ = ["TrainConfig", "OPTIMIZERS", "SCHEDULES", "METRICS", "DEFAULT_METRICS", "check_device",
           "make_optimizer", "scheduled_lr"]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")
PRUNE_SELECTIONS = ("lowest", "random")
# Fields given as lists, and how one item of their string form ("512,512") is read.
_LIST_FIELDS = {"hidden": int, "channels": int, "metrics": str, "deltas": float}


def check_device(device: str) -> torch.device:
    """The torch device named by ``device``, refusing names that do not parse and devices this
    machine lacks (``cuda:7`` on a machine with two GPUs, ``mps`` off Apple silicon): found when the
    config is made, not epochs later."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"device {device!r} is not a torch device name ({' '.join(str(exc).split())})") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "meta":
        raise ValueError("device 'meta' holds no values; a model cannot be trained on it")
    backend = torch.backends.mps if dev.type == "mps" else getattr(torch, dev.type, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise ValueError(f"device {device!r} is not available on this machine (no {dev.type} support or no {dev.type} device)")
    count = getattr(getattr(torch, dev.type, None), "device_count", None)
    if dev.index is not None and count is not None and dev.index >= count():
        n = count()
        raise ValueError(f"device {device!r} does not exist: this machine has {n} {dev.type} device(s)"
                         + (f" ({dev.type}:0 to {dev.type}:{n - 1})" if n else ""))
    return dev


def _parse_list(name: str, value: Any) -> tuple:
    """A list field as a tuple; a string is split at commas and each item read as the field's type."""
    if isinstance(value, str):
        value = [_LIST_FIELDS[name](s.strip()) for s in value.split(",") if s.strip()]
    return tuple(value)


def _pos_int(name: str, v: Any, allow_none: bool = False) -> None:
    if v is None and allow_none:
        return
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    if v <= 0:
        raise ValueError(f"{name} must be positive, got {v!r}")


def _one_of(what: str, value: Any, valid: Iterable[str], sort: bool = False, noun: str = "names") -> None:
    valid = list(valid)
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid {noun}: {', '.join(sorted(valid) if sort else valid)}")


@dataclass
class TrainConfig:
    """Everything that defines a training run. Validated when constructed (clear ValueError/TypeError).

    ``metrics`` chooses the per-epoch diagnostics (see :data:`METRICS`); ``deltas`` the δ grid of
    acc_δ; ``porter_thomas`` adds the Porter–Thomas boundary to the spectra (one thin SVD per layer).
    ``prune_fraction`` (p ∈ (0, 1]) switches on margin-based data pruning every ``prune_every`` epochs
    once the used set is separated; ``prune_selection="random"`` keeps a random subset of the same
    size instead (the control of the pruning experiment); ``prune_fraction=1`` keeps every sample but
    still tracks separation, the full-data arm with the same schedule. From the epoch after separation
    the scheduled learning rate is multiplied by ``separated_lr_factor`` (needs ``prune_fraction``).
    ``batch_norm`` adds BatchNorm to the built model, ``dropout`` Dropout after each of its hidden
    activations. ``noise_seed`` defaults to ``seed``.

    List fields (``hidden``, ``channels``, ``metrics``, ``deltas``) also take a comma-separated
    string (``hidden="512,512"``) and are stored as tuples. Fields assigned after construction are
    not checked again: make changed configs with :meth:`replace`.

    Parameters
    ----------
    dataset : str, default "mnist1d"
        One of :data:`DATASETS`, or ``"custom"`` (the trainer is then given ``data=``).
    n_train, n_test : int, optional
        Dataset sizes (see :func:`load_dataset`).
    data_seed : int, default 0
        Seeds the synthetic tasks and the digits split.
    model : str, default "mlp"
        One of :data:`MODELS`, or ``"custom"`` (the trainer is then given ``model=``).
    hidden, channels, kernel_size, activation, batch_norm, dropout
        The model's options (see :func:`build_model`); defaults (512, 512), (32, 64), 3,
        ``"relu"``, False, 0.0. ``dropout`` is a probability in [0, 1) (0: no Dropout layer); its
        masks come from torch's global generator, seeded by ``seed``, so a run stays reproducible.
    noise_rate : float, default 0.0
        Label noise in [0, 1) (see :func:`corrupt_labels`).
    noise_kind : {"symmetric", "pair"}, default "symmetric"
    noise_seed : int, optional
    optimizer : {"sgd", "adam", "adamw"}, default "sgd"
    lr : float, default 0.05
    momentum : float, default 0.9
        In [0, 1); used by SGD only.
    weight_decay : float, default 0.0
    schedule : {"constant", "cosine", "step"}, default "constant"
        Per epoch t: lr, lr·½(1 + cos(πt/epochs)), or lr·gamma^(t // step_size).
    step_size : int, default 50
    gamma : float, default 0.1
        In (0, 1].
    epochs : int, default 150
    batch_size : int, default 100
    seed : int, default 0
        Seeds the model's initialisation and every generator of the run.
    metrics : tuple of str, default DEFAULT_METRICS
        Names from :data:`METRICS`.
    deltas : tuple of float, default DEFAULT_DELTAS
        In [0, 1).
    porter_thomas : bool, default False
    doubling : bool, default False
        The uniform doubling constant of the training inputs, per class of the training labels
        (:func:`netsieve.doubling_condition`), computed once before training and written to
        ``doubling.json`` in the run directory (``Trainer.doubling`` holds the result).
    zeta_batch_size : int, default 128
        The ζ probe batch.
    gc_samples, gc_probes : int, default 512, 1
        Samples and Hutchinson probes of the geometric complexity.
    prune_fraction : float, optional
        In (0, 1].
    prune_every : int, default 1
    prune_selection : {"lowest", "random"}, default "lowest"
    separated_lr_factor : float, default 1.0
        Positive; values other than 1 need ``prune_fraction``.
    early_stop : str, optional
        A label-free stopping rule of :data:`netsieve.torch.stopping.RULES` (``"spectral"``,
        ``"spectral_small_n"``, ``"churn"``): the run stops at the onset of memorisation the rule
        sees (it needs the rule's metric in ``metrics``: ``"spectra"``, or ``"churn"``, measured on
        the data's unlabeled pool, :attr:`DataSplit.x_unlabeled`, when it has one) and the model
        is given back with the weights of the epoch the rule keeps. Measured on fresh seeds (README,
        Results 6) they stay below early stopping on a noisy validation split; they help on small
        training sets at high noise and, ``"churn"`` and ``"spectral"``, where a large training set
        is trained until it memorises; on a 1-D CNN that hardly memorised they only cost accuracy.
    checkpoint_every : int, default 1
        Epochs between checkpoints of a run with a run directory (the last epoch is always saved).
    keep_checkpoints : int, default 0
        Every this many epochs, also keep the model's weights as
        ``checkpoints/epoch-NNNN.safetensors`` (with epoch 0, the initial weights), what
        :func:`netsieve.torch.evolution` reads; 0 keeps none.
    eval_batch_size : int, default 2000
    plots : bool, default True
        PNG plots in the run directory at the end.
    progress : bool, default True
        A tqdm bar over epochs.
    num_threads : int, optional
        torch's CPU threads during the run (restored after).
    device : str, default "cpu"
        A torch device this machine has (``"cuda:0"``, ``"mps"``).

    Raises
    ------
    ValueError
        Unknown names (dataset, model, activation, optimizer, schedule, noise kind, metrics), values
        out of range, a device that does not parse or is not available, ``separated_lr_factor``
        without ``prune_fraction``.
    TypeError
        Counts that are not integers, a ``batch_norm`` that is not a bool, a ``device`` that is not
        a string, a noise rate that is not a number.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> cfg = nt.TrainConfig(dataset="teacher", hidden="64,32", epochs=2, progress=False)
    >>> cfg.hidden, cfg.noise_seed, cfg.metrics == nt.DEFAULT_METRICS
    ((64, 32), None, True)
    >>> nt.TrainConfig(optimizer="lbfgs")
    Traceback (most recent call last):
    ValueError: unknown optimizer 'lbfgs'; valid names: sgd, adam, adamw

    References
    ----------
    .. [1] Banburski et al. (2021, arXiv 2107.10199): margin-based data pruning (``prune_*``).
    .. [2] Forouzesh, Sedghi & Thiran (ICLR 2023, arXiv 2212.04461): susceptibility ζ.
    .. [3] Berlyand, Jabin & Safsten (2021): δ-robust accuracy (``deltas``).
    .. [4] Dherin et al. (NeurIPS 2022): geometric complexity (``gc_*``).
    """

    dataset: str = "mnist1d"
    n_train: int | None = None
    n_test: int | None = None
    data_seed: int = 0
    model: str = "mlp"
    hidden: tuple[int, ...] = (512, 512)
    channels: tuple[int, ...] = (32, 64)
    kernel_size: int = 3
    activation: str = "relu"
    batch_norm: bool = False
    dropout: float = 0.0
    noise_rate: float = 0.0
    noise_kind: str = "symmetric"
    noise_seed: int | None = None
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_size: int = 50
    gamma: float = 0.1
    epochs: int = 150
    batch_size: int = 100
    seed: int = 0
    metrics: tuple[str, ...] = DEFAULT_METRICS
    deltas: tuple[float, ...] = DEFAULT_DELTAS
    porter_thomas: bool = False
    doubling: bool = False
    zeta_batch_size: int = 128
    gc_samples: int = 512
    gc_probes: int = 1
    prune_fraction: float | None = None
    prune_every: int = 1
    prune_selection: str = "lowest"
    separated_lr_factor: float = 1.0
    early_stop: str | None = None
    checkpoint_every: int = 1
    keep_checkpoints: int = 0
    eval_batch_size: int = 2000
    plots: bool = True
    progress: bool = True
    num_threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in _LIST_FIELDS:
            setattr(self, name, _parse_list(name, getattr(self, name)))
        if self.dataset != "custom":
            _one_of("dataset", self.dataset, DATASETS, sort=True)
        if self.model != "custom":
            _one_of("model", self.model, MODELS, sort=True)
        _one_of("activation", self.activation, ACTIVATIONS, sort=True)
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("schedule", self.schedule, SCHEDULES)
        _one_of("noise kind", self.noise_kind, NOISE_KINDS, noun="kinds")
        self.noise_rate = check_noise_rate(self.noise_rate)
        self._check_counts()
        self._check_numbers()
        unknown = [m for m in self.metrics if m not in metric_names()]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; valid names: {', '.join(metric_names())}")
        if any(not 0 <= float(d) < 1 for d in self.deltas):
            raise ValueError(f"deltas must lie in [0, 1), got {self.deltas!r}")
        self.deltas = tuple(float(d) for d in self.deltas)
        self._check_pruning()
        self._check_early_stop()
        for flag in ("batch_norm", "doubling"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"{flag} must be a bool, got {getattr(self, flag)!r}")
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string, got {self.device!r}")
        check_device(self.device)

    def _check_counts(self) -> None:
        for name in ("epochs", "batch_size", "step_size", "zeta_batch_size", "gc_samples", "gc_probes",
                     "prune_every", "checkpoint_every", "eval_batch_size", "kernel_size"):
            _pos_int(name, getattr(self, name))
        for name in ("n_train", "n_test", "num_threads"):
            _pos_int(name, getattr(self, name), allow_none=True)
        k = self.keep_checkpoints
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"keep_checkpoints must be a non-negative integer (0: keep none), got {k!r}")
        for name in ("seed", "data_seed") + (("noise_seed",) if self.noise_seed is not None else ()):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        for name in ("hidden", "channels"):
            if any(isinstance(h, bool) or int(h) != h or h <= 0 for h in getattr(self, name)):
                raise ValueError(f"{name} must be positive integers, got {getattr(self, name)!r}")

    def _check_numbers(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be non-negative, got {self.weight_decay!r}")
        d = self.dropout
        if isinstance(d, bool) or not isinstance(d, (int, float, np.floating)) or not 0 <= d < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {d!r}")
        self.dropout = float(d)
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1], got {self.gamma!r}")

    def _check_pruning(self) -> None:
        if self.prune_fraction is not None and not 0 < float(self.prune_fraction) <= 1:
            raise ValueError(f"prune_fraction must lie in (0, 1], got {self.prune_fraction!r}")
        if not (isinstance(self.separated_lr_factor, (int, float)) and not isinstance(self.separated_lr_factor, bool)
                and math.isfinite(self.separated_lr_factor) and self.separated_lr_factor > 0):
            raise ValueError(f"separated_lr_factor must be a positive number, got {self.separated_lr_factor!r}")
        if self.separated_lr_factor != 1.0 and self.prune_fraction is None:
            raise ValueError("separated_lr_factor needs prune_fraction (separation is tracked only when pruning; "
                             "use prune_fraction=1 to keep every sample)")
        if self.prune_selection not in PRUNE_SELECTIONS:
            raise ValueError(f"prune_selection must be 'lowest' or 'random', got {self.prune_selection!r}")

    def _check_early_stop(self) -> None:
        if self.early_stop is None:
            return
        from .stopping import RULES

        _one_of("early_stop rule", self.early_stop, RULES)
        needed = RULES[self.early_stop].metric
        if needed not in self.metrics:
            raise ValueError(f"early_stop={self.early_stop!r} reads the {needed!r} metric; add it to metrics")

    def to_dict(self) -> dict[str, Any]:
        """Every field, tuples as lists (JSON-ready): what ``config.json`` and checkpoints store.

        Returns
        -------
        dict

        Raises
        ------
        Nothing
            Every field is a plain value.

        Examples
        --------
        >>> import netsieve.torch as nt
        >>> d = nt.TrainConfig(hidden=(64,), epochs=3).to_dict()
        >>> d["hidden"], d["epochs"], d["optimizer"]
        ([64], 3, 'sgd')
        """
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        """A config from a mapping of fields (lists become tuples; missing fields take defaults).

        Parameters
        ----------
        d : mapping of str to value
            E.g. :meth:`to_dict`'s output or a hand-written JSON file.

        Returns
        -------
        TrainConfig

        Raises
        ------
        ValueError
            Unknown fields, and the checks of the class.
        TypeError
            As for the class.

        Examples
        --------
        >>> import netsieve.torch as nt
        >>> nt.TrainConfig.from_dict({"hidden": [64, 64], "epochs": 5}).hidden
        (64, 64)
        >>> nt.TrainConfig.from_dict({"epochz": 5})
        Traceback (most recent call last):
        ValueError: unknown TrainConfig fields ['epochz']
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    def replace(self, **changes: Any) -> "TrainConfig":
        """A new, checked config with ``changes`` applied; this one is unchanged.

        Parameters
        ----------
        **changes
            Field values.

        Returns
        -------
        TrainConfig

        Raises
        ------
        ValueError, TypeError
            As for :meth:`from_dict`.

        Examples
        --------
        >>> import netsieve.torch as nt
        >>> cfg = nt.TrainConfig(epochs=10)
        >>> cfg.replace(noise_rate=0.2).noise_rate, cfg.noise_rate
        (0.2, 0.0)
        >>> cfg.replace(epochs=0)
        Traceback (most recent call last):
        ValueError: epochs must be positive, got 0
        """
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def make_optimizer(config: TrainConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer`` with the config's lr, momentum and weight decay."""
    c = config
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)


def scheduled_lr(config: TrainConfig, epoch: int) -> float:
    """The learning rate of (0-based) epoch ``epoch`` under ``config.schedule`` (it steps once per
    epoch); the trainer scales it after separation (:meth:`Trainer.lr_at`)."""
    c = config
    if c.schedule == "cosine":
        return c.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / c.epochs))
    if c.schedule == "step":
        return c.lr * c.gamma ** (epoch // c.step_size)
    return c.lr
