"""The governance tag namespace: which tag keys are reserved, which are intake, and the only
code path allowed to write reserved ones.

Tags under ``policy.reserved_tag_prefix`` (``supplychain.`` by default) are ours:

- ``supplychain.intake.<field>`` are written by people (or ``intake apply``) and are validated
  with the intake field catalog;
- every other ``supplychain.*`` key (``scan.``, ``integrity.``, ``approval.``, ``gate.``...) is
  evidence the plugin itself produces and is *reserved*: a caller who could write one could
  forge a scan result or an approval.

Plugin code writes reserved tags inside :func:`plugin_writes`, a context manager that sets a
context variable. Nothing a client sends can set it: it is not a header, a tag or a parameter.

This module is pure (no MLflow import) so the rules are unit-testable in microseconds.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from mlflow_supplychain.errors import Problem
from mlflow_supplychain.intake.fields import FIELDS, validate_field

INTAKE_SEGMENT = "intake."
GATE_SEGMENT = "gate."
CREATED_BY_SUFFIX = "gate.created_by"
"""Reserved tag recording the authenticated user who created a version (separation of duties)."""
VERSION_UID_SUFFIX = "gate.version_uid"
"""Reserved tag holding the random uid the plugin gives each version it creates (part of the
version's identity, :mod:`mlflow_supplychain.version_identity`)."""
DECISION_SEGMENT = "gate.decision."
"""Reserved tags recording audit-mode decisions, one per target."""

_internal = contextvars.ContextVar("mlflow_supplychain_internal_write", default=False)


@contextlib.contextmanager
def plugin_writes() -> Iterator[None]:
    """Allow reserved-tag writes for the duration of the block (plugin code only)."""
    token = _internal.set(True)
    try:
        yield
    finally:
        _internal.reset(token)


def is_plugin_write() -> bool:
    """True inside :func:`plugin_writes`."""
    return _internal.get()


class TagKind(enum.Enum):
    OTHER = "other"
    """Not ours: MLflow's or the user's own tags. Never inspected further."""
    INTAKE = "intake"
    RESERVED = "reserved"


def _normalise(key: str) -> str:
    # MySQL compares keys case-insensitively and ignores trailing spaces by default, so
    # 'SupplyChain.Scan.verdict ' would overwrite our 'supplychain.scan.verdict' there.
    # Classify on the normalised key so no spelling slips past the namespace check.
    return key.strip().lower()


def classify(key: str, prefix: str) -> TagKind:
    """Which part of the namespace ``key`` falls into under reserved ``prefix``."""
    norm = _normalise(key)
    if not norm.startswith(prefix):
        return TagKind.OTHER
    # Intake keys must be spelled exactly; 'SupplyChain.Intake.x' is treated as reserved.
    if key.startswith(prefix + INTAKE_SEGMENT):
        return TagKind.INTAKE
    return TagKind.RESERVED


def intake_field(key: str, prefix: str) -> str:
    """The intake field name of an intake tag key."""
    return key[len(prefix + INTAKE_SEGMENT):]


def intake_values(tags: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The intake fields carried by ``tags``, keyed by field name."""
    head = prefix + INTAKE_SEGMENT
    return {k[len(head):]: v for k, v in tags.items() if k.startswith(head)}


@dataclass(frozen=True)
class TagProblems:
    """Tag writes a caller may not make: reserved keys, and intake values that are invalid."""

    reserved: tuple[Problem, ...] = ()
    invalid: tuple[Problem, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.reserved or self.invalid)


def reserved_problem(key: str, action: str, prefix: str) -> Problem:
    return Problem(
        f"tag {key!r}",
        f"{action} a reserved governance tag; only the mlflow-supplychain plugin writes "
        f"'{prefix}*' tags (other than '{prefix}{INTAKE_SEGMENT}*')",
        "remove this tag from the request; scan, integrity and approval evidence is recorded "
        "by the plugin itself (sidecar, transition requests)",
    )


def intake_problem(key: str, value: str | None, prefix: str) -> Problem | None:
    """Why the intake tag ``key`` cannot hold ``value``, or None when it is valid."""
    name = intake_field(key, prefix)
    problem = validate_field(name, value or "")
    if problem is None:
        return None
    return Problem(f"tag {key!r}", f"{value!r} {problem}", _intake_fix(name))


def check_tag_writes(tags: Iterable[tuple[str, str]], prefix: str) -> TagProblems:
    """Judge tags a caller wants to write: reserved keys are refused, intake values validated.

    Runs in O(number of tags) with string operations only; keys outside the namespace cost
    one ``startswith``.
    """
    if is_plugin_write():
        return TagProblems()
    reserved: list[Problem] = []
    invalid: list[Problem] = []
    for key, value in tags:
        kind = classify(key, prefix)
        if kind is TagKind.RESERVED:
            reserved.append(reserved_problem(key, "writes", prefix))
        elif kind is TagKind.INTAKE and (problem := intake_problem(key, value, prefix)):
            invalid.append(problem)
    return TagProblems(tuple(reserved), tuple(invalid))


def check_tag_delete(key: str, prefix: str) -> Problem | None:
    """A reserved tag may only be deleted by the plugin; intake and other tags freely."""
    if is_plugin_write() or classify(key, prefix) is not TagKind.RESERVED:
        return None
    return reserved_problem(key, "deletes", prefix)


def _intake_fix(field_name: str) -> str:
    spec = FIELDS.get(field_name)
    if spec is None:
        return "use one of the known intake fields: " + ", ".join(sorted(FIELDS))
    return f"set a valid value, e.g. {spec.example!r}"


def decision_tag_key(prefix: str, target_text: str) -> str:
    """Key of the audit-mode decision tag for a target (``production``, ``stage:Production``)."""
    return prefix + DECISION_SEGMENT + target_text.replace(":", ".")
