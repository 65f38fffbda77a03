"""The one converter module: how netsieve turns arguments into arrays, and results back into the
kind of the argument (the tensor policy). The Rust binding calls these functions for every input
that is not already an aligned float32/float64 numpy array in native byte order.

Inputs
    numpy float32/float64 arrays are used as they are, with any strides, without a copy. Everything
    else is converted: torch tensors on any device (detached, copied to the CPU when they live
    elsewhere), lists and other array-likes (``numpy.asarray``), float16/bfloat16 (computed in
    float32), big-endian or unaligned arrays (a native copy of the same precision). The calls whose
    results are float64 statistics (``analyze_layers``, ``analyze_spectra``) read 2-D bfloat16
    tensors in place instead (:func:`bfloat16_bits`: a uint16 view of the bits, widened exactly by
    the core as it reads them; the results are those of the float32 copy, bit for bit). Integer, bool
    and complex values are refused with a TypeError naming the argument; labels must be integers.

Results (the tensor policy)
    A function that returns an array returns the kind it was given: numpy in, numpy out; a torch
    tensor in, a torch tensor out, on the input's device (CUDA input is computed on the CPU and the
    result moved back). dtype: a transform of the input (``shrink``, ``margins``) keeps the input's
    floating dtype (float16/bfloat16 are cast back); spectra and statistics (singular values, MP
    densities) are float64; indices are int64. Lists and scalars give numpy arrays.

Torch is never imported here: tensors are recognised by duck typing.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

import numpy as np

from ._netsieve import InvalidInputError

__all__ = ["is_torch_tensor", "as_float_array", "bfloat16_bits", "as_labels", "as_batch_matrix", "like", "positive_integer"]

_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def is_torch_tensor(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach") and hasattr(x, "device")


def _torch_of(x: Any) -> Any:
    return sys.modules[type(x).__module__.split(".")[0]]


def _cpu(t: Any, name: str) -> Any:
    if t.device.type == "meta":
        raise InvalidInputError(f"{name} is a tensor on the meta device, which holds no values")
    if t.device.type != "cpu":
        t = t.cpu()
    return t


def _from_torch(x: Any, name: str) -> np.ndarray:
    torch = _torch_of(x)
    t = x.detach()
    if t.is_complex() or not t.is_floating_point():
        raise TypeError(f"{name} must hold floating-point values, got torch dtype {t.dtype}")
    t = _cpu(t, name)
    if t.dtype not in (torch.float32, torch.float64):
        t = t.float()  # float16 / bfloat16: computed in float32 (and float64 inside the kernels)
    return t.resolve_conj().resolve_neg().numpy()


def bfloat16_bits(x: Any, name: str) -> np.ndarray | None:
    """The bits of a 2-D bfloat16 torch tensor as a uint16 numpy view of the same strides (no
    copy for a CPU tensor), for the calls that read bfloat16 in place; None for anything else
    (which :func:`as_float_array` then converts)."""
    if not is_torch_tensor(x):
        return None
    torch = _torch_of(x)
    t = x.detach()
    if t.dtype != torch.bfloat16 or t.dim() != 2:
        return None
    t = _cpu(t, name).resolve_neg()
    return t.view(torch.int16).numpy().view(np.uint16)


def _refuse_kind(arr: np.ndarray, name: str) -> None:
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real; complex dtype {arr.dtype} is not supported")
    if kind == "b":
        raise TypeError(f"{name} must hold floating-point values, got bool")
    if kind in "iu":
        raise TypeError(
            f"{name} must hold floating-point values, got integer dtype {arr.dtype}; "
            "convert it with .astype(float) if that is intended"
        )
    if kind != "f":
        raise TypeError(f"{name} must be a float array, got dtype {arr.dtype}")


def as_float_array(x: Any, name: str) -> np.ndarray:
    """A float32/float64 numpy array of ``x`` in native byte order, aligned; a copy only when the
    input is not already one (see the module docs)."""
    if isinstance(x, np.ndarray):
        arr = x
    elif is_torch_tensor(x):
        arr = _from_torch(x, name)
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"{name} cannot be read as an array: {exc}") from None
    _refuse_kind(arr, name)
    if arr.dtype.itemsize < 4:
        arr = arr.astype(np.float32)  # float16
    elif arr.dtype.itemsize > 8:
        arr = arr.astype(np.float64)  # long double
    elif not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))  # same precision, native order
    if not arr.flags.aligned:
        arr = arr.copy()
    return arr


def as_batch_matrix(x: Any, name: str) -> np.ndarray:
    """A (B, D) float matrix of a batch of examples: extra axes are flattened per example."""
    arr = as_float_array(x, name)
    if arr.ndim < 2:
        raise InvalidInputError(f"{name} must hold one example per row (at least 2-D), got shape {arr.shape}")
    return arr.reshape(arr.shape[0], -1) if arr.ndim > 2 else arr


def as_labels(x: Any, name: str) -> np.ndarray:
    """Integer class labels as a contiguous native int32/int64 array (floats and bools refused)."""
    if is_torch_tensor(x):
        t = _cpu(x.detach(), name)
        if t.is_floating_point() or t.is_complex():
            raise TypeError(f"{name} must be integers, got torch dtype {t.dtype}")
        arr = t.numpy()
    else:
        arr = np.asarray(x)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)  # [] has no class to be wrong about
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must be integers, got bool")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {arr.dtype}; class indices cannot be floats")
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        bad = int(np.argmax(arr > np.iinfo(np.int64).max))
        raise InvalidInputError(f"{name}: row {bad}: label {arr[bad]} is out of range")
    # No copy when the labels already are native int32/int64 (a CPU tensor's, read only by the core).
    wanted = np.int32 if arr.dtype.itemsize <= 4 and arr.dtype.kind == "i" else np.int64
    return np.ascontiguousarray(arr.astype(wanted, copy=False))


def like(original: Any, result: np.ndarray, kind: str) -> Any:
    """``result`` in the kind of ``original`` (the tensor policy in the module docs); ``kind`` is
    "input" (the input's float dtype), "float64" or "int64"."""
    if is_torch_tensor(original):
        torch = _torch_of(original)
        t = torch.from_numpy(np.ascontiguousarray(result))
        if kind == "input" and original.is_floating_point():
            t = t.to(dtype=original.dtype)
        return t.to(device=original.device)
    if kind == "input" and isinstance(original, np.ndarray) and original.dtype.kind == "f":
        dtype = original.dtype.newbyteorder("=")
        if result.dtype != dtype:
            return result.astype(dtype)
    return result


def positive_integer(value: Any, name: str) -> int:
    """A Python-level count (``batch_size``, ``max_group_bytes``) checked as strictly as the core's:
    an integer ≥ 1, numpy integers included; bool, str and float refused (``int()`` would accept
    "256" and truncate 2.5)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
