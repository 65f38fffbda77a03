"""Input coercion shared by every public function: numpy arrays and CPU torch tensors in, float32 or
float64 numpy arrays out, copied only when the dtype forces it. Torch is never imported here; tensors
are recognised by duck typing."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._netsieve import InvalidInputError

_NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _from_torch(x: Any, name: str) -> np.ndarray:
    if x.device.type != "cpu":
        raise InvalidInputError(f"{name} is a torch tensor on {x.device}; move it to the CPU first (.cpu())")
    t = x.detach()
    if t.is_complex() or not t.is_floating_point():
        raise TypeError(f"{name} must hold floating-point values, got torch dtype {t.dtype}")
    if t.dtype not in _torch_native_dtypes(t):
        t = t.float()  # float16 / bfloat16: computed in float32 (and f64 inside the kernels)
    return t.resolve_conj().resolve_neg().numpy()


def _torch_native_dtypes(t: Any) -> tuple:
    mod = type(t).__module__.split(".")[0]
    torch = __import__(mod)
    return (torch.float32, torch.float64)


def is_torch_tensor(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def as_float_array(x: Any, name: str) -> np.ndarray:
    """A float32/float64 numpy view of ``x`` (a copy only for other float types)."""
    if is_torch_tensor(x):
        arr = _from_torch(x, name)
    else:
        arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype not in _NATIVE_FLOATS:
            arr = arr.astype(np.float32 if arr.dtype.itemsize < 4 else np.float64)
        elif not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        return arr
    if kind == "c":
        raise TypeError(f"{name} must be real; complex dtype {arr.dtype} is not supported")
    if kind == "b":
        raise TypeError(f"{name} must hold floating-point values, got bool")
    if kind in "iu":
        raise TypeError(f"{name} must hold floating-point values, got integer dtype {arr.dtype}; convert it with .astype(float) if that is intended")
    raise TypeError(f"{name} must be a float array, got dtype {arr.dtype}")


def as_matrix(x: Any, name: str = "W", min_dim: int = 2) -> np.ndarray:
    """A 2-D float matrix with at least ``min_dim`` rows and columns."""
    arr = as_float_array(x, name)
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be a 2-D matrix, got a {arr.ndim}-D array of shape {arr.shape}")
    if arr.size == 0:
        raise InvalidInputError(f"{name} is empty (shape {arr.shape})")
    if min(arr.shape) < min_dim:
        raise InvalidInputError(
            f"{name} has shape {arr.shape}; spectral analysis needs at least {min_dim} rows and {min_dim} columns"
        )
    return arr


def as_vector(x: Any, name: str) -> np.ndarray:
    """A 1-D float64 array (a copy when the input is not float64)."""
    arr = as_float_array(x, name)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidInputError(f"{name} is empty")
    return np.ascontiguousarray(arr, dtype=np.float64)


def check_shape(shape: Any) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise InvalidInputError(f"shape must be a pair (rows, cols), got {shape!r}") from None
    if rows < 2 or cols < 2:
        raise InvalidInputError(f"shape {shape!r}: spectral analysis needs at least 2 rows and 2 columns")
    return rows, cols


def check_sigma(sigma: Any) -> float | None:
    if sigma is None:
        return None
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        raise TypeError(f"sigma must be a number, got {type(sigma).__name__}") from None
    if not np.isfinite(value) or value <= 0:
        raise InvalidInputError(f"sigma must be a positive finite number, got {sigma!r}")
    return value


def named_matrices(matrices: Any) -> tuple[list[str], list[Any], list[np.ndarray]]:
    """Names, original objects and checked float matrices of a mapping name → matrix or a sequence
    (named by position)."""
    from collections.abc import Mapping

    if isinstance(matrices, Mapping):
        names = [str(k) for k in matrices.keys()]
        items = list(matrices.values())
    else:
        items = list(matrices)
        names = [str(i) for i in range(len(items))]
    arrays = [as_matrix(w, name=f"matrix {n!r}") for n, w in zip(names, items)]
    return names, items, arrays
