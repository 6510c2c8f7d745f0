"""Scan attestations as in-toto statements in DSSE envelopes, against a real server (issue 18).

Attacks, each refused or worthless:

- an envelope whose subject digests name other bytes: altered after signing (refused as a
  forgery), or honestly signed about another version's bytes (stored, but the promotion-time
  re-hash refuses it);
- an envelope signed by a key the server does not trust, also one claiming the trusted key id;
- an envelope for one version replayed for another: version 1 for version 2, and version 1 of
  a model deleted and created again (same name and number, another identity);
- an envelope edited in the database after it was stored.

And the migration: an attestation in the original format is still accepted, stored and
verifying next to envelopes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests
import sqlalchemy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.attestation_formats import scan_envelope
from mlflow_supplychain.signing import keyed_envelopes
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from ..helpers import COMPLIANT_INTAKE, new_version
from ..sidecar.attestation_helpers import (
    SUBMIT,
    fetch,
    make_payload,
    server_key,
    submit,
    submit_envelope,
)
from .conftest import attest as attest_bytes
from .conftest import sklearn_version


def _version(client: Any, name: str) -> str:
    """A version without bytes, on ``gate_server`` (refusals need no bytes; promotions on the
    re-hashing ``deploy_server`` do)."""
    return new_version(client, name, COMPLIANT_INTAKE)


def _statement(envelope: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(envelope["payload"])))


def _with_statement(envelope: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    return {**envelope, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}


def _audit_reasons(server: RunningServer, name: str) -> list[str]:
    engine = sqlalchemy.create_engine(f"sqlite:///{server.data_dir / 'mlflow.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(
            "SELECT payload FROM supplychain_audit_events WHERE action = 'attestation.reject' "
            "AND subject LIKE :s ORDER BY seq"), {"s": f"models:/{name}/%"}).all()
    engine.dispose()
    return [json.loads(r[0])["reason"] for r in rows]


def test_an_envelope_of_the_real_bytes_is_stored_verifies_with_standard_tools_and_promotes(
        tracking: RunningServer, unique_model_name: str) -> None:
    client = MlflowClient(tracking.url, tracking.url)
    version = sklearn_version(unique_model_name)
    registered = attest_bytes(tracking, unique_model_name, version, verdict="permitted",
                              envelope=True)

    stored = fetch(tracking, unique_model_name, version).json()
    assert stored["verified"] is True and stored["format"] == "in-toto-dsse"
    assert stored["payload"]["artifact_digest"] == registered.digest
    # anyone holding attestation-signing.pub checks it without our package
    public = serialization.load_pem_public_key(
        (tracking.data_dir / "attestation-signing.pub").read_bytes())
    key = SSlibKey.from_crypto(public, keyid=stored["key_id"])  # type: ignore[arg-type]
    parsed = Envelope.from_dict(stored["envelope"])
    parsed.verify([key], 1)
    statement = json.loads(parsed.payload)
    assert statement["predicateType"] == scan_envelope.SCAN_PREDICATE_TYPE
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == registered.files

    client.set_registered_model_alias(unique_model_name, "production", version)


def test_subjects_naming_other_bytes_are_refused_or_worthless(tracking: RunningServer,
                                                              unique_model_name: str) -> None:
    client = MlflowClient(tracking.url, tracking.url)
    version = sklearn_version(unique_model_name)
    other = sklearn_version(unique_model_name + "-other")
    real = attest_bytes(tracking, unique_model_name + "-other", other, verdict="permitted")

    # altered after signing: the subjects name other bytes than the ones signed
    payload = make_payload(tracking, unique_model_name, version, files=real.files,
                           artifact_digest=real.digest)
    envelope = scan_envelope.seal(payload, server_key(tracking))
    statement = _statement(envelope)
    for subject in statement["subject"]:
        subject["digest"]["sha256"] = "0" * 64
    forged = submit_envelope(tracking, payload, envelope=_with_statement(envelope, statement))
    assert forged.status_code == 403, forged.text
    assert "signature does not verify" in forged.json()["message"]
    assert fetch(tracking, unique_model_name, version).status_code == 404

    # honestly signed, but about the other version's bytes (a scanner fooled about the
    # location): stored, and the promotion-time re-hash refuses it
    attest_bytes(tracking, unique_model_name, version, verdict="permitted",
                 bytes_of=(unique_model_name + "-other", other), envelope=True)
    with pytest.raises(MlflowException) as excinfo:
        client.set_registered_model_alias(unique_model_name, "production", version)
    assert excinfo.value.error_code == "PERMISSION_DENIED"
    assert "hash.artifacts_changed" in excinfo.value.message
    assert not client.get_registered_model(unique_model_name).aliases


def test_envelopes_signed_by_an_unknown_key_are_refused_and_audited(
        gate_server: RunningServer, unique_model_name: str) -> None:
    client = gate_server.client()
    version = _version(client, unique_model_name)
    mallory = Ed25519PrivateKey.generate()
    own = make_payload(gate_server, unique_model_name, version, key=mallory)
    response = submit_envelope(gate_server, own, mallory)
    assert response.status_code == 403, response.text
    assert "signature does not verify" in response.json()["message"]

    # mallory signs under the server key's id, naming it in the predicate
    claimed = make_payload(gate_server, unique_model_name, version)
    raw = keyed_envelopes.statement_bytes(claimed.files, scan_envelope.SCAN_PREDICATE_TYPE,
                                          scan_envelope.predicate(claimed))
    envelope = keyed_envelopes.sign(raw, mallory, claimed.key_id)
    response = submit_envelope(gate_server, claimed, envelope=envelope)
    assert response.status_code == 403, response.text

    assert fetch(gate_server, unique_model_name, version).status_code == 404
    reasons = _audit_reasons(gate_server, unique_model_name)
    assert len(reasons) == 2 and all("does not verify" in r for r in reasons)


def test_malformed_envelopes_are_refused_with_a_clear_error(gate_server: RunningServer,
                                                             unique_model_name: str) -> None:
    client = gate_server.client()
    version = _version(client, unique_model_name)
    payload = make_payload(gate_server, unique_model_name, version)
    good = scan_envelope.seal(payload, server_key(gate_server))

    def message(envelope: Any) -> str:
        response = submit_envelope(gate_server, payload, envelope=envelope)
        assert response.status_code == 400, response.text
        return str(response.json()["message"])

    assert "is not application/vnd.in-toto+json" in message({**good, "payloadType": "text"})
    unknown = {**_statement(good), "predicateType": "https://example.com/scan/v1"}
    resigned = keyed_envelopes.sign(json.dumps(unknown).encode(), server_key(gate_server),
                                    payload.key_id)
    assert "not a predicate type this server knows" in message(resigned)
    assert "not base64" in message({**good, "payload": "***"})
    too_big = requests.post(f"{gate_server.url}{SUBMIT}", timeout=60,
                            data=b'{"envelope": "' + b"A" * (13 << 20) + b'"}',
                            headers={"Content-Type": "application/json"})
    assert too_big.status_code == 400 and "too large" in too_big.json()["message"]
    assert fetch(gate_server, unique_model_name, version).status_code == 404


def test_an_envelope_for_one_version_does_not_count_for_another(gate_server: RunningServer,
                                                                unique_model_name: str) -> None:
    client = gate_server.client()
    v1 = _version(client, unique_model_name)
    v2 = _version(client, unique_model_name)
    payload = make_payload(gate_server, unique_model_name, v1)
    envelope = scan_envelope.seal(payload, server_key(gate_server))

    # the sidecar's key signing version 2's number over version 1's identity: refused
    for_v2 = _statement(envelope)
    for_v2["predicate"]["version"] = v2
    resigned = keyed_envelopes.sign(json.dumps(for_v2).encode(), server_key(gate_server),
                                    payload.key_id)
    response = submit_envelope(gate_server, payload, envelope=resigned)
    assert response.status_code == 400 and "identity" in response.json()["message"]

    assert submit_envelope(gate_server, payload, envelope=envelope).status_code == 200
    assert fetch(gate_server, unique_model_name, v1).json()["verified"] is True
    assert fetch(gate_server, unique_model_name, v2).status_code == 404

    # deleted and created again: same name and number, another identity
    client.delete_registered_model(unique_model_name)
    again = _version(client, unique_model_name)
    assert again == v1
    assert fetch(gate_server, unique_model_name, again).status_code == 404
    replayed = submit_envelope(gate_server, payload, envelope=envelope)
    assert replayed.status_code == 403, replayed.text
    assert "another version" in replayed.json()["message"]
    assert fetch(gate_server, unique_model_name, again).status_code == 404


def test_the_original_format_is_still_accepted_and_verifies_next_to_envelopes(
        gate_server: RunningServer, unique_model_name: str) -> None:
    client = gate_server.client()
    version = _version(client, unique_model_name)
    original = make_payload(gate_server, unique_model_name, version, verdict="prohibited",
                            findings=["pickle.unsafe_global model.pkl: os.system"])
    assert submit(gate_server, original).status_code == 200
    stored = fetch(gate_server, unique_model_name, version).json()
    assert stored["format"] == "signed-payload" and stored["envelope"] is None
    assert stored["verified"] is True and stored["payload"]["verdict"] == "prohibited"

    newer = make_payload(gate_server, unique_model_name, version)
    assert submit_envelope(gate_server, newer).status_code == 200
    stored = fetch(gate_server, unique_model_name, version).json()
    assert stored["format"] == "in-toto-dsse" and stored["verified"] is True
    assert stored["payload"]["verdict"] == "permitted"
    # the older row in the original format still verifies where it is stored
    engine = sqlalchemy.create_engine(f"sqlite:///{gate_server.data_dir / 'mlflow.db'}")
    with engine.connect() as conn:
        formats = [r[0] for r in conn.execute(sqlalchemy.text(
            "SELECT format FROM supplychain_scan_attestations WHERE model_name = :n "
            "ORDER BY id"), {"n": unique_model_name})]
    engine.dispose()
    assert formats == [None, "in-toto-dsse"]


def test_an_envelope_edited_in_the_database_no_longer_counts(gate_server: RunningServer,
                                                             unique_model_name: str) -> None:
    client = gate_server.client()
    version = _version(client, unique_model_name)
    payload = make_payload(gate_server, unique_model_name, version, verdict="prohibited",
                           findings=["bad"])
    envelope = scan_envelope.seal(payload, server_key(gate_server))
    assert submit_envelope(gate_server, payload, envelope=envelope).status_code == 200
    statement = _statement(envelope)
    statement["predicate"]["verdict"], statement["predicate"]["findings"] = "permitted", []
    edited = keyed_envelopes.canonical(_with_statement(envelope, statement))
    engine = sqlalchemy.create_engine(f"sqlite:///{gate_server.data_dir / 'mlflow.db'}")
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(
            "UPDATE supplychain_scan_attestations SET payload = :p WHERE model_name = :n"),
            {"p": edited, "n": unique_model_name})
    engine.dispose()
    stored = fetch(gate_server, unique_model_name, version).json()
    assert stored["verified"] is False and stored["payload"]["verdict"] == "permitted"
    assert attest.key_id(server_key(gate_server).public_key()) == stored["key_id"]
