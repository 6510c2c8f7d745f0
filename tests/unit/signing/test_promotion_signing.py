"""Signing at promotion never fails the promotion and never signs what the gate did not allow:
a denied (audit-mode) decision, an unprotected target and a version whose identity changed
sign nothing; an error while signing is logged, not raised."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.registry import promotion_signing
from mlflow_supplychain.version_identity import VersionIdentity

IDENTITY = VersionIdentity(workspace="default", name="m", version="1", created_at=1,
                           storage_location="mlflow-artifacts:/x")


def _decision(*, allowed: bool = True, profile: str | None = "prod",
              identity: str | None = None) -> Decision:
    return Decision(model_name="m", version="1", target="production", profile=profile,
                    allowed=allowed, enforced=False, requirements=(), violations=(),
                    policy_digest="sha256:" + "0" * 64, evidence_digest="sha256:" + "1" * 64,
                    identity_digest=identity or IDENTITY.digest())


class _Gate:
    def __init__(self, identity: Any) -> None:
        self.calls = 0
        self._identity = identity
        self.recorder = None

    def current_identity(self, store: Any, name: str, version: Any) -> VersionIdentity | None:
        self.calls += 1
        if isinstance(self._identity, Exception):
            raise self._identity
        return self._identity  # type: ignore[no-any-return]


class _Store:
    def __init__(self, identity: Any) -> None:
        self.gate = _Gate(identity)


@pytest.mark.parametrize("decision", [None, _decision(allowed=False), _decision(profile=None)])
def test_nothing_is_signed_unless_the_gate_allowed_a_protected_target(
        decision: Decision | None) -> None:
    store = _Store(IDENTITY)
    promotion_signing.sign_promotion(store, decision, {IDENTITY.digest(): 7})
    assert store.gate.calls == 0


def test_a_changed_identity_is_not_signed(caplog: pytest.LogCaptureFixture) -> None:
    other = IDENTITY.model_copy(update={"created_at": 2})
    with caplog.at_level(logging.WARNING):
        promotion_signing.sign_promotion(_Store(other), _decision(), {IDENTITY.digest(): 7})
    assert "version changed" in caplog.text


def test_an_error_while_signing_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        promotion_signing.sign_promotion(_Store(RuntimeError("db down")), _decision(),
                                         {IDENTITY.digest(): 7})
    assert "signing its evidence failed" in caplog.text


def test_obtain_refuses_a_decision_that_does_not_allow() -> None:
    with pytest.raises(promotion_signing.NotSignable):
        promotion_signing.obtain(_Store(IDENTITY), _decision(allowed=False), IDENTITY,
                                 attestation_id=7)
    with pytest.raises(promotion_signing.NotSignable, match="another version identity"):
        promotion_signing.obtain(_Store(IDENTITY), _decision(identity="sha256:" + "9" * 64),
                                 IDENTITY, attestation_id=7)
    with pytest.raises(promotion_signing.NotSignable, match="judges no files"):
        promotion_signing.obtain(_Store(IDENTITY), _decision(), IDENTITY, attestation_id=0)
