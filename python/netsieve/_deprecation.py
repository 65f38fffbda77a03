"""Old names that keep working for one release, with a DeprecationWarning (see CHANGELOG.md)."""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def renamed_keywords(func: F, **renames: str) -> F:
    """``func`` accepting the old keyword names in ``renames`` (old → new), with a warning."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for old, new in renames.items():
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{func.__name__}() got both {old!r} (deprecated) and {new!r}")
                warnings.warn(
                    f"{func.__name__}({old}=...) is deprecated; use {new}=...",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def deprecated_alias(old: str, new: str, value: Any) -> Any:
    """Returns ``value`` (the object now called ``new``) after warning that ``old`` is deprecated."""
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)
    return value
