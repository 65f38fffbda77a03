"""The analysis of a checkpoint on a Dask cluster (``analyze(..., client=...)``, ``netsieve analyze
PATH --workers N`` or ``--scheduler tcp://HOST:PORT``): one task per tensor, each worker reading
its own tensor from its ``.safetensors`` shard (a path or fsspec URL every worker can read:
:mod:`netsieve.torch.remote`), results gathered in checkpoint order, a progress bar over completed
tasks; with ``device=`` each worker decomposes on its own torch device
(:mod:`netsieve.torch.device_route`, :mod:`netsieve.torch.device_filter`). ``compare(..., client=...)`` runs one task
per matching pair of matrices the same way, and ``filter_checkpoint(FOLDER, OUT, client=...)`` one
task per filtered tensor, then one per output shard (:mod:`netsieve.torch.sharded_filter`).

A tensor that cannot be read or analysed comes back as rows with ``error`` set while the others
complete; a worker that dies mid-run has its tasks rerun elsewhere by the scheduler (Dask's own
rule), so the results are those of the in-process path. Needs ``dask[distributed]`` (the
``cluster`` extra); nothing else in netsieve imports it. Local clusters start with the dashboard
off and each worker's kernels on its share of the cores (``RAYON_NUM_THREADS``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import netsieve as ns
from netsieve import InvalidInputError, LayerReport

from .remote import read_tensor  # workers read a path or an fsspec URL

__all__ = ["local_client", "connect", "analyze_tensors", "compare_layers", "filter_on_cluster"]

_EXTRA = "pip install 'netsieve[cluster]' (dask[distributed])"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"a Dask cluster needs dask.distributed: {_EXTRA}") from exc
    return distributed


def local_client(workers: int) -> Any:
    """A ``distributed.Client`` of a new local cluster of ``workers`` processes (one thread each,
    the dashboard off); closing the client closes the cluster."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers must be an integer ≥ 1, got {workers!r}")
    distributed = _distributed()
    threads = max(1, (os.cpu_count() or 1) // workers)
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, env={"RAYON_NUM_THREADS": str(threads)},
        dashboard_address=":0", scheduler_kwargs={"dashboard": False},  # no dashboard; its health server on a free port
        silence_logs=logging.WARNING,

    )  # fmt: skip
    client = distributed.Client(cluster)
    client._ns_local_cluster = cluster  # closed with the client (see close_client)
    return client


def connect(address: str, timeout: float = 10.0) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; an unreachable one is an OSError naming it."""
    distributed = _distributed()
    try:
        return distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s: {exc}") from exc


def close_client(client: Any) -> None:
    """Closes a client and, for :func:`local_client`, its cluster."""
    cluster = getattr(client, "_ns_local_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _task(file: str, tensor_name: str, entries: list, labels: list, core_options: dict,
          device: str | None = None) -> list[LayerReport]:  # fmt: skip
    """On a worker: reads one tensor from its shard and analyses its matrices (failures as rows),
    decomposing them on the torch ``device`` when given (:mod:`netsieve.torch.device_route`)."""
    from .analysis import _unusable

    def failed(e: Any, reason: str, label: tuple) -> LayerReport:
        return LayerReport.failed(e.name, e.tensor_name, e.layer_type, *e.shape, reason, block=label[0], role=label[1], head=e.head)

    try:
        tensor = read_tensor(file, tensor_name)
    except Exception as exc:  # a corrupt or vanished shard: this tensor's rows say so
        return [failed(e, f"cannot read tensor from {file}: {exc}", lab) for e, lab in zip(entries, labels)]
    out, group, group_labels = [], {}, []
    for e, lab in zip(entries, labels):
        m = e.extract(tensor).detach()
        reason = _unusable(m)
        if reason is not None:
            out.append(failed(e, reason, lab))
        else:
            group[e.name] = m
            group_labels.append((e, lab))
    if group and device is not None:
        from .device_route import analyze_group, check_device

        pairs = [(e, group[e.name]) for e, _ in group_labels]
        rows = analyze_group(pairs, [lab for _, lab in group_labels], check_device(device), dict(core_options, errors="collect"))
        out += [rows[e.name] for e, _ in group_labels]
    elif group:
        rows = ns.analyze_layers(
            group, tensor_names=[e.tensor_name for e, _ in group_labels], layer_types=[e.layer_type for e, _ in group_labels],
            blocks=[lab[0] for _, lab in group_labels], roles=[lab[1] for _, lab in group_labels],
            heads=[e.head for e, _ in group_labels], **dict(core_options, errors="collect"),
        )  # fmt: skip
        out += list(rows.values())
    return out


def analyze_tensors(client: Any, source: Any, by_tensor: dict, labels: dict, core_options: dict, bar: Any,
                    worker_root: str | None = None, device: str | None = None) -> dict[str, LayerReport]:  # fmt: skip
    """Runs one task per tensor of ``by_tensor`` (tensor name → its matrices) on ``client``; returns
    matrix name → row. ``source``: the TensorSource, whose shards must be ``.safetensors`` files;
    ``worker_root``: the folder as the workers reach it (a path or an fsspec URL), default its path."""
    distributed = _distributed()
    files = {name: _shard(source, name) for name in by_tensor}
    if worker_root is not None:
        files = {name: f"{worker_root.rstrip('/')}/{Path(f).name}" for name, f in files.items()}
    futures = {}
    for name, entries in by_tensor.items():
        futures[client.submit(_task, files[name], name, entries, [labels[e.name] for e in entries], core_options, device,
                              key=f"netsieve-{name}-{id(futures)}", pure=False)] = name  # fmt: skip
    results: dict[str, LayerReport] = {}
    for future in distributed.as_completed(list(futures)):
        for row in future.result():
            results[row.name] = row
        if bar is not None:
            bar.update(len(by_tensor[futures[future]]))
    return results


def _shard(source: Any, name: str) -> str:
    file = source.file_of(name)
    if Path(str(file)).suffix != ".safetensors":
        raise InvalidInputError(f"client= reads tensors from .safetensors shards on the workers; {file} is not one")
    return _location(file)


def _compare_task(file_a: str, ea: Any, file_b: str, eb: Any, core: dict, overlap_k: int, device: str | None = None) -> Any:
    """On a worker: reads one matrix from each checkpoint and compares them (a failure as the row)."""
    from .compare import _empty, compare_pair

    try:
        tensors = []
        for file, e in ((file_a, ea), (file_b, eb)):
            tensors.append(e.extract(read_tensor(file, e.tensor_name)))
    except Exception as exc:
        return _empty(ea.name, "error", ea, ea.shape, eb.shape, f"cannot read tensor: {exc}")
    return compare_pair(ea, tensors[0], tensors[1], core, overlap_k, device)


def compare_layers(client: Any, sources: tuple, pairs: list, core: dict, overlap_k: int, bar: Any,
                   device: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Runs one task per (matrix of A, matrix of B) in ``pairs`` on ``client`` (each worker
    decomposing on its own ``device`` when given); returns name → row."""
    distributed = _distributed()
    src_a, src_b = sources
    futures = {
        client.submit(_compare_task, _shard(src_a, ea.tensor_name), ea, _shard(src_b, eb.tensor_name), eb, core, overlap_k,
                      None if device is None else str(device), key=f"netsieve-compare-{ea.name}-{id(pairs)}", pure=False): ea.name
        for ea, eb in pairs
    }  # fmt: skip
    rows = {}
    for future in distributed.as_completed(list(futures)):
        rows[futures[future]] = future.result()
        if bar is not None:
            bar.update(1)
    return rows


def filter_on_cluster(client: Any, tmp: str, shards: dict, by_tensor: dict, method: str, sigma: Any, options: dict,
                      errors: str, tensor_task: Any, shard_task: Any, device: str | None = None) -> dict[str, tuple]:  # fmt: skip
    """One task per tensor of ``by_tensor`` writing its filtered tensor to a part file in ``tmp``,
    then one task per shard of ``shards`` (input file → its tensor names) assembling the output
    shard in ``tmp`` (a local folder, or a staging prefix at an fsspec URL that every worker can write); returns tensor name → (records, failed). A failing task is raised after every
    task has ended, so that nothing writes into ``tmp`` once the caller removes it."""
    from .._url_files import is_url, join

    distributed = _distributed()
    parts = join(tmp, ".parts")
    if not is_url(parts):
        os.mkdir(parts)
    part_of: dict[str, str] = {}
    futures = {}
    for shard, names in shards.items():
        for n in names:
            if n not in by_tensor:
                continue
            part_of[n] = join(parts, f"{len(part_of):07d}.safetensors")
            futures[client.submit(tensor_task, _location(shard), n, by_tensor[n], method, sigma, options, errors,
                                  part_of[n], device, key=f"netsieve-filter-{n}-{id(futures)}", pure=False)] = n  # fmt: skip
    results = _gather_all(distributed, futures)
    assemble = {
        client.submit(shard_task, _location(shard), join(tmp, Path(str(shard)).name), names,
                      {n: part_of[n] for n in names if n in part_of}, method,
                      key=f"netsieve-shard-{Path(str(shard)).name}-{id(futures)}", pure=False): str(shard)
        for shard, names in shards.items()
    }  # fmt: skip
    _gather_all(distributed, assemble)
    if not is_url(parts):
        os.rmdir(parts)
    return results


def _location(file: Any) -> str:
    """A shard as the workers read it: an fsspec URL as it is, a path made absolute."""
    from .remote import is_url

    return file if is_url(file) else str(Path(file).resolve())


def _gather_all(distributed: Any, futures: dict) -> dict:
    """name → result of every future; the first failure is raised once all have ended."""
    distributed.wait(list(futures))
    out, failure = {}, None
    for future, name in futures.items():
        if future.status == "error" and failure is None:
            failure = future.exception()
        elif future.status == "finished":
            out[name] = future.result()
        elif failure is None:
            failure = RuntimeError(f"the task of {name} ended as {future.status}")
    if failure is not None:
        raise failure
    return out
