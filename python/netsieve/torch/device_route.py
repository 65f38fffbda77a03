"""The decompositions of :func:`netsieve.torch.analyze` on a torch device (``device="cuda"``; or
``"cpu"``, the same route on the CPU, which is how it is tested without a GPU).

Matrices of one shape are stacked and decomposed in one batched ``torch.linalg`` call in float64
(``svdvals``, or ``svd`` for the Porter–Thomas test); the singular values (and vectors) then go to
the core's :func:`netsieve.analyze_decomposed_layers`, which computes every field of the row as
:func:`netsieve.analyze_layers` does. The rows therefore have the same fields and meaning as the
CPU route's, and agree with them to the precision of the two float64 decompositions: singular
values to a relative 1e-9 of the largest, and every count (spikes, Porter–Thomas boundary) equal
unless a value lies that close to its threshold (tests/test_device_route.py). ``decomposition``
and ``max_working_bytes`` do not apply; a batch holds at most ``max_group_bytes`` of inputs.
A matrix with NaN or Inf goes to the core route, which gives its error row.

:func:`netsieve.torch.compare` uses the same route for W_A, W_B and Δ (:func:`compare_spectra`,
tests/test_device_checkpoints.py), and with ``client=`` each Dask worker runs it on its own device.
"""

from __future__ import annotations

from typing import Any

import torch

import netsieve as ns
from netsieve import InvalidInputError, LayerReport

__all__ = ["check_device", "decompose", "analyze_group", "compare_spectra"]

_DECOMPOSED_OPTIONS = ("spike_confidence", "bulk", "level_statistics", "porter_thomas", "window", "alpha", "min_tail",
                       "min_span", "errors")  # fmt: skip


def check_device(device: Any) -> torch.device | None:
    """The torch device of ``device=`` (None: the core's own route); refuses an unusable one."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"device={device!r} is not a torch device: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device={device!r}: torch sees no CUDA device (torch {torch.__version__})")
    if dev.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"device={device!r}: only 'cpu' and 'cuda' devices are supported")
    return dev


def decompose(matrices: list[torch.Tensor], device: torch.device, vectors: bool) -> list[tuple]:
    """(s, (U, V) or None) of each matrix as float64 NumPy arrays, decomposed on ``device`` in one
    batched ``torch.linalg`` call per shape (``svd`` when ``vectors``, else ``svdvals``); U: rows ×
    r, V: cols × r, r = min(rows, cols), singular values descending."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, m in enumerate(matrices):
        by_shape.setdefault(tuple(m.shape), []).append(i)
    out: list[Any] = [None] * len(matrices)
    for members in by_shape.values():
        stack = torch.stack([matrices[i].to(device=device, dtype=torch.float64) for i in members])
        if vectors:
            u, s, vh = torch.linalg.svd(stack, full_matrices=False)
            u, v = u.cpu().numpy(), vh.mT.cpu().numpy()
        else:
            s = torch.linalg.svdvals(stack)
        s = s.cpu().numpy()
        for j, i in enumerate(members):
            out[i] = (s[j], (u[j], v[j]) if vectors else None)
        del stack
    return out


def analyze_group(group: list[tuple[Any, torch.Tensor]], labels: list[tuple], device: torch.device,
                  core_options: dict[str, Any]) -> dict[str, LayerReport]:  # fmt: skip
    """The rows of ``group`` ((WeightMatrix, matrix) pairs; ``labels`` their (block, role)), each
    matrix decomposed on ``device``, batched by shape."""
    options = {k: core_options[k] for k in _DECOMPOSED_OPTIONS}
    vectors_needed = bool(core_options["porter_thomas"])
    done = [i for i, (_, m) in enumerate(group) if bool(torch.isfinite(m).all())]
    on_core = [i for i in range(len(group)) if i not in set(done)]
    decomposed = decompose([group[i][1] for i in done], device, vectors_needed)
    rows: dict[str, LayerReport] = {}
    if done:
        pick = lambda seq: [seq[i] for i in done]  # noqa: E731
        entries = [e for e, _ in group]
        rows.update(ns.analyze_decomposed_layers(
            {entries[i].name: s for i, (s, _) in zip(done, decomposed)}, [tuple(group[i][1].shape) for i in done],
            vectors=[f for _, f in decomposed] if vectors_needed else None,
            tensor_names=pick([e.tensor_name for e in entries]), layer_types=pick([e.layer_type for e in entries]),
            blocks=pick([b for b, _ in labels]), roles=pick([r for _, r in labels]), heads=pick([e.head for e in entries]),
            **options,
        ))  # fmt: skip
    if on_core:
        rows.update(ns.analyze_layers(
            {group[i][0].name: group[i][1] for i in on_core}, tensor_names=[group[i][0].tensor_name for i in on_core],
            layer_types=[group[i][0].layer_type for i in on_core], blocks=[labels[i][0] for i in on_core],
            roles=[labels[i][1] for i in on_core], heads=[group[i][0].head for i in on_core], **core_options,
        ))  # fmt: skip
    return rows


def compare_spectra(matrices: dict[str, torch.Tensor], device: torch.device, core: dict[str, Any],
                    overlap_k: int) -> tuple[dict[str, LayerReport], tuple[float, float, int]]:  # fmt: skip
    """For :func:`netsieve.torch.compare`: the rows of ``matrices`` ("A", "B" and, when it is not
    zero, "Δ"; finite) from their decompositions on ``device``, and the overlap of the leading
    singular subspaces of A and B. The overlap is the core's :func:`netsieve.subspace_overlap` of
    the leading k singular vectors themselves (an orthonormal basis spans exactly its subspace),
    so its definition stays the core's and no full matrix is decomposed twice."""
    names = list(matrices)
    (s_a, (ua, va)), (s_b, (ub, vb)) = decompose([matrices["A"], matrices["B"]], device, vectors=True)
    spectra = {"A": s_a, "B": s_b}
    if "Δ" in matrices:
        spectra["Δ"] = decompose([matrices["Δ"]], device, vectors=False)[0][0]
    options = {k: v for k, v in core.items() if k in _DECOMPOSED_OPTIONS}
    rows = ns.analyze_decomposed_layers({n: spectra[n] for n in names}, [tuple(matrices[n].shape) for n in names],
                                        **dict(options, errors="collect"))  # fmt: skip
    k = max(1, min(overlap_k, ua.shape[1]))
    left = ns.subspace_overlap(ua[:, :k], ub[:, :k], k=k)[0]
    right = ns.subspace_overlap(va[:, :k], vb[:, :k], k=k)[0]
    return rows, (left, right, k)
