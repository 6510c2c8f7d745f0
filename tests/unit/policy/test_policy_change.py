"""Policy changes invalidate only the evidence that depends on what changed (issue #17).

Approvals bind to the version's own evidence (identity, intake, bytes), scans to the format
policy; everything else is judged by the policy in force when the gate evaluates.
"""

from __future__ import annotations

from pathlib import Path

from mlflow_supplychain.intake.fields import ArtifactClass
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import Approval, Target, legacy_evidence_digest
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.policy.schema import Mode, Policy

from .evidence_factory import full_evidence

REPO = Path(__file__).resolve().parents[3]
POLICY = load_policy(REPO / "examples" / "policy.yaml")
PROD = Target.parse("production")
EVIDENCE = full_evidence(POLICY, ArtifactClass.BASE_MODEL, PROD)


def _with_prod_approvers(policy: Policy, approvers: tuple[str, ...]) -> Policy:
    prod = policy.profiles["prod"]
    rule = prod.approvals.model_copy(update={"approvers": approvers})  # type: ignore[union-attr]
    profiles = {**policy.profiles, "prod": prod.model_copy(update={"approvals": rule})}
    return policy.model_copy(update={"profiles": profiles})


def test_adding_an_approver_leaves_the_decision_allowed() -> None:
    assert evaluate(POLICY, EVIDENCE, PROD).allowed
    wider = _with_prod_approvers(POLICY, (*POLICY.profiles["prod"].approvals.approvers,  # type: ignore[union-attr]
                                          "user:bob"))
    assert wider.digest != POLICY.digest
    decision = evaluate(wider, EVIDENCE, PROD)
    assert decision.allowed, decision.explain()
    assert decision.evidence_digest == evaluate(POLICY, EVIDENCE, PROD).evidence_digest


def test_editing_other_sections_keeps_scans_and_approvals() -> None:
    changed = POLICY.model_copy(update={"mode": Mode.AUDIT, "licenses": POLICY.licenses.model_copy(
        update={"deny": ("CC-BY-NC-4.0", "GPL-3.0-only")})})
    assert changed.format_digest == POLICY.format_digest
    assert evaluate(changed, EVIDENCE, PROD).allowed


def test_removing_an_approver_stops_their_approvals_counting_by_name() -> None:
    # the factory's approvals come from members of group ml-security
    narrower = _with_prod_approvers(POLICY, ("user:ml-lead",))
    decision = evaluate(narrower, EVIDENCE, PROD)
    assert [v.code for v in decision.violations] == ["approval.insufficient"]
    message = decision.violations[0].message
    assert "approver0 is not an authorised approver" in message


def test_format_policy_change_makes_the_scan_pending_not_failed() -> None:
    stricter = POLICY.model_copy(update={"formats": POLICY.formats.model_copy(
        update={"pickle_allowlist": ("mypkg.Model",)})})
    assert stricter.format_digest != POLICY.format_digest
    decision = evaluate(stricter, EVIDENCE, PROD)
    assert [v.code for v in decision.violations] == ["scan.pending"]
    assert "pending rescan" in decision.violations[0].message
    assert not decision.allowed


def test_legacy_approval_counts_through_its_requests_policy() -> None:
    """Approvals recorded when the digest included the policy still count for the same
    evidence, and only for it."""
    old_policy = "sha256:" + "9" * 64
    ev = EVIDENCE
    assert ev.artifacts is not None
    legacy = legacy_evidence_digest(old_policy, ev.intake, ev.artifacts.digest,
                                    ev.identity_digest)
    approval = ev.approvals[0].model_copy(update={"evidence_digest": legacy,
                                                  "policy_digest": old_policy})
    assert evaluate(POLICY, ev.model_copy(update={"approvals": (approval,)}), PROD).allowed
    other = Approval(**{**approval.model_dump(), "policy_digest": "sha256:" + "8" * 64})
    denied = evaluate(POLICY, ev.model_copy(update={"approvals": (other,)}), PROD)
    assert [v.code for v in denied.violations] == ["approval.stale"]
    changed_intake = {**ev.intake, "owner": "someone-else"}
    stale = evaluate(POLICY, ev.model_copy(update={"approvals": (approval,),
                                                   "intake": changed_intake}), PROD)
    assert [v.code for v in stale.violations] == ["approval.stale"]
