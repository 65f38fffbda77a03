"""How much memory a command may still allocate, so that a job too large for the machine is refused
before it starts rather than killed halfway."""

from __future__ import annotations

import os


def available_memory() -> int | None:
    """Bytes this process may still allocate: MemAvailable, capped by RLIMIT_AS; None when unknown."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            avail = soft if avail is None else min(avail, soft)
    except (ImportError, OSError, ValueError):
        pass
    return avail


def check_memory(need: int, what: str) -> None:
    """Raises ValueError when ``need`` bytes exceed what is available (unknown: no refusal)."""
    avail = available_memory()
    if avail is not None and need > avail:
        raise ValueError(
            f"{what} needs about {need / 2**30:.1f} GiB, but only {avail / 2**30:.1f} GiB of memory is available"
        )
