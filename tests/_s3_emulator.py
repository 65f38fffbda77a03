"""A local S3 endpoint for the object-store tests: moto's ThreadedMotoServer on a free port of
127.0.0.1 (no network beyond localhost), found by s3fs through ``AWS_ENDPOINT_URL`` and test
credentials in the environment, which Dask worker processes started afterwards inherit."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``values`` set, restored afterwards; s3fs's cached instances dropped both times."""
    import s3fs

    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        s3fs.S3FileSystem.clear_instance_cache()


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
