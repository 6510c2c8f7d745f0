"""View models of the governance page, built from gate Decisions, Evidence, requests and audit
records. Pure: no Flask, no database, no clock; the templates only render these values.

Whether the viewer may act on a request is answered by the same rule the workflow enforces
(``policy.approvals.approver_problem``), so a button is shown exactly when the POST would pass
the approver check; the POST still goes through ``governance.requests`` which decides again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from mlflow_supplychain.governance.chain import AuditRecord
from mlflow_supplychain.governance.requests import OPEN, TransitionRequest
from mlflow_supplychain.integrity.attest import AttestationPayload
from mlflow_supplychain.policy.approvals import approver_problem, principals
from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.policy.evidence import Evidence
from mlflow_supplychain.policy.schema import ApprovalRule, Requirement

REQUIREMENT_LABELS: Mapping[Requirement, str] = {
    Requirement.INTAKE_COMPLETE: "Intake record",
    Requirement.SOURCE_ALLOWED: "Allowed source",
    Requirement.HASH_MATCH: "Hash match",
    Requirement.LICENSE_APPROVED: "License review",
    Requirement.EVAL_EVIDENCE: "Evaluation evidence",
    Requirement.SCAN_PASSED: "Scan",
    Requirement.APPROVAL: "Approvals",
    Requirement.LINEAGE_VERIFIED: "Lineage",
}


def when(ms: int) -> str:
    """Epoch milliseconds as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Missing:
    """One unmet piece of evidence: stable code, field, what is wrong, how to fix it."""

    code: str
    field: str | None
    message: str
    fix: str


@dataclass(frozen=True)
class CheckItem:
    """One requirement of a profile: met or not, the facts on record, what is missing."""

    requirement: str
    label: str
    met: bool
    facts: tuple[str, ...]
    missing: tuple[Missing, ...]


@dataclass(frozen=True)
class Checklist:
    """Everything a promotion to one protected target needs, and its verdict."""

    target: str
    profile: str | None
    verdict: str
    allowed: bool
    items: tuple[CheckItem, ...]


def _dataset_fact(evidence: Evidence) -> str:
    from mlflow_supplychain.policy.dataset_checks import recorded_datasets

    entries = recorded_datasets(evidence.intake)
    listed = ("data sets: invalid" if entries is None and "datasets" in evidence.intake
              else f"data sets: {len(entries or ())} in the record")
    logged = evidence.logged_datasets
    return listed + (", runs not read" if logged is None
                     else f", {len(logged)} logged on the runs")


def _facts(requirement: Requirement, evidence: Evidence, target: str) -> tuple[str, ...]:
    intake = evidence.intake
    if requirement is Requirement.INTAKE_COMPLETE:
        cls = intake.get("artifact_class")
        return (f"artifact class: {cls or 'not set'}", f"{len(intake)} intake field(s) recorded",
                _dataset_fact(evidence))
    if requirement is Requirement.SOURCE_ALLOWED:
        return (f"source: {evidence.source or 'none'}",)
    if requirement is Requirement.HASH_MATCH:
        if evidence.artifacts is None:
            return ("no verified manifest recorded",)
        return (f"manifest {evidence.artifacts.digest}",
                f"{len(evidence.artifacts.files)} file(s)",
                f"declared upstream hashes: {'yes' if intake.get('source_sha256') else 'none'}")
    if requirement is Requirement.LICENSE_APPROVED:
        return (f"license: {intake.get('license.id', 'not recorded')}",
                f"outcome: {intake.get('license.outcome', 'not recorded')}")
    if requirement is Requirement.EVAL_EVIDENCE:
        found = {True: "found", False: "not found", None: "not checked"}[evidence.eval_run_found]
        return (f"eval.ref: {intake.get('eval.ref', 'not recorded')} ({found})",)
    if requirement is Requirement.SCAN_PASSED:
        scan = evidence.scan
        if scan is None:
            return ("no scan attestation",)
        return (f"verdict: {scan.verdict.value if scan.verdict else 'error'}",
                f"signature: {'valid' if scan.signature_valid else 'INVALID'}",
                f"{len(scan.findings)} finding(s)")
    if requirement is Requirement.APPROVAL:
        names = sorted({a.approver for a in evidence.approvals if a.target == target})
        return (f"approved by: {', '.join(names)}" if names else "no approvals",)
    if requirement is Requirement.LINEAGE_VERIFIED:
        return tuple(f"{a.uri}: {a.state.value}" for a in evidence.lineage) or ("no ancestors",)
    return ()  # pragma: no cover - every requirement is listed above


# The engine reports a missing intake field once, under intake_complete; on the checklist the
# item that reads the field is not met either, so it shows that violation too.
_READS_FIELDS: Mapping[Requirement, tuple[str, ...]] = {
    Requirement.LICENSE_APPROVED: ("license.",),
    Requirement.EVAL_EVIDENCE: ("eval.",),
    Requirement.HASH_MATCH: ("source_sha256",),
    Requirement.LINEAGE_VERIFIED: ("base_model.",),
}


def _concerns(requirement: Requirement, violation_requirement: Requirement,
              field: str | None) -> bool:
    if violation_requirement is requirement:
        return True
    prefixes = _READS_FIELDS.get(requirement, ())
    return field is not None and any(field.startswith(p) for p in prefixes)


def checklist(decision: Decision, evidence: Evidence) -> Checklist:
    """The checklist of one Decision: one item per required piece of evidence."""
    items = []
    for requirement in decision.requirements:
        missing = tuple(Missing(v.code, v.field, v.message, v.remediation)
                        for v in decision.violations
                        if _concerns(requirement, v.requirement, v.field))
        items.append(CheckItem(requirement.value, REQUIREMENT_LABELS[requirement],
                               not missing, _facts(requirement, evidence, decision.target),
                               missing))
    return Checklist(decision.target, decision.profile, decision.verdict, decision.allowed,
                     tuple(items))


@dataclass(frozen=True)
class ScanView:
    """The latest stored scan attestation of a version, as people read it."""

    verdict: str
    verified: bool
    scanned_at: str
    scanner_version: str
    artifact_digest: str
    findings: tuple[str, ...]
    formats: tuple[tuple[str, str], ...]

    @property
    def flagged(self) -> bool:
        return self.verdict in ("prohibited", "error")


def scan_view(payload: AttestationPayload | None, verified: bool) -> ScanView | None:
    """``None`` when no (parseable) attestation is stored."""
    if payload is None:
        return None
    return ScanView(payload.verdict, verified, payload.scanned_at, payload.scanner_version,
                    payload.artifact_digest, payload.findings,
                    tuple(sorted(payload.formats.items())))


@dataclass(frozen=True)
class Viewer:
    """Who looks at the page, and whether the page may offer actions at all."""

    user: str | None
    groups: tuple[str, ...]
    can_post: bool
    """An authenticated session that can carry a CSRF token (not the dev header)."""


@dataclass(frozen=True)
class RequestRow:
    """A transition request and what the viewer may do with it."""

    id: int
    model_name: str
    version: str
    target: str
    requester: str
    status: str
    comment: str | None
    created: str
    approvals: tuple[str, ...]
    resolution: str | None
    can_approve: bool
    can_reject: bool
    why_not: str | None
    blocking: tuple[Missing, ...] = ()
    """What makes the gate refuse this promotion now, approvals aside; while non-empty the
    page disables "Approve & promote" and an approval needs an explicit confirmation."""


def blocking(decision: Decision | None) -> tuple[Missing, ...]:
    """The violations no approval can cure (every requirement but ``approval``); a decision
    that could not be made blocks too."""
    if decision is None:
        return (Missing("gate.unknown", None, "the gate could not evaluate this version now.",
                        "reload the page; check the server log"),)
    return tuple(Missing(v.code, v.field, v.message, v.remediation) for v in decision.violations
                 if v.requirement is not Requirement.APPROVAL)


def compliance(decision: Decision | None) -> str:
    """The overview's compliance cell: what is still missing for a request's promotion."""
    if decision is None:
        return "unknown (version unreadable)"
    if decision.allowed:
        return "compliant"
    stops = [m.code for m in blocking(decision)]
    return "needs approval only" if not stops else "blocked: " + ", ".join(stops)


def request_row(req: TransitionRequest, viewer: Viewer, rule: ApprovalRule | None,
                creator: str | None, decision: Decision | None = None) -> RequestRow:
    """One row; ``rule`` is the approval rule of the request's target (None: no approvals);
    ``decision`` the gate's decision for the request's promotion now (its blocking evidence
    is shown before any approve button)."""
    can_approve = can_reject = False
    why_not: str | None = None
    if req.status in OPEN:
        if not viewer.can_post or viewer.user is None:
            why_not = "sign in (basic-auth) to approve or reject"
        elif rule is None:
            why_not = "the target needs no approval"
        else:
            problem = approver_problem(rule, viewer.user, viewer.groups, req.requester, creator)
            already = any(a.approver == viewer.user for a in req.approvals)
            can_approve = problem is None and not already
            # Rejecting needs approver rights only (separation of duties guards approvals).
            can_reject = bool(principals(viewer.user, viewer.groups) & set(rule.approvers))
            why_not = (f"{viewer.user} already approved" if already else problem)
    approvals = tuple(f"{a.approver} ({when(a.created_at)})" + (f": {a.comment}" if a.comment
                                                                else "")
                      for a in req.approvals)
    resolution = None
    if req.resolved_by:
        resolution = f"{req.status.value} by {req.resolved_by}" + (
            f": {req.resolution_comment}" if req.resolution_comment else "")
    return RequestRow(req.id, req.model_name, req.version, req.target, req.requester,
                      req.status.value, req.comment, when(req.created_at), approvals,
                      resolution, can_approve, can_reject, why_not,
                      blocking(decision) if req.status in OPEN else ())


@dataclass(frozen=True)
class AliasRow:
    """A protected alias of a model, the version it points to and that version's state."""

    model_name: str
    alias: str
    version: str
    allowed: bool
    verdict: str
    missing: tuple[str, ...]


def alias_row(model_name: str, alias: str, version: str, decision: Decision | None) -> AliasRow:
    """``decision`` None: the version could not be read (reported as unknown, never compliant)."""
    if decision is None:
        return AliasRow(model_name, alias, version, False, "unknown (version unreadable)", ())
    return AliasRow(model_name, alias, version, decision.allowed, decision.verdict,
                    tuple(v.code for v in decision.violations))


@dataclass(frozen=True)
class AuditRow:
    seq: int
    when: str
    actor: str
    action: str
    subject: str
    details: str


def _details(payload: str) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return payload[:300]
    if not isinstance(data, dict):
        return str(data)[:300]
    return ", ".join(f"{k}={v}" for k, v in sorted(data.items()) if v not in (None, "", []))[:300]


def audit_rows(records: Iterable[AuditRecord]) -> list[AuditRow]:
    return [AuditRow(r.seq, when(r.ts), r.actor, r.action, r.subject, _details(r.payload))
            for r in records]


def intake_rows(evidence: Evidence) -> list[tuple[str, str]]:
    return sorted(evidence.intake.items())


def checklists(assessments: Sequence[tuple[Decision, Evidence]]) -> list[Checklist]:
    return [checklist(d, e) for d, e in assessments]
