"""Approvals carry a registry-signed in-toto statement (DSSE), on a real server with users.

The envelope verifies with ``registry-signing.pub`` and the standard libraries alone, names the
version by its identity, and is bound into the audit record; an approval stored without one
(recorded before approvals were signed) keeps counting; a re-created model's version is not
the subject of the old one's statement.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy
from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from mlflow_supplychain.governance import approval_statement, audit, db
from mlflow_supplychain.testing.pytest_plugin import RunningServer
from mlflow_supplychain.testing.registration import version_identity

from .conftest import Api, Auth, register

TR = "mlflow-supplychain/transition-requests"


def _request(api: Api, who: Auth, name: str, version: str, target: str) -> int:
    response = api("POST", f"{TR}/create", who, json={"name": name, "version": version,
                                                      "target": target})
    assert response.status_code == 200, response.text
    return int(response.json()["request"]["id"])


def _approve(api: Api, who: Auth, request_id: int, apply: bool = False) -> dict[str, Any]:
    response = api("POST", f"{TR}/approve", who, json={"request_id": str(request_id),
                                                       "apply": apply})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _registry_public_key(server: RunningServer) -> Any:
    return serialization.load_pem_public_key(
        (server.data_dir / "registry-signing.pub").read_bytes())


def _engine(server: RunningServer) -> Any:
    return db.create_engine(server.backend_store_uri
                            or f"sqlite:///{server.data_dir / 'mlflow.db'}")


def test_an_approval_carries_a_registry_signed_statement_of_it(
        server: RunningServer, api: Api, users: dict[str, Auth], unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    identity = version_identity(server, unique_model_name, version, auth=users["alice"])
    rid = _request(api, users["alice"], unique_model_name, version, "production")
    approval = _approve(api, users["bob"], rid)["request"]["approvals"][0]
    envelope = approval["envelope"]
    assert envelope is not None

    # a third party with registry-signing.pub and the standard libraries
    key = SSlibKey.from_crypto(_registry_public_key(server))
    parsed = Envelope.from_dict(json.loads(json.dumps(envelope)))
    parsed.verify([key], 1)
    statement = json.loads(parsed.payload)
    assert statement["predicateType"] == approval_statement.APPROVAL_PREDICATE_TYPE
    assert statement["subject"] == [{"name": f"models:/{unique_model_name}/{version}",
                                     "digest": {"sha256": identity.digest().split(":")[1]}}]
    predicate = statement["predicate"]
    assert predicate["approver"]["name"] == "bob"
    assert predicate["request"]["id"] == rid and predicate["request"]["target"] == "production"
    assert predicate["version"]["identityDigest"] == identity.digest()

    got = api("GET", f"{TR}/get", users["carol"], params={"request_id": rid}).json()
    assert got["request"]["approvals"][0]["envelope"] == envelope
    assert approval_statement.check(envelope, [_registry_public_key(server)],
                                    identity_digest=identity.digest(), request_id=rid,
                                    approver="bob").ok

    engine = _engine(server)
    try:
        with engine.connect() as conn:
            stored = conn.execute(sqlalchemy.text(
                "SELECT envelope FROM supplychain_approvals WHERE request_id = :r"),
                {"r": rid}).scalar_one()
            approved = [json.loads(r.payload) for r in audit.iter_records(conn)
                        if r.action == "request.approve"
                        and json.loads(r.payload)["request_id"] == rid]
    finally:
        engine.dispose()
    assert approved[0]["envelope_sha256"] == hashlib.sha256(stored.encode()).hexdigest()


def test_an_approval_without_an_envelope_keeps_counting(
        server: RunningServer, api: Api, users: dict[str, Auth], unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    rid = _request(api, users["alice"], unique_model_name, version, "champion")  # two of m
    assert _approve(api, users["bob"], rid)["request"]["status"] == "pending"
    engine = _engine(server)
    try:
        with engine.begin() as conn:  # as an approval recorded before approvals were signed
            conn.execute(sqlalchemy.text(
                "UPDATE supplychain_approvals SET envelope = NULL WHERE request_id = :r"),
                {"r": rid})
    finally:
        engine.dispose()
    second = _approve(api, users["erin"], rid, apply=True)
    assert second["applied"] is True and second["request"]["status"] == "applied"
    envelopes = {a["approver"]: a["envelope"] for a in second["request"]["approvals"]}
    assert envelopes["bob"] is None and envelopes["erin"] is not None


def test_a_recreated_model_is_not_the_subject_of_an_old_approval(
        server: RunningServer, api: Api, users: dict[str, Auth], unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    old = version_identity(server, unique_model_name, version, auth=users["alice"])
    rid = _request(api, users["alice"], unique_model_name, version, "production")
    envelope = _approve(api, users["bob"], rid)["request"]["approvals"][0]["envelope"]
    deleted = api("DELETE", "mlflow/registered-models/delete", users["alice"],
                  json={"name": unique_model_name})
    assert deleted.status_code == 200, deleted.text
    again = register(api, users["alice"], unique_model_name)
    assert again == version
    new = version_identity(server, unique_model_name, again, auth=users["alice"])
    assert new.digest() != old.digest()
    check = approval_statement.check(envelope, [_registry_public_key(server)],
                                     identity_digest=new.digest(), request_id=rid)
    assert not check.ok and "another version" in check.problems[0]
