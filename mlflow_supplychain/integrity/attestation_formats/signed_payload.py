"""The original format: the payload's canonical JSON and a base64 Ed25519 signature over it.

Submitted as ``{"payload": {...}, "signature": "<base64>"}`` by sidecars before the in-toto
envelope (``scan_envelope``). Rows stored in this format (``format`` column NULL) keep
verifying, and the server keeps accepting it during a migration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mlflow_supplychain.errors import IntegrityError, Problem
from mlflow_supplychain.integrity.attest import AttestationPayload, verify_payload
from mlflow_supplychain.integrity.attestation_formats.interface import Submission

NAME = "signed-payload"
MAX_SIGNATURE_LEN = 128


class SignedPayloadFormat:
    """``AttestationPayload`` + detached Ed25519 signature (types v2 and v3)."""

    name = NAME
    body_key = "payload"

    def from_body(self, body: Mapping[str, Any]) -> Submission:
        signature = body.get("signature")
        if (not isinstance(signature, str) or not signature
                or len(signature) > MAX_SIGNATURE_LEN or set(body) != {"payload", "signature"}):
            raise IntegrityError("Malformed scan attestation", [Problem(
                "signature", "must be a base64 string next to 'payload' (and nothing else)",
                "submit {\"payload\": ..., \"signature\": ...}")])
        payload = AttestationPayload.parse(body.get("payload"))
        return Submission(NAME, payload, payload.canonical_bytes().decode("utf-8"), signature)

    def from_row(self, text: str, signature: str) -> AttestationPayload | None:
        try:
            return AttestationPayload.parse(json.loads(text))
        except (ValueError, IntegrityError):
            return None

    def verify(self, text: str, signature: str,
               public_key: Ed25519PublicKey) -> AttestationPayload | None:
        payload = self.from_row(text, signature)
        # Verify the stored text itself, not a re-encoding: a reordered or padded row fails.
        if (payload is None or payload.canonical_bytes() != text.encode("utf-8")
                or not verify_payload(payload, signature, public_key)):
            return None
        return payload


def submission(payload: AttestationPayload, signature: str) -> Submission:
    """``payload`` and its detached signature as the server receives them."""
    return SignedPayloadFormat().from_body({"payload": payload.model_dump(mode="json"),
                                            "signature": signature})
