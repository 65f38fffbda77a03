"""Built-in datasets that need no download, loaded by name into a :class:`~netsieve.torch.DataSplit`
(float32 inputs, int64 labels). Names (see :data:`DATASETS`):

* ``"mnist1d"`` — MNIST-1D (Greydanus 2020), generated locally with ``mnist1d.data.make_dataset``
  (4000 train / 1000 test sequences of length 40, 10 classes); the generated arrays are cached as
  ``.npz`` under ``$NETSIEVE_CACHE`` or ``~/.cache/netsieve``.
* ``"digits"`` — scikit-learn's 8×8 digits (1797 images, 10 classes), split by a seeded permutation.
* ``"teacher"`` — inputs x ~ N(0, I_d), labels argmax of a random two-layer teacher network.
* ``"gaussian_mixture"`` — one isotropic Gaussian per class around random unit-norm means.
* ``"flat_mixture"`` — the same, with a fraction (``flat_fraction``, 0.3) of the points of each
  split moved onto one hyperplane through the origin: a flat portion of the data, the source of
  accuracy instability in Berlyand, Jabin & Safsten (see :func:`netsieve.doubling_condition`).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._files import atomic_write_bytes
from .data import DataSplit, from_tensors

__all__ = ["DATASETS", "load_dataset", "cache_dir"]


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


def _load_flat_mixture(
    seed: int, n_train: int = 4000, n_test: int = 1000, input_dim: int = 40, n_classes: int = 10,
    separation: float = 3.0, flat_fraction: float = 0.3,
) -> tuple[np.ndarray, ...]:
    if not 0.0 <= flat_fraction <= 1.0:
        raise ValueError(f"flat_fraction must lie in [0, 1], got {flat_fraction}")
    x, y, x_test, y_test = _load_gaussian_mixture(seed, n_train, n_test, input_dim, n_classes, separation)
    u = np.random.default_rng(seed + 1).normal(size=input_dim)
    u /= np.linalg.norm(u)
    for part in (x, x_test):  # the same fraction of each split on the hyperplane u·x = 0
        k = int(round(flat_fraction * len(part)))
        part[:k] -= np.outer(part[:k] @ u, u)
    return x, y, x_test, y_test


DATASETS: dict[str, Callable[..., tuple[np.ndarray, ...]]] = {
    "mnist1d": _load_mnist1d,
    "digits": _load_digits,
    "teacher": _load_teacher,
    "gaussian_mixture": _load_gaussian_mixture,
    "flat_mixture": _load_flat_mixture,
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
    name : {"mnist1d", "digits", "teacher", "gaussian_mixture", "flat_mixture"}
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
    ValueError: unknown dataset 'cifar10'; valid names: digits, flat_mixture, gaussian_mixture, mnist1d, teacher

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
