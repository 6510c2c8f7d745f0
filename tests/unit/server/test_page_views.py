"""View models of the governance page: pure, built from engine values."""

from __future__ import annotations

from pathlib import Path

from mlflow_supplychain.governance.chain import AuditRecord
from mlflow_supplychain.governance.requests import (
    ApprovalRecord,
    RequestStatus,
    TransitionRequest,
)
from mlflow_supplychain.integrity.attest import AttestationPayload
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import Approval, Evidence, Target
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.policy.schema import ApprovalRule
from mlflow_supplychain.server import page_views as views
from mlflow_supplychain.version_identity import VersionIdentity

POLICY = load_policy(Path(__file__).parents[2] / "integration" / "policies" / "ui.yaml")
RULE = ApprovalRule(min=1, approvers=("group:ml-security",), separation_of_duties=True)
INTAKE = {"artifact_class": "base_model", "owner": "ml@example.com", "license.id": "Apache-2.0",
          "license.outcome": "approved"}


def _request(status: RequestStatus = RequestStatus.PENDING,
             approvals: tuple[ApprovalRecord, ...] = ()) -> TransitionRequest:
    return TransitionRequest(id=7, model_name="fraud", version="3", target="production",
                             requester="alice", comment="ship", status=status,
                             evidence_digest="sha256:" + "e" * 64,
                             policy_digest="sha256:" + "p" * 64, created_at=0, updated_at=0,
                             resolved_by=None, resolution_comment=None, approvals=approvals)


def test_checklist_lists_every_requirement_with_what_is_missing() -> None:
    evidence = Evidence(model_name="fraud", version="3", source="s3://corp-models/x",
                        creator="alice", intake={"artifact_class": "base_model"})
    target = Target.parse("production")
    checklist = views.checklist(evaluate(POLICY, evidence, target), evidence)
    assert [i.requirement for i in checklist.items] == ["intake_complete", "license_approved",
                                                        "approval"]
    assert not checklist.allowed and all(not i.met for i in checklist.items)
    intake = checklist.items[0]
    assert {m.field for m in intake.missing} >= {"owner", "license.id"}
    assert all(m.fix for item in checklist.items for m in item.missing)
    assert checklist.items[2].facts == ("no approvals",)


def test_checklist_of_compliant_evidence_has_nothing_missing() -> None:
    evidence = Evidence(model_name="fraud", version="3", creator="alice", intake=INTAKE)
    decision = evaluate(POLICY, evidence, Target.parse("production"))
    digest = decision.evidence_digest
    approved = evidence.model_copy(update={"approvals": (Approval(
        approver="bob", approver_groups=("ml-security",), requester="alice",
        target="production", evidence_digest=digest),)})
    checklist = views.checklist(evaluate(POLICY, approved, Target.parse("production")), approved)
    assert checklist.allowed and all(i.met and not i.missing for i in checklist.items)
    assert checklist.items[2].facts == ("approved by: bob",)


def test_request_row_follows_the_workflow_rule() -> None:
    bob = views.Viewer("bob", ("ml-security",), True)
    alice = views.Viewer("alice", ("ml-security",), True)
    carol = views.Viewer("carol", (), True)
    anonymous = views.Viewer(None, (), False)
    req = _request()
    row = views.request_row(req, bob, RULE, creator="alice")
    assert row.can_approve and row.can_reject and row.why_not is None
    row = views.request_row(req, alice, RULE, creator="dave")
    assert not row.can_approve and row.can_reject
    assert row.why_not and "requested this promotion" in row.why_not
    assert views.request_row(req, bob, RULE, creator="bob").why_not.endswith(  # type: ignore[union-attr]
        "cannot approve its promotion")
    row = views.request_row(req, carol, RULE, creator="alice")
    assert not (row.can_approve or row.can_reject) and "not an authorised" in str(row.why_not)
    row = views.request_row(req, anonymous, RULE, creator="alice")
    assert not (row.can_approve or row.can_reject) and "sign in" in str(row.why_not)


def test_request_row_after_approval_and_when_closed() -> None:
    bob = views.Viewer("bob", ("ml-security",), True)
    approved = _request(approvals=(ApprovalRecord("bob", ("ml-security",), "d", "ok", 0),))
    row = views.request_row(approved, bob, RULE.model_copy(update={"min": 2}), creator="alice")
    assert not row.can_approve and row.why_not == "bob already approved"
    assert row.approvals == ("bob (1970-01-01 00:00:00 UTC): ok",)
    closed = views.request_row(_request(RequestStatus.APPLIED), bob, RULE, creator="alice")
    assert not (closed.can_approve or closed.can_reject) and closed.why_not is None


def test_scan_view_and_alias_row() -> None:
    payload = AttestationPayload(model_name="fraud", version="3",
                                 identity=VersionIdentity(workspace="default", name="fraud",
                                                          version="3", created_at=1,
                                                          storage_location="s3://b/m"),
                                 artifact_digest="sha256:" + "a" * 64,
                                 files={"m.pkl": "b" * 64}, verdict="prohibited",
                                 findings=("m.pkl: os.system",), formats={"m.pkl": "pickle"},
                                 scanner_version="1",
                                 format_policy_digest="sha256:" + "c" * 64,
                                 scanned_at="2026-01-01T00:00:00Z", key_id="0" * 16)
    scan = views.scan_view(payload, verified=True)
    assert scan is not None and scan.flagged and scan.findings == ("m.pkl: os.system",)
    assert views.scan_view(None, verified=False) is None
    unknown = views.alias_row("fraud", "production", "3", None)
    assert not unknown.allowed and unknown.verdict.startswith("unknown")


def test_audit_rows_summarise_payloads() -> None:
    record = AuditRecord(seq=4, ts=0, actor="bob", action="request.approve",
                         subject="models:/fraud/3 -> production",
                         payload='{"comment":null,"min":1,"request_id":7}',
                         policy_digest="p", prev_hash="h", hash="h2")
    broken = AuditRecord(seq=5, ts=0, actor="x", action="y", subject="s", payload="not json",
                         policy_digest="p", prev_hash="h", hash="h2")
    rows = views.audit_rows([record, broken])
    assert rows[0].details == "min=1, request_id=7"
    assert rows[1].details == "not json"
