"""Label noise: symmetric and class-pair flips at an exact rate, with the record of what was flipped.

Exactly ``round(rate · N)`` samples are corrupted, chosen uniformly without replacement by a seeded
generator, so the realised noise rate is the requested one up to rounding (not a Bernoulli draw).

* ``"symmetric"``: a corrupted sample's label is drawn uniformly from the K − 1 *other* classes, so a
  flipped label is never the true one (rate = fraction of wrong labels). Some papers draw from all
  K classes, which makes the true wrong-label rate rate·(K−1)/K; netsieve does not.
* ``"pair"`` (asymmetric, class-pair flip): a corrupted label y becomes ``(y + 1) mod K``, or
  ``pairs[y]`` for a user-given class map with no fixed points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["LabelNoise", "corrupt_labels", "NOISE_KINDS"]

NOISE_KINDS = ("symmetric", "pair")


@dataclass(frozen=True)
class LabelNoise:
    """Noisy labels and the boolean mask of corrupted samples (``labels != clean_labels``).

    Made by :func:`corrupt_labels`.

    Parameters
    ----------
    labels, clean_labels : torch.Tensor
        The labels after and before corruption (int64, 1-D).
    mask : torch.Tensor
        Boolean, True where a label was flipped.
    rate : float
        The requested noise rate.
    kind : {"symmetric", "pair"}

    Attributes
    ----------
    n_corrupted : int
        The number of flipped labels, ``round(rate · N)``.

    Raises
    ------
    dataclasses.FrozenInstanceError
        On assigning a field.

    Examples
    --------
    >>> import netsieve.torch as nt
    >>> noise = nt.corrupt_labels([0, 1, 2, 0, 1, 2], 0.5, kind="pair", seed=0)
    >>> noise.clean_labels.tolist(), noise.labels.tolist(), noise.n_corrupted
    ([0, 1, 2, 0, 1, 2], [0, 1, 2, 1, 2, 0], 3)
    """

    labels: torch.Tensor
    clean_labels: torch.Tensor
    mask: torch.Tensor
    rate: float
    kind: str

    @property
    def n_corrupted(self) -> int:
        return int(self.mask.sum())


def check_noise_rate(rate: Any) -> float:
    try:
        r = float(rate)
    except (TypeError, ValueError):
        raise TypeError(f"noise rate must be a number, got {rate!r}") from None
    if not 0.0 <= r < 1.0:
        raise ValueError(f"noise rate must lie in [0, 1), got {rate!r}")
    return r


def corrupt_labels(
    labels: Any,
    rate: float,
    *,
    kind: str = "symmetric",
    n_classes: int | None = None,
    seed: int = 0,
    pairs: Sequence[int] | None = None,
) -> LabelNoise:
    """Flips exactly ``round(rate · N)`` labels (see the module docstring). The input is not modified.

    Parameters
    ----------
    labels : array_like or torch.Tensor
        Integer class indices (flattened to 1-D).
    rate : float
        The fraction of labels to corrupt, in [0, 1).
    kind : {"symmetric", "pair"}, default "symmetric"
        ``"symmetric"``: a uniformly drawn *other* class; ``"pair"``: ``(y + 1) mod K`` or
        ``pairs[y]``.
    n_classes : int, optional
        K; default the largest label + 1.
    seed : int, default 0
        Seeds the choice of samples and of the new labels.
    pairs : sequence of int, optional
        For ``kind="pair"``: the class each class flips to (length K, no class mapped to itself).

    Returns
    -------
    LabelNoise

    Raises
    ------
    TypeError
        ``rate`` is not a number.
    ValueError
        ``rate`` outside [0, 1), an unknown kind, labels outside [0, K), fewer than 2 classes with
        ``rate > 0``, or invalid ``pairs``.

    Examples
    --------
    >>> import torch, netsieve.torch as nt
    >>> noise = nt.corrupt_labels(torch.arange(100) % 10, 0.2, seed=0)
    >>> noise.n_corrupted, bool((noise.labels[noise.mask] != noise.clean_labels[noise.mask]).all())
    (20, True)
    >>> nt.corrupt_labels([0, 1, 2], 0.5, kind="pair", pairs=[0, 2, 1])
    Traceback (most recent call last):
    ValueError: pairs must not map a class to itself
    """
    rate = check_noise_rate(rate)
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; valid kinds: {', '.join(NOISE_KINDS)}")
    y = torch.as_tensor(labels).detach().to(torch.int64).reshape(-1).clone()
    n = y.numel()
    k = int(n_classes) if n_classes is not None else (int(y.max()) + 1 if n else 0)
    if n and (int(y.min()) < 0 or int(y.max()) >= k):
        raise ValueError(f"labels must lie in [0, {k}), got range [{int(y.min())}, {int(y.max())}]")
    if rate > 0 and k < 2:
        raise ValueError("label noise needs at least 2 classes")
    rng = np.random.default_rng(seed)
    n_flip = int(round(rate * n))
    idx = rng.choice(n, size=n_flip, replace=False) if n_flip else np.empty(0, dtype=np.int64)
    y_np = y.numpy()
    noisy = y_np.copy()
    if kind == "symmetric":
        # An offset in 1..K-1 added mod K is uniform over the other classes.
        offsets = rng.integers(1, k, size=n_flip) if n_flip else np.empty(0, dtype=np.int64)
        noisy[idx] = (y_np[idx] + offsets) % k
    else:
        if pairs is None:
            mapping = (np.arange(k) + 1) % k
        else:
            mapping = np.asarray(pairs, dtype=np.int64)
            if mapping.shape != (k,) or mapping.min() < 0 or mapping.max() >= k:
                raise ValueError(f"pairs must map each of the {k} classes to a class in [0, {k})")
            if np.any(mapping == np.arange(k)):
                raise ValueError("pairs must not map a class to itself")
        noisy[idx] = mapping[y_np[idx]]
    noisy_t = torch.from_numpy(noisy)
    return LabelNoise(labels=noisy_t, clean_labels=y, mask=noisy_t != y, rate=rate, kind=kind)
