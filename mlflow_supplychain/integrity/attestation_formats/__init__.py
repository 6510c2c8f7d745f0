"""The registered scan attestation formats: the one place that decides which format a
submission body or a stored row is in.

A new format is one new module providing :class:`interface.AttestationFormat` and one line in
:data:`FORMATS`. Stored rows name their format (``format`` column; NULL for rows written before
the column existed, which are all :data:`signed_payload.NAME`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlflow_supplychain.errors import IntegrityError, Problem
from mlflow_supplychain.integrity.attestation_formats.interface import (
    AttestationFormat,
    Submission,
)
from mlflow_supplychain.integrity.attestation_formats.scan_envelope import ScanEnvelopeFormat
from mlflow_supplychain.integrity.attestation_formats.signed_payload import SignedPayloadFormat

FORMATS: dict[str, AttestationFormat] = {
    f.name: f for f in (SignedPayloadFormat(), ScanEnvelopeFormat())}
ORIGINAL = SignedPayloadFormat.name

__all__ = ["FORMATS", "AttestationFormat", "Submission", "for_row", "parse_submission"]


def parse_submission(body: Mapping[str, Any]) -> Submission:
    """Parse a submission body in whichever registered format its top-level key names.

    Raises:
        IntegrityError: no format, or more than one, claims the body; or the format refuses it.
    """
    claimed = [f for f in FORMATS.values() if f.body_key in body]
    if len(claimed) != 1:
        keys = " or ".join(repr(f.body_key) for f in FORMATS.values())
        raise IntegrityError("Malformed scan attestation", [Problem(
            "body", f"must carry exactly one of {keys}",
            "submit {\"envelope\": <DSSE envelope>} (or the original {\"payload\", "
            "\"signature\"})")])
    return claimed[0].from_body(body)


def for_row(name: str | None) -> AttestationFormat | None:
    """The format that reads a row whose ``format`` column is ``name`` (None: the original
    format); None for a name this server does not know (the row then verifies as nothing)."""
    return FORMATS.get(name or ORIGINAL)
