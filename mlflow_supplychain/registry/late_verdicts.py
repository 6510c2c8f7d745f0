"""Late verdicts: a scan attestation accepted for a version that already holds a protected target.

One rule, the gate's: a protected alias or stage may only be held by a version the gate allows
*now*. The gate applies it when a version is promoted; this module applies it when new scan
evidence arrives afterwards (a rescan under a new scanner, a verdict that lands after a fast
promotion, a manifest of other bytes): before the attestation is stored, each protected target
the version holds is re-evaluated by the gate *with the new attestation* (re-hash included when
the policy re-verifies); in enforce mode every target that no longer passes is taken back in the
same transaction that stores the attestation: the alias is deleted, the stage moved back to
``None``, each with a ``promotion.compensate`` audit record naming the violations. In audit mode
nothing moves; the record says so. The sidecar's alias check (``sidecar/jobs.check_aliases``)
uses the same gate decision for servers where this plugin cannot act (compensation there is
opt-in).

Planning reads only (and may re-hash, outside any transaction); applying writes only rows that
still match (the alias still points at the version, the version is still in the stage), so a
concurrent move is never undone. A promotion racing with an attestation is serialised on the
version row (:func:`lock_version`): the promotion re-checks, before it commits, that the
attestation it was judged on is still the newest (:func:`still_current`, else HTTP 409, retry);
the attestation, after its row is written, judges targets the version came to hold since it
planned.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ABORTED
from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlRegisteredModelAlias
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mlflow_supplychain.governance import attestations, audit
from mlflow_supplychain.integrity.attest import AttestationPayload
from mlflow_supplychain.integrity.attestation_formats import Submission
from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.policy.evidence import Target, TargetKind
from mlflow_supplychain.policy.schema import Policy
from mlflow_supplychain.registry import evidence_reader as facts

_logger = logging.getLogger(__name__)

COMPENSATED_STAGE = "None"
"""Where a version is moved when it may no longer hold a protected stage."""


@dataclass(frozen=True)
class Failing:
    """A protected target the version holds, and the gate's (denying) decision for it."""

    target: Target
    decision: Decision


@dataclass(frozen=True)
class Plan:
    """What to take back from one version when its new attestation is stored."""

    name: str
    version: str
    workspace: str | None
    judged: frozenset[str]
    """Every protected target judged (``str(Target)``), passing or not."""
    failing: tuple[Failing, ...]
    submission: Submission

    @property
    def payload(self) -> AttestationPayload:
        return self.submission.payload


def held_targets(store: Any, session: Any, policy: Policy,
                 record: facts.VersionRecord) -> list[Target]:
    """The protected aliases (as stored) and the protected stage ``record`` holds now."""
    aliases = facts.protected_alias_versions(store, session, record.name,
                                             list(policy.protected.aliases))
    held = [Target(kind=TargetKind.ALIAS, name=alias) for alias, number in sorted(aliases.items())
            if str(number) == record.version]
    if policy.profile_for_stage(record.stage) is not None:
        held.append(Target(kind=TargetKind.STAGE, name=record.stage))
    return held


def plan(store: Any, submission: Submission, key: Ed25519PublicKey | None) -> Plan | None:
    """Judge every protected target the version holds on ``payload``; None when the
    attestation will be refused anyway (no key, another policy, a bad signature: that must not
    cost a re-hash) or the version does not exist or is a prompt.
    """
    gate = store.gate
    policy: Policy = gate.holder.policy
    payload = submission.payload
    if (key is None or not attestations.binds_current_policy(payload, policy)
            or not attestations.verifies(submission, key)):
        return None
    with store.ManagedSessionMaker() as session:
        record = facts.read_version(store, session, payload.model_name, int(payload.version))
        if record is None or record.is_prompt:
            return None
        targets = held_targets(store, session, policy, record)
    failing = _judge(store, record, targets, submission)
    return Plan(record.name, record.version, record.workspace,
                frozenset(str(t) for t in targets), tuple(failing), submission)


def _judge(store: Any, record: facts.VersionRecord, targets: list[Target],
           submission: Submission) -> list[Failing]:
    failing: list[Failing] = []
    payload = submission.payload
    with attestations.pending(submission):
        for target in targets:
            decision = store.gate.assess(store, record.name, record.version, target)[0]
            if not decision.allowed:
                failing.append(Failing(target, decision))
            elif payload.verdict in ("prohibited", "error"):  # allowed: the profile ignores scans
                _logger.warning("late verdict %r for models:/%s/%s, which holds %s: left in "
                                "place, its profile does not require scan_passed",
                                payload.verdict, record.name, record.version, target)
    return failing


def lock_version(conn: Connection, name: str, version: str) -> None:
    """Lock the version's row until the transaction ends (PostgreSQL, MySQL: ``FOR UPDATE``;
    SQLite serialises writers by itself). A promotion and an attestation of the same version
    take this lock, so neither commits on evidence the other is changing."""
    versions = SqlModelVersion.__table__
    conn.execute(select(versions.c.version).where(
        versions.c.name == name, versions.c.version == int(version)).with_for_update())


def _superseded(conn: Connection, seen: dict[str, int]) -> bool:
    """Whether any version judged (by identity digest) got a newer attestation since."""
    return any(attestations.latest_id(conn, digest) != seen_id for digest, seen_id in seen.items())


def still_current(session: Any, name: str, version: int, seen: dict[str, int]) -> None:
    """Refuse a promotion, before it commits, when a newer attestation of the version was
    stored after the gate judged it (its late-verdict check could not see this promotion).

    Raises:
        MlflowException: ABORTED (HTTP 409): retry the promotion.
    """
    if not seen:  # the profile needs no scan evidence
        return
    conn = session.connection()
    lock_version(conn, name, str(version))
    session.flush()  # SQLite: takes the write lock, so no attestation can commit after this
    if _superseded(conn, seen):
        raise MlflowException(
            f"A new scan attestation of models:/{name}/{version} arrived while the promotion "
            "was being evaluated; retry it (it will be judged on the new verdict).", ABORTED)


def stage_still_current(store: Any, name: str, version: int, stage: str,
                        seen: dict[str, int]) -> None:
    """After a protected stage transition (MLflow writes it in its own transaction, so it
    cannot re-check before committing): when a newer attestation of the version was stored
    after the gate judged it, move the version back out of ``stage`` (if it is still there),
    audit it, and refuse.

    Raises:
        MlflowException: ABORTED (HTTP 409): retry the transition.
    """
    if not seen:
        return
    versions = SqlModelVersion.__table__
    with store.engine.begin() as conn:
        lock_version(conn, name, str(version))
        if not _superseded(conn, seen):
            return
        now = int(time.time() * 1000)
        moved = conn.execute(update(versions).where(
            versions.c.name == name, versions.c.version == version,
            versions.c.current_stage == stage,
        ).values(current_stage=COMPENSATED_STAGE, last_updated_time=now)).rowcount == 1
        audit.append(conn, actor="system", action="promotion.compensate",
                     subject=f"models:/{name}/{version} -> stage:{stage}",
                     payload={"target": f"stage:{stage}", "taken_back": moved,
                              "enforced": True, "violations": ["scan.superseded"],
                              "attestation_ids": sorted(seen.values())},
                     policy_digest=store.gate.holder.policy.digest, ts_ms=now)
    raise MlflowException(
        f"A new scan attestation of models:/{name}/{version} arrived while the transition to "
        f"{stage!r} was being evaluated; the version was moved back to {COMPENSATED_STAGE!r}. "
        "Retry it (it will be judged on the new verdict).", ABORTED)


def apply(conn: Connection, store: Any, late: Plan, *, attestation_id: int) -> list[str]:
    """In the caller's transaction (after the attestation row is written, version row locked):
    judge targets the version came to hold since :func:`plan`, then take back (enforce mode)
    and audit every failing target; return the targets actually taken back."""
    policy: Policy = store.gate.holder.policy
    with Session(bind=conn) as session:
        record = facts.read_version(store, session, late.name, int(late.version))
        held = held_targets(store, session, policy, record) if record is not None else []
    failing = list(late.failing)
    newcomers = [t for t in held if str(t) not in late.judged]
    if record is not None and newcomers:
        failing += _judge(store, record, newcomers, late.submission)
    aliases = SqlRegisteredModelAlias.__table__
    versions = SqlModelVersion.__table__
    now = int(time.time() * 1000)
    taken: list[str] = []
    for item in failing:
        target, decision = item.target, item.decision
        removed = False
        if decision.enforced:
            if target.kind is TargetKind.ALIAS:
                statement: Any = delete(aliases).where(
                    aliases.c.name == late.name, aliases.c.alias == target.name,
                    aliases.c.version == int(late.version))
                if "workspace" in aliases.c and late.workspace is not None:
                    statement = statement.where(aliases.c.workspace == late.workspace)
            else:
                statement = update(versions).where(
                    versions.c.name == late.name, versions.c.version == int(late.version),
                    versions.c.current_stage == target.name,
                ).values(current_stage=COMPENSATED_STAGE, last_updated_time=now)
                if "workspace" in versions.c and late.workspace is not None:
                    statement = statement.where(versions.c.workspace == late.workspace)
            removed = conn.execute(statement).rowcount == 1
        codes = [v.code for v in decision.violations]
        audit.append(conn, actor="system", action="promotion.compensate",
                     subject=f"models:/{late.name}/{late.version} -> {target}",
                     payload={"target": str(target), "taken_back": removed,
                              "enforced": decision.enforced, "violations": codes,
                              "attestation_id": attestation_id,
                              "evidence_digest": decision.evidence_digest},
                     policy_digest=decision.policy_digest, ts_ms=now)
        if removed:
            taken.append(str(target))
            _logger.warning("late verdict: took %s back from models:/%s/%s (%s)", target,
                            late.name, late.version, ", ".join(codes))
        else:
            _logger.warning("late verdict: models:/%s/%s holds %s but no longer passes (%s); "
                            "%s", late.name, late.version, target, ", ".join(codes),
                            "audit mode, left in place" if not decision.enforced
                            else "it moved meanwhile")
    return taken
