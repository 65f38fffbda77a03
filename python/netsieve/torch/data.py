"""Datasets for training runs: built-in tasks that need no download, and user tensors or Datasets.

Every dataset is held in memory as a :class:`DataSplit` (float32 inputs, int64 labels). Built-in
names (see :data:`DATASETS`):

* ``"mnist1d"`` — MNIST-1D (Greydanus 2020), generated locally with ``mnist1d.data.make_dataset``
  (4000 train / 1000 test sequences of length 40, 10 classes); the generated arrays are cached as
  ``.npz`` under ``$NETSIEVE_CACHE`` or ``~/.cache/netsieve``.
* ``"digits"`` — scikit-learn's 8×8 digits (1797 images, 10 classes), split by a seeded permutation.
* ``"teacher"`` — inputs x ~ N(0, I_d), labels argmax of a random two-layer teacher network.
* ``"gaussian_mixture"`` — one isotropic Gaussian per class around random unit-norm means.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .._files import atomic_write_bytes

__all__ = ["DataSplit", "DATASETS", "load_dataset", "from_tensors", "from_datasets", "cache_dir"]


@dataclass(frozen=True)
class DataSplit:
    """A train/test split in memory. ``x_*`` are float32 tensors (N, *input_shape), ``y_*`` int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def fingerprint(self) -> str:
        """A short hash of the data, stored in checkpoints so a resume on other data is refused."""
        h = hashlib.sha256()
        for t in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(np.ascontiguousarray(t.numpy()).tobytes())
        return h.hexdigest()[:16]


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$NETSIEVE_CACHE`` or ``~/.cache/netsieve``."""
    env = os.environ.get("NETSIEVE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "netsieve"


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _mnist1d_arrays() -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the 'mnist1d' dataset needs the mnist1d package: pip install mnist1d") from exc
    args = get_dataset_args(as_dict=True)
    args.pop("url", None)
    key = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:12]
    path = cache_dir() / f"mnist1d-{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            pass  # a corrupt cache file is regenerated below
    # make_dataset reseeds numpy's and random's global generators; leave the caller's untouched.
    import random

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    arrays = {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test")}
    try:
        _atomic_savez(path, **arrays)
    except OSError:
        pass  # an unwritable cache only costs regeneration next time
    return arrays


def _load_mnist1d(seed: int, **_: Any) -> tuple[np.ndarray, ...]:
    a = _mnist1d_arrays()
    return a["x"], a["y"], a["x_test"], a["y_test"]


def _load_digits(seed: int, test_fraction: float = 0.25, **_: Any) -> tuple[np.ndarray, ...]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover
        raise ImportError("the 'digits' dataset needs scikit-learn: pip install scikit-learn") from exc
    d = load_digits()
    x = d.images[:, None, :, :] / 16.0  # (N, 1, 8, 8) in [0, 1]
    y = d.target
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]


def _load_teacher(
    seed: int, n_train: int = 4000, n_test: int = 1000, input_dim: int = 40, n_classes: int = 10,
    teacher_width: int = 64, **_: Any,
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    W1 = rng.normal(size=(input_dim, teacher_width)) / np.sqrt(input_dim)
    W2 = rng.normal(size=(teacher_width, n_classes)) / np.sqrt(teacher_width)
    x = rng.normal(size=(n_train + n_test, input_dim))
    y = np.argmax(np.maximum(x @ W1, 0.0) @ W2, axis=1)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _load_gaussian_mixture(
    seed: int, n_train: int = 4000, n_test: int = 1000, input_dim: int = 40, n_classes: int = 10,
    separation: float = 3.0, **_: Any,
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n_classes, input_dim))
    means *= separation / np.linalg.norm(means, axis=1, keepdims=True)
    n = n_train + n_test
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    x = means[y] + rng.normal(size=(n, input_dim))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


DATASETS: dict[str, Callable[..., tuple[np.ndarray, ...]]] = {
    "mnist1d": _load_mnist1d,
    "digits": _load_digits,
    "teacher": _load_teacher,
    "gaussian_mixture": _load_gaussian_mixture,
}


def _subset(x: np.ndarray, y: np.ndarray, n: int | None, what: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    if n is None:
        return x, y
    if int(n) <= 0 or int(n) > len(y):
        raise ValueError(f"{what}={n} is out of range for dataset {name!r}, which has {len(y)} samples")
    return x[: int(n)], y[: int(n)]


def load_dataset(
    name: str, *, seed: int = 0, n_train: int | None = None, n_test: int | None = None, **options: Any
) -> DataSplit:
    """Loads a built-in dataset by name.

    ``seed`` fixes the synthetic tasks and the digits split (MNIST-1D always uses its standard
    generator seed). ``n_train``/``n_test`` size the synthetic tasks and take the first samples of
    the fixed ones. Extra ``options`` go to the generator (e.g. ``input_dim``, ``separation``).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    if name in ("teacher", "gaussian_mixture"):
        if n_train is not None:
            options["n_train"] = int(n_train)
        if n_test is not None:
            options["n_test"] = int(n_test)
        for key in ("n_train", "n_test", "input_dim", "n_classes"):
            if key in options and int(options[key]) <= 0:
                raise ValueError(f"{key} must be positive, got {options[key]!r}")
        xtr, ytr, xte, yte = DATASETS[name](seed, **options)
    else:
        xtr, ytr, xte, yte = DATASETS[name](seed, **options)
        xtr, ytr = _subset(xtr, ytr, n_train, "n_train", name)
        xte, yte = _subset(xte, yte, n_test, "n_test", name)
    return from_tensors(xtr, ytr, xte, yte, name=name)


def _as_inputs(x: Any, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim < 2:
        raise ValueError(f"{what} must have a leading sample axis and at least one feature axis, got shape {tuple(t.shape)}")
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"{what} must be numeric, got dtype {t.dtype}")
    t = t.detach().to(torch.float32).contiguous()
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return t


def _as_labels(y: Any, n: int, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).detach()
    if t.is_floating_point():
        if not torch.equal(t, t.round()):
            raise ValueError(f"{what} must be integer class indices")
    t = t.to(torch.int64).reshape(-1)
    if t.numel() != n:
        raise ValueError(f"{what} has {t.numel()} labels for {n} samples")
    if t.numel() and int(t.min()) < 0:
        raise ValueError(f"{what} contains negative class indices")
    return t.contiguous()


def from_tensors(
    x_train: Any, y_train: Any, x_test: Any, y_test: Any, *, n_classes: int | None = None, name: str = "custom"
) -> DataSplit:
    """Wraps user arrays/tensors (inputs (N, ...), integer labels (N,)) as a :class:`DataSplit`."""
    xtr, xte = _as_inputs(x_train, "x_train"), _as_inputs(x_test, "x_test")
    if xtr.shape[1:] != xte.shape[1:]:
        raise ValueError(f"train inputs have sample shape {tuple(xtr.shape[1:])}, test inputs {tuple(xte.shape[1:])}")
    if xtr.shape[0] == 0:
        raise ValueError("the training set is empty")
    ytr = _as_labels(y_train, xtr.shape[0], "y_train")
    yte = _as_labels(y_test, xte.shape[0], "y_test")
    seen = int(max(ytr.max(), yte.max() if yte.numel() else 0)) + 1
    if n_classes is None:
        n_classes = seen
    elif int(n_classes) < seen:
        raise ValueError(f"n_classes={n_classes} but the labels go up to {seen - 1}")
    if int(n_classes) < 2:
        raise ValueError("a classification task needs at least 2 classes")
    return DataSplit(name, xtr, ytr, xte, yte, int(n_classes))


def _materialize(ds: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        n = len(ds)
    except TypeError:
        raise TypeError(f"{what} must be a map-style torch Dataset with __len__") from None
    xs, ys = [], []
    for i in range(n):
        item = ds[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise TypeError(f"{what}[{i}] must be an (input, label) pair, got {type(item).__name__}")
        xs.append(torch.as_tensor(item[0]))
        ys.append(int(torch.as_tensor(item[1])))
    if not xs:
        raise ValueError(f"{what} is empty")
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)


def from_datasets(train: Any, test: Any, *, n_classes: int | None = None, name: str = "custom") -> DataSplit:
    """Reads map-style torch Datasets of (input, label) pairs into memory as a :class:`DataSplit`."""
    xtr, ytr = _materialize(train, "train dataset")
    xte, yte = _materialize(test, "test dataset")
    return from_tensors(xtr, ytr, xte, yte, n_classes=n_classes, name=name)
