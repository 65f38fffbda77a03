"""In-memory datasets for training runs: the :class:`DataSplit` every run trains on, made from user
tensors or map-style torch Datasets (:func:`from_tensors`, :func:`from_datasets`). The built-in
tasks that need no download are in :mod:`netsieve.torch.builtin_data`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["DataSplit", "from_tensors", "from_datasets"]


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
    x_unlabeled : torch.Tensor, optional
        A pool of inputs without labels, disjoint from both sets, on which the ``churn`` metric (and
        the label-free stop ``early_stop="churn"``, validated on such a pool) is measured; without
        it churn reads the test inputs (not their labels). Set by :meth:`with_unlabeled` or
        ``from_tensors(..., x_unlabeled=...)``.

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
    x_unlabeled: torch.Tensor | None = None

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
            16 hex digits of the SHA-256 of the four tensors' bytes, and of the unlabeled pool when
        there is one (not of the name or n_classes).

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
        pool = () if self.x_unlabeled is None else (self.x_unlabeled,)
        for t in (self.x_train, self.y_train, self.x_test, self.y_test, *pool):
            h.update(np.ascontiguousarray(t.numpy()).tobytes())
        return h.hexdigest()[:16]

    def with_unlabeled(self, x_unlabeled: Any) -> "DataSplit":
        """This split with a pool of unlabeled inputs (``x_unlabeled``); this one is unchanged.

        Parameters
        ----------
        x_unlabeled : array_like or torch.Tensor
            Inputs (M, *input_shape), M ≥ 1; converted to contiguous float32.

        Returns
        -------
        DataSplit

        Raises
        ------
        ValueError
            An empty pool, another sample shape than the training inputs', NaN/Inf inputs.
        TypeError
            Non-numeric inputs.

        Examples
        --------
        >>> import torch, netsieve.torch as nt
        >>> d = nt.load_dataset("teacher", n_train=50, n_test=10, seed=0)
        >>> d.with_unlabeled(torch.zeros(7, *d.input_shape)).x_unlabeled.shape[0], d.x_unlabeled is None
        (7, True)
        >>> d.with_unlabeled(torch.zeros(7, 3))
        Traceback (most recent call last):
        ValueError: x_unlabeled has sample shape (3,), the training inputs (40,)
        """
        return dataclasses.replace(self, x_unlabeled=_unlabeled_pool(x_unlabeled, self.input_shape))


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
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{what} has labels of dtype {t.dtype}; expected integer class indices")
    t = t.reshape(-1)
    if t.numel() != n:
        raise ValueError(f"{what} has {t.numel()} labels for {n} samples")
    if t.is_floating_point():
        # Integral floats are accepted; NaN, ±Inf and 1.7 are named, never cast (inf → int64 is garbage).
        bad = (~(torch.isfinite(t) & (t == t.round()))).nonzero()
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"{what}[{i}] has the label {t[i].item()!r}, which is not an integer class index")
    t = t.to(torch.int64)
    if t.numel() and int(t.min()) < 0:
        raise ValueError(f"{what} contains negative class indices")
    return t.contiguous()


def _unlabeled_pool(x: Any, input_shape: tuple[int, ...]) -> torch.Tensor:
    t = _as_inputs(x, "x_unlabeled")
    if tuple(t.shape[1:]) != tuple(input_shape):
        raise ValueError(f"x_unlabeled has sample shape {tuple(t.shape[1:])}, the training inputs {tuple(input_shape)}")
    if t.shape[0] == 0:
        raise ValueError("x_unlabeled is empty: pass at least one input (or None for no pool)")
    return t


def from_tensors(
    x_train: Any, y_train: Any, x_test: Any, y_test: Any, *, n_classes: int | None = None, name: str = "custom",
    x_unlabeled: Any = None,
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
    x_unlabeled : array_like or torch.Tensor, optional
        A pool of inputs without labels for the ``churn`` metric (:class:`DataSplit`).

    Returns
    -------
    DataSplit

    Raises
    ------
    ValueError
        Mismatched sample shapes or label counts, an empty training set or unlabeled pool, NaN/Inf inputs, negative,
        non-integral or non-finite labels (the first one named), ``n_classes`` below the labels'
        range or below 2.
    TypeError
        Non-numeric inputs, boolean or complex labels.

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
    pool = None if x_unlabeled is None else _unlabeled_pool(x_unlabeled, tuple(xtr.shape[1:]))
    return DataSplit(name, xtr, ytr, xte, yte, int(n_classes), pool)


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
        label = torch.as_tensor(item[1])
        if label.numel() != 1:
            raise ValueError(f"{what}[{i}] has a label of shape {tuple(label.shape)}; expected one class index")
        xs.append(torch.as_tensor(item[0]))
        ys.append(label.reshape(()))
    if not xs:
        raise ValueError(f"{what} is empty")
    # Stacked in their promoted dtype: from_tensors checks the values (kind, integrality, sign).
    return torch.stack(xs), torch.stack(ys)


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
