"""Evaluate a proposed policy against the live registry, without applying it.

Gathers every version that holds a protected alias or stage (protected under the current or
the proposed policy) and every open transition request, reads each version's evidence once
(the same providers as the gate, through read-only queries: nothing is written, no artifact is
downloaded), and evaluates it under both policies. The comparison itself is pure
(``policy.impact``). Cost: one query per kind of holder, then a handful of indexed queries per
promoted version; versions that hold nothing are never read.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy
from mlflow.entities.model_registry.model_version_stages import STAGE_DELETED_INTERNAL
from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlRegisteredModelAlias
from sqlalchemy import select

from mlflow_supplychain.governance.requests import OPEN
from mlflow_supplychain.governance.tables import transition_requests
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import Evidence, Target, TargetKind
from mlflow_supplychain.policy.impact import (
    Holding,
    ImpactReport,
    ImpactRow,
    Outcome,
    build_report,
    classify,
    for_impact,
)
from mlflow_supplychain.policy.schema import Policy, Requirement
from mlflow_supplychain.registry import evidence_reader as facts
from mlflow_supplychain.registry.evidence_reader import EvidenceReader
from mlflow_supplychain.version_identity import DEFAULT_WORKSPACE

_Holder = tuple[str, str, Target, Holding, "int | None"]


def _profile(policy: Policy, target: Target) -> str | None:
    if target.kind is TargetKind.ALIAS:
        found = policy.profile_for_alias(target.name)
        if found is None:  # aliases are guarded case-insensitively, like the gate
            lowered = target.name.lower()
            found = next((p for a, p in policy.protected.aliases.items()
                          if a.lower() == lowered), None)
        return found
    return policy.profile_for_stage(target.name)


def _requirements(policies: tuple[Policy, ...], target: Target) -> set[Requirement]:
    needed: set[Requirement] = set()
    for policy in policies:
        name = _profile(policy, target)
        if name is not None:
            needed.update(policy.profiles[name].require)
    return needed


def _holders(store: Any, session: Any, engine: Any, aliases: set[str],
             stages: set[str]) -> list[_Holder]:
    found: list[_Holder] = []
    if aliases:
        rows = (facts.query_in_workspace(store, session, SqlRegisteredModelAlias)
                .filter(sqlalchemy.func.lower(SqlRegisteredModelAlias.alias).in_(
                    sorted(a.lower() for a in aliases)))
                .with_entities(SqlRegisteredModelAlias.name, SqlRegisteredModelAlias.alias,
                               SqlRegisteredModelAlias.version).all())
        found += [(str(n), str(v), Target(kind=TargetKind.ALIAS, name=str(a)), Holding.ALIAS,
                   None) for n, a, v in rows]
    if stages:
        rows = (facts.query_in_workspace(store, session, SqlModelVersion)
                .filter(SqlModelVersion.current_stage.in_(sorted(stages)),
                        SqlModelVersion.current_stage != STAGE_DELETED_INTERNAL)
                .with_entities(SqlModelVersion.name, SqlModelVersion.version,
                               SqlModelVersion.current_stage).all())
        found += [(str(n), str(v), Target(kind=TargetKind.STAGE, name=str(s)), Holding.STAGE,
                   None) for n, v, s in rows]
    workspace = str(getattr(store, "_get_active_workspace", lambda: DEFAULT_WORKSPACE)())
    in_workspace = transition_requests.c.workspace == workspace
    if workspace == DEFAULT_WORKSPACE:
        in_workspace = in_workspace | transition_requests.c.workspace.is_(None)
    with engine.connect() as conn:
        requests = conn.execute(
            select(transition_requests.c.id, transition_requests.c.model_name,
                   transition_requests.c.version, transition_requests.c.target)
            .where(in_workspace, transition_requests.c.status.in_([s.value for s in OPEN]))
        ).all()
    found += [(str(r.model_name), str(r.version), Target.parse(str(r.target)), Holding.REQUEST,
               int(r.id)) for r in requests]
    return found


def assess_impact(store: Any, reader: EvidenceReader, current: Policy,
                  proposed: Policy) -> ImpactReport:
    """Evaluate ``proposed`` (and ``current``, on the same evidence) for every promoted version
    and open request in the caller's workspace.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed (the route reports it).
    """
    cur, new = for_impact(current), for_impact(proposed)
    aliases = set(cur.protected.aliases) | set(new.protected.aliases)
    stages = set(cur.protected.stages) | set(new.protected.stages)
    rows: list[ImpactRow] = []
    notes: list[str] = []
    seen: set[tuple[str, str, str, Holding]] = set()
    same_prefix = cur.reserved_tag_prefix == new.reserved_tag_prefix
    with store.ManagedSessionMaker() as session:
        holders = _holders(store, session, store.engine, aliases, stages)
        records: dict[tuple[str, str], Any] = {}
        evidence: dict[tuple[str, str, tuple[Requirement, ...]], tuple[Evidence, Evidence]] = {}
        for name, version, target, holding, request_id in holders:
            key = (name, version, str(target), holding)
            if key in seen:
                continue
            seen.add(key)
            if (name, version) not in records:
                records[(name, version)] = facts.read_version(store, session, name, int(version))
            record = records[(name, version)]
            if record is None or record.is_prompt:
                if record is None and holding is Holding.REQUEST:
                    notes.append(f"request {request_id}: models:/{name}/{version} no longer "
                                 "exists")
                continue
            needed = tuple(sorted(_requirements((cur, new), target), key=lambda r: r.value))
            cache_key = (name, version, needed)
            if cache_key not in evidence:  # an alias and its request: one read
                now = reader.evidence(record, cur, needed)
                evidence[cache_key] = (now, now if same_prefix
                                       else reader.evidence(record, new, needed))
            evidence_now, evidence_new = evidence[cache_key]
            before = Outcome.of(evaluate(cur, evidence_now, target))
            after = Outcome.of(evaluate(new, evidence_new, target))
            rows.append(ImpactRow(model_name=name, version=version, target=str(target),
                                  holding=holding, request_id=request_id, current=before,
                                  proposed=after, change=classify(before, after)))
        session.rollback()  # read-only: nothing to keep
    return build_report(current, proposed, rows, notes)
