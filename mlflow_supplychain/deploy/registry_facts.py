"""Gather what a deployment manifest states, from a running governed MLflow server.

Adapter: MlflowClient (resolution, tags) and our REST endpoints (``evaluate``, the verified
attestation, approved transition requests). MLflow exceptions become our error tree here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlflow_supplychain.client import SupplyChainClient
from mlflow_supplychain.deploy.manifest_schema import (
    ApprovalSummary,
    DeploymentManifest,
    ScanSummary,
)
from mlflow_supplychain.deploy.resolve import ModelRef, ReferenceRefused, strip_credentials
from mlflow_supplychain.errors import (
    IntegrityError,
    Problem,
    PromotionDenied,
    RegistryError,
    RequestRefused,
    SupplyChainError,
)
from mlflow_supplychain.integrity.attest import AttestationPayload, now_iso
from mlflow_supplychain.policy.decision import Decision

_logger = logging.getLogger(__name__)

INTAKE_PREFIX = "supplychain.intake."
DEFAULT_TARGET = "production"


class DeployClient(SupplyChainClient):
    """Our REST endpoints that deployments use, on top of the gate client."""

    def attestation(self, name: str, version: str) -> dict[str, Any]:
        """The latest stored attestation for the version and whether it verifies now.

        Raises:
            RegistryError: none stored, or the server is unreachable / refuses.
        """
        return self._get("attestations/get", {"name": name, "version": version})

    def promotion_evidence(self, name: str, version: str, target: str) -> dict[str, Any]:
        """What the registry signs about this version for ``target``: a SLSA verification
        summary and an OMS bundle (see server/promotion_routes.py).

        Raises:
            RegistryError: refused (gate denies, no attestation) or unreachable.
        """
        return self._get("promotions/evidence", {"name": name, "version": version,
                                                 "target": target})

    def registry_key(self) -> str:
        """The registry's public signing key (PEM), as the server reports it.

        Raises:
            RegistryError: the server has no signing key, or is unreachable.
        """
        return str(self._get("registry-key", {})["public_key"])

    def record_deployment(self, *, name: str, version: str, manifest_digest: str,
                          artifact_digest: str, host: str,
                          noncompliant: tuple[str, ...] = ()) -> dict[str, Any]:
        """Append a ``deploy.load`` audit record on the server; ``noncompliant`` names the
        violation codes a version loaded under ``deployed.when_noncompliant: warn`` has.

        Raises:
            RegistryError: the server is unreachable or refuses.
        """
        body: dict[str, Any] = {
            "name": name, "version": version, "manifest_digest": manifest_digest,
            "artifact_digest": artifact_digest, "host": host}
        if noncompliant:
            body["noncompliant"] = list(noncompliant)
        return self._post("deployments/record", body)


def mlflow_error(exc: Exception, where: str) -> SupplyChainError:
    """Translate an MlflowException into our tree (denials keep exit code 1)."""
    code = str(getattr(exc, "error_code", ""))
    message = str(getattr(exc, "message", exc))
    if code == "PERMISSION_DENIED":
        return PromotionDenied("The registry refused", [Problem(where, message, "")])
    if code == "RESOURCE_DOES_NOT_EXIST":
        return RegistryError("Not found in the registry", [Problem(where, message,
                                                                   "check the name and version")])
    return RegistryError("The registry call failed", [Problem(where, f"{code}: {message}",
                                                              "check the server and retry")])


def resolve_version(mlflow_client: Any, ref: ModelRef) -> Any:
    """The ModelVersion ``ref`` names now (an alias is resolved here, once).

    Raises:
        RegistryError: the model, version or alias does not exist; the server fails.
    """
    from mlflow.exceptions import MlflowException

    try:
        if ref.alias is not None:
            return mlflow_client.get_model_version_by_alias(ref.name, ref.alias)
        return mlflow_client.get_model_version(ref.name, ref.version)
    except MlflowException as exc:
        raise mlflow_error(exc, ref.uri) from None


def verified_attestation(client: DeployClient, name: str, version: str) -> AttestationPayload:
    """The version's latest attestation, only if its signature verifies on the server now.

    Raises:
        IntegrityError: none verifies, or it is for another subject.
    """
    subject = f"models:/{name}/{version}"
    try:
        body = client.attestation(name, version)
    except RegistryError as exc:
        raise IntegrityError("No scan attestation for this version", [Problem(
            subject, exc.problems[0].what if exc.problems else exc.summary,
            "wait for the scanner sidecar, or rescan ('mlflow-supplychain reconcile')")]) from None
    if body.get("verified") is not True:
        raise IntegrityError("The version's scan attestation does not verify", [Problem(
            subject, "its signature does not verify with the server's key", "rescan it")])
    payload = AttestationPayload.parse(body.get("payload"))
    if payload.model_name != name or payload.version != version:
        raise IntegrityError("Attestation is for another version", [Problem(
            subject, f"covers models:/{payload.model_name}/{payload.version}", "rescan it")])
    return payload


def _approvals(client: DeployClient, name: str, version: str, target: str,
               identity_digest: str) -> tuple[ApprovalSummary, ...]:
    # Informational: the gate's decision (checked before) is what says approvals suffice. A
    # server that will not list requests to this caller leaves the list empty, with a warning.
    try:
        body = client.list_requests(name=name, version=version, status="approved")
    except RequestRefused as exc:
        _logger.warning("approvals not listed in the manifest: %s", exc.summary)
        return ()
    out = []
    for req in body.get("requests", []):
        if req.get("target") != target or req.get("identity_digest") != identity_digest:
            continue  # another target, or another version that had this name and number
        for appr in req.get("approvals", []):
            out.append(ApprovalSummary(request_id=int(req["id"]), approver=str(appr["approver"]),
                                       evidence_digest=str(appr["evidence_digest"]),
                                       created_at=int(appr["created_at"])))
    return tuple(out)


def _intake(tags: Mapping[str, str], field: str) -> str | None:
    value = tags.get(INTAKE_PREFIX + field)
    return value or None


def _holds(mv: Any, target: str) -> bool:
    """Whether version ``mv`` holds ``target`` now (an alias, or ``stage:<Stage>``)."""
    if target.startswith("stage:"):
        return str(getattr(mv, "current_stage", "") or "").lower() == target[6:].lower()
    name = target.removeprefix("alias:").lower()
    return any(str(a).lower() == name for a in (getattr(mv, "aliases", None) or ()))


def violation_problems(decision: Decision) -> list[Problem]:
    return [Problem(f"registry: {v.code}", v.message, v.remediation) for v in decision.violations]


def build_deployment_manifest(requested_uri: str, ref: ModelRef, *, tracking_uri: str,
                              mlflow_client: Any, client: DeployClient,
                              target: str | None = None,
                              warnings: list[Problem] | None = None) -> DeploymentManifest:
    """Pin ``ref``, check the gate allows it for ``target`` now, and describe it.

    ``target`` defaults to the URI's alias, else ``production``; it must be protected. When
    the gate does not allow it but the version already holds ``target`` and the policy's
    ``deployed.when_noncompliant`` is ``warn``, the violations are appended to ``warnings``
    (when given) instead of raising: the version in production keeps serving, loudly.

    Raises:
        ReferenceRefused: the target is not protected (nothing vouches for it).
        PromotionDenied: the gate does not allow this version for the target now.
        IntegrityError: no verified scan attestation, or a prohibited/undecided verdict.
        RegistryError: the server is unreachable or the version does not exist.
    """
    mv = resolve_version(mlflow_client, ref)
    version = str(mv.version)
    target = target or ref.alias or DEFAULT_TARGET
    decision = client.evaluate(ref.name, version, target)
    if decision.profile is None:
        raise ReferenceRefused(f"{requested_uri} cannot be pinned for a deployment", [Problem(
            target, "is not a protected alias or stage: the gate vouches for nothing there",
            "deploy through a protected alias (e.g. @production) or pass --target")])
    if not decision.allowed:
        if (warnings is not None and decision.deployed_when_noncompliant == "warn"
                and _holds(mv, target)):
            _logger.warning("models:/%s/%s holds %s but is not compliant now (policy %s); "
                            "deployed.when_noncompliant=warn lets it serve: %s", ref.name,
                            version, target, decision.policy_digest,
                            ", ".join(v.code for v in decision.violations))
            warnings.extend(violation_problems(decision))
        else:
            raise PromotionDenied(
                f"models:/{ref.name}/{version} is not allowed for {target} now",
                [Problem(v.field or v.code, v.message, v.remediation)
                 for v in decision.violations])
    payload = verified_attestation(client, ref.name, version)
    if decision.identity_digest is not None and payload.identity.digest() != decision.identity_digest:
        raise IntegrityError("The version changed while it was being pinned", [Problem(
            f"models:/{ref.name}/{version}", "the attestation read is for another version "
            "identity than the gate judged (renamed or re-created meanwhile)", "retry")])
    if payload.verdict in ("prohibited", "error"):
        raise IntegrityError("The version's scan verdict forbids deployment", [Problem(
            f"models:/{ref.name}/{version}", f"verdict {payload.verdict}: "
            + "; ".join(payload.findings[:5]), "register a version without unsafe formats")])
    tags = dict(mv.tags or {})
    return DeploymentManifest(
        registry=strip_credentials(tracking_uri), requested_uri=requested_uri,
        model_name=ref.name, version=version, alias=ref.alias,
        aliases=tuple(sorted(getattr(mv, "aliases", None) or ())), target=target,
        artifact_digest=payload.artifact_digest, files=dict(payload.files),
        formats=dict(payload.formats),
        scan=ScanSummary(verdict=payload.verdict, findings=payload.findings,
                         scanner_version=payload.scanner_version,
                         scanned_at=payload.scanned_at, key_id=payload.key_id),
        approvals=_approvals(client, ref.name, version, target, payload.identity.digest()),
        eval_ref=_intake(tags, "eval.ref"), owner=_intake(tags, "owner"),
        rollback_version=_intake(tags, "rollback.version"),
        policy_digest=decision.policy_digest, evidence_digest=decision.evidence_digest,
        identity_digest=payload.identity.digest(), created_at=now_iso(),
        **_registry_signatures(client, ref.name, version, target, payload.artifact_digest,
                               payload.identity.digest()))


def _registry_signatures(client: DeployClient, name: str, version: str, target: str,
                         artifact_digest: str, identity_digest: str) -> dict[str, Any]:
    # A server without a signing key (plain 'mlflow server' set up by hand) still gets a
    # manifest; 'deploy verify --registry-key' then refuses it for lacking the signatures.
    try:
        body = client.promotion_evidence(name, version, target)
    except RegistryError as exc:
        _logger.warning("the registry did not sign this promotion: %s", exc.summary)
        return {}
    if (body.get("artifact_digest") != artifact_digest
            or body.get("identity_digest") != identity_digest):
        raise IntegrityError("The version changed while it was being pinned", [Problem(
            f"models:/{name}/{version}", "the registry signed other bytes than the attestation "
            "read a moment before", "retry")])
    return {"verification_summary": body.get("verification_summary"),
            "oms_signature": body.get("oms_bundle")}


@dataclass(frozen=True)
class Standing:
    """What, in the registry now, contradicts a manifest: ``problems`` refuse it; ``warnings``
    are gate violations the policy lets a deployed version keep running with
    (``deployed.when_noncompliant: warn``)."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    policy_digest: str | None = None
    identity_digest: str | None = None
    """The identity of the version answering to the manifest's name and number now."""


def current_standing(manifest: DeploymentManifest, client: DeployClient) -> Standing:
    """What, in the registry now, contradicts the manifest (empty when it still stands).

    A policy change that does not touch the version's own evidence (an approver added,
    another profile edited) leaves the gate's decision allowed, so the manifest stands.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    decision = client.evaluate(manifest.model_name, manifest.version, manifest.target)
    if not decision.allowed:
        if decision.deployed_when_noncompliant == "warn":
            warnings += violation_problems(decision)
        else:
            problems += violation_problems(decision)
    try:
        payload = verified_attestation(client, manifest.model_name, manifest.version)
    except IntegrityError as exc:
        problems += list(exc.problems)
    else:
        if payload.artifact_digest != manifest.artifact_digest:
            problems.append(Problem("registry: attestation", f"now attests "
                                    f"{payload.artifact_digest}, the manifest "
                                    f"{manifest.artifact_digest}",
                                    "write a new manifest for the current approved bytes"))
    if manifest.identity_digest is not None and decision.identity_digest != manifest.identity_digest:
        problems.append(Problem("registry: identity", "the version answering to "
                                f"{manifest.pinned_uri} now is not the one the manifest pins "
                                "(deleted and re-created, or renamed)",
                                "do not deploy it; write a manifest for the version there now"))
    return Standing(problems, warnings, decision.policy_digest, decision.identity_digest)
