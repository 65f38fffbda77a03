"""Progress bars: tqdm when it is installed and the caller wants one; a bar is a convenience, never
a requirement."""

from __future__ import annotations

import sys
from typing import Any, Iterable


def progress_bar(total: int | None, desc: str, enabled: bool | None, unit: str = "it") -> Any:
    """A tqdm bar, or None. ``enabled=None`` means: when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit=unit, leave=False)


def progress_iter(it: Iterable, total: int | None, desc: str, enabled: bool | None) -> Iterable:
    """``it`` wrapped in a tqdm bar when ``enabled`` (``None``: when stderr is a terminal)."""
    bar = progress_bar(total, desc, enabled)
    if bar is None:
        return it

    def gen():
        try:
            for x in it:
                yield x
                bar.update(1)
        finally:
            bar.close()

    return gen()
