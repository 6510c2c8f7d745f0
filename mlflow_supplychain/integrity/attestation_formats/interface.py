"""What every wire/storage format of a scan attestation provides, and the value it yields.

A format turns a submission body into a :class:`Submission` (parsed, not yet verified), reads
a stored row back, and verifies stored text with the sidecar's public key. Whatever the
format, what the gate judges is an :class:`~mlflow_supplychain.integrity.attest.AttestationPayload`:
the formats differ in how it is encoded and signed, never in what it binds.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mlflow_supplychain.integrity.attest import AttestationPayload


@dataclass(frozen=True)
class Submission:
    """A submitted attestation, parsed and shape-checked but not verified.

    ``text`` and ``signature`` are what is stored (the ``payload`` and ``signature`` columns);
    ``format`` names the registered format that reads them back.
    """

    format: str
    payload: AttestationPayload
    text: str
    signature: str


class AttestationFormat(Protocol):
    """One way a scan attestation is encoded and signed."""

    name: str
    """Stored in the row's ``format`` column (``None`` there means the original format)."""
    body_key: str
    """The top-level key of a submission body that marks this format."""

    def from_body(self, body: Mapping[str, Any]) -> Submission:
        """Parse a submission body.

        Raises:
            IntegrityError: malformed (the message says what and how to fix it).
        """
        ...

    def from_row(self, text: str, signature: str) -> AttestationPayload | None:
        """The payload a stored row claims, unverified; None when it does not parse."""
        ...

    def verify(self, text: str, signature: str,
               public_key: Ed25519PublicKey) -> AttestationPayload | None:
        """The payload ``public_key`` vouches for in exactly this stored text; None when it
        does not verify (never raises)."""
        ...
