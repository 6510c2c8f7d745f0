"""Evidence about one model version and the target it is being promoted to.

These are plain, frozen values. Adapters (the registry store, the CLI reading an evidence
file) gather them; the engine only reads them. Cryptographic checks (attestation signatures)
happen in the adapter, which records the outcome in ``ScanEvidence.signature_valid``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from mlflow_supplychain.digest_fields import Digest
from mlflow_supplychain.digests import digest_of
from mlflow_supplychain.intake.dataset_links import LoggedDataset
from mlflow_supplychain.policy.schema import FormatVerdict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TargetKind(str, enum.Enum):
    ALIAS = "alias"
    STAGE = "stage"


class Target(_Frozen):
    """A promotion target: an alias or a stage."""

    kind: TargetKind
    name: str

    @classmethod
    def parse(cls, text: str) -> Target:
        """``production`` -> alias; ``stage:Production`` -> stage."""
        if text.startswith("stage:"):
            return cls(kind=TargetKind.STAGE, name=text[len("stage:") :])
        if text.startswith("alias:"):
            return cls(kind=TargetKind.ALIAS, name=text[len("alias:") :])
        return cls(kind=TargetKind.ALIAS, name=text)

    def __str__(self) -> str:
        return self.name if self.kind is TargetKind.ALIAS else f"stage:{self.name}"


class ArtifactEvidence(_Frozen):
    """The version's file manifest as recorded at scan time, and a fresh re-hash if one ran."""

    digest: Digest = Field(description="Manifest digest recorded for the version (sha256:...).")
    files: dict[str, str] = Field(
        default_factory=dict, description="Relative POSIX path -> sha256 hex of every file."
    )
    reverified_digest: str | None = Field(
        None, description="Digest of the bytes re-hashed just now; None when not re-hashed."
    )
    reverify_reason: str | None = Field(
        None, max_length=400, description="Why the re-hash did not happen (budget, store "
        "error...), shown in the denial; None when it happened or was not asked for.")

class ScanEvidence(_Frozen):
    """Summary of the scan attestation attached to the version."""

    model_name: str
    version: str
    identity_digest: str | None = Field(
        None, description="Digest of the version identity the attestation was signed for.")
    artifact_digest: str
    format_policy_digest: str | None = Field(
        None, description="Digest of the format policy (formats section + scanner rules) the "
        "scan was made under; None when unknown (a legacy attestation whose policy is not in "
        "the history), which the gate treats as pending a rescan.")
    policy_digest: str | None = Field(
        None, description="Legacy (v2 attestations, older evidence files): the whole policy "
        "digest the scan was made under; counts only when it is the policy being evaluated.")
    verdict: FormatVerdict | None = Field(
        description="Worst per-file verdict; None means the scan could not decide (error)."
    )
    findings: tuple[str, ...] = Field((), description="One line per finding, for messages.")
    signature_valid: bool = Field(description="Set by the adapter after verifying the signature.")
    publisher_signature: str | None = Field(
        None, description="OMS signature status the scan recorded (verified, missing, "
        "malformed, untrusted, tampered); None when the scan did not check signatures.")
    publisher: str | None = Field(None, description="Trusted publisher whose key verified it.")
    signature_problems: tuple[str, ...] = Field(
        (), description="Files the signature does not match, for messages.")


class Approval(_Frozen):
    """One recorded approval of a promotion."""

    approver: str
    approver_groups: tuple[str, ...] = ()
    requester: str | None = Field(None, description="Who requested the approved promotion.")
    target: str
    evidence_digest: str
    policy_digest: str | None = Field(
        None, description="Policy digest in force when the request was made; only used to "
        "recognise approvals recorded before approvals stopped binding the policy.")


class AncestorState(str, enum.Enum):
    COMPLIANT = "compliant"
    FLAGGED = "flagged"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    EXTERNAL_PINNED = "external_pinned"


class Ancestor(_Frozen):
    """One ancestor of a derived version (its base, the base's base...), nearest first."""

    uri: str
    state: AncestorState
    license: dict[str, str] | None = Field(
        None,
        description="The ancestor's license review fields ('license.id', 'license.outcome', "
        "'license.commercial_use'...), for inheritance checks; None when unknown.",
    )


class Evidence(_Frozen):
    """Everything known about one model version at the moment of a promotion."""

    model_name: str
    version: str
    identity_digest: str | None = Field(
        None, description="Digest of the version's immutable identity (workspace, name, "
        "version, creation time, storage location, uid); None when unknown (evidence files).")
    source: str | None = None
    creator: str | None = None
    intake: dict[str, str] = Field(
        default_factory=dict, description="Intake fields, without the tag prefix."
    )
    artifacts: ArtifactEvidence | None = None
    scan: ScanEvidence | None = None
    eval_run_found: bool | None = Field(
        None, description="Whether eval.ref resolves to an existing run; None: not looked up."
    )
    approvals: tuple[Approval, ...] = ()
    lineage: tuple[Ancestor, ...] = ()
    logged_datasets: tuple[LoggedDataset, ...] | None = Field(
        None, description="Data sets MLflow logged (mlflow.log_input) on the version's training "
        "run and its eval.ref run; None: not looked up (a class that requires datasets is then "
        "denied as unverified).")


def evidence_digest(intake: Mapping[str, str], artifact_digest: str | None,
                    identity_digest: str | None = None) -> str:
    """The digest an approval binds to: the version's own evidence, i.e. its identity, its
    intake record and its artifact digest.

    The policy is deliberately *not* part of it: an approval is a person's judgement of this
    version's evidence, and whether recorded approvals suffice (approver still authorised,
    ``min`` met, separation of duties) is decided by the policy in force when the gate
    evaluates. So adding an approver or editing another profile invalidates nothing, while any
    change to an intake field or the bytes makes earlier approvals stale; so does any other
    version answering to the same name and number (renamed into it, re-created, another
    workspace), whose identity differs.
    """
    bound: dict[str, object] = {"intake": dict(intake), "artifact_digest": artifact_digest}
    if identity_digest is not None:  # evidence files (gate check) carry no identity
        bound["identity"] = identity_digest
    return digest_of(bound)


def legacy_evidence_digest(policy_digest: str, intake: Mapping[str, str],
                           artifact_digest: str | None, identity_digest: str | None) -> str:
    """The digest approvals bound to before they stopped binding the policy (it included the
    whole policy digest).

    Migration rule: an approval recorded under that scheme still counts when it matches the
    version's evidence *under the policy in force when its request was made* (the request's
    ``policy_digest``); that proves the same intake, bytes and identity were approved. New
    approvals never use it.
    """
    bound: dict[str, object] = {"intake": dict(intake), "artifact_digest": artifact_digest,
                                "policy_digest": policy_digest}
    if identity_digest is not None:
        bound["identity"] = identity_digest
    return digest_of(bound)
