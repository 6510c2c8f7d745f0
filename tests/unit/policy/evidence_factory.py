"""Builds fully evidenced versions for a policy, so tests can take single pieces away."""

from __future__ import annotations

import hashlib
import json

from mlflow_supplychain.intake.fields import FIELDS, ArtifactClass
from mlflow_supplychain.policy.evidence import (
    Ancestor,
    AncestorState,
    Approval,
    ArtifactEvidence,
    Evidence,
    ScanEvidence,
    Target,
    evidence_digest,
)
from mlflow_supplychain.policy.schema import FormatVerdict, Policy

WEIGHTS_SHA = hashlib.sha256(b"weights").hexdigest()
MLMODEL_SHA = hashlib.sha256(b"mlmodel").hexdigest()
DIGEST = "sha256:" + hashlib.sha256(b"manifest").hexdigest()

_VALUES = {
    "source_sha256": json.dumps({"model.safetensors": WEIGHTS_SHA}),
    "license.id": "Apache-2.0",
    "base_model.uri": "models:/base/1",
    "base_model.digest": DIGEST,
    "eval.ref": "runs:/" + "a" * 32,
}


def intake_for(policy: Policy, artifact_class: ArtifactClass) -> dict[str, str]:
    intake = {"artifact_class": artifact_class.value}
    for name in policy.required_fields(artifact_class):
        intake[name] = _VALUES.get(name, FIELDS[name].example)
    # fields the license and eval checks read even when a class does not require them
    intake.setdefault("license.id", _VALUES["license.id"])
    intake.setdefault("license.outcome", "approved")
    intake.setdefault("eval.ref", _VALUES["eval.ref"])
    intake.setdefault("source_sha256", _VALUES["source_sha256"])
    return intake


def approve(policy: Policy, evidence: Evidence, target: Target, approvers: int = 1) -> Evidence:
    """Return ``evidence`` with ``approvers`` valid approvals bound to its current digest."""
    digest = evidence_digest(evidence.intake,
                             evidence.artifacts.digest if evidence.artifacts else None)
    approvals = tuple(
        Approval(approver=f"approver{i}", approver_groups=("ml-security",), requester="carol",
                 target=str(target), evidence_digest=digest)
        for i in range(approvers)
    )
    return evidence.model_copy(update={"approvals": approvals})


def full_evidence(policy: Policy, artifact_class: ArtifactClass, target: Target) -> Evidence:
    lineage = ()
    if artifact_class in (ArtifactClass.FINE_TUNE, ArtifactClass.ADAPTER):
        lineage = (Ancestor(uri="models:/base/1", state=AncestorState.COMPLIANT),)
    evidence = Evidence(
        model_name="fraud", version="3", source="mlflow-artifacts:/1/abc/artifacts/model",
        creator="alice", intake=intake_for(policy, artifact_class),
        artifacts=ArtifactEvidence(digest=DIGEST, files={"model.safetensors": WEIGHTS_SHA,
                                                         "MLmodel": MLMODEL_SHA},
                                   # the bytes re-hashed at promotion are the attested ones
                                   reverified_digest=(DIGEST if policy.integrity
                                                      .reverify_on_promotion else None)),
        scan=ScanEvidence(model_name="fraud", version="3", artifact_digest=DIGEST,
                          format_policy_digest=policy.format_digest,
                          verdict=FormatVerdict.PERMITTED,
                          signature_valid=True),
        eval_run_found=True, lineage=lineage, logged_datasets=(),
    )
    return approve(policy, evidence, target)


def write_examples(policy_path: str = "examples/policy.yaml") -> None:
    """Regenerate examples/evidence-*.json for the current example policy.

    Run ``python -m tests.unit.policy.evidence_factory`` after changing examples/policy.yaml:
    scans bind to the format policy digest, so the compliant example goes stale otherwise.
    """
    from mlflow_supplychain.policy.loader import load_policy

    policy = load_policy(policy_path)
    target = Target.parse("production")
    good = full_evidence(policy, ArtifactClass.BASE_MODEL, target)
    bad = good.model_copy(update={"scan": None, "approvals": (),
                                  "source": "https://huggingface.co/org/model"})
    for name, evidence in (("compliant", good), ("missing", bad)):
        with open(f"examples/evidence-{name}.json", "w", encoding="utf-8") as out:
            out.write(json.dumps(evidence.model_dump(mode="json"), indent=2) + "\n")


if __name__ == "__main__":
    write_examples()
