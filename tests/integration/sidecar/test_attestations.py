"""The store side of scan attestations, on a real server: submit, verify, tags, gate."""

from __future__ import annotations

import pytest
import sqlalchemy
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mlflow.exceptions import MlflowException

from ..helpers import COMPLIANT_INTAKE, new_version
from .attestation_helpers import fetch, make_payload, submit

SCANNED_ALIAS = "champion"  # profile 'scanned' in policies/enforce.yaml: intake + scan_passed


def _audit_actions(server, subject: str) -> list[str]:
    engine = sqlalchemy.create_engine(f"sqlite:///{server.data_dir / 'mlflow.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(
            "SELECT action FROM supplychain_audit_events WHERE subject = :s ORDER BY seq"),
            {"s": subject}).all()
    engine.dispose()
    return [r[0] for r in rows]


@pytest.mark.parametrize("root", ["/api/2.0", "/ajax-api/2.0"])
def test_valid_attestation_is_stored_tagged_and_lets_the_promotion_pass(gate_server, root,
                                                                         unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    with pytest.raises(MlflowException, match="no scan attestation"):
        client.set_registered_model_alias(unique_model_name, SCANNED_ALIAS, version)

    payload = make_payload(gate_server, unique_model_name, version)
    response = submit(gate_server, payload, root=root)

    assert response.status_code == 200, response.text
    tags = client.get_model_version(unique_model_name, version).tags
    assert tags["supplychain.scan.verdict"] == "permitted"
    assert tags["supplychain.integrity.digest"] == payload.artifact_digest
    assert tags["supplychain.scan.findings"] == "0"
    assert tags["supplychain.scan.format_policy_digest"] == payload.format_policy_digest
    assert tags["supplychain.scan.attested_at"] == payload.scanned_at
    stored = fetch(gate_server, unique_model_name, version).json()
    assert stored["verified"] is True and stored["payload"]["artifact_digest"] == payload.artifact_digest
    client.set_registered_model_alias(unique_model_name, SCANNED_ALIAS, version)
    assert "attestation.accept" in _audit_actions(gate_server,
                                                   f"models:/{unique_model_name}/{version}")


def test_flagged_attestation_denies_with_the_findings(gate_server, unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    finding = "pickle.unsafe_global model.pkl: os.system"
    payload = make_payload(gate_server, unique_model_name, version, verdict="prohibited",
                           findings=[finding])
    assert submit(gate_server, payload).status_code == 200

    with pytest.raises(MlflowException) as excinfo:
        client.set_registered_model_alias(unique_model_name, SCANNED_ALIAS, version)
    assert excinfo.value.error_code == "PERMISSION_DENIED"
    assert finding in excinfo.value.message
    assert client.get_model_version(unique_model_name, version).tags[
        "supplychain.scan.verdict"] == "prohibited"


def test_forged_copied_stale_and_orphan_attestations_are_rejected(gate_server,
                                                                  unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    other = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    mallory = Ed25519PrivateKey.generate()
    good = make_payload(gate_server, unique_model_name, version)

    forged = submit(gate_server, make_payload(gate_server, unique_model_name, version,
                                              key=mallory), mallory)
    wrong_key_id = submit(gate_server, good, mallory)
    other_identity = good.identity.model_copy(update={"version": other})
    copied = submit(gate_server, good.model_copy(update={"version": other,
                                                         "identity": other_identity}),
                    signature=_sig(gate_server, good))
    stale = submit(gate_server, make_payload(gate_server, unique_model_name, version,
                                             format_policy_digest="sha256:" + "0" * 64))
    orphan = submit(gate_server, make_payload(
        gate_server, unique_model_name, "999",
        identity=good.identity.model_copy(update={"version": "999"})))
    garbage = submit(gate_server, good, signature="AAAA")

    for response in (forged, wrong_key_id, copied, stale, garbage):
        assert response.status_code == 403, response.text
        assert response.json()["error_code"] == "PERMISSION_DENIED"
    assert orphan.status_code == 404
    for v in (version, other):
        assert fetch(gate_server, unique_model_name, v).status_code == 404
        assert not any(k.startswith("supplychain.scan.")
                       for k in client.get_model_version(unique_model_name, v).tags)
    actions = _audit_actions(gate_server, f"models:/{unique_model_name}/{version}")
    assert actions and set(actions) == {"attestation.reject"}


def test_a_replayed_older_attestation_does_not_replace_a_newer_one(gate_server,
                                                                   unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    old = make_payload(gate_server, unique_model_name, version, scanned_at="2026-01-01T00:00:00Z")
    new = make_payload(gate_server, unique_model_name, version, verdict="prohibited",
                       findings=["x"])
    assert submit(gate_server, new).status_code == 200
    assert submit(gate_server, old).status_code == 403
    assert fetch(gate_server, unique_model_name, version).json()["payload"]["verdict"] == \
        "prohibited"


def test_an_attestation_edited_in_the_database_no_longer_counts(gate_server, unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    payload = make_payload(gate_server, unique_model_name, version, verdict="prohibited",
                           findings=["bad"])
    assert submit(gate_server, payload).status_code == 200
    engine = sqlalchemy.create_engine(f"sqlite:///{gate_server.data_dir / 'mlflow.db'}")
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(
            "UPDATE supplychain_scan_attestations SET payload = "
            "replace(replace(payload, '\"prohibited\"', '\"permitted\"'), '[\"bad\"]', '[]') "
            "WHERE model_name = :n"), {"n": unique_model_name})
    engine.dispose()

    assert fetch(gate_server, unique_model_name, version).json()["verified"] is False
    with pytest.raises(MlflowException, match="signature does not verify"):
        client.set_registered_model_alias(unique_model_name, SCANNED_ALIAS, version)


def _sig(server, payload) -> str:
    from mlflow_supplychain.integrity import attest

    from .attestation_helpers import server_key

    return attest.sign(payload, server_key(server))
