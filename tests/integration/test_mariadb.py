"""The key paths on MySQL/MariaDB (``MLFLOW_SUPPLYCHAIN_TEST_MYSQL_URI``; .ci/run sets it):
our migrations and ``db upgrade``, names that differ only in case kept apart under MySQL's
case-insensitive default collations, and one real 2-worker basic-auth server for the gate,
approvals and the audit chain under 30 parallel promote/approve calls."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy

from mlflow_supplychain.governance import audit, db, promotion_evidence, requests
from mlflow_supplychain.testing.pytest_plugin import (
    RunningServer,
    ServerFactory,
    mysql_database,
)
from mlflow_supplychain.version_identity import VersionIdentity

from .approvals.conftest import POLICY, Api, Auth, add_users, make_api, register

TR = "mlflow-supplychain/transition-requests"
CLI = Path(sys.executable).parent / "mlflow-supplychain"
DIGEST = "sha256:" + "0" * 64


@pytest.fixture(scope="module")
def mysql_engine(supplychain_mysql_uri: str) -> Iterator[sqlalchemy.Engine]:
    with mysql_database(supplychain_mysql_uri) as uri:
        engine = db.create_engine(uri)
        try:
            yield engine
        finally:
            engine.dispose()


def test_migrations_upgrade_and_db_upgrade_is_idempotent(mysql_engine: sqlalchemy.Engine
                                                          ) -> None:
    uri = mysql_engine.url.render_as_string(hide_password=False)
    for _ in range(2):  # the second run finds the schema at head and changes nothing
        done = subprocess.run([str(CLI), "db", "upgrade", "--db-uri", uri],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert f"at revision {db.head_revision()}" in done.stderr
    with mysql_engine.connect() as conn:
        assert db.current_revision(conn) == db.head_revision()
        tables = {name for (name,) in conn.execute(sqlalchemy.text("SHOW TABLES"))}
        # every text column of ours compares byte for byte (a new table must say so too)
        folding = conn.execute(sqlalchemy.text(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name LIKE 'supplychain\\_%' "
            "AND collation_name IS NOT NULL AND collation_name <> 'utf8mb4_bin'")).all()
    assert folding == []
    assert {"supplychain_transition_requests", "supplychain_approvals",
            "supplychain_audit_events", "supplychain_audit_head",
            "supplychain_scan_attestations"} <= tables


def _identity(name: str) -> VersionIdentity:
    return VersionIdentity(workspace="default", name=name, version="1", created_at=1,
                           storage_location=f"mlflow-artifacts:/1/{name}/artifacts",
                           uid=uuid.uuid4().hex)


def test_names_differing_only_in_case_stay_apart(mysql_engine: sqlalchemy.Engine) -> None:
    db.upgrade(mysql_engine)
    stem = f"Case-{uuid.uuid4().hex[:8]}"
    with mysql_engine.begin() as conn:
        created = requests.create_request(
            conn, identity=_identity(stem), target="production", requester="alice",
            comment=None, evidence_digest=DIGEST, policy_digest=DIGEST, now_ms=1)
        # a second model spelled in other case is another model: its own open request
        requests.create_request(
            conn, identity=_identity(stem.lower()), target="production",
            requester="alice", comment=None, evidence_digest=DIGEST, policy_digest=DIGEST,
            now_ms=2)
    with mysql_engine.connect() as conn:
        listed, _ = requests.list_requests(conn, model_name=stem)
        upper, _ = requests.list_requests(conn, model_name=stem.upper())
        trail, _ = audit.page_by_subject_prefix(conn, f"models:/{stem}/")
    assert [r.id for r in listed] == [created.id]
    assert upper == []
    assert [r.subject for r in trail] == [f"models:/{stem}/1 -> production"]


def test_promotion_evidence_of_a_large_model_is_stored_whole(mysql_engine: sqlalchemy.Engine
                                                            ) -> None:
    # a 2,000-file model's OMS bundle is ~0.5 MB: MySQL's TEXT (64 KiB) would refuse or cut it
    db.upgrade(mysql_engine)
    identity = _identity(f"Big-{uuid.uuid4().hex[:8]}")
    bundle = "x" * 600_000
    summary = {"payload": "y" * 500_000, "payloadType": "application/vnd.in-toto+json"}
    with mysql_engine.begin() as conn:
        promotion_evidence.save(conn, identity=identity, target="production",
                                policy_digest=DIGEST, attestation_id=1, artifact_digest=DIGEST,
                                summary=summary, oms_bundle=bundle, key_fingerprint=DIGEST,
                                now_ms=1)
    with mysql_engine.connect() as conn:
        found = promotion_evidence.find(conn, identity_digest=identity.digest(),
                                        target="production", policy_digest=DIGEST,
                                        attestation_id=1)
        other = promotion_evidence.find(conn, identity_digest=_identity(identity.name).digest(),
                                        target="production", policy_digest=DIGEST,
                                        attestation_id=1)
    assert found is not None and found.oms_bundle == bundle and found.summary == summary
    assert other is None  # same name and number, another identity: nothing


@pytest.fixture(scope="module")
def server(supplychain_server_factory: ServerFactory,
           supplychain_mysql_uri: str) -> RunningServer:
    return supplychain_server_factory(POLICY, mysql_uri=supplychain_mysql_uri, workers=2,
                                      auth=True)


def _alias(api: Api, who: Auth, name: str, alias: str, version: str) -> int:
    return api("POST", "mlflow/registered-models/alias", who,
               json={"name": name, "alias": alias, "version": version}).status_code


@pytest.mark.long
def test_gate_and_approvals_end_to_end(server: RunningServer) -> None:
    users = add_users(server)
    api = make_api(server)
    name = f"mariadb-gate-{uuid.uuid4().hex[:8]}"
    version = register(api, users["alice"], name)

    for spelling in ("production", "Production", "PRODUCTION"):  # one protected alias
        assert _alias(api, users["alice"], name, spelling, version) == 403, spelling
    assert _alias(api, users["alice"], name, "staging", version) == 200  # unprotected

    rid = api("POST", f"{TR}/create", users["alice"],
              json={"name": name, "version": version, "target": "production"}
              ).json()["request"]["id"]
    assert api("POST", f"{TR}/approve", users["alice"],
               json={"request_id": str(rid)}).status_code == 403  # no self-approval
    assert api("POST", f"{TR}/approve", users["carol"],
               json={"request_id": str(rid)}).status_code == 403  # not an approver
    approved = api("POST", f"{TR}/approve", users["bob"], json={"request_id": str(rid)})
    assert approved.status_code == 200, approved.text

    assert _alias(api, users["alice"], name, "Production", version) == 200
    got = api("GET", "mlflow/registered-models/alias", users["carol"],
              params={"name": name, "alias": "production"})
    assert got.status_code == 200 and got.json()["model_version"]["version"] == version


@pytest.mark.long
def test_parallel_promotions_and_approvals_keep_one_chain(server: RunningServer) -> None:
    users = add_users(server)
    api = make_api(server)
    engine = db.create_engine(server.backend_store_uri or "")
    try:
        with engine.connect() as conn:
            before = [r.action for r in audit.iter_records(conn)]
        models = []
        for i in range(6):
            name = f"mariadb-parallel-{uuid.uuid4().hex[:8]}-{i}"
            version = register(api, users["alice"], name)
            rid = api("POST", f"{TR}/create", users["alice"],
                      json={"name": name, "version": version, "target": "production"}
                      ).json()["request"]["id"]
            models.append((name, version, rid))
        tasks = []
        for name, version, rid in models:
            tasks += [("alias", name, version, rid)] * 2
            tasks += [("approve:bob", name, version, rid), ("approve:erin", name, version, rid),
                      ("approve:bob", name, version, rid)]
        assert len(tasks) == 30
        random.Random(19).shuffle(tasks)  # noqa: S311 - test ordering, not a secret

        def run(task: tuple[str, str, str, int]) -> tuple[str, int]:
            kind, name, version, rid = task
            if kind == "alias":
                return kind, _alias(api, users["alice"], name, "production", version)
            r = api("POST", f"{TR}/approve", users[kind.split(":")[1]],
                    json={"request_id": str(rid)})
            return kind, r.status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(run, tasks))
        assert {code for _, code in results} <= {200, 403, 409}, results
        assert any(k.startswith("approve") and c == 200 for k, c in results)

        for name, _version, rid in models:
            alias = api("GET", "mlflow/registered-models/alias", users["carol"],
                        params={"name": name, "alias": "production"})
            request = api("GET", f"{TR}/get", users["carol"], params={"request_id": rid}).json()
            if alias.status_code == 200:
                assert request["request"]["approvals"], f"{name} promoted without approval"
                assert request["decision"]["allowed"] is True

        with engine.connect() as conn:
            report = audit.verify(conn)
            actions = [r.action for r in audit.iter_records(conn)][len(before):]
    finally:
        engine.dispose()
    assert report.ok, report
    alias_attempts = sum(1 for k, c in results if k == "alias" and c in (200, 403))
    approvals_ok = sum(1 for k, c in results if k.startswith("approve") and c == 200)
    assert actions.count("gate.decision") == alias_attempts
    assert actions.count("request.approve") == approvals_ok
    assert actions.count("request.create") == 6
