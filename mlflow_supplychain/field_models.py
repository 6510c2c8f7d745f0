"""The pydantic model a field holds, found through its annotation.

Error messages about policies and intake records list the keys valid at a field path, and
templates render nested sections; both step from a field to the model inside its annotation.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model in ``annotation`` (``X``, ``X | None``, ``dict[str, X]``,
    ``tuple[X, ...]``...), depth first; None when it holds none."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = model_in(arg)
        if found is not None:
            return found
    return None
