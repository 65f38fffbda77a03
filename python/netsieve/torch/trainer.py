"""Training runs with diagnostics: :class:`TrainConfig`, :class:`Trainer` / :func:`train`,
:func:`evaluate` and :func:`sweep` (train at several noise levels × seeds → optional post-filter →
evaluate, the skeleton of ``netsieve demo``)::

    from netsieve.torch import TrainConfig, sweep
    cfg = TrainConfig(dataset="mnist1d", hidden=(512, 512), epochs=150, progress=False)
    out = sweep(cfg, noise_rates=[0.0, 0.2, 0.4], seeds=[0, 1, 2],
                post_filter=lambda m: filter_model(m, method="...")[0], run_root="runs/demo")
    print(out.format_table())          # clean test accuracy before/after, mean ± std over seeds

Determinism: the model is initialised after ``torch.manual_seed(seed)``; mini-batch order comes from
a private ``torch.Generator``; the ζ probe batches, the Hutchinson probes and the label noise have
their own seeded generators, so switching a diagnostic on or off never changes the trained weights.
Deterministic algorithms are enabled for the duration of a run (and restored after).

Margin-based dynamic data pruning (Banburski et al. 2021): once the currently used training set is
separated (100 % accuracy on its given labels), every ``prune_every`` epochs the logit margins of the
*full* training set are recomputed and training continues on the ``prune_fraction`` of samples with
the lowest margins (so points may re-enter). For a fixed network, dividing all margins by the product
of layer norms (the paper's normalisation) does not change their order, so raw logit margins select
the same samples.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .data import DATASETS, DataSplit, load_dataset
from .diagnostics import DEFAULT_DELTAS, delta_accuracy, geometric_complexity, susceptibility_probe, weight_matrices
from .models import ACTIVATIONS, MODELS, build_model
from .noise import NOISE_KINDS, LabelNoise, check_noise_rate, corrupt_labels
from . import rundir as _rd
from ._modes import eval_mode

__all__ = ["TrainConfig", "Trainer", "TrainResult", "train", "evaluate", "sweep", "SweepResult",
           "SweepRecord", "METRICS", "DEFAULT_METRICS", "OPTIMIZERS", "SCHEDULES"]

METRICS = ("loss", "train_acc", "test_acc", "margins", "delta_acc", "spectra", "susceptibility",
           "geometric_complexity")
DEFAULT_METRICS = ("loss", "train_acc", "test_acc", "margins", "delta_acc", "spectra")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")
# Fields that may differ between a checkpoint and the config that resumes it: they do not change
# what the run computed so far.
_RESUMABLE_CHANGES = {"epochs", "progress", "plots", "num_threads", "checkpoint_every"}


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


def _pos_int(name: str, v: Any, allow_none: bool = False) -> None:
    if v is None and allow_none:
        return
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    if v <= 0:
        raise ValueError(f"{name} must be positive, got {v!r}")


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
    ``batch_norm`` adds BatchNorm to the built model. ``noise_seed`` defaults to ``seed``.
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
    zeta_batch_size: int = 128
    gc_samples: int = 512
    gc_probes: int = 1
    prune_fraction: float | None = None
    prune_every: int = 1
    prune_selection: str = "lowest"
    separated_lr_factor: float = 1.0
    checkpoint_every: int = 1
    eval_batch_size: int = 2000
    plots: bool = True
    progress: bool = True
    num_threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("hidden", "channels", "metrics", "deltas"):
            v = getattr(self, name)
            if isinstance(v, str):  # "512,512" from a command line or a hand-written JSON file
                v = [s.strip() for s in v.split(",") if s.strip()]
                if name in ("hidden", "channels"):
                    v = [int(s) for s in v]
                elif name == "deltas":
                    v = [float(s) for s in v]
            setattr(self, name, tuple(v))
        if self.dataset not in DATASETS and self.dataset != "custom":
            raise ValueError(f"unknown dataset {self.dataset!r}; valid names: {', '.join(sorted(DATASETS))}")
        if self.model not in MODELS and self.model != "custom":
            raise ValueError(f"unknown model {self.model!r}; valid names: {', '.join(sorted(MODELS))}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; valid names: {', '.join(sorted(ACTIVATIONS))}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid names: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid names: {', '.join(SCHEDULES)}")
        if self.noise_kind not in NOISE_KINDS:
            raise ValueError(f"unknown noise kind {self.noise_kind!r}; valid kinds: {', '.join(NOISE_KINDS)}")
        self.noise_rate = check_noise_rate(self.noise_rate)
        for name in ("epochs", "batch_size", "step_size", "zeta_batch_size", "gc_samples", "gc_probes",
                     "prune_every", "checkpoint_every", "eval_batch_size", "kernel_size"):
            _pos_int(name, getattr(self, name))
        for name in ("n_train", "n_test", "num_threads"):
            _pos_int(name, getattr(self, name), allow_none=True)
        for name in ("seed", "data_seed") + (("noise_seed",) if self.noise_seed is not None else ()):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
        for name in ("hidden", "channels"):
            if any(isinstance(h, bool) or int(h) != h or h <= 0 for h in getattr(self, name)):
                raise ValueError(f"{name} must be positive integers, got {getattr(self, name)!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be non-negative, got {self.weight_decay!r}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1], got {self.gamma!r}")
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; valid names: {', '.join(METRICS)}")
        if any(not 0 <= float(d) < 1 for d in self.deltas):
            raise ValueError(f"deltas must lie in [0, 1), got {self.deltas!r}")
        self.deltas = tuple(float(d) for d in self.deltas)
        if self.prune_fraction is not None and not 0 < float(self.prune_fraction) <= 1:
            raise ValueError(f"prune_fraction must lie in (0, 1], got {self.prune_fraction!r}")
        if not (isinstance(self.separated_lr_factor, (int, float)) and not isinstance(self.separated_lr_factor, bool)
                and math.isfinite(self.separated_lr_factor) and self.separated_lr_factor > 0):
            raise ValueError(f"separated_lr_factor must be a positive number, got {self.separated_lr_factor!r}")
        if self.separated_lr_factor != 1.0 and self.prune_fraction is None:
            raise ValueError("separated_lr_factor needs prune_fraction (separation is tracked only when pruning; "
                             "use prune_fraction=1 to keep every sample)")
        if not isinstance(self.batch_norm, bool):
            raise TypeError(f"batch_norm must be a bool, got {self.batch_norm!r}")
        if self.prune_selection not in ("lowest", "random"):
            raise ValueError(f"prune_selection must be 'lowest' or 'random', got {self.prune_selection!r}")
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string, got {self.device!r}")
        check_device(self.device)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    def replace(self, **changes: Any) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})


@dataclass
class TrainResult:
    """What a run produced. ``history`` has one dict per epoch (the rows of metrics.jsonl)."""

    config: TrainConfig
    model: nn.Module
    data: DataSplit
    noise: LabelNoise
    history: list[dict[str, Any]]
    run_dir: Path | None
    active_indices: torch.Tensor | None = None

    def evaluate(self, model: nn.Module | None = None) -> dict[str, float]:
        """Test and train accuracies of ``model`` (default: the trained one) on this run's data."""
        return evaluate(model if model is not None else self.model, self.data, self.noise,
                        batch_size=self.config.eval_batch_size)


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor, batch_size: int, device: str) -> torch.Tensor:
    with eval_mode(model):
        out = [model(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def _acc(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).to(torch.float64).mean()) if y.numel() else float("nan")


def _train_accuracies(logits: torch.Tensor, noise: LabelNoise) -> dict[str, float]:
    pred = logits.argmax(1)
    m = noise.mask
    return {
        "train_acc": _acc(logits, noise.labels),
        "train_acc_clean": _acc(logits[~m], noise.labels[~m]),
        # On corrupted samples: predicting the given (wrong) label = memorisation; the true one = robustness.
        "train_acc_noisy": float((pred[m] == noise.labels[m]).double().mean()) if m.any() else float("nan"),
        "train_acc_noisy_true": float((pred[m] == noise.clean_labels[m]).double().mean()) if m.any() else float("nan"),
    }


def evaluate(model: nn.Module, data: DataSplit, noise: LabelNoise | None = None, *, batch_size: int = 2000,
             device: str | None = None) -> dict[str, float]:
    """Clean test accuracy/loss and train accuracies (overall on the given labels, clean and noisy
    subsets) of a model. Without ``noise`` the training labels are taken as clean."""
    if device is None:
        p = next(model.parameters(), None)
        device = str(p.device) if p is not None else "cpu"
    if noise is None:
        noise = corrupt_labels(data.y_train, 0.0, n_classes=data.n_classes)
    test = _logits(model, data.x_test, batch_size, device)
    train = _logits(model, data.x_train, batch_size, device)
    out = {"test_acc": _acc(test, data.y_test),
           "test_loss": float(nn.functional.cross_entropy(test, data.y_test)) if data.n_test else float("nan")}
    out.update(_train_accuracies(train, noise))
    return out


def _margins_api():
    try:
        from netsieve import lowest_margins, margin_summary, margins
    except ImportError as exc:  # pragma: no cover - only before the margins module is merged
        raise ImportError("netsieve.margins is required for margin metrics and pruning") from exc
    return margins, margin_summary, lowest_margins


def _summary_items(summary: Any) -> dict[str, Any]:
    d = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
    out = {}
    for k, v in d.items():
        if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
            out[f"margin_{k}"] = float(v)
    return out


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
    checkpoint. ``callbacks`` are called as ``cb(trainer, row)`` after every epoch."""

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
            self._check_resume(ckpt[1])

        self.data = data if data is not None else load_dataset(
            cfg.dataset, seed=cfg.data_seed, n_train=cfg.n_train, n_test=cfg.n_test)
        self.noise = corrupt_labels(self.data.y_train, cfg.noise_rate, kind=cfg.noise_kind,
                                    n_classes=self.data.n_classes,
                                    seed=cfg.seed if cfg.noise_seed is None else cfg.noise_seed)
        torch.manual_seed(cfg.seed)
        if model is None:
            model = build_model(cfg.model, self.data.input_shape, self.data.n_classes, hidden=cfg.hidden,
                                channels=cfg.channels, kernel_size=cfg.kernel_size, activation=cfg.activation,
                                batch_norm=cfg.batch_norm)
        self.model = model.to(cfg.device)
        self.optimizer = self._make_optimizer()
        self.shuffle_gen = torch.Generator().manual_seed(cfg.seed)
        self.probe_gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.gc_gen = torch.Generator().manual_seed(cfg.seed + 3)
        self.prune_gen = torch.Generator().manual_seed(cfg.seed + 5)
        n = self.data.n_train
        # ζ's random labels are fixed once, like the official code's corrupt_prob=1 copy of the data.
        self.random_labels = torch.randint(0, self.data.n_classes, (n,), generator=torch.Generator().manual_seed(cfg.seed + 2))
        self.gc_indices = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed + 4))[: cfg.gc_samples]
        self.active = torch.arange(n)
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.zeta_terms: list[float] = []
        self.separated_epoch: int | None = None
        self.margin_snapshots: list[np.ndarray] = []
        self.margin_epochs: list[int] = []
        if ckpt is not None:
            self._restore(*ckpt)
        if self.run_dir is not None and not (self.run_dir / "config.json").exists():
            _rd.write_config(self.run_dir, self._config_record())

    # ------------------------------------------------------------------ setup and checkpoints
    def _config_record(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "data": {"name": self.data.name, "n_train": self.data.n_train,
                "n_test": self.data.n_test, "n_classes": self.data.n_classes,
                "input_shape": list(self.data.input_shape), "fingerprint": self.data.fingerprint()},
                "noise": {"rate": self.noise.rate, "kind": self.noise.kind, "n_corrupted": self.noise.n_corrupted}}

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c, params = self.config, self.model.parameters()
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of (0-based) epoch ``epoch``; schedules step once per epoch; epochs after the
        one that separated the data are scaled by ``separated_lr_factor``."""
        c = self.config
        if c.schedule == "cosine":
            lr = c.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / c.epochs))
        elif c.schedule == "step":
            lr = c.lr * c.gamma ** (epoch // c.step_size)
        else:
            lr = c.lr
        if self.separated_epoch is not None and epoch >= self.separated_epoch:
            lr *= c.separated_lr_factor
        return lr

    def _check_resume(self, meta: Mapping[str, Any]) -> None:
        saved = meta.get("config", {})
        now = self.config.to_dict()
        diff = sorted(k for k in set(saved) | set(now) if k not in _RESUMABLE_CHANGES and saved.get(k) != now.get(k))
        if diff:
            details = ", ".join(f"{k}: checkpoint {saved.get(k)!r} vs config {now.get(k)!r}" for k in diff)
            raise ValueError(f"cannot resume: the checkpoint was written by a different configuration ({details})")
        if meta.get("epoch", 0) > self.config.epochs:
            raise ValueError(f"cannot resume: the checkpoint is at epoch {meta['epoch']}, beyond epochs={self.config.epochs}")

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        t = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        for idx, st in self.optimizer.state_dict()["state"].items():
            for name, v in st.items():
                if isinstance(v, torch.Tensor):
                    t[f"optim.{idx}.{name}"] = v
        t["rng.torch"] = torch.get_rng_state()
        t["rng.shuffle"] = self.shuffle_gen.get_state()
        t["rng.probe"] = self.probe_gen.get_state()
        t["rng.gc"] = self.gc_gen.get_state()
        t["rng.prune"] = self.prune_gen.get_state()
        t["prune.active"] = self.active
        return t

    def _state_meta(self) -> dict[str, Any]:
        osd = self.optimizer.state_dict()
        scalars = {str(i): {k: v for k, v in st.items() if not isinstance(v, torch.Tensor)} for i, st in osd["state"].items()}
        return {"config": self.config.to_dict(), "epoch": self.epoch, "data_fingerprint": self.data.fingerprint(),
                "optimizer_param_groups": osd["param_groups"], "optimizer_scalars": scalars,
                "history": self.history, "zeta_terms": self.zeta_terms, "separated_epoch": self.separated_epoch,
                "margin_epochs": self.margin_epochs}

    def save_checkpoint(self) -> None:
        if self.run_dir is None:
            raise ValueError("this trainer has no run directory")
        _rd.save_checkpoint(self.run_dir / "checkpoints" / "last", self._state_tensors(), self._state_meta())
        if self.margin_snapshots:
            self._save_margins()

    def _restore(self, tensors: dict[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
        if meta.get("data_fingerprint") != self.data.fingerprint():
            raise ValueError("cannot resume: the checkpoint was trained on different data")
        msd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        own = self.model.state_dict()
        if set(msd) != set(own) or any(tuple(msd[k].shape) != tuple(own[k].shape) for k in own):
            raise ValueError("cannot resume: the checkpoint's model has different layers or shapes")
        self.model.load_state_dict(msd)
        state: dict[int, dict[str, Any]] = {}
        for i, sc in meta["optimizer_scalars"].items():
            state[int(i)] = dict(sc)
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, name = k.split(".", 2)
                state.setdefault(int(idx), {})[name] = v
        try:
            self.optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer_param_groups"]})
        except (ValueError, KeyError) as exc:
            raise ValueError(f"cannot resume: the checkpoint's optimizer state does not fit: {exc}") from None
        torch.set_rng_state(tensors["rng.torch"])
        self.shuffle_gen.set_state(tensors["rng.shuffle"])
        self.probe_gen.set_state(tensors["rng.probe"])
        self.gc_gen.set_state(tensors["rng.gc"])
        self.prune_gen.set_state(tensors["rng.prune"])
        self.active = tensors["prune.active"].to(torch.int64)
        self.epoch = int(meta["epoch"])
        self.history = [{k: _number(v) for k, v in r.items()} for r in meta["history"]]
        self.zeta_terms = [_number(v) for v in meta["zeta_terms"]]
        self.separated_epoch = meta["separated_epoch"]
        self.margin_epochs = list(meta.get("margin_epochs", []))
        if self.run_dir is not None and self.margin_epochs and (self.run_dir / "margins.npz").exists():
            with np.load(self.run_dir / "margins.npz") as z:
                keep = [i for i, e in enumerate(z["epochs"].tolist()) if e <= self.epoch]
                self.margin_snapshots = [z["margins"][i] for i in keep]
                self.margin_epochs = [int(z["epochs"][i]) for i in keep]
        else:
            self.margin_epochs = []

    def _save_margins(self) -> None:
        import io

        buf = io.BytesIO()
        np.savez(buf, epochs=np.asarray(self.margin_epochs, dtype=np.int64),
                 margins=np.stack(self.margin_snapshots).astype(np.float32), noisy_mask=self.noise.mask.numpy())
        _rd.atomic_write_bytes(self.run_dir / "margins.npz", buf.getvalue())

    # ------------------------------------------------------------------ the epoch
    def _train_epoch(self, lr: float) -> float:
        c, dev = self.config, self.config.device
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.model.train()
        order = self.active[torch.randperm(self.active.numel(), generator=self.shuffle_gen)]
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

    def _probe_zeta(self) -> dict[str, float]:
        c = self.config
        idx = torch.randperm(self.data.n_train, generator=self.probe_gen)[: c.zeta_batch_size]
        before, after = susceptibility_probe(self.model, self.optimizer, self.data.x_train[idx].to(c.device),
                                             self.random_labels[idx].to(c.device))
        self.zeta_terms.append(before - after)
        return {"zeta_loss_before": before, "zeta_loss_after": after, "zeta_step": before - after,
                "zeta": float(np.mean(self.zeta_terms))}

    def _step_epoch(self) -> dict[str, Any]:
        c, m = self.config, set(self.config.metrics)
        t0 = time.perf_counter()
        lr = self.lr_at(self.epoch)
        row: dict[str, Any] = {"epoch": self.epoch + 1, "lr": lr, "n_active": int(self.active.numel())}
        for g in self.optimizer.param_groups:
            g["lr"] = lr  # the ζ probe steps with this epoch's learning rate, as in the official code
        if "susceptibility" in m:
            row.update(self._probe_zeta())
        loss = self._train_epoch(lr)
        self.epoch += 1
        if "loss" in m:
            row["loss"] = loss
        need_train = bool(m & {"train_acc", "margins", "delta_acc"}) or c.prune_fraction is not None
        train_logits = _logits(self.model, self.data.x_train, c.eval_batch_size, c.device) if need_train else None
        if "train_acc" in m:
            row.update(_train_accuracies(train_logits, self.noise))
            row["train_loss_eval"] = float(nn.functional.cross_entropy(train_logits, self.noise.labels))
        if "test_acc" in m:
            test_logits = _logits(self.model, self.data.x_test, c.eval_batch_size, c.device)
            row["test_acc"] = _acc(test_logits, self.data.y_test)
            row["test_loss"] = float(nn.functional.cross_entropy(test_logits, self.data.y_test))
        margin_arr = None
        if "margins" in m or c.prune_fraction is not None:
            margins, margin_summary, _ = _margins_api()
            margin_arr = np.asarray(margins(train_logits.numpy(), self.noise.labels.numpy()), dtype=np.float64)
        if "margins" in m:
            row.update(_summary_items(margin_summary(margin_arr)))
            self.margin_snapshots.append(margin_arr.astype(np.float32))
            self.margin_epochs.append(self.epoch)
        if "delta_acc" in m:
            self._delta_metrics(row, train_logits)
        if "spectra" in m:
            row.update(self._spectra_metrics())
        if "geometric_complexity" in m:
            row["geometric_complexity"] = geometric_complexity(
                self.model, self.data.x_train[self.gc_indices].to(c.device), n_probes=c.gc_probes, generator=self.gc_gen)
        if c.prune_fraction is not None:
            self._prune(row, train_logits, margin_arr)
        row["epoch_time_s"] = time.perf_counter() - t0
        return row

    def _delta_metrics(self, row: dict[str, Any], train_logits: torch.Tensor) -> None:
        acc = delta_accuracy(train_logits, self.noise.labels, self.config.deltas)
        for d, a in acc.items():
            row[f"acc_delta_{d:g}"] = a
        loss_now = float(nn.functional.cross_entropy(train_logits, self.noise.labels))
        row.setdefault("train_loss_eval", loss_now)
        prev = self.history[-1] if self.history else None
        dropped = []
        if prev is not None and "train_loss_eval" in prev and loss_now < prev["train_loss_eval"]:
            dropped = [d for d, a in acc.items() if f"acc_delta_{d:g}" in prev and a < prev[f"acc_delta_{d:g}"]]
        # Berlyand–Jabin–Safsten instability: the training loss fell while (δ-robust) accuracy dropped.
        row["accuracy_instability"] = bool(dropped)
        row["instability_deltas"] = dropped

    def _spectra_metrics(self) -> dict[str, Any]:
        from netsieve import analyze_spectra

        mats = weight_matrices(self.model)
        res = analyze_spectra(mats, porter_thomas=self.config.porter_thomas, level_statistics=False, errors="collect")
        out: dict[str, Any] = {}
        for name, r in res.items():
            ok = r.error is None and r.fit is not None
            out[f"sigma[{name}]"] = r.fit.sigma if ok else float("nan")
            out[f"n_spikes[{name}]"] = r.fit.n_spikes if ok else -1
            if self.config.porter_thomas:
                out[f"pt_boundary[{name}]"] = r.porter_thomas.boundary if ok and r.porter_thomas else -1
        return out

    def _prune(self, row: dict[str, Any], train_logits: torch.Tensor, margin_arr: np.ndarray) -> None:
        c = self.config
        used = self.active
        separated = bool((train_logits[used].argmax(1) == self.noise.labels[used]).all())
        if self.separated_epoch is None and separated:
            self.separated_epoch = self.epoch
        row["separated"] = separated
        if self.separated_epoch is not None and (self.epoch - self.separated_epoch) % c.prune_every == 0:
            _, _, lowest_margins = _margins_api()
            keep = np.asarray(lowest_margins(margin_arr, fraction=float(c.prune_fraction)), dtype=np.int64)
            if c.prune_selection == "random":  # same size, chosen without looking at margins
                keep = torch.randperm(self.data.n_train, generator=self.prune_gen)[: keep.size].numpy()
            self.active = torch.from_numpy(np.sort(keep))
            row["pruned_to"] = int(self.active.numel())

    # ------------------------------------------------------------------ the run
    def run(self) -> TrainResult:
        c = self.config
        bar = None
        if self.run_dir is not None:
            # A resumed run is not complete until it finishes again.
            (self.run_dir / _rd.COMPLETE_MARKER).unlink(missing_ok=True)
        with _run_environment(c):
            if c.progress and self.epoch < c.epochs:
                from tqdm.auto import tqdm

                bar = tqdm(total=c.epochs, initial=self.epoch, desc="train", unit="epoch", leave=False)
            try:
                while self.epoch < c.epochs:
                    row = self._step_epoch()
                    self.history.append(row)
                    if self.run_dir is not None:
                        _rd.write_metrics(self.run_dir, self.history)
                        if self.epoch % c.checkpoint_every == 0 or self.epoch == c.epochs:
                            self.save_checkpoint()
                    for cb in self.callbacks:
                        cb(self, row)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix({k: f"{row[k]:.4g}" for k in ("loss", "train_acc", "test_acc", "zeta") if k in row})
            finally:
                if bar is not None:
                    bar.close()
        if self.run_dir is not None:
            self._finish()
        return TrainResult(c, self.model, self.data, self.noise, self.history, self.run_dir,
                           self.active if c.prune_fraction is not None else None)

    def _finish(self) -> None:
        from safetensors.torch import save

        d = self.run_dir
        if self.epoch % self.config.checkpoint_every != 0:
            self.save_checkpoint()
        _rd.write_metrics(d, self.history)
        _rd.atomic_write_bytes(d / "model.safetensors", save({k: v.detach().cpu().contiguous().clone()
                                                              for k, v in self.model.state_dict().items()}))
        if self.margin_snapshots:
            self._save_margins()
        spectra = self._final_spectra()
        if self.config.plots:
            from .plots import plot_run

            plot_run(d, self.history, self.margin_epochs, self.margin_snapshots, self.noise.mask.numpy(), spectra)
        final = self.history[-1] if self.history else {}
        _rd.mark_complete(d, {"epochs": self.epoch, "final": final})

    def _final_spectra(self) -> dict[str, dict[str, Any]]:
        from netsieve import analyze_spectra

        import io

        res = analyze_spectra(weight_matrices(self.model), level_statistics=False, errors="collect")
        out, arrays = {}, {}
        for name, r in res.items():
            if r.error is None and r.fit is not None:
                out[name] = {"s": r.singular_values, "shape": r.shape, "sigma": r.fit.sigma, "n_spikes": r.fit.n_spikes}
                arrays[name] = r.singular_values
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        _rd.atomic_write_bytes(self.run_dir / "spectra.npz", buf.getvalue())
        return out


def train(config: TrainConfig | Mapping[str, Any] | None = None, **kwargs: Any) -> TrainResult:
    """Trains one run: ``train(TrainConfig(...), run_dir="runs/x")``. Keyword arguments are those of
    :class:`Trainer`; with no config the defaults (MLP 40-512-512-10 on MNIST-1D) are used."""
    return Trainer(config if config is not None else TrainConfig(), **kwargs).run()


@dataclass
class SweepRecord:
    noise_rate: float
    seed: int
    before: dict[str, float]
    after: dict[str, float] | None
    history: list[dict[str, Any]] = field(repr=False)
    run_dir: Path | None = None


@dataclass
class SweepResult:
    records: list[SweepRecord]

    def table(self, metric: str = "test_acc") -> list[dict[str, float]]:
        """Per noise level: mean and sample std over seeds of ``metric`` before/after the post-filter."""
        rows = []
        for rate in sorted({r.noise_rate for r in self.records}):
            recs = [r for r in self.records if r.noise_rate == rate]
            b = np.array([r.before[metric] for r in recs])
            row = {"noise_rate": rate, "n_seeds": len(recs), "before_mean": float(b.mean()),
                   "before_std": float(b.std(ddof=1)) if len(b) > 1 else 0.0}
            if all(r.after is not None for r in recs):
                a = np.array([r.after[metric] for r in recs])
                row.update(after_mean=float(a.mean()), after_std=float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                           change_mean=float((a - b).mean()))
            rows.append(row)
        return rows

    def format_table(self, metric: str = "test_acc") -> str:
        rows = self.table(metric)
        has_after = rows and "after_mean" in rows[0]
        head = f"{'noise':>6}  {'seeds':>5}  {metric + ' before':>20}" + (f"  {metric + ' after':>20}  {'change':>8}" if has_after else "")
        lines = [head]
        for r in rows:
            s = f"{r['noise_rate']:>6.2f}  {r['n_seeds']:>5d}  {100 * r['before_mean']:>12.2f} ± {100 * r['before_std']:<5.2f}"
            if has_after:
                s += f"  {100 * r['after_mean']:>12.2f} ± {100 * r['after_std']:<5.2f}  {100 * r['change_mean']:>+8.2f}"
            lines.append(s)
        return "\n".join(lines)


def sweep(
    config: TrainConfig,
    noise_rates: Iterable[float],
    seeds: Iterable[int],
    *,
    post_filter: Callable[[nn.Module], nn.Module] | None = None,
    run_root: str | os.PathLike | None = None,
    data: DataSplit | None = None,
    overwrite: bool = False,
) -> SweepResult:
    """Trains ``config`` at every noise rate × seed, evaluates, applies ``post_filter`` to a deep copy
    of each trained model and evaluates again. The dataset is loaded once. With ``run_root`` each run
    gets ``run_root/noise<rate>-seed<seed>``."""
    if post_filter is not None and not callable(post_filter):
        raise TypeError("post_filter must be a callable model -> model")
    rates = [check_noise_rate(r) for r in noise_rates]
    seeds = [int(s) for s in seeds]
    if not rates or not seeds:
        raise ValueError("sweep needs at least one noise rate and one seed")
    if data is None:
        data = load_dataset(config.dataset, seed=config.data_seed, n_train=config.n_train, n_test=config.n_test)
    records = []
    for rate in rates:
        for seed in seeds:
            cfg = config.replace(noise_rate=rate, seed=seed)
            rd = Path(run_root) / f"noise{rate:g}-seed{seed}" if run_root is not None else None
            res = Trainer(cfg, data=data, run_dir=rd, overwrite=overwrite).run()
            before = res.evaluate()
            after = None
            if post_filter is not None:
                filtered = post_filter(copy.deepcopy(res.model))
                if not isinstance(filtered, nn.Module):
                    raise TypeError(f"post_filter must return an nn.Module, got {type(filtered).__name__}")
                after = res.evaluate(filtered)
            records.append(SweepRecord(rate, seed, before, after, res.history, rd))
    return SweepResult(records)
