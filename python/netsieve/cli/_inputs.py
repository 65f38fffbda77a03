"""What a command reads for a checkpoint argument: an fsspec URL (``s3://…``, ``file://…``; read
through :mod:`netsieve.torch.remote`), an existing path, or a cached Hugging Face model, and the
local files and folders that outputs may not overwrite."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def locate_input(arg: str, revision: str | None = None, cache_dir: str | os.PathLike | None = None) -> tuple[Any, Any, list]:
    """(what to read: a Path or a URL string, the HubModel or None, the local inputs to protect)."""
    if "://" in arg:
        from .._url_files import local_path_of

        if revision is not None or cache_dir is not None:
            raise ValueError(f"{arg} is a URL: --revision and --cache-dir apply only to hub ids")
        local = local_path_of(arg)
        return arg, None, [Path(local)] if local else []
    from ..hub import locate

    where, hub = locate(arg, revision, cache_dir=cache_dir)
    return where, hub, [where] if hub is None else [where, hub.snapshot]  # a cached snapshot is never written into
