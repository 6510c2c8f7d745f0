"""Approve, reject and apply transition requests: the steps the REST endpoints
(``request_routes``) and the governance page (``pages``) share.

Both adapters resolve the caller and parse their input their own way, then call these, so the
rules (authorised approvers, separation of duties, stale evidence) live in one place:
``governance.requests``, fed here with the policy's rule and the gate's current evidence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, INVALID_STATE
from sqlalchemy.engine import Connection, Engine

from mlflow_supplychain.errors import IntegrityError, Problem, RequestNotFound
from mlflow_supplychain.governance import approval_statement
from mlflow_supplychain.governance import requests as workflow
from mlflow_supplychain.governance.requests import RequestStatus, TransitionRequest
from mlflow_supplychain.policy.evidence import Target, TargetKind, legacy_evidence_digest
from mlflow_supplychain.policy.schema import ApprovalRule, Policy
from mlflow_supplychain.registry.gate import protected_target
from mlflow_supplychain.server.identity import Caller
from mlflow_supplychain.signing import registry_key
from mlflow_supplychain.version_identity import DEFAULT_WORKSPACE

_logger = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


def active_workspace(store: Any) -> str:
    """The workspace the current request works in (``default`` without workspaces)."""
    getter = getattr(store, "_get_active_workspace", None)
    return str(getter()) if getter is not None else DEFAULT_WORKSPACE


def governance_engine(store: Any) -> Engine:
    """The engine of our tables in the store's database.

    Raises:
        MlflowException: the store has no governance tables bound (INVALID_STATE).
    """
    recorder = store.gate.recorder
    if recorder is None:
        raise MlflowException("The governance tables are not bound to this store.",
                              INVALID_STATE)
    engine: Engine = recorder.engine
    return engine


def request_in_workspace(store: Any, conn: Connection, request_id: int) -> TransitionRequest:
    """Request ``request_id`` when it belongs to the caller's workspace.

    Raises:
        RequestNotFound: no such request, or it is another workspace's (not revealed).
    """
    req = workflow.get_request(conn, request_id)
    if (req.workspace or DEFAULT_WORKSPACE) != active_workspace(store):
        raise RequestNotFound(f"Transition request {request_id} does not exist", [Problem(
            f"request {request_id}", "not found", "list requests with 'request list'")])
    return req


def rule_for(policy: Policy, target_text: str) -> tuple[Target, ApprovalRule]:
    """The protected spelling of a target and the approval rule of its profile.

    Raises:
        MlflowException: the target is unprotected or its profile needs no approval.
    """
    guarded = protected_target(policy, Target.parse(target_text))
    if guarded is None:
        raise MlflowException(f"Target {target_text!r} is not protected by the policy; "
                              "promote it directly.", INVALID_PARAMETER_VALUE)
    target, profile = guarded
    rule = policy.profiles[profile].approvals
    if rule is None:
        raise MlflowException(f"Profile {profile!r} guarding {target} requires no approval; "
                              "promote directly once the other evidence is present.",
                              INVALID_PARAMETER_VALUE)
    return target, rule


def approval_rule(policy: Policy, target_text: str) -> ApprovalRule | None:
    """The approval rule guarding a target; None when unprotected or no approval is needed."""
    guarded = protected_target(policy, Target.parse(target_text))
    return policy.profiles[guarded[1]].approvals if guarded else None


def approve(store: Any, policy: Policy, who: Caller, request_id: int, *,
            comment: str | None, apply: bool) -> tuple[TransitionRequest, bool]:
    """Record ``who``'s approval against the version's current evidence; with ``apply``,
    promote once the request is approved. Returns the request and whether it was applied.

    Raises:
        GovernanceError: not found, not open, or the approval is refused (audited).
        MlflowException: target unprotected, no governance tables, registry errors.
    """
    eng = governance_engine(store)
    with eng.connect() as conn:
        current = request_in_workspace(store, conn, request_id)
    target, rule = rule_for(policy, current.target)
    decision, evidence = store.gate.assess(store, current.model_name, current.version, target)
    now_digest = decision.evidence_digest
    if current.evidence_digest != now_digest and current.evidence_digest == legacy_evidence_digest(
            current.policy_digest, evidence.intake,
            evidence.artifacts.digest if evidence.artifacts else None, evidence.identity_digest):
        # a request made before approvals stopped binding the policy, for this very evidence
        now_digest = current.evidence_digest
    req = workflow.approve(
        eng, request_id, approver=who.user, groups=who.groups, comment=comment, rule=rule,
        creator=evidence.creator, current_evidence_digest=now_digest,
        policy_digest=decision.policy_digest, now_ms=now_ms(),
        sealer=approval_sealer(evidence.artifacts.digest if evidence.artifacts else None))
    applied = False
    if apply and req.status is RequestStatus.APPROVED:
        applied = apply_request(store, req)
        with eng.connect() as conn:
            req = workflow.get_request(conn, req.id)
    return req, applied


def approval_sealer(artifact_digest: str | None) -> workflow.ApprovalSealer | None:
    """Signs each approval statement with the registry key; None (approvals are recorded
    unsigned, with a warning) when the server has no registry key."""
    try:
        key = registry_key.load_private_key(registry_key.configured_key_path())
    except IntegrityError as exc:
        _logger.warning("approval recorded without a signed statement: %s", exc.summary)
        return None

    def seal(req: TransitionRequest, approver: str, groups: Sequence[str],
             at_ms: int) -> str | None:
        if req.identity_digest is None:  # a request from before identities: no subject
            return None
        return approval_statement.seal(approval_statement.ApprovalFacts(
            request_id=req.id, model_name=req.model_name, version=req.version,
            workspace=req.workspace or DEFAULT_WORKSPACE, identity_digest=req.identity_digest,
            target=req.target, requester=req.requester, evidence_digest=req.evidence_digest,
            policy_digest=req.policy_digest, approver=approver, approver_groups=tuple(groups),
            approved_at_ms=at_ms, artifact_digest=artifact_digest), key)

    return seal


def reject(store: Any, policy: Policy, who: Caller, request_id: int, *,
           comment: str | None) -> TransitionRequest:
    """Reject an open request (only an authorised approver may).

    Raises:
        GovernanceError: not found, not open, or ``who`` is not an approver.
        MlflowException: no governance tables.
    """
    with governance_engine(store).begin() as conn:
        current = request_in_workspace(store, conn, request_id)
        return workflow.reject(conn, request_id, actor=who.user, groups=who.groups,
                               comment=comment, rule=approval_rule(policy, current.target),
                               policy_digest=policy.digest, now_ms=now_ms())


def apply_request(store: Any, req: TransitionRequest) -> bool:
    """Make an approved request's promotion through the gated store; False when the gate
    still denies (the other evidence is missing) -- the current Decision says why.

    Raises:
        MlflowException: any registry error other than the gate's refusal.
    """
    target = Target.parse(req.target)
    try:
        if target.kind is TargetKind.ALIAS:
            store.set_registered_model_alias(req.model_name, target.name, req.version)
        else:
            store.transition_model_version_stage(req.model_name, req.version, target.name,
                                                 archive_existing_versions=False)
    except MlflowException as exc:
        if exc.error_code == "PERMISSION_DENIED":
            return False
        raise
    return True
