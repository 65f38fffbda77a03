"""The one JSON writer. Output is strict JSON (RFC 8259) that any parser reads: NaN becomes
``null``, +Inf the string ``"inf"`` and −Inf ``"-inf"``; numpy scalars and arrays become numbers
and lists, tuples lists, paths strings. Every JSON file netsieve writes goes through :func:`dumps`.
"""

from __future__ import annotations

import json
import math
from pathlib import PurePath
from typing import Any

__all__ = ["dumps", "plain"]


def plain(x: Any) -> Any:
    """``x`` as plain JSON-ready Python values (see the module docs)."""
    if isinstance(x, float) or (hasattr(x, "dtype") and getattr(x, "ndim", None) == 0 and x.dtype.kind == "f"):
        v = float(x)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(x, (bool, int, str)) or x is None:
        return x
    if hasattr(x, "tolist"):  # numpy arrays and scalars, torch tensors
        return plain(x.tolist())
    if hasattr(x, "to_dict") and callable(x.to_dict):
        return plain(x.to_dict())
    if isinstance(x, dict) or (hasattr(x, "items") and hasattr(x, "keys")):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [plain(v) for v in x]
    if isinstance(x, PurePath):
        return str(x)
    if isinstance(x, BaseException):
        return f"{type(x).__name__}: {x}"
    raise TypeError(f"cannot write a {type(x).__name__} as JSON")


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj``."""
    return json.dumps(plain(obj), indent=indent, ensure_ascii=False, allow_nan=False)
