"""Verify MLflow's webhook signature (pure; no MLflow import).

MLflow 3.17 (``mlflow/webhooks/delivery.py``, ``_generate_hmac_signature`` and
``_send_webhook_request``) sends three headers with every delivery: ``X-MLflow-Delivery-Id``
(a UUID), ``X-MLflow-Timestamp`` (Unix seconds, as text) and, when the webhook has a secret,
``X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "{delivery_id}.{timestamp}.{body}")>``
where ``body`` is exactly the request body. urllib3 retries (429/5xx) resend the same headers,
so a retry carries the original timestamp: the window must cover MLflow's retry backoff.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from mlflow_supplychain.errors import Problem, WebhookAuthError

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
DEFAULT_WINDOW_SECONDS = 300
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class Delivery:
    """The authenticated envelope of one webhook delivery."""

    delivery_id: str
    timestamp: int


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if not value:
        raise WebhookAuthError("Webhook rejected", [Problem(
            name, "is missing", "register the webhook with a secret ('webhooks install')")])
    return value


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow would send (used by tests and benchmarks)."""
    content = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify_delivery(secret: str, headers: Mapping[str, str], body: bytes, *, now: float,
                    window_seconds: int = DEFAULT_WINDOW_SECONDS) -> Delivery:
    """Check the headers of one delivery; return its id and timestamp.

    The HMAC comparison is constant-time; the timestamp must lie within ``window_seconds``
    of ``now`` in either direction. Messages never include the secret or the body.

    Raises:
        WebhookAuthError: a header is missing or malformed, the timestamp is outside the
            window, or the signature does not match.
    """
    delivery_id = _header(headers, DELIVERY_ID_HEADER)
    timestamp_text = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not _DELIVERY_ID.match(delivery_id):
        raise WebhookAuthError("Webhook rejected", [Problem(
            DELIVERY_ID_HEADER, "is malformed", "deliveries come from MLflow only")])
    if not timestamp_text.isdigit() or len(timestamp_text) > 12:
        raise WebhookAuthError("Webhook rejected", [Problem(
            TIMESTAMP_HEADER, "is not Unix seconds", "deliveries come from MLflow only")])
    timestamp = int(timestamp_text)
    if abs(now - timestamp) > window_seconds:
        raise WebhookAuthError("Webhook rejected", [Problem(
            TIMESTAMP_HEADER, f"is outside the {window_seconds}s window",
            "check the clocks of the MLflow server and the sidecar")])
    version, _, encoded = signature.partition(",")
    try:
        received = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        received = b""
    content = f"{delivery_id}.{timestamp_text}.".encode() + body
    expected = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).digest()
    # compare_digest first, always: the time taken does not depend on where bytes differ.
    matches = hmac.compare_digest(expected, received)
    if not matches or version != SIGNATURE_VERSION:
        raise WebhookAuthError("Webhook rejected", [Problem(
            SIGNATURE_HEADER, "does not match", "the webhook's secret must be the sidecar's "
            "(re-run 'mlflow-supplychain webhooks install')")])
    return Delivery(delivery_id=delivery_id, timestamp=timestamp)
