from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlflow_supplychain.intake.fields import ArtifactClass
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import (
    Ancestor,
    AncestorState,
    Approval,
    ArtifactEvidence,
    Evidence,
    Target,
)
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.policy.schema import FormatVerdict, Mode, Policy, Requirement

from .evidence_factory import DIGEST, approve, full_evidence

REPO = Path(__file__).resolve().parents[3]
POLICY = load_policy(REPO / "examples" / "policy.yaml")
AUDIT = POLICY.model_copy(update={"mode": Mode.AUDIT})
PROTECTED = [Target.parse(a) for a in POLICY.protected.aliases] + [
    Target.parse(f"stage:{s}") for s in POLICY.protected.stages]


def _profile(target: Target) -> str:
    name = (POLICY.profile_for_alias(target.name) if target.kind.value == "alias"
            else POLICY.profile_for_stage(target.name))
    assert name
    return name


def _pieces(policy: Policy, evidence: Evidence, target: Target) -> list[tuple[str, Requirement]]:
    """(piece name, requirement that must report its absence) for the target's profile."""
    profile = policy.profiles[_profile(target)]
    req = set(profile.require)
    pieces: list[tuple[str, Requirement]] = []
    if Requirement.INTAKE_COMPLETE in req:
        cls = ArtifactClass(evidence.intake["artifact_class"])
        pieces += [(f"intake:{f}", Requirement.INTAKE_COMPLETE)
                   for f in ("artifact_class", *policy.required_fields(cls))]
    if Requirement.SOURCE_ALLOWED in req:
        pieces.append(("source", Requirement.SOURCE_ALLOWED))
    if Requirement.HASH_MATCH in req:
        pieces.append(("artifacts", Requirement.HASH_MATCH))
    elif Requirement.SCAN_PASSED in req:
        pieces.append(("artifacts", Requirement.SCAN_PASSED))
    if Requirement.SCAN_PASSED in req:
        pieces.append(("scan", Requirement.SCAN_PASSED))
    if Requirement.EVAL_EVIDENCE in req:
        pieces.append(("eval_run_found", Requirement.EVAL_EVIDENCE))
    if Requirement.APPROVAL in req:
        pieces.append(("approvals", Requirement.APPROVAL))
    if Requirement.LINEAGE_VERIFIED in req and evidence.lineage:
        pieces.append(("lineage", Requirement.LINEAGE_VERIFIED))
    return pieces


def _without(policy: Policy, evidence: Evidence, piece: str, target: Target) -> Evidence:
    if piece.startswith("intake:"):
        intake = dict(evidence.intake)
        intake.pop(piece.split(":", 1)[1])
        changed = evidence.model_copy(update={"intake": intake})
    else:
        empty = {"source": None, "artifacts": None, "scan": None, "eval_run_found": None,
                 "approvals": (), "lineage": ()}[piece]
        changed = evidence.model_copy(update={piece: empty})
    # approvals bind to the evidence digest; re-approve so only the removed piece is missing
    return changed if piece == "approvals" else approve(policy, changed, target)


classes = st.sampled_from(list(ArtifactClass))
targets = st.sampled_from(PROTECTED)


@settings(max_examples=150, deadline=None)
@given(cls=classes, target=targets)
def test_fully_evidenced_version_is_allowed(cls: ArtifactClass, target: Target) -> None:
    decision = evaluate(POLICY, full_evidence(POLICY, cls, target), target)
    assert decision.allowed, decision.explain()
    assert decision.blocks is False
    assert decision.policy_digest == POLICY.digest


@settings(max_examples=300, deadline=None)
@given(cls=classes, target=targets, data=st.data())
def test_removing_one_piece_denies_with_exactly_that_violation(
    cls: ArtifactClass, target: Target, data: st.DataObject
) -> None:
    evidence = full_evidence(POLICY, cls, target)
    piece, requirement = data.draw(st.sampled_from(_pieces(POLICY, evidence, target)))
    decision = evaluate(POLICY, _without(POLICY, evidence, piece, target), target)
    assert not decision.allowed and decision.blocks
    assert len(decision.violations) == 1, decision.explain()
    violation = decision.violations[0]
    assert violation.requirement is requirement, decision.explain()
    if piece.startswith("intake:"):
        assert violation.field == piece.split(":", 1)[1]
        assert violation.code.endswith(".missing")
    assert violation.remediation


@settings(max_examples=100, deadline=None)
@given(cls=classes, target=st.sampled_from([t for t in PROTECTED if _profile(t) == "prod"]),
       data=st.data())
def test_any_intake_change_after_approval_makes_it_stale(
    cls: ArtifactClass, target: Target, data: st.DataObject
) -> None:
    evidence = full_evidence(POLICY, cls, target)
    name = data.draw(st.sampled_from(sorted(k for k in evidence.intake if k == "owner"
                                            or k.startswith("intended"))) if "intended_use"
                     in evidence.intake else st.just("owner"))
    changed = evidence.model_copy(update={"intake": {**evidence.intake, name: "someone-else"}})
    decision = evaluate(POLICY, changed, target)
    assert [v.code for v in decision.violations] == ["approval.stale"], decision.explain()


def test_audit_mode_reports_but_does_not_enforce() -> None:
    target = Target.parse("production")
    evidence = full_evidence(AUDIT, ArtifactClass.BASE_MODEL, target).model_copy(
        update={"scan": None})
    decision = evaluate(AUDIT, evidence, target)
    assert decision.enforced is False and decision.allowed is False and decision.blocks is False
    assert [v.code for v in decision.violations] == ["scan.missing"]
    assert "audit mode" in decision.explain()


def test_unprotected_target_is_allowed_without_checks() -> None:
    decision = evaluate(POLICY, Evidence(model_name="m", version="1"), Target.parse("dev"))
    assert decision.allowed and decision.profile is None and decision.requirements == ()


def test_empty_evidence_lists_every_violation() -> None:
    target = Target.parse("production")
    decision = evaluate(POLICY, Evidence(model_name="m", version="1"), target)
    codes = {v.code for v in decision.violations}
    assert {"intake.missing", "source.missing", "hash.no_manifest", "scan.missing",
            "approval.missing"} <= codes
    reqs = {v.requirement for v in decision.violations}
    assert reqs == set(POLICY.profiles["prod"].require) - {Requirement.LINEAGE_VERIFIED}
    assert "Fix:" in decision.explain()


BASE = full_evidence(POLICY, ArtifactClass.BASE_MODEL, Target.parse("production"))
PROD = Target.parse("production")


def _codes(evidence: Evidence, target: Target = PROD) -> list[str]:
    return [v.code for v in evaluate(POLICY, approve(POLICY, evidence, target), target).violations]


@pytest.mark.parametrize(("source", "code"), [
    ("https://huggingface.co/org/model/resolve/main/model.safetensors", "source.public_hub"),
    ("hf://org/model", "source.public_hub"),
    ("file:///tmp/model", "source.not_allowed"),
    ("models:/fraud@champion", "source.mutable_ref"),
    ("models:/fraud/latest", "source.mutable_ref"),
    ("models:/fraud/Production", "source.mutable_ref"),
])
def test_disallowed_sources(source: str, code: str) -> None:
    assert _codes(BASE.model_copy(update={"source": source})) == [code]


@pytest.mark.parametrize("source", ["models:/fraud/3", "models:/m-0123abcd", "runs:/" + "a" * 32 + "/model",
                                    "s3://corp-models/fraud/3"])
def test_allowed_sources(source: str) -> None:
    assert _codes(BASE.model_copy(update={"source": source})) == []


def test_invalid_intake_value_is_reported_once() -> None:
    intake = {**BASE.intake, "source_revision": "main"}
    codes = _codes(BASE.model_copy(update={"intake": intake}))
    assert codes == ["intake.invalid"]


def test_unknown_intake_field_is_a_violation() -> None:
    intake = {**BASE.intake, "ownr": "x"}
    assert _codes(BASE.model_copy(update={"intake": intake})) == ["intake.unknown_field"]


def test_declared_hash_not_in_manifest() -> None:
    artifacts = ArtifactEvidence(digest=DIGEST, files={"model.safetensors": "b" * 64},
                                 reverified_digest=DIGEST)
    assert _codes(BASE.model_copy(update={"artifacts": artifacts})) == ["hash.mismatch"]


def test_artifacts_changed_after_scan() -> None:
    artifacts = BASE.artifacts.model_copy(update={"reverified_digest": "sha256:" + "c" * 64})  # type: ignore[union-attr]
    assert _codes(BASE.model_copy(update={"artifacts": artifacts})) == ["hash.artifacts_changed"]


def test_reverification_required_by_policy() -> None:
    policy = POLICY.model_copy(update={"integrity": POLICY.integrity.model_copy(
        update={"reverify_on_promotion": True})})
    evidence = full_evidence(policy, ArtifactClass.BASE_MODEL, PROD)
    artifacts = evidence.artifacts.model_copy(  # type: ignore[union-attr]
        update={"reverified_digest": None})
    evidence = evidence.model_copy(update={"artifacts": artifacts})
    assert [v.code for v in evaluate(policy, evidence, PROD).violations] == ["hash.not_reverified"]
    stalled = evidence.artifacts.model_copy(  # type: ignore[union-attr]
        update={"reverify_reason": "the S3 endpoint did not answer in time"})
    [violation] = evaluate(policy, evidence.model_copy(update={"artifacts": stalled}),
                           PROD).violations
    assert "(the S3 endpoint did not answer in time)" in violation.message


_REVERIFY = POLICY.model_copy(update={"integrity": POLICY.integrity.model_copy(
    update={"reverify_on_promotion": True})})
STAGING = Target.parse("staging")  # profile 'staging': scan_passed without hash_match


@pytest.mark.parametrize(("reverified", "profile_target", "codes"), [
    # The attested bytes are the bytes at the download location: both profiles pass.
    (DIGEST, PROD, []),
    (DIGEST, STAGING, []),
    # Other bytes there now: a verdict about the old bytes is no scan pass either.
    ("sha256:" + "c" * 64, PROD, ["hash.artifacts_changed"]),
    ("sha256:" + "c" * 64, STAGING, ["scan.artifacts_changed"]),
    # Re-verification on but it did not happen: neither requirement can be met.
    (None, PROD, ["hash.not_reverified"]),
    (None, STAGING, ["scan.not_reverified"]),
])
def test_every_byte_requirement_uses_the_rehashed_digest(
        reverified: str | None, profile_target: Target, codes: list[str]) -> None:
    evidence = full_evidence(_REVERIFY, ArtifactClass.BASE_MODEL, profile_target)
    artifacts = evidence.artifacts.model_copy(  # type: ignore[union-attr]
        update={"reverified_digest": reverified})
    evidence = evidence.model_copy(update={"artifacts": artifacts})
    assert [v.code for v in evaluate(_REVERIFY, evidence, profile_target).violations] == codes


def test_scan_of_other_bytes_than_the_rehashed_ones_is_no_pass() -> None:
    # A valid attestation whose digest matches no re-hash: the manifest of the attested bytes
    # is not the one evaluated (bound to other bytes), and the re-hash disagrees with it.
    evidence = full_evidence(_REVERIFY, ArtifactClass.BASE_MODEL, STAGING)
    scan = evidence.scan.model_copy(  # type: ignore[union-attr]
        update={"artifact_digest": "sha256:" + "d" * 64})
    artifacts = evidence.artifacts.model_copy(  # type: ignore[union-attr]
        update={"digest": "sha256:" + "d" * 64, "reverified_digest": DIGEST})
    evidence = evidence.model_copy(update={"scan": scan, "artifacts": artifacts})
    assert [v.code for v in evaluate(_REVERIFY, evidence, STAGING).violations] == [
        "scan.artifacts_changed"]


@pytest.mark.parametrize(("license_id", "outcome", "code"), [
    ("CC-BY-NC-4.0", "approved", "license.denied"),
    ("MIT OR CC-BY-NC-4.0", "approved", "license.denied"),
    ("Apache-2.0", "rejected", "license.outcome"),
    ("llama3.1", "approved_with_conditions", None),
])
def test_license_rules(license_id: str, outcome: str, code: str | None) -> None:
    intake = {**BASE.intake, "license.id": license_id, "license.outcome": outcome}
    assert _codes(BASE.model_copy(update={"intake": intake})) == ([code] if code else [])


@pytest.mark.parametrize(("scan_update", "code"), [
    ({"signature_valid": False}, "scan.bad_signature"),
    ({"version": "2"}, "scan.wrong_subject"),
    ({"identity_digest": "sha256:" + "f" * 64}, "scan.wrong_subject"),  # another identity
    ({"artifact_digest": "sha256:" + "d" * 64}, "scan.stale_digest"),
    ({"format_policy_digest": "sha256:" + "e" * 64}, "scan.pending"),
    ({"format_policy_digest": None}, "scan.pending"),  # legacy scan, policy not in history
    ({"format_policy_digest": None, "policy_digest": "sha256:" + "e" * 64}, "scan.pending"),
    ({"verdict": None, "findings": ("model.bin: truncated pickle",)}, "scan.error"),
    ({"verdict": FormatVerdict.PROHIBITED, "findings": ("posix.system",)}, "scan.flagged"),
])
def test_scan_problems(scan_update: dict[str, object], code: str) -> None:
    scan = BASE.scan.model_copy(update=scan_update)  # type: ignore[union-attr]
    assert _codes(BASE.model_copy(update={"scan": scan})) == [code]


def test_eval_run_missing() -> None:
    assert _codes(BASE.model_copy(update={"eval_run_found": False})) == ["eval.run_not_found"]


def _with_approvals(*approvals: Approval) -> list[str]:
    evidence = BASE.model_copy(update={"approvals": approvals})
    return [v.code for v in evaluate(POLICY, evidence, PROD).violations]


def _approval(approver: str, groups: tuple[str, ...] = ("ml-security",), requester: str = "carol",
              target: str = "production") -> Approval:
    return Approval(approver=approver, approver_groups=groups, requester=requester, target=target,
                    evidence_digest=BASE.approvals[0].evidence_digest)


def test_separation_of_duties() -> None:
    assert _with_approvals(_approval("carol")) == ["approval.insufficient"]  # the requester
    assert _with_approvals(_approval("alice")) == ["approval.insufficient"]  # the creator
    assert _with_approvals(_approval("dave", groups=())) == ["approval.insufficient"]
    assert _with_approvals(_approval("ml-lead", groups=())) == []  # listed as user:ml-lead


def test_approval_for_same_profile_counts_for_sibling_alias() -> None:
    assert _with_approvals(_approval("bob", target="champion")) == []
    # an approval for another profile's target does not count here
    assert _with_approvals(_approval("bob", target="staging")) == ["approval.insufficient"]


def test_n_of_m_counts_distinct_people() -> None:
    rule = POLICY.profiles["prod"].approvals.model_copy(update={"min": 2})  # type: ignore[union-attr]
    prod = POLICY.profiles["prod"].model_copy(update={"approvals": rule})
    policy = POLICY.model_copy(update={"profiles": {**POLICY.profiles, "prod": prod}})
    evidence = full_evidence(policy, ArtifactClass.BASE_MODEL, PROD)
    one = evidence.approvals[0]
    twice = evidence.model_copy(update={"approvals": (one, one)})
    assert [v.code for v in evaluate(policy, twice, PROD).violations] == ["approval.insufficient"]
    two = approve(policy, evidence, PROD, approvers=2)
    assert evaluate(policy, two, PROD).allowed


@pytest.mark.parametrize("state", [AncestorState.FLAGGED, AncestorState.REJECTED,
                                   AncestorState.UNKNOWN, AncestorState.EXTERNAL_PINNED])
def test_bad_ancestors_deny(state: AncestorState) -> None:
    ft = full_evidence(POLICY, ArtifactClass.FINE_TUNE, PROD)
    evidence = ft.model_copy(update={"lineage": (Ancestor(uri="models:/base/1", state=state),)})
    assert _codes(evidence) == [f"lineage.{state.value}"]


def test_decision_is_json_serialisable() -> None:
    decision = evaluate(POLICY, Evidence(model_name="m", version="1"), PROD)
    data = decision.model_dump(mode="json")
    assert data["violations"][0]["code"] and data["evidence_digest"].startswith("sha256:")


def test_the_first_refusal_without_a_class_points_at_the_templates() -> None:
    from mlflow_supplychain.policy.needs import fields_every_class_requires

    decision = evaluate(POLICY, Evidence(model_name="m", version="1"), PROD)
    by_field = {v.field: v for v in decision.violations}
    assert "intake template --class" in by_field["artifact_class"].remediation
    assert set(fields_every_class_requires(POLICY)) <= set(by_field)
    assert "source_sha256" in by_field, "reported before a manifest exists, not one round later"


@pytest.mark.parametrize("cls", list(POLICY.artifact_classes))
def test_once_the_class_is_known_the_refusal_lists_every_field_the_promotion_needs(cls) -> None:
    from mlflow_supplychain.intake.fields import FIELDS
    from mlflow_supplychain.policy.needs import profile_fields

    evidence = Evidence(model_name="m", version="1", intake={"artifact_class": cls.value})
    decision = evaluate(POLICY, evidence, PROD)
    reported = {v.field for v in decision.violations if v.field in FIELDS}
    assert reported == set(profile_fields(POLICY, POLICY.profiles["prod"], cls)) - {
        "artifact_class"}
