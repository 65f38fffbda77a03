"""The shrinkage filters of :func:`netsieve.torch.filter_checkpoint` (and ``filter_model``,
``filter_state_dict``) on a torch device (``device="cuda"``; ``"cpu"`` runs the same route on the
CPU, which is how it is tested without a GPU).

Matrices of one shape are stacked and decomposed in one batched ``torch.linalg.svd`` call in
float64 on the device; the core's :func:`netsieve.shrink_decomposed` then fits the noise, runs the
Porter–Thomas test (method ``"porter_thomas"``, from the vectors) and gives the shrunk values η
exactly as :func:`netsieve.shrink_many` does from its own decomposition; the filtered matrix
W' = U·diag(η)·Vᵀ is formed on the device by the core's rule (``rust/src/shrinkage/reconstruct.rs``):
from the components kept, or as W plus the changed components, whichever is fewer, and cast back
to the input's dtype. The records therefore have the same fields (``decomposition`` is
``"given"``), the singular values agree to a relative 1e-9 of the largest, counts and kept ranks
are equal unless a value lies that close to a threshold, and the filtered entries agree to 1e-9 of
the largest entry in float64 (two rounding steps of a float32/bfloat16 weight)
(tests/test_device_checkpoints.py). ``decomposition`` and ``max_working_bytes`` do not apply, and
``route="partial"`` (the core's CPU route) is refused with ``device=``; a
batch holds at most 256 MiB of float64 inputs. A matrix with NaN or Inf goes to the core route,
which gives its error.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

import netsieve as ns

__all__ = ["shrink_matrices"]

_BATCH_BYTES = 256 * 2**20  # one batched decomposition's float64 input (a larger matrix forms its own batch)


def shrink_matrices(matrices: Mapping[str, torch.Tensor], method: str, sigma: Any, *, errors: str, device: Any = None,
                    **options: Any) -> dict[str, tuple[Any, Any]]:  # fmt: skip
    """:func:`netsieve.shrink_many` of ``matrices`` (name → 2-D tensor): name → (filtered tensor
    or None, ShrinkRecord or the exception), on the torch ``device`` when given (module docs)."""
    if device is None or not matrices:
        return ns.shrink_many(dict(matrices), method, sigma, errors=errors, **options)
    from .device_route import check_device

    if options.get("route") == "partial":
        raise ValueError("route='partial' is the core's CPU route; device= decomposes every matrix in full on the device: pass one or the other")
    dev = check_device(device)
    given = {k: v for k, v in options.items() if k not in ("decomposition", "route")}  # the decomposition is the device's
    finite = {n: m for n, m in matrices.items() if bool(torch.isfinite(m).all())}
    out: dict[str, tuple[Any, Any]] = {}
    batches: dict[tuple[int, ...], list[list[str]]] = {}  # by shape, each batch at most _BATCH_BYTES in float64
    for n, m in finite.items():
        shape_batches = batches.setdefault(tuple(m.shape), [[]])
        if shape_batches[-1] and (len(shape_batches[-1]) + 1) * m.numel() * 8 > _BATCH_BYTES:
            shape_batches.append([])
        shape_batches[-1].append(n)
    for names in (b for shape_batches in batches.values() for b in shape_batches):
        stack = torch.stack([finite[n].to(device=dev, dtype=torch.float64) for n in names])
        u, s, vh = torch.linalg.svd(stack, full_matrices=False)
        for j, n in enumerate(names):
            out[n] = _one(n, finite[n], stack[j], u[j], s[j], vh[j], method, sigma, errors, given)
        del stack, u, vh
    rest = {n: m for n, m in matrices.items() if n not in finite}
    if rest:  # the core names the problem (NaN/Inf) in its error
        out.update(ns.shrink_many(rest, method, sigma, errors=errors, **options))
    return {n: out[n] for n in matrices}


def _one(name: str, original: torch.Tensor, w: torch.Tensor, u: torch.Tensor, s: torch.Tensor, vh: torch.Tensor, method: str,
         sigma: Any, errors: str, options: dict) -> tuple[Any, Any]:  # fmt: skip
    """(filtered, record) of one matrix from its decomposition on the device."""
    s_host = s.cpu().numpy()
    vectors = (u.cpu().numpy(), vh.mT.cpu().numpy()) if method == "porter_thomas" else None
    try:
        record = ns.shrink_decomposed(s_host, tuple(original.shape), method, sigma, vectors=vectors, **options)
    except (ns.InvalidInputError, ns.ConvergenceError) as exc:
        if errors == "collect":
            return None, exc
        raise type(exc)(f"matrix {name!r}: {exc}") from exc
    eta = torch.from_numpy(np.array(record.shrunk_singular_values, dtype=np.float64)).to(w.device)  # a writable copy
    kept = torch.nonzero(eta > 0).flatten()
    changed = torch.nonzero(eta != s).flatten()
    if kept.numel() <= changed.numel():  # W' = U_K·diag(η_K)·V_Kᵀ
        filtered = (u[:, kept] * eta[kept]) @ vh[kept]
    else:  # W' = W + U_C·diag(η_C − s_C)·V_Cᵀ
        filtered = w + (u[:, changed] * (eta[changed] - s[changed])) @ vh[changed]
    return filtered.to(dtype=original.dtype).cpu(), record
