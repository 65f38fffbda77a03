"""Local object stores for the object-store tests, no network beyond 127.0.0.1:

- S3: moto's ThreadedMotoServer on a free port, found by s3fs through ``AWS_ENDPOINT_URL`` and test
  credentials in the environment;
- GCS: ``gcp-storage-emulator`` (in memory) on a free port, found by gcsfs through
  ``STORAGE_EMULATOR_HOST``, anonymous (``FSSPEC_GS_TOKEN=anon``), with gcsfs's experimental
  bucket-type probe off (it would wait 60 s on a gRPC endpoint the emulator does not have).

Dask worker processes started inside these contexts inherit the environment."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# gcsfs reads this when it is imported (its default probes every bucket over gRPC, 60 s each here).
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip


@contextmanager
def environment(values: dict[str, str], protocol: str = "s3") -> Iterator[None]:
    """``os.environ`` with ``values`` set, restored afterwards; the cached file systems of
    ``protocol`` dropped both times."""
    import fsspec

    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    fsspec.get_filesystem_class(protocol).clear_instance_cache()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        fsspec.get_filesystem_class(protocol).clear_instance_cache()


@contextmanager
def s3_server() -> Iterator[str]:
    """A running emulator; yields its endpoint URL with the environment pointing s3fs at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import urllib.request

    # moto keeps its buckets per process, not per server: start empty
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    try:
        with environment({**_ENV, "AWS_ENDPOINT_URL": endpoint}):
            yield endpoint
    finally:
        server.stop()


@contextmanager
def gcs_server() -> Iterator[str]:
    """A running GCS emulator holding an empty bucket ``models``; yields its endpoint."""
    import socket

    import fsspec

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}", "FSSPEC_GS_TOKEN": "anon",
           "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}  # fmt: skip
    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="models")
    server.start()
    saved = fsspec.config.conf.get("gs")
    fsspec.config.conf["gs"] = {**(saved or {}), "token": "anon"}  # fsspec read FSSPEC_GS_TOKEN at import
    try:
        with environment(env, "gs"):
            yield env["STORAGE_EMULATOR_HOST"]
    finally:
        if saved is None:
            fsspec.config.conf.pop("gs", None)
        else:
            fsspec.config.conf["gs"] = saved
        server.stop()


def upload(folder: Path, url: str) -> None:
    """Copies the files of a local folder to the folder ``url``."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    for p in sorted(folder.iterdir()):
        fs.pipe_file(f"{root}/{p.name}", p.read_bytes())


def listing(url: str) -> list[str]:
    """Every object under ``url`` (its path below it), sorted; [] when there is none."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    fs.invalidate_cache()
    root = root.rstrip("/")
    return sorted(p[len(root) + 1 :] for p in fs.find(root)) if fs.exists(root) else []
