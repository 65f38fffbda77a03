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
import inspect
import io
import json
import math
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
    """A train/test split in memory. ``x_*`` are float32 tensors (N, *input_shape), ``y_*`` int64.

    Made by :func:`load_dataset`, :func:`from_tensors` and :func:`from_datasets`, which check and
    convert their inputs; the class itself checks nothing.

    Parameters
    ----------
    name : str
        The dataset's name (``"custom"`` for user data).
    x_train, y_train, x_test, y_test : torch.Tensor
        Inputs (N, *input_shape) and integer class labels (N,).
    n_classes : int

    Attributes
    ----------
    input_shape : tuple of int
        The shape of one sample, ``x_train.shape[1:]``.
    n_train, n_test : int
        The number of training and test samples.

    Raises
    ------
    dataclasses.FrozenInstanceError
        On assigning a field (the split is frozen).

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> y = torch.tensor([0, 1, 0, 1, 0, 1])
    >>> d = nt.DataSplit("toy", torch.zeros(6, 2), y, torch.zeros(2, 2), y[:2], n_classes=2)
    >>> d.n_train, d.n_test, d.input_shape
    (6, 2, (2,))
    """

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
        """A short hash of the data, stored in checkpoints so a resume on other data is refused.

        Returns
        -------
        str
            16 hex digits of the SHA-256 of the four tensors' bytes (not of the name or n_classes).

        Raises
        ------
        TypeError
            Tensors that numpy cannot read (not on the CPU).

        Examples
        --------
        >>> import netsieve.torch as nt
        >>> a = nt.load_dataset("teacher", n_train=50, n_test=10, seed=0)
        >>> b = nt.load_dataset("teacher", n_train=50, n_test=10, seed=1)
        >>> len(a.fingerprint()), a.fingerprint() == b.fingerprint()
        (16, False)
        """
        h = hashlib.sha256()
        for t in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(np.ascontiguousarray(t.numpy()).tobytes())
        return h.hexdigest()[:16]


def cache_dir() -> Path:
    """Where generated datasets are cached: ``$NETSIEVE_CACHE`` or ``~/.cache/netsieve``.

    Read at every call; only MNIST-1D is cached (as ``mnist1d-<hash of its arguments>.npz``).

    Returns
    -------
    pathlib.Path
        The folder (it need not exist yet; it is created on the first write).

    Raises
    ------
    Nothing
        The folder is neither created nor checked here.

    Examples
    --------
    >>> import os, tempfile, unittest.mock, netsieve.torch as nt
    >>> folder = tempfile.mkdtemp()
    >>> with unittest.mock.patch.dict(os.environ, NETSIEVE_CACHE=folder):
    ...     str(nt.cache_dir()) == folder
    True
    """
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


def _load_mnist1d(seed: int) -> tuple[np.ndarray, ...]:
    a = _mnist1d_arrays()
    return a["x"], a["y"], a["x_test"], a["y_test"]


def _load_digits(seed: int, test_fraction: float = 0.25) -> tuple[np.ndarray, ...]:
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
    teacher_width: int = 64,
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    W1 = rng.normal(size=(input_dim, teacher_width)) / np.sqrt(input_dim)
    W2 = rng.normal(size=(teacher_width, n_classes)) / np.sqrt(teacher_width)
    x = rng.normal(size=(n_train + n_test, input_dim))
    y = np.argmax(np.maximum(x @ W1, 0.0) @ W2, axis=1)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _load_gaussian_mixture(
    seed: int, n_train: int = 4000, n_test: int = 1000, input_dim: int = 40, n_classes: int = 10,
    separation: float = 3.0,
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
    """Loads a built-in dataset by name (see the module docs; none is downloaded).

    ``seed`` fixes the synthetic tasks and the digits split (MNIST-1D always uses its standard
    generator seed). ``n_train``/``n_test`` size the synthetic tasks and take the first samples of
    the fixed ones. Extra ``options`` go to the generator (e.g. ``input_dim``, ``separation``).

    Parameters
    ----------
    name : {"mnist1d", "digits", "teacher", "gaussian_mixture"}
        One of :data:`DATASETS`.
    seed : int, default 0
    n_train, n_test : int, optional
        Synthetic tasks: the sizes (default 4000 and 1000); fixed datasets: the first samples.
    **options
        ``"teacher"``: ``input_dim`` (40), ``n_classes`` (10), ``teacher_width`` (64);
        ``"gaussian_mixture"``: ``input_dim``, ``n_classes``, ``separation`` (3.0, the norm of the
        class means); ``"digits"``: ``test_fraction`` (0.25); ``"mnist1d"`` takes none.

    Returns
    -------
    DataSplit

    Raises
    ------
    ValueError
        An unknown name, a size that is not positive, ``n_train``/``n_test`` beyond a fixed dataset,
        ``test_fraction`` outside (0, 1).
    TypeError
        An option the dataset's generator does not take (named in the message).
    ImportError
        ``"mnist1d"`` without the mnist1d package, ``"digits"`` without scikit-learn.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> d = nt.load_dataset("gaussian_mixture", n_train=200, n_test=50, input_dim=8, n_classes=3)
    >>> d.name, d.n_train, d.n_test, d.input_shape, d.n_classes
    ('gaussian_mixture', 200, 50, (8,), 3)
    >>> nt.load_dataset("cifar10")
    Traceback (most recent call last):
    ValueError: unknown dataset 'cifar10'; valid names: digits, gaussian_mixture, mnist1d, teacher

    References
    ----------
    .. [1] Greydanus (2020): MNIST-1D, the dataset generated by the ``mnist1d`` package.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    accepted = [p for p in inspect.signature(DATASETS[name]).parameters if p not in ("seed", "n_train", "n_test")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = ", ".join(accepted) if accepted else "no options"
        raise TypeError(f"dataset {name!r} does not take {', '.join(map(repr, unknown))}; it takes {takes}")
    if "test_fraction" in options and not 0.0 < float(options["test_fraction"]) < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {options['test_fraction']!r}")
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
    """Wraps user arrays/tensors (inputs (N, ...), integer labels (N,)) as a :class:`DataSplit`.

    Parameters
    ----------
    x_train, x_test : array_like or torch.Tensor
        Numeric inputs with a leading sample axis and at least one feature axis, the same sample
        shape in both; converted to contiguous float32.
    y_train, y_test : array_like or torch.Tensor
        Non-negative class indices, one per sample (integral floats are accepted); int64.
    n_classes : int, optional
        Default: the largest label + 1.
    name : str, default "custom"

    Returns
    -------
    DataSplit

    Raises
    ------
    ValueError
        Mismatched sample shapes or label counts, an empty training set, NaN/Inf inputs, negative
        or non-integral labels, ``n_classes`` below the labels' range or below 2.
    TypeError
        Non-numeric inputs.

    Examples
    --------
    >>> import numpy as np, netsieve.torch as nt
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(100, 5)), np.arange(100) % 3
    >>> d = nt.from_tensors(x[:80], y[:80], x[80:], y[80:])
    >>> d.name, d.n_train, d.n_classes, d.x_train.dtype, d.y_train.dtype
    ('custom', 80, 3, torch.float32, torch.int64)
    >>> nt.from_tensors(x[:4], [0, 1, 2, 9], x[4:5], [0], n_classes=5)
    Traceback (most recent call last):
    ValueError: n_classes=5 but the labels go up to 9
    """
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


def _one_label(label: Any, what: str) -> int:
    t = torch.as_tensor(label)
    if t.numel() != 1:
        raise ValueError(f"{what} has a label of shape {tuple(t.shape)}; expected one class index")
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{what} has a label of dtype {t.dtype}; expected an integer class index")
    value = t.reshape(()).item()
    if t.is_floating_point() and not (math.isfinite(value) and value == round(value)):
        raise ValueError(f"{what} has the label {value!r}, which is not an integer class index")
    return int(value)


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
        ys.append(_one_label(item[1], f"{what}[{i}]"))
    if not xs:
        raise ValueError(f"{what} is empty")
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)


def from_datasets(train: Any, test: Any, *, n_classes: int | None = None, name: str = "custom") -> DataSplit:
    """Reads map-style torch Datasets of (input, label) pairs into memory as a :class:`DataSplit`.

    Parameters
    ----------
    train, test : torch.utils.data.Dataset
        Map-style (``len(ds)`` and ``ds[i]``); each item an (input, label) pair, the inputs stacked
        (same shape), each label one integer class index (an integral float is accepted, 1.5 is
        refused).
    n_classes, name
        As for :func:`from_tensors`.

    Returns
    -------
    DataSplit

    Raises
    ------
    TypeError
        A dataset without ``__len__``, an item that is not a pair, a boolean or complex label.
    ValueError
        An empty dataset, a label that is not one integral number, and the checks of
        :func:`from_tensors`.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> from torch.utils.data import TensorDataset
    >>> train = TensorDataset(torch.zeros(30, 4), torch.arange(30) % 3)
    >>> test = TensorDataset(torch.zeros(9, 4), torch.arange(9) % 3)
    >>> d = nt.from_datasets(train, test, name="toy")
    >>> d.name, d.n_train, d.n_test, d.input_shape, d.n_classes
    ('toy', 30, 9, (4,), 3)
    """
    xtr, ytr = _materialize(train, "train dataset")
    xte, yte = _materialize(test, "test dataset")
    return from_tensors(xtr, ytr, xte, yte, n_classes=n_classes, name=name)
