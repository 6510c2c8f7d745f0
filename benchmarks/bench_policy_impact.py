"""Benchmark: ``policy impact`` on a registry of ``--models`` x ``--versions`` versions.

Fills a fresh SQLite database straight through MLflow's store (no HTTP, no gate): every model
gets ``--versions`` versions with an intake record; the newest of each holds the protected
``production`` alias and carries the evidence the policy asks for (a signed scan attestation,
an approved transition request), so impact reads and evaluates every promoted version for
real. Then a governed server starts on it, and the impact of two proposals is timed end to end
(HTTP included): one that breaks every promoted version (license.id becomes required) and one
that breaks none (an approver added).

    python benchmarks/bench_policy_impact.py [--models 1000] [--versions 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

import requests

from mlflow_supplychain.governance import attestations, db
from mlflow_supplychain.governance import requests as workflow
from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.attestation_formats import scan_envelope
from mlflow_supplychain.policy.evidence import evidence_digest
from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.policy.schema import ApprovalRule
from mlflow_supplychain.registry import evidence_reader as facts
from mlflow_supplychain.registry.tags import VERSION_UID_SUFFIX
from mlflow_supplychain.testing.pytest_plugin import run_server
from mlflow_supplychain.version_identity import new_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best  # noqa: E402

POLICY = """\
version: 1
mode: enforce
protected:
  aliases: {production: prod}
  stages: {Production: prod}
profiles:
  prod:
    require: [intake_complete, source_allowed, hash_match, scan_passed, approval]
    approvals: {min: 1, approvers: [user:ml-lead], separation_of_duties: true}
artifact_classes:
  base_model: {required: [owner, source_sha256]}
sources:
  allow: ["s3://corp-models/"]
"""
BREAKS_ALL = POLICY.replace("[owner, source_sha256]", "[owner, source_sha256, license.id]")
BREAKS_NONE = POLICY.replace("[user:ml-lead]", "[user:ml-lead, user:bob]")
FILE_SHA = "c" * 64
INTAKE = {"artifact_class": "base_model", "owner": "ml@example.com", "source_sha256": FILE_SHA}


def fill(data: Path, models: int, versions: int) -> None:
    from mlflow.store.model_registry.dbmodels.models import (
        SqlModelVersion,
        SqlModelVersionTag,
        SqlRegisteredModel,
        SqlRegisteredModelAlias,
    )
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    policy = parse_policy(POLICY)
    key = attest.load_private_key(data / "attestation-signing.key")
    uri = f"sqlite:///{data / 'mlflow.db'}"
    store = SqlAlchemyStore(uri)  # creates MLflow's tables; rows go in with bulk inserts
    rows: list[object] = []
    now = int(time.time() * 1000)
    for m in range(models):
        name = f"model-{m:05d}"
        rows.append(SqlRegisteredModel(name=name, creation_time=now, last_updated_time=now))
        for v in range(1, versions + 1):
            source = f"s3://corp-models/{name}/{v}"
            rows.append(SqlModelVersion(name=name, version=v, creation_time=now + v,
                                        last_updated_time=now, source=source,
                                        storage_location=source, status="READY",
                                        current_stage="None"))
            tags = {**{f"supplychain.intake.{k}": val for k, val in INTAKE.items()},
                    "supplychain." + VERSION_UID_SUFFIX: new_uid()}
            rows.extend(SqlModelVersionTag(name=name, version=v, key=k, value=val)
                        for k, val in tags.items())
        rows.append(SqlRegisteredModelAlias(name=name, alias="production", version=versions))
    with store.ManagedSessionMaker() as session:
        session.add_all(rows)
    engine = db.create_engine(uri)
    db.upgrade(engine)
    with store.ManagedSessionMaker() as session:  # read first: SQLite has one writer
        identities = []
        for m in range(models):
            record = facts.read_version(store, session, f"model-{m:05d}", versions)
            assert record is not None
            identities.append(record.identity("supplychain."))
    request_ids = []
    with engine.begin() as conn:
        for m, identity in enumerate(identities):
            payload = attest.AttestationPayload(
                model_name=identity.name, version=identity.version, identity=identity,
                artifact_digest="sha256:" + "a" * 64, files={"model.safetensors": FILE_SHA},
                verdict="permitted", formats={"model.safetensors": "safetensors"},
                scanner_version="bench", format_policy_digest=policy.format_digest,
                scanned_at=attest.now_iso(), key_id=attest.key_id(key.public_key()))
            attestations.store(conn, scan_envelope.submission(payload, key),
                               policy_digest=policy.digest, actor="bench")
            digest = evidence_digest(INTAKE, payload.artifact_digest, identity.digest())
            request_ids.append(workflow.create_request(
                conn, identity=identity, target="production", requester="alice", comment=None,
                evidence_digest=digest, policy_digest=policy.digest, now_ms=m).id)
    rule = ApprovalRule(approvers=("user:ml-lead",))
    for n, request_id in enumerate(request_ids):
        workflow.approve(engine, request_id, approver="ml-lead", groups=(), comment=None,
                         rule=rule, creator="alice",
                         current_evidence_digest=workflow_digest(engine, request_id),
                         policy_digest=policy.digest, now_ms=n)
    engine.dispose()


def workflow_digest(engine: object, request_id: int) -> str:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return workflow.get_request(conn, request_id).evidence_digest


def impact(url: str, text: str) -> dict[str, object]:
    response = requests.post(f"{url}/api/2.0/mlflow-supplychain/policy/impact",
                             json={"policy": text}, timeout=600)
    assert response.status_code == 200, response.text[:500]
    return dict(response.json())


def _collect(into: list[dict[str, object]], url: str, text: str) -> None:
    into.append(impact(url, text))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        attest.generate_key_pair(data / "attestation-signing.key",
                                 data / "attestation-signing.pub")  # the server keeps the pair
        policy_path = Path(tmp) / "policy.yaml"
        policy_path.write_text(POLICY)
        start = time.perf_counter()
        fill(data, args.models, args.versions)
        total = args.models * args.versions
        print(f"filled {total} versions ({args.models} promoted, each attested and approved) "
              f"in {time.perf_counter() - start:.0f} s")
        with run_server(policy_path, data) as server:
            for label, text in (("breaks every promoted version", BREAKS_ALL),
                                ("breaks none (approver added)", BREAKS_NONE)):
                reports: list[dict[str, object]] = []
                seconds = best(functools.partial(_collect, reports, server.url, text),
                               runs=args.rounds)
                report = reports[-1]
                summary = report["summary"]
                print(f"impact, {label:32s} {seconds:6.2f} s (best of {args.rounds}; server "
                      f"side {report['seconds']} s) {summary}")


if __name__ == "__main__":
    main()
