"""The pure gate: ``evaluate(policy, evidence, target) -> Decision``.

No MLflow, no I/O, no clock. Every unmet requirement becomes one :class:`Violation`; a missing
intake field is reported once, by the requirement that owns it (intake_complete when the
profile requires it), not again by every check that reads the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from typing_extensions import assert_never

from mlflow_supplychain.intake.fields import FIELDS, ArtifactClass, LicenseOutcome, parse_source_hashes
from mlflow_supplychain.intake.inheritance import inheritance_problems
from mlflow_supplychain.intake.licenses import license_keys
from mlflow_supplychain.policy.approvals import approver_problem
from mlflow_supplychain.policy.dataset_checks import Finding, license_findings, record_findings
from mlflow_supplychain.policy.decision import Decision, Violation
from mlflow_supplychain.policy.evidence import (
    AncestorState,
    Approval,
    Evidence,
    ScanEvidence,
    Target,
    TargetKind,
    evidence_digest,
    legacy_evidence_digest,
)
from mlflow_supplychain.policy.needs import (
    DERIVED_CLASSES,
    REQUIREMENT_FIELDS,
    fields_every_class_requires,
)
from mlflow_supplychain.policy.schema import (
    Mode,
    Policy,
    Profile,
    Requirement,
    is_public_hub,
)

_MUTABLE_MODEL_REF = re.compile(
    r"^models:/(?:[^/@]+@[^/]+|[^/@]+/(?:latest|staging|production|archived|none))/?$",
    re.IGNORECASE,
)
_MUTABLE_URL_REF = re.compile(r"(?:/(?:resolve|tree|blob)/(?:main|master)\b|[?&]ref=(?:main|master)\b)")
_DERIVED_CLASSES = DERIVED_CLASSES


@dataclass
class _Context:
    policy: Policy
    profile: Profile
    evidence: Evidence
    target: Target
    evidence_digest: str
    reported_fields: set[str] = field(default_factory=set)
    out: list[Violation] = field(default_factory=list)
    notes: list[Violation] = field(default_factory=list)

    def deny(self, requirement: Requirement, code: str, message: str, remediation: str,
             field_name: str | None = None) -> None:
        self.out.append(Violation(code=code, requirement=requirement, field=field_name,
                                  message=message, remediation=remediation))

    def report(self, requirement: Requirement, finding: Finding, field_name: str) -> None:
        """A finding: a violation when it blocks, else an advisory."""
        violation = Violation(code=finding.code, requirement=requirement, field=field_name,
                              message=finding.message, remediation=finding.fix)
        (self.out if finding.blocking else self.notes).append(violation)

    def intake_value(self, requirement: Requirement, name: str, code_prefix: str) -> str | None:
        """The field's value when present and valid; otherwise report it (once) and None."""
        value = self.evidence.intake.get(name)
        if name in self.reported_fields:
            return None
        problem = "is missing" if value is None else FIELDS[name].validate(value)
        if problem is None:
            return value
        self.reported_fields.add(name)
        kind = "missing" if value is None else "invalid"
        self.deny(requirement, f"{code_prefix}.{kind}", f"intake field {name!r} {problem}.",
                  _set_field_fix(name), name)
        return None


def _set_field_fix(name: str) -> str:
    return (f"set tag 'supplychain.intake.{name}' on the version (e.g. "
            f"{FIELDS[name].example!r}), or use 'mlflow-supplychain intake apply'.")


def evaluate(policy: Policy, evidence: Evidence, target: Target) -> Decision:
    """Evaluate whether ``evidence`` satisfies the profile guarding ``target``.

    Unprotected targets are always allowed. Audit mode evaluates the same way and returns the
    Decision with ``enforced=False``.
    """
    profile_name = (policy.profile_for_alias(target.name) if target.kind is TargetKind.ALIAS
                    else policy.profile_for_stage(target.name))
    artifact_digest = evidence.artifacts.digest if evidence.artifacts else None
    ev_digest = evidence_digest(evidence.intake, artifact_digest, evidence.identity_digest)
    enforced = policy.mode is Mode.ENFORCE
    if profile_name is None:
        return Decision(model_name=evidence.model_name, version=evidence.version,
                        target=str(target), profile=None, allowed=True, enforced=enforced,
                        requirements=(), violations=(), policy_digest=policy.digest,
                        evidence_digest=ev_digest, identity_digest=evidence.identity_digest,
                        deployed_when_noncompliant=policy.deployed.when_noncompliant.value)
    profile = policy.profiles[profile_name]
    ctx = _Context(policy, profile, evidence, target, ev_digest)
    # intake first, so fields it reports are not reported again by license/eval/hash checks
    required = policy.requirements_for(profile_name, evidence.intake.get("artifact_class"))
    ordered = sorted(required, key=lambda r: r is not Requirement.INTAKE_COMPLETE)
    for requirement in ordered:
        _check(requirement, ctx)
    return Decision(model_name=evidence.model_name, version=evidence.version,
                    target=str(target), profile=profile_name, allowed=not ctx.out,
                    enforced=enforced, requirements=required, violations=tuple(ctx.out),
                    advisories=tuple(ctx.notes), policy_digest=policy.digest, evidence_digest=ev_digest,
                    identity_digest=evidence.identity_digest,
                    deployed_when_noncompliant=policy.deployed.when_noncompliant.value)


def _check(requirement: Requirement, ctx: _Context) -> None:
    match requirement:
        case Requirement.INTAKE_COMPLETE:
            _check_intake(ctx)
        case Requirement.SOURCE_ALLOWED:
            _check_source(ctx)
        case Requirement.HASH_MATCH:
            _check_hashes(ctx)
        case Requirement.LICENSE_APPROVED:
            _check_license(ctx)
        case Requirement.EVAL_EVIDENCE:
            _check_eval(ctx)
        case Requirement.SCAN_PASSED:
            _check_scan(ctx)
        case Requirement.APPROVAL:
            _check_approvals(ctx)
        case Requirement.LINEAGE_VERIFIED:
            _check_lineage(ctx)
        case Requirement.SIGNATURE_VERIFIED:
            _check_signature(ctx)
        case _:
            assert_never(requirement)


def _check_intake(ctx: _Context) -> None:
    req = Requirement.INTAKE_COMPLETE
    cls_value = ctx.intake_value(req, "artifact_class", "intake")
    for name, value in sorted(ctx.evidence.intake.items()):
        if name == "artifact_class" or name in ctx.reported_fields:
            continue
        spec = FIELDS.get(name)
        if spec is None:
            ctx.reported_fields.add(name)
            ctx.deny(req, "intake.unknown_field", f"intake field {name!r} is not a known field.",
                     f"remove tag 'supplychain.intake.{name}' or fix its name.", name)
        elif (problem := spec.validate(value)) is not None:
            ctx.reported_fields.add(name)
            ctx.deny(req, "intake.invalid", f"intake field {name!r} {problem}.",
                     _set_field_fix(name), name)
    if cls_value is None:
        _class_unknown(ctx)
        return
    artifact_class = ArtifactClass(cls_value)
    if artifact_class not in ctx.policy.artifact_classes:
        ctx.deny(req, "intake.class_not_allowed",
                 f"the policy defines no intake rules for artifact class {cls_value!r}.",
                 "use one of " + ", ".join(c.value for c in ctx.policy.artifact_classes)
                 + ", or ask an admin to add the class to the policy.", "artifact_class")
        return
    required = ctx.policy.required_fields(artifact_class)
    for name in required:
        ctx.intake_value(req, name, "intake")
    for finding in record_findings(ctx.evidence.intake, required="datasets" in required,
                                   logged=ctx.evidence.logged_datasets):
        ctx.report(req, finding, "datasets")


def _class_unknown(ctx: _Context) -> None:
    """Without a class, point at the templates and report what every class needs now, so the
    first refusal is not followed by a second one listing the class's fields."""
    classes = ", ".join(c.value for c in ctx.policy.artifact_classes)
    for i, violation in enumerate(ctx.out):
        if violation.field == "artifact_class":
            ctx.out[i] = violation.model_copy(update={"remediation": (
                f"{violation.remediation} Each class ({classes}) needs its own fields: "
                "'mlflow-supplychain intake template --class CLASS --policy POLICY' writes a "
                "record listing them.")})
    owned = {f for r in ctx.profile.require for f in REQUIREMENT_FIELDS.get(r, ())}
    for name in fields_every_class_requires(ctx.policy):
        if name not in owned:  # those the hash, license and eval checks report themselves
            ctx.intake_value(Requirement.INTAKE_COMPLETE, name, "intake")


def _check_source(ctx: _Context) -> None:
    violation = source_violation(ctx.policy, ctx.evidence.source)
    if violation is not None:
        ctx.out.append(violation)


def source_violation(policy: Policy, source: str | None) -> Violation | None:
    """Why ``source`` is not an allowed model-version source under ``policy``, or None.

    Public so the registry store can refuse a bad source when the version is created, with
    the same judgement the gate applies at promotion.
    """
    req = Requirement.SOURCE_ALLOWED
    source = source or ""
    allowed = policy.sources.allow
    fix = ("log the model to MLflow's artifact store (log_model) and register that, or import "
           "it with 'mlflow-supplychain intake import'.")

    def deny(code: str, message: str, remediation: str = fix) -> Violation:
        return Violation(code=code, requirement=req, field="source", message=message,
                         remediation=remediation)

    if not source:
        return deny("source.missing", "the version has no source URI.")
    if is_public_hub(source):
        return deny("source.public_hub", f"source {source!r} points straight at a public model hub.")
    if not any(source.startswith(prefix) for prefix in allowed):
        return deny("source.not_allowed",
                    f"source {source!r} is not under an allowed prefix ({', '.join(allowed)}).")
    if policy.sources.deny_mutable_refs and (
        _MUTABLE_MODEL_REF.match(source) or _MUTABLE_URL_REF.search(source)
    ):
        return deny("source.mutable_ref",
                    f"source {source!r} is a mutable reference (alias, stage, 'latest' or branch).",
                    "register from a fixed version (models:/<name>/<version>), a run or a logged "
                    "model id.")
    return None


def _check_hashes(ctx: _Context) -> None:
    req = Requirement.HASH_MATCH
    artifacts = ctx.evidence.artifacts
    if artifacts is None:
        ctx.deny(req, "hash.no_manifest", "no artifact manifest is recorded for this version.",
                 "wait for the scanner sidecar to hash the artifacts, or run "
                 "'mlflow-supplychain reconcile'.", "artifacts")
        ctx.intake_value(req, "source_sha256", "hash")  # reported now, not one round later
        return
    if (problem := _bytes_problem(ctx, artifacts.digest)) is not None:
        ctx.deny(req, f"hash.{problem[0]}", problem[1], problem[2], "artifacts")
    raw = ctx.intake_value(req, "source_sha256", "hash")
    if raw is None:
        return
    declared = parse_source_hashes(raw) or {}
    present = set(artifacts.files.values())
    for path, hexdigest in sorted(declared.items()):
        found = hexdigest in present if path == "" else artifacts.files.get(path) == hexdigest
        if not found:
            label = path or hexdigest[:16] + "..."
            ctx.deny(req, "hash.mismatch",
                     f"declared source hash for {label!r} is not in the version's manifest.",
                     "register the exact upstream files, or correct supplychain.intake."
                     "source_sha256.", "source_sha256")


def _check_license(ctx: _Context) -> None:
    req = Requirement.LICENSE_APPROVED
    license_id = ctx.intake_value(req, "license.id", "license")
    outcome = ctx.intake_value(req, "license.outcome", "license")
    if license_id is not None:
        denied = {d.lower() for d in ctx.policy.licenses.deny}
        hits = [k for k in license_keys(license_id) if k.lower() in denied]
        if hits:
            ctx.deny(req, "license.denied",
                     f"license {license_id!r} includes {', '.join(hits)}, which the policy denies.",
                     "choose a model under another license, or ask the policy owner.",
                     "license.id")
    if outcome is not None:
        allowed = [o.value for o in ctx.policy.licenses.allowed_outcomes]
        if outcome not in allowed:
            ctx.deny(req, "license.outcome",
                     f"license review outcome is {outcome!r}; the policy accepts "
                     f"{', '.join(allowed)}.",
                     "get the license re-reviewed, or use a model under another license.",
                     "license.outcome")
    if license_id is not None:
        _check_license_conditions(ctx, license_id, outcome)
    _check_license_inheritance(ctx)
    # the data's terms: only when the record lists data sets, and only when the list is valid
    # (an invalid one is reported here as license.invalid unless intake_complete did already)
    if "datasets" in ctx.evidence.intake and ctx.intake_value(req, "datasets", "license"):
        for finding in license_findings(ctx.policy, ctx.evidence.intake):
            ctx.report(req, finding, "datasets")


def _check_license_conditions(ctx: _Context, license_id: str, outcome: str | None) -> None:
    wanted = {k.lower() for k in ctx.policy.licenses.require_conditions}
    hits = [k for k in license_keys(license_id) if k.lower() in wanted]
    if not hits:
        return
    conditions = ctx.evidence.intake.get("license.conditions", "").strip()
    if outcome != LicenseOutcome.APPROVED_WITH_CONDITIONS.value or not conditions:
        ctx.deny(Requirement.LICENSE_APPROVED, "license.conditions_required",
                 f"license {license_id!r} includes {', '.join(hits)}, which the policy accepts "
                 "only as approved_with_conditions with the conditions written down.",
                 "set license.outcome=approved_with_conditions and list the obligations (e.g. "
                 "attribution, acceptable-use policy) in license.conditions.",
                 "license.conditions")


def _check_license_inheritance(ctx: _Context) -> None:
    """A derived version's review may not be more permissive than any ancestor's."""
    lineage_checked = Requirement.LINEAGE_VERIFIED in ctx.profile.require
    for ancestor in ctx.evidence.lineage:
        if ancestor.license is None:
            continue
        for problem in inheritance_problems(ancestor.uri, ancestor.license, ctx.evidence.intake):
            if (problem.code == "license.base_rejected" and lineage_checked
                    and ancestor.state is AncestorState.REJECTED):
                continue  # reported once, as lineage.rejected
            ctx.deny(Requirement.LICENSE_APPROVED, problem.code, problem.message, problem.fix,
                     problem.field)


def _check_eval(ctx: _Context) -> None:
    req = Requirement.EVAL_EVIDENCE
    ref = ctx.intake_value(req, "eval.ref", "eval")
    if ref is None:
        return
    found = ctx.evidence.eval_run_found
    if found is False:
        ctx.deny(req, "eval.run_not_found", f"evaluation run {ref!r} does not exist.",
                 "point supplychain.intake.eval.ref at the run that holds the evaluation.",
                 "eval.ref")
    elif found is None:
        ctx.deny(req, "eval.unverified", f"evaluation run {ref!r} was not looked up.",
                 "evaluate against the live registry (gate check NAME VERSION) or set "
                 "eval_run_found in the evidence file.", "eval.ref")


def _bytes_problem(ctx: _Context, attested: str) -> tuple[str, str, str] | None:
    """Why the attested bytes are not known to be the bytes at the version's download location
    now: ``(code suffix, message, fix)``, or None.

    Every requirement that depends on bytes (hash_match, scan_passed) asks this: when the
    policy re-verifies at promotion, a verdict or manifest about other bytes than the re-hashed
    ones is no pass, and neither is a re-hash that did not happen.
    """
    artifacts = ctx.evidence.artifacts
    reverified = artifacts.reverified_digest if artifacts is not None else None
    if reverified is None:
        if not ctx.policy.integrity.reverify_on_promotion:
            return None
        fix = ("retry the promotion; if it keeps failing, raise "
               "integrity.reverify_budget_seconds.")
        why = artifacts.reverify_reason if artifacts is not None else None
        return ("not_reverified", "the artifacts were not re-hashed at promotion time"
                + (f" ({why})." if why else "."), fix)
    if reverified == attested:
        return None
    message = (f"the artifacts now hash to {reverified}, not the attested {attested}: files "
               "changed after they were scanned, or the attestation is about other bytes.")
    return ("artifacts_changed", message,
            "register a new version from trusted bytes; do not overwrite artifacts.")


def _check_scan(ctx: _Context) -> None:
    req = Requirement.SCAN_PASSED
    scan = ctx.evidence.scan
    ev = ctx.evidence
    rescan = "run 'mlflow-supplychain reconcile' (or wait for the sidecar) to rescan."
    if scan is None:
        ctx.deny(req, "scan.missing", "no scan attestation is recorded for this version.",
                 rescan, "scan")
        return
    if not scan.signature_valid:
        ctx.deny(req, "scan.bad_signature",
                 "the scan attestation's signature does not verify.", rescan, "scan")
    elif (scan.model_name, scan.version) != (ev.model_name, ev.version):
        ctx.deny(req, "scan.wrong_subject",
                 f"the attestation is for {scan.model_name!r} version {scan.version}.",
                 rescan, "scan")
    elif scan.identity_digest != ev.identity_digest:
        ctx.deny(req, "scan.wrong_subject",
                 "the attestation is for another version that had this name and number "
                 "(renamed, re-created or in another workspace).", rescan, "scan")
    elif ev.artifacts is None and Requirement.HASH_MATCH not in ctx.profile.require:
        ctx.deny(req, "scan.unbound", "no manifest is recorded to bind the attestation to.",
                 rescan, "scan")
    elif ev.artifacts is not None and scan.artifact_digest != ev.artifacts.digest:
        ctx.deny(req, "scan.stale_digest",
                 "the attestation covers other bytes than the version's recorded manifest.",
                 rescan, "scan")
    elif (problem := _bytes_problem(ctx, scan.artifact_digest)) is not None:
        if Requirement.HASH_MATCH not in ctx.profile.require:  # else reported as hash.*
            ctx.deny(req, f"scan.{problem[0]}", problem[1], problem[2], "scan")
    elif not _scan_policy_current(scan, ctx.policy):
        # Only the format policy (formats, pickle allowlist, scanner rules) judges a scan;
        # the sidecar rescans by itself when it changes, so there is nothing to fix by hand.
        ctx.deny(req, "scan.pending",
                 "pending rescan: the format policy changed since this version was scanned "
                 "(or the scan predates the policy history).",
                 "nothing to do: the scanner sidecar rescans it automatically (promoted "
                 "versions first); 'mlflow-supplychain reconcile' forces it now.", "scan")
    elif scan.verdict is None:
        ctx.deny(req, "scan.error",
                 "the scanner could not analyse every file: " + "; ".join(scan.findings),
                 "fix or remove the unparseable files and register a new version.", "scan")
    elif scan.verdict not in ctx.profile.allowed_scan_verdicts:
        findings = "; ".join(scan.findings) or "no details"
        ctx.deny(req, "scan.flagged",
                 f"the scan verdict is {scan.verdict.value!r}: {findings}.",
                 "re-export the model in a safe format (e.g. safetensors, ONNX, skops).",
                 "scan")


_SIGNATURE_FIXES = {
    "missing": ("signature.missing",
                "the version's files carry no OpenSSF Model Signing signature (model.sig)",
                ("register the model with the signature its publisher ships (model_signing "
                 "sign ...), e.g. with 'intake import --trusted-key'")),
    "malformed": ("signature.malformed", "the signature file is not a readable OMS bundle",
                  "replace it with the publisher's model.sig"),
    "untrusted": ("signature.untrusted",
                  ("the signature verifies with no key in signatures.trusted_keys and chains "
                   "to no root in signatures.trusted_certificates"),
                  ("check the publisher, or ask an admin to add its public key or CA "
                   "certificate to the policy")),
    "tampered": ("signature.tampered", "the files differ from what the publisher signed",
                 "re-download the files at the signed revision and register a new version"),
}


def _check_signature(ctx: _Context) -> None:
    req = Requirement.SIGNATURE_VERIFIED
    scan = ctx.evidence.scan
    rescan = "run 'mlflow-supplychain reconcile' (or wait for the sidecar) to rescan."
    if scan is None or not scan.signature_valid:
        ctx.deny(req, "signature.unchecked", "no valid scan attestation records a signature "
                 "check for this version.", rescan, "signature")
        return
    if scan.identity_digest != ctx.evidence.identity_digest:
        ctx.deny(req, "signature.unchecked", "the signature check is for another version "
                 "that had this name and number.", rescan, "signature")
        return
    status = scan.publisher_signature
    if status == "verified":
        return
    if status is None:
        ctx.deny(req, "signature.unchecked", "the scan did not check signatures (it predates "
                 "the policy's trusted keys and certificates).", rescan, "signature")
        return
    code, what, fix = _SIGNATURE_FIXES.get(status, _SIGNATURE_FIXES["malformed"])
    details = "; ".join(scan.signature_problems[:10])
    ctx.deny(req, code, what + (f": {details}" if details else "") + ".", fix, "signature")


def _check_approvals(ctx: _Context) -> None:
    req = Requirement.APPROVAL
    rule = ctx.profile.approvals
    assert rule is not None  # guaranteed by Profile validation
    this_profile = (ctx.policy.profile_for_alias(ctx.target.name)
                    if ctx.target.kind is TargetKind.ALIAS
                    else ctx.policy.profile_for_stage(ctx.target.name))
    valid: set[str] = set()
    rejected: list[str] = []
    for approval in ctx.evidence.approvals:
        t = Target.parse(approval.target)
        approved_profile = (ctx.policy.profile_for_alias(t.name) if t.kind is TargetKind.ALIAS
                            else ctx.policy.profile_for_stage(t.name))
        if approved_profile != this_profile:
            continue
        if not _approval_matches(approval, ctx):
            rejected.append(f"{approval.approver}: stale (evidence changed since approval)")
        elif (problem := approver_problem(rule, approval.approver, approval.approver_groups,
                                          approval.requester, ctx.evidence.creator)):
            rejected.append(problem)
        else:
            valid.add(approval.approver)
    if len(valid) >= rule.min:
        return
    detail = f" Not counted: {'; '.join(rejected)}." if rejected else ""
    if not ctx.evidence.approvals:
        code, msg = "approval.missing", "no approval is recorded."
    elif not valid and rejected and all("stale" in r for r in rejected):
        code, msg = "approval.stale", "every approval predates a change to the evidence."
    else:
        code, msg = "approval.insufficient", f"{len(valid)} of {rule.min} required approvals."
    ctx.deny(req, code, msg + detail,
             f"create a transition request and get {rule.min} approval(s) from "
             f"{', '.join(rule.approvers)} (not the requester or the version's creator).",
             "approvals")


def _scan_policy_current(scan: ScanEvidence, policy: Policy) -> bool:
    """Whether the scan was made under the format policy being evaluated."""
    if scan.format_policy_digest is not None:
        return scan.format_policy_digest == policy.format_digest
    return scan.policy_digest == policy.digest  # legacy, unresolved: only the same policy


def _approval_matches(approval: Approval, ctx: _Context) -> bool:
    """Whether ``approval`` judged the version's evidence as it is now (identity, intake,
    bytes). Approvals recorded before approvals stopped binding the whole policy match through
    the policy their request was made under (see ``legacy_evidence_digest``)."""
    if approval.evidence_digest == ctx.evidence_digest:
        return True
    if approval.policy_digest is None:
        return False
    ev = ctx.evidence
    legacy = legacy_evidence_digest(approval.policy_digest, ev.intake,
                                    ev.artifacts.digest if ev.artifacts else None,
                                    ev.identity_digest)
    return approval.evidence_digest == legacy


def _check_lineage(ctx: _Context) -> None:
    req = Requirement.LINEAGE_VERIFIED
    cls_value = ctx.evidence.intake.get("artifact_class")
    lineage = ctx.evidence.lineage
    if cls_value in {c.value for c in _DERIVED_CLASSES} and not lineage:
        ctx.deny(req, "lineage.unresolved",
                 f"a {cls_value} must name its base model, and none was resolved.",
                 _set_field_fix("base_model.uri"), "base_model.uri")
    for ancestor in lineage:
        state = ancestor.state
        if state is AncestorState.COMPLIANT:
            continue
        if state is AncestorState.EXTERNAL_PINNED and ctx.policy.lineage.accept_external_pinned:
            continue
        ctx.deny(req, f"lineage.{state.value}",
                 f"ancestor {ancestor.uri} is {state.value.replace('_', ' ')}.",
                 "promote a compliant base first, or derive from one; external pinned bases "
                 "need lineage.accept_external_pinned in the policy.", "base_model.uri")
