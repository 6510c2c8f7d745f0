"""Turn pydantic validation errors on intake records into precise problems.

Each problem names the file and line (via a ``locate`` callback), the dotted field path as it
appears in the record, what is wrong, and the fix: the list of valid field names for a typo,
an example for a missing field, quoting advice for a value YAML read as a number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from mlflow_supplychain.errors import Problem
from mlflow_supplychain.field_models import model_in
from mlflow_supplychain.intake.fields import FIELDS

LocateFn = Callable[[tuple[str | int, ...]], str]

_FIXES = {
    "extra_forbidden": "remove it or fix the spelling",
    "missing": "add it",
    "string_type": "write it as a string; quote values YAML would read as numbers, dates or "
                   "booleans (e.g. '0123...')",
    "bool_type": "write true or false",
    "date_type": "write an ISO date, YYYY-MM-DD",
    "date_from_datetime_parsing": "write an ISO date, YYYY-MM-DD",
    "int_parsing": "write a whole number",
    "enum": "use one of the listed values",
    "literal_error": "use one of the listed values",
    "model_type": "write a mapping (key: value lines)",
    "dict_type": "write a mapping (key: value lines)",
    "too_short": "list at least one",
}
_DATASET_FIX = ("each data set entry has name, context (training, fine-tuning or evaluation), "
                "digest (sha256 or the MLflow dataset digest), license (SPDX expression) and "
                "optionally source (a URI), with no two entries of the same name and digest")


def validation_problem(err: Any, where: LocateFn, record_type: type[BaseModel]) -> Problem:
    """Turn one pydantic error into a Problem naming the location, the field path and a fix."""
    loc: tuple[str | int, ...] = tuple(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    kind = str(err["type"])
    if kind == "value_error" and ": " in msg and msg.split(": ", 1)[0].isidentifier():
        # a cross-field error raised with _fail(): "field: message"
        field, msg = msg.split(": ", 1)
        loc = (*loc, field)
    # drop union-member labels pydantic adds (e.g. 'str', 'dict[str,str]', 'function-after[...]')
    loc = tuple(p for p in loc if isinstance(p, int) or ("[" not in p and p not in {"str", "int"}))
    dotted = ".".join(str(p) for p in loc)
    if kind == "extra_forbidden":
        msg = "is not a field of this record" + _known_here(record_type, loc)
    elif kind == "missing":
        msg = "is required but missing"
        return Problem(f"{where(loc)} {dotted}", msg, _missing_fix(record_type, loc, dotted))
    elif kind in {"enum", "literal_error"}:
        msg = f"{msg} (got {err.get('input')!r})"
    fix = _FIXES.get(kind, "")
    if kind == "value_error" and dotted in FIELDS:
        fix = f"for example: {FIELDS[dotted].example}"
    elif loc and loc[0] == "datasets" and kind not in {"extra_forbidden", "missing"}:
        fix = fix or _DATASET_FIX
    return Problem(f"{where(loc)} {dotted}".rstrip(), msg, fix)


def _missing_fix(record_type: type[BaseModel], loc: tuple[str | int, ...], dotted: str) -> str:
    if dotted in FIELDS:
        return f"add it, e.g. {FIELDS[dotted].example!r}"
    section = model_in(record_type.model_fields[str(loc[0])].annotation) if len(loc) == 1 and (
        str(loc[0]) in record_type.model_fields) else None
    if section is not None:
        keys = [f"{name}: {FIELDS[f'{dotted}.{name}'].example!r}"
                for name, info in section.model_fields.items()
                if info.is_required() and f"{dotted}.{name}" in FIELDS]
        return f"add a '{dotted}:' section with " + ", ".join(keys)
    return "add it"


def _known_here(record_type: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    """The field names allowed at ``loc`` (for an 'unknown field' message)."""
    model: type[BaseModel] | None = record_type
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if model is not None else None
        model = model_in(field.annotation) if field is not None else None
    if model is None:
        return ""
    return f" (fields here: {', '.join(sorted(model.model_fields))})"
