"""Transition requests and approvals, stored in our own tables.

Every operation runs inside the caller's transaction and appends its audit record there, so
state and audit commit together. The request row is locked (``FOR UPDATE`` on PostgreSQL;
SQLite serialises writers) before it changes, so concurrent approvals cannot race a request
past its rules.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from mlflow_supplychain.errors import (
    ApprovalRefused,
    Problem,
    RequestConflict,
    RequestNotFound,
)
from mlflow_supplychain.governance import audit
from mlflow_supplychain.governance.tables import approvals, transition_requests
from mlflow_supplychain.policy.approvals import approver_problem, principals
from mlflow_supplychain.policy.evidence import Approval
from mlflow_supplychain.policy.schema import ApprovalRule
from mlflow_supplychain.version_identity import DEFAULT_WORKSPACE, VersionIdentity


class RequestStatus(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    APPLIED = "applied"
    STALE = "stale"


OPEN = (RequestStatus.PENDING, RequestStatus.APPROVED)
COUNTING = (RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.APPLIED)


@dataclass(frozen=True)
class ApprovalRecord:
    approver: str
    approver_groups: tuple[str, ...]
    evidence_digest: str
    comment: str | None
    created_at: int
    envelope: str | None = None
    """The registry-signed DSSE envelope of the approval statement (None: recorded before
    approvals were signed, or the server had no registry key)."""

    def envelope_json(self) -> object:
        """The envelope as JSON (None when there is none or the stored text is damaged)."""
        if self.envelope is None:
            return None
        try:
            return json.loads(self.envelope)
        except ValueError:
            return None


ApprovalSealer = Callable[["TransitionRequest", str, Sequence[str], int], "str | None"]
"""``(request, approver, groups, now_ms) -> envelope text``: signs the approval statement
while the approval is recorded (``server.request_actions`` builds it with the registry key)."""


@dataclass(frozen=True)
class TransitionRequest:
    id: int
    model_name: str
    version: str
    target: str
    requester: str
    comment: str | None
    status: RequestStatus
    evidence_digest: str
    policy_digest: str
    created_at: int
    updated_at: int
    resolved_by: str | None
    resolution_comment: str | None
    approvals: tuple[ApprovalRecord, ...] = ()
    workspace: str | None = None
    identity_digest: str | None = None
    """The identity of the version the request is for; None for rows from before identities
    existed (never evidence)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "model_name": self.model_name, "version": self.version,
            "target": self.target, "requester": self.requester, "comment": self.comment,
            "status": self.status.value, "evidence_digest": self.evidence_digest,
            "policy_digest": self.policy_digest, "created_at": self.created_at,
            "updated_at": self.updated_at, "resolved_by": self.resolved_by,
            "resolution_comment": self.resolution_comment,
            "workspace": self.workspace, "identity_digest": self.identity_digest,
            "approvals": [{"approver": a.approver, "approver_groups": list(a.approver_groups),
                           "evidence_digest": a.evidence_digest, "comment": a.comment,
                           "created_at": a.created_at, "envelope": a.envelope_json()}
                          for a in self.approvals],
        }


def _subject(model_name: str, version: str, target: str) -> str:
    return f"models:/{model_name}/{version} -> {target}"


def create_request(conn: Connection, *, identity: VersionIdentity, target: str,
                   requester: str, comment: str | None, evidence_digest: str,
                   policy_digest: str, now_ms: int) -> TransitionRequest:
    """Open a request to promote the version with ``identity`` to a target.

    Raises:
        RequestConflict: an open request for the same version and target exists.
    """
    model_name, version = identity.name, identity.version
    identity_digest = identity.digest()
    existing = conn.execute(
        select(transition_requests.c.id).where(
            transition_requests.c.identity_digest == identity_digest,
            transition_requests.c.target == target,
            transition_requests.c.status.in_([s.value for s in OPEN]),
        ).with_for_update()
    ).first()
    if existing is not None:
        raise RequestConflict("A request for this promotion is already open", [Problem(
            f"request {existing.id}", f"{_subject(model_name, version, target)} is open",
            f"approve, reject or cancel request {existing.id} first")])
    result = conn.execute(transition_requests.insert().values(
        model_name=model_name, version=version, target=target, requester=requester,
        comment=comment, status=RequestStatus.PENDING.value, evidence_digest=evidence_digest,
        policy_digest=policy_digest, created_at=now_ms, updated_at=now_ms,
        workspace=identity.workspace, identity_digest=identity_digest))
    request_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    audit.append(conn, actor=requester, action="request.create",
                 subject=_subject(model_name, version, target),
                 payload={"request_id": request_id, "comment": comment,
                          "evidence_digest": evidence_digest, "identity": identity_digest,
                          "workspace": identity.workspace},
                 policy_digest=policy_digest, ts_ms=now_ms)
    return get_request(conn, request_id)


def get_request(conn: Connection, request_id: int, *, lock: bool = False) -> TransitionRequest:
    """Load one request with its approvals.

    Raises:
        RequestNotFound: no request has that id.
    """
    query = select(transition_requests).where(transition_requests.c.id == request_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise RequestNotFound(f"Transition request {request_id} does not exist", [Problem(
            f"request {request_id}", "not found", "list requests with 'request list'")])
    return _with_approvals(conn, row)


def _with_approvals(conn: Connection, row: Row[tuple[object, ...]]) -> TransitionRequest:
    rows = conn.execute(select(approvals).where(approvals.c.request_id == row.id)
                        .order_by(approvals.c.id)).all()
    m = row._mapping
    return TransitionRequest(
        id=int(m["id"]), model_name=m["model_name"], version=m["version"], target=m["target"],
        requester=m["requester"], comment=m["comment"], status=RequestStatus(m["status"]),
        evidence_digest=m["evidence_digest"], policy_digest=m["policy_digest"],
        created_at=int(m["created_at"]), updated_at=int(m["updated_at"]),
        resolved_by=m["resolved_by"], resolution_comment=m["resolution_comment"],
        workspace=m["workspace"], identity_digest=m["identity_digest"],
        approvals=tuple(ApprovalRecord(a.approver, tuple(json.loads(a.approver_groups)),
                                       a.evidence_digest, a.comment, int(a.created_at),
                                       a.envelope)
                        for a in rows))


def _set_status(conn: Connection, req: TransitionRequest, status: RequestStatus, *,
                actor: str | None, comment: str | None, now_ms: int) -> None:
    conn.execute(update(transition_requests).where(transition_requests.c.id == req.id).values(
        status=status.value, updated_at=now_ms, resolved_by=actor, resolution_comment=comment))


def _resolve(conn: Connection, req: TransitionRequest, status: RequestStatus, *, action: str,
             actor: str, comment: str | None, payload: dict[str, object], policy_digest: str,
             now_ms: int) -> TransitionRequest:
    """Move ``req`` to ``status`` and append its audit record in the same transaction.

    Returns the request as it now stands.
    """
    _set_status(conn, req, status, actor=actor, comment=comment, now_ms=now_ms)
    audit.append(conn, actor=actor, action=action,
                 subject=_subject(req.model_name, req.version, req.target),
                 payload=payload, policy_digest=policy_digest, ts_ms=now_ms)
    return get_request(conn, req.id)


def _require_open(req: TransitionRequest, operation: str) -> None:
    if req.status not in OPEN:
        raise RequestConflict(f"Cannot {operation} request {req.id}", [Problem(
            f"request {req.id}", f"is {req.status.value}",
            "create a new request for this promotion")])


def approve(engine: Engine, request_id: int, *, approver: str, groups: Sequence[str],
            comment: str | None, rule: ApprovalRule, creator: str | None,
            current_evidence_digest: str, policy_digest: str, now_ms: int,
            sealer: ApprovalSealer | None = None) -> TransitionRequest:
    """Record ``approver``'s approval in its own transaction; the request becomes approved once
    ``rule.min`` distinct approvers agree. ``sealer`` signs the approval statement, stored
    with the approval.

    A refusal is committed too (its audit record, and the stale status when the evidence
    changed) before it is raised: refused attempts are part of the audit trail.

    Raises:
        RequestNotFound, RequestConflict: no such request, or it is not open.
        ApprovalRefused: the approver is not authorised, is the requester or creator, already
            approved, or the evidence changed since the request (the request becomes stale).
    """
    refusal: ApprovalRefused | None = None
    with engine.begin() as conn:
        try:
            return _approve(conn, request_id, approver=approver, groups=groups, comment=comment,
                            rule=rule, creator=creator,
                            current_evidence_digest=current_evidence_digest,
                            policy_digest=policy_digest, now_ms=now_ms, sealer=sealer)
        except _Refused as refused:
            refusal = refused.error
    raise refusal


class _Refused(Exception):
    """Carries a refusal out of the transaction body without rolling back its audit record."""

    def __init__(self, error: ApprovalRefused) -> None:
        super().__init__(str(error))
        self.error = error


def _approve(conn: Connection, request_id: int, *, approver: str, groups: Sequence[str],
             comment: str | None, rule: ApprovalRule, creator: str | None,
             current_evidence_digest: str, policy_digest: str, now_ms: int,
             sealer: ApprovalSealer | None) -> TransitionRequest:
    req = get_request(conn, request_id, lock=True)
    _require_open(req, "approve")
    subject = _subject(req.model_name, req.version, req.target)
    if current_evidence_digest != req.evidence_digest:
        _set_status(conn, req, RequestStatus.STALE, actor=approver,
                    comment="evidence changed since the request", now_ms=now_ms)
        audit.append(conn, actor=approver, action="request.stale", subject=subject,
                     payload={"request_id": req.id, "was": req.evidence_digest,
                              "now": current_evidence_digest},
                     policy_digest=policy_digest, ts_ms=now_ms)
        raise _Refused(ApprovalRefused(f"Request {req.id} is stale", [Problem(
            f"request {req.id}", "the version's evidence (intake tags, artifacts or policy) "
            "changed after the request was made", "create a new request and approve that")]))
    problem = approver_problem(rule, approver, groups, req.requester, creator)
    if problem is not None:
        audit.append(conn, actor=approver, action="request.approve_refused", subject=subject,
                     payload={"request_id": req.id, "reason": problem},
                     policy_digest=policy_digest, ts_ms=now_ms)
        raise _Refused(ApprovalRefused(f"Approval of request {req.id} refused",
                                       [Problem(f"request {req.id}", problem,
                                                f"ask one of {', '.join(rule.approvers)}")]))
    envelope = sealer(req, approver, groups, now_ms) if sealer is not None else None
    try:
        with conn.begin_nested():
            conn.execute(approvals.insert().values(
                request_id=req.id, approver=approver, approver_groups=json.dumps(sorted(groups)),
                evidence_digest=req.evidence_digest, comment=comment, created_at=now_ms,
                envelope=envelope))
    except IntegrityError:
        raise ApprovalRefused(f"Approval of request {req.id} refused", [Problem(
            f"request {req.id}", f"{approver} already approved it",
            "another approver must approve")]) from None
    count = conn.execute(select(func.count()).select_from(approvals)
                         .where(approvals.c.request_id == req.id)).scalar_one()
    if count >= rule.min:
        _set_status(conn, req, RequestStatus.APPROVED, actor=approver, comment=comment,
                    now_ms=now_ms)
    audit.append(conn, actor=approver, action="request.approve", subject=subject,
                 payload={"request_id": req.id, "approvals": count, "min": rule.min,
                          "groups": sorted(groups), "comment": comment,
                          "envelope_sha256": (None if envelope is None else
                                              hashlib.sha256(envelope.encode()).hexdigest())},
                 policy_digest=policy_digest, ts_ms=now_ms)
    return get_request(conn, req.id)


def reject(conn: Connection, request_id: int, *, actor: str, groups: Sequence[str],
           comment: str | None, rule: ApprovalRule | None, policy_digest: str,
           now_ms: int) -> TransitionRequest:
    """Reject an open request; only an authorised approver may.

    Raises:
        RequestNotFound, RequestConflict, ApprovalRefused.
    """
    req = get_request(conn, request_id, lock=True)
    _require_open(req, "reject")
    if rule is None or not principals(actor, groups) & set(rule.approvers):
        raise ApprovalRefused(f"Rejection of request {req.id} refused", [Problem(
            f"request {req.id}", f"{actor} is not an authorised approver for {req.target}",
            "ask an approver, or cancel it if you requested it")])
    return _resolve(conn, req, RequestStatus.REJECTED, action="request.reject", actor=actor,
                    comment=comment, payload={"request_id": req.id, "comment": comment},
                    policy_digest=policy_digest, now_ms=now_ms)


def cancel(conn: Connection, request_id: int, *, actor: str, comment: str | None,
           policy_digest: str, now_ms: int) -> TransitionRequest:
    """Cancel an open request; only its requester may.

    Raises:
        RequestNotFound, RequestConflict, ApprovalRefused.
    """
    req = get_request(conn, request_id, lock=True)
    _require_open(req, "cancel")
    if actor != req.requester:
        raise ApprovalRefused(f"Cancellation of request {req.id} refused", [Problem(
            f"request {req.id}", f"only its requester ({req.requester}) can cancel it",
            "ask the requester, or reject it if you are an approver")])
    return _resolve(conn, req, RequestStatus.CANCELLED, action="request.cancel", actor=actor,
                    comment=comment, payload={"request_id": req.id, "comment": comment},
                    policy_digest=policy_digest, now_ms=now_ms)


def mark_applied(conn: Connection, request_id: int, *, actor: str, policy_digest: str,
                 now_ms: int) -> TransitionRequest:
    """Record that an approved request's promotion happened.

    Raises:
        RequestNotFound, RequestConflict: the request is not approved.
    """
    req = get_request(conn, request_id, lock=True)
    if req.status is not RequestStatus.APPROVED:
        raise RequestConflict(f"Cannot apply request {req.id}", [Problem(
            f"request {req.id}", f"is {req.status.value}, not approved",
            "get the required approvals first")])
    return _resolve(conn, req, RequestStatus.APPLIED, action="request.apply", actor=actor,
                    comment=None, payload={"request_id": req.id},
                    policy_digest=policy_digest, now_ms=now_ms)


def list_requests(conn: Connection, *, model_name: str | None = None, version: str | None = None,
                  status: RequestStatus | None = None, max_results: int = 100,
                  page_token: int | None = None, workspace: str | None = None,
                  identity_digest: str | None = None
                  ) -> tuple[list[TransitionRequest], int | None]:
    """Requests newest first, filtered; keyset-paginated by id (token: last id seen).

    ``workspace`` limits the list to one workspace's requests (rows from before workspaces
    were recorded count as the default workspace's)."""
    limit = max(1, min(max_results, 1000))
    query = select(transition_requests)
    if workspace is not None:
        in_workspace = transition_requests.c.workspace == workspace
        if workspace == DEFAULT_WORKSPACE:
            in_workspace = in_workspace | transition_requests.c.workspace.is_(None)
        query = query.where(in_workspace)
    if identity_digest is not None:
        query = query.where(transition_requests.c.identity_digest == identity_digest)
    if model_name is not None:
        query = query.where(transition_requests.c.model_name == model_name)
    if version is not None:
        query = query.where(transition_requests.c.version == version)
    if status is not None:
        query = query.where(transition_requests.c.status == status.value)
    if page_token is not None:
        query = query.where(transition_requests.c.id < page_token)
    rows = conn.execute(query.order_by(transition_requests.c.id.desc()).limit(limit + 1)).all()
    items = [_with_approvals(conn, r) for r in rows[:limit]]
    token = items[-1].id if len(rows) > limit else None
    return items, token


def approvals_for_version(conn: Connection, identity_digest: str) -> tuple[Approval, ...]:
    """Approvals of every live request for the version with this identity, as engine evidence
    (one query). Never by name and number: another version answering to them finds nothing."""
    rows = conn.execute(
        select(approvals.c.approver, approvals.c.approver_groups, approvals.c.evidence_digest,
               transition_requests.c.requester, transition_requests.c.target,
               transition_requests.c.policy_digest)
        .join(transition_requests, approvals.c.request_id == transition_requests.c.id)
        .where(transition_requests.c.identity_digest == identity_digest,
               transition_requests.c.status.in_([s.value for s in COUNTING]))
    ).all()
    return tuple(Approval(approver=r.approver, approver_groups=tuple(json.loads(r.approver_groups)),
                          requester=r.requester, target=r.target,
                          evidence_digest=r.evidence_digest, policy_digest=r.policy_digest)
                 for r in rows)


# Built once: asked on every protected promotion (most have no request to apply).
_APPROVED_MATCHING = select(transition_requests.c.id).where(
    transition_requests.c.identity_digest == bindparam("identity_digest"),
    transition_requests.c.target == bindparam("target"),
    transition_requests.c.status == RequestStatus.APPROVED.value,
).with_for_update()  # a concurrent promotion may be applying the same request


def approved_matching(conn: Connection, *, identity_digest: str, target: str) -> list[int]:
    """The approved requests for this exact promotion (same version identity and target),
    locked."""
    rows = conn.execute(_APPROVED_MATCHING,
                        {"identity_digest": identity_digest, "target": target}).all()
    return [int(row.id) for row in rows]


def apply_ids(conn: Connection, ids: list[int], *, actor: str, policy_digest: str,
              now_ms: int) -> None:
    """Mark the approved requests ``ids`` applied (their promotion just happened).

    Raises:
        RequestNotFound, RequestConflict: one of them is no longer approved.
    """
    for request_id in ids:
        mark_applied(conn, request_id, actor=actor, policy_digest=policy_digest, now_ms=now_ms)


def invalidate_open(conn: Connection, *, workspace: str, model_name: str, version: str | None,
                    actor: str, reason: str, now_ms: int) -> list[int]:
    """Mark the open requests of a renamed or deleted model (or one deleted version) stale.

    They could never be applied anyway (their identity is gone); this says so in the list and
    on the page. Returns the ids marked stale.
    """
    in_workspace = transition_requests.c.workspace == workspace
    if workspace == DEFAULT_WORKSPACE:
        in_workspace = in_workspace | transition_requests.c.workspace.is_(None)
    query = select(transition_requests.c.id).where(
        in_workspace, transition_requests.c.model_name == model_name,
        transition_requests.c.status.in_([s.value for s in OPEN]))
    if version is not None:
        query = query.where(transition_requests.c.version == version)
    ids = [int(r.id) for r in conn.execute(query.with_for_update()).all()]
    if ids:
        conn.execute(update(transition_requests).where(transition_requests.c.id.in_(ids)).values(
            status=RequestStatus.STALE.value, updated_at=now_ms, resolved_by=actor,
            resolution_comment=reason))
    return ids
