"""The one parser for ids and numbers in our routes and pages: ``[0-9]{1,18}``, nothing else.

Python's ``int()`` and ``str.isdigit()`` accept far more than a database column holds: signs,
surrounding whitespace, underscores, Unicode digits (``'١٢'``, ``'²'``) and numbers past 64
bits, which SQLite answers with ``OverflowError`` (HTTP 500). Every id, version, page token
and page size that reaches our handlers goes through :func:`parse_number` instead; anything
else is HTTP 400 with a message that names the parameter (and never echoes the value).
"""

from __future__ import annotations

import re
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

MAX_DIGITS = 18
"""10**18 - 1 fits every database's signed 64-bit integer."""
_NUMBER = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}", re.ASCII)


def bad_number(name: str) -> MlflowException:
    """The error for parameter ``name`` that is not a plain number."""
    return MlflowException(
        f"Parameter '{name}' must be a whole number of 1 to {MAX_DIGITS} ASCII digits "
        "(no sign, spaces or other characters).", INVALID_PARAMETER_VALUE)


def parse_number(value: Any, name: str) -> int:
    """``value`` (a JSON integer or a string of digits) as an int.

    Raises:
        MlflowException: INVALID_PARAMETER_VALUE (HTTP 400) for anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 10 ** MAX_DIGITS:
            return value
        raise bad_number(name)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        return int(value)
    raise bad_number(name)


def parse_optional(value: Any, name: str) -> int | None:
    """:func:`parse_number`, with a missing or empty value as None.

    Raises:
        MlflowException: INVALID_PARAMETER_VALUE (HTTP 400).
    """
    if value is None or value == "":
        return None
    return parse_number(value, name)


def version_text(value: Any, name: str = "version") -> str:
    """A model version number in its canonical spelling (``'007'`` -> ``'7'``): evidence is
    stored under this text, so two spellings must never name two versions.

    Raises:
        MlflowException: INVALID_PARAMETER_VALUE (HTTP 400).
    """
    return str(parse_number(value, name))
