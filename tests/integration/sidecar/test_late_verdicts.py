"""A scan verdict accepted after the promotion takes the protected alias/stage back (issue 14).

The version is promoted on a passing attestation; a newer attestation then says ``prohibited``
(or ``error``). The server re-judges every protected target the version holds with the new
attestation and, in enforce mode, removes the alias / moves the stage back in the transaction
that stores it, audited. Audit mode records it and moves nothing; a passing re-scan moves
nothing either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy

from mlflow_supplychain.governance import audit, db
from mlflow_supplychain.integrity.attestation_formats import scan_envelope
from mlflow_supplychain.testing.pytest_plugin import RunningServer, postgres_database

from ..helpers import COMPLIANT_INTAKE, new_version
from .attestation_helpers import make_payload, submit


def _compensations(server: RunningServer, name: str, version: str) -> list[dict[str, Any]]:
    engine = db.create_engine(server.backend_store_uri
                              or f"sqlite:///{server.data_dir / 'mlflow.db'}")
    try:
        with engine.connect() as conn:
            assert audit.verify(conn).ok
            rows = conn.execute(sqlalchemy.text(
                "SELECT subject, payload FROM supplychain_audit_events WHERE action = "
                "'promotion.compensate' AND subject LIKE :s ORDER BY seq"),
                {"s": f"models:/{name}/{version} -> %"}).all()
    finally:
        engine.dispose()
    return [{"subject": r[0], **json.loads(r[1])} for r in rows]


def _promoted(server: RunningServer, name: str) -> tuple[Any, str]:
    client = server.client()
    version = new_version(client, name, COMPLIANT_INTAKE)
    assert submit(server, make_payload(server, name, version)).status_code == 200
    client.set_registered_model_alias(name, "champion", version)
    client.transition_model_version_stage(name, version, "Staging")
    return client, version


@pytest.mark.parametrize("verdict", ["prohibited", "error"])
def test_late_failing_verdict_takes_alias_and_stage_back(any_gate_server: RunningServer,
                                                        unique_model_name: str,
                                                        verdict: str) -> None:
    client, version = _promoted(any_gate_server, unique_model_name)
    client.set_registered_model_alias(unique_model_name, "dev", version)  # unprotected: kept

    late = make_payload(any_gate_server, unique_model_name, version, verdict=verdict,
                        findings=["model.pkl: posix.system"])
    response = submit(any_gate_server, late)

    assert response.status_code == 200, response.text
    assert sorted(response.json()["taken_back"]) == ["champion", "stage:Staging"]
    model = client.get_registered_model(unique_model_name)
    assert "champion" not in model.aliases and model.aliases["dev"] == version
    assert client.get_model_version(unique_model_name, version).current_stage == "None"
    records = _compensations(any_gate_server, unique_model_name, version)
    assert {r["target"] for r in records} == {"champion", "stage:Staging"}
    assert all(r["taken_back"] and r["violations"] for r in records)
    assert all(("scan.flagged" if verdict == "prohibited" else "scan.error") in r["violations"]
               for r in records)


def test_passing_rescan_leaves_the_promotion_in_place(gate_server: RunningServer,
                                                      unique_model_name: str) -> None:
    client, version = _promoted(gate_server, unique_model_name)
    response = submit(gate_server, make_payload(gate_server, unique_model_name, version))
    assert response.status_code == 200 and response.json()["taken_back"] == []
    assert client.get_registered_model(unique_model_name).aliases["champion"] == version
    assert client.get_model_version(unique_model_name, version).current_stage == "Staging"
    assert _compensations(gate_server, unique_model_name, version) == []


def test_a_refused_late_attestation_takes_nothing_back(gate_server: RunningServer,
                                                       unique_model_name: str) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    client, version = _promoted(gate_server, unique_model_name)
    mallory = Ed25519PrivateKey.generate()
    forged = make_payload(gate_server, unique_model_name, version, key=mallory,
                          verdict="prohibited")
    assert submit(gate_server, forged, mallory).status_code == 403
    assert client.get_registered_model(unique_model_name).aliases["champion"] == version


def test_audit_mode_records_the_late_verdict_and_moves_nothing(audit_server: RunningServer,
                                                               unique_model_name: str) -> None:
    client, version = _promoted(audit_server, unique_model_name)
    late = make_payload(audit_server, unique_model_name, version, verdict="prohibited",
                        findings=["x"])
    response = submit(audit_server, late)
    assert response.status_code == 200 and response.json()["taken_back"] == []
    assert client.get_registered_model(unique_model_name).aliases["champion"] == version
    records = _compensations(audit_server, unique_model_name, version)
    assert records and not any(r["taken_back"] or r["enforced"] for r in records)


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_uri(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh registry database for an in-process store (PostgreSQL skips unless set)."""
    if request.param == "sqlite":
        yield f"supplychain+sqlite:///{tmp_path / 'r.db'}"
        return
    admin = request.getfixturevalue("supplychain_postgres_uri")
    with postgres_database(admin) as uri:
        yield "supplychain+" + uri.replace("postgresql://", "postgresql+psycopg2://", 1)


def test_a_verdict_stored_while_a_promotion_is_judged_aborts_the_promotion(
        tmp_path, monkeypatch, registry_uri):
    """The race the attestation side cannot see: the promotion was judged on the old (passing)
    attestation, a failing one is committed before the alias is. The promotion re-checks
    before it commits and aborts (409); retried, it is judged on the new verdict. Real store on
    SQLite in tmp_path or a fresh PostgreSQL database; only the timing is arranged."""
    from mlflow.entities.model_registry import ModelVersionTag
    from mlflow.exceptions import MlflowException

    from mlflow_supplychain.governance import attestations
    from mlflow_supplychain.integrity import attest
    from mlflow_supplychain.registry.store import build_store

    from ..conftest import ENFORCE

    attest.generate_key_pair(tmp_path / "k", tmp_path / "k.pub")
    key = attest.load_private_key(tmp_path / "k")
    monkeypatch.setenv(attest.PUBLIC_KEY_ENV_VAR, str(tmp_path / "k.pub"))
    monkeypatch.setenv("MLFLOW_SUPPLYCHAIN_POLICY", str(ENFORCE))
    store = build_store(registry_uri)
    store.create_registered_model("m")
    store.create_model_version("m", "s3://corp-models/m", tags=[
        ModelVersionTag(k, v) for k, v in COMPLIANT_INTAKE.items()])
    policy = store.gate.holder.policy

    def stored(verdict: str) -> None:
        payload = attest.AttestationPayload(
            model_name="m", version="1", identity=store.gate.current_identity(store, "m", "1"),
            artifact_digest="sha256:" + "a" * 64,
            files={"model.safetensors": "c" * 64}, verdict=verdict, findings=["x"],
            formats={}, scanner_version="test", format_policy_digest=policy.format_digest,
            scanned_at=attest.now_iso(), key_id=attest.key_id(key.public_key()))
        with store.engine.begin() as conn:
            attestations.store(conn, scan_envelope.submission(payload, key),
                               policy_digest=policy.digest, actor="test")

    stored("permitted")
    judge = store.gate.check_promotion_in

    def judged_then_verdict_lands(*args, **kwargs):
        outcome = judge(*args, **kwargs)
        stored("prohibited")  # committed by the attestation route meanwhile
        return outcome

    monkeypatch.setattr(store.gate, "check_promotion_in", judged_then_verdict_lands)
    with pytest.raises(MlflowException) as excinfo:
        store.set_registered_model_alias("m", "champion", "1")
    assert excinfo.value.error_code == "ABORTED" and "retry" in excinfo.value.message
    assert "champion" not in store.get_registered_model("m").aliases
    # MLflow writes a stage in its own transaction: it is moved back right after, and audited
    stored("permitted")
    with pytest.raises(MlflowException) as excinfo:
        store.transition_model_version_stage("m", "1", "Staging", False)
    assert excinfo.value.error_code == "ABORTED"
    assert store.get_model_version("m", "1").current_stage == "None"

    monkeypatch.setattr(store.gate, "check_promotion_in", judge)
    with pytest.raises(MlflowException, match="scan.flagged"):
        store.set_registered_model_alias("m", "champion", "1")

    # The other order: the attestation route planned (nothing held), then a promotion judged
    # on a passing attestation committed, then the failing verdict is stored: the route judges
    # the newcomer in its transaction and takes it back.
    from mlflow_supplychain.registry import late_verdicts

    stored("permitted")
    late = make_late(store, key, policy.format_digest, "prohibited")
    plan = late_verdicts.plan(store, late, key.public_key())
    assert plan is not None and plan.judged == frozenset() and plan.failing == ()
    store.set_registered_model_alias("m", "champion", "1")
    with store.engine.begin() as conn:
        late_verdicts.lock_version(conn, "m", "1")
        row = attestations.store(conn, late, policy_digest=policy.digest, actor="test")
        assert late_verdicts.apply(conn, store, plan, attestation_id=row) == ["champion"]
    assert "champion" not in store.get_registered_model("m").aliases
    store.engine.dispose()


def make_late(store: Any, key: Any, format_digest: str, verdict: str) -> Any:
    from mlflow_supplychain.integrity import attest

    payload = attest.AttestationPayload(
        model_name="m", version="1", identity=store.gate.current_identity(store, "m", "1"),
        artifact_digest="sha256:" + "a" * 64,
        files={"model.safetensors": "c" * 64}, verdict=verdict, findings=["x"], formats={},
        scanner_version="test", format_policy_digest=format_digest, scanned_at=attest.now_iso(),
        key_id=attest.key_id(key.public_key()))
    return scan_envelope.submission(payload, key)
