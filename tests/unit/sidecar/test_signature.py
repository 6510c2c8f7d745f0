"""MLflow's webhook signature: what MLflow sends verifies; anything else is refused."""

from __future__ import annotations

import pytest

from mlflow_supplychain.errors import WebhookAuthError
from mlflow_supplychain.sidecar.signature import sign, verify_delivery

SECRET = "s3cret-value"
BODY = b'{"entity":"model_version","action":"created","data":{}}'
NOW = 1_800_000_000


def headers(secret: str = SECRET, delivery: str = "d-1", ts: int = NOW, body: bytes = BODY,
            signature: str | None = None) -> dict[str, str]:
    return {"X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": str(ts),
            "X-MLflow-Signature": signature or sign(secret, delivery, str(ts), body)}


def test_matches_mlflows_own_signer() -> None:
    from mlflow.webhooks.delivery import _generate_hmac_signature

    expected = _generate_hmac_signature(SECRET, "d-1", str(NOW), BODY.decode())
    assert headers()["X-MLflow-Signature"] == expected
    delivery = verify_delivery(SECRET, headers(), BODY, now=NOW)
    assert (delivery.delivery_id, delivery.timestamp) == ("d-1", NOW)


@pytest.mark.parametrize("case", [
    {"secret": "other"},
    {"signature": "v1,AAAA"},
    {"signature": "v2," + sign(SECRET, "d-1", str(NOW), BODY).split(",", 1)[1]},
    {"signature": "v1,not base64!!"},
    {"ts": NOW - 301},
    {"ts": NOW + 301},
    {"delivery": "bad id with spaces"},
])
def test_refused(case: dict[str, object]) -> None:
    with pytest.raises(WebhookAuthError) as excinfo:
        verify_delivery(SECRET, headers(**case), BODY, now=NOW)  # type: ignore[arg-type]
    assert SECRET not in str(excinfo.value) and "entity" not in str(excinfo.value)


def test_body_and_id_are_bound() -> None:
    with pytest.raises(WebhookAuthError):
        verify_delivery(SECRET, headers(), BODY + b" ", now=NOW)
    h = headers()
    h["X-MLflow-Delivery-Id"] = "d-2"
    with pytest.raises(WebhookAuthError):
        verify_delivery(SECRET, h, BODY, now=NOW)


@pytest.mark.parametrize("missing", ["X-MLflow-Delivery-Id", "X-MLflow-Timestamp",
                                     "X-MLflow-Signature"])
def test_missing_headers(missing: str) -> None:
    h = headers()
    del h[missing]
    with pytest.raises(WebhookAuthError, match="Webhook rejected"):
        verify_delivery(SECRET, h, BODY, now=NOW)


def test_non_numeric_timestamp() -> None:
    with pytest.raises(WebhookAuthError):
        verify_delivery(SECRET, {**headers(), "X-MLflow-Timestamp": "yesterday"}, BODY, now=NOW)
