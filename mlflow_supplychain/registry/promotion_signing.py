"""The registry signs a promotion when it makes it: a SLSA verification summary and an OMS bundle.

When the gate has allowed a version for a protected alias or stage and the write has
committed, :func:`sign_promotion` signs, with the registry's key (``signing/registry_key``):

- an OpenSSF Model Signing bundle over the files of the scan attestation the gate judged (the
  hashes the scanner computed and promotion-time re-verification matched: nothing is read or
  hashed again), which the stock ``model_signing verify key`` accepts on the downloaded model;
- a SLSA verification summary naming those files, the policy digest, the scan attestation it
  relied on and PASSED, bound to the version's identity and the target
  (``signing/promotion_summary``);

and stores both in ``supplychain_promotion_evidence`` (keyed by identity, target, policy and
attestation) with a ``promotion.sign`` audit record, in one transaction.

Failure never fails the promotion and never signs more than the gate allowed: the alias or stage
is already written (the gate, not the signature, is what enforces), so an error (no signing key,
a database error) is logged and the evidence is issued later by :func:`obtain` (``GET
promotions/evidence``, ``deploy manifest``), which re-asks the gate first and signs nothing it
refuses. Nothing is signed for a decision that did not allow (audit mode lets denied promotions
through: they get no summary), nor when the attestation judged is no longer the newest (a
rescan arrived: the late-verdict path judges it, evidence comes on demand).

The evidence is not written into the artifact store: a file in the model directory would change
the file set that scans, re-verification and deployments hash, a file beside it has no stable
place (a logged model's artifact location *is* the model directory), and a write to S3 in the
promotion request would tie promotions to the artifact store's latency and outages. Deployments
get the documents through ``deploy manifest`` (``--signature-out`` writes the OMS bundle as a
``model.sig`` file outside the model directory).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from mlflow_supplychain.errors import IntegrityError
from mlflow_supplychain.governance import attestations, audit
from mlflow_supplychain.governance import promotion_evidence as rows
from mlflow_supplychain.governance.attestations import StoredAttestation
from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.registry.identity import current_user
from mlflow_supplychain.signing import intoto, oms, promotion_summary, registry_key
from mlflow_supplychain.version_identity import VersionIdentity

_logger = logging.getLogger(__name__)

SIGN_ACTION = "promotion.sign"


class NotSignable(Exception):
    """The evidence cannot be issued now (the reason is the message); nothing was signed."""


@dataclass(frozen=True)
class PromotionEvidence:
    """What the registry signed for one version, target and policy (stored or just issued)."""

    stored: rows.StoredPromotionEvidence
    public_key_pem: str
    issued_now: bool


def sign_promotion(store: Any, decision: Decision | None, seen: dict[str, int]) -> None:
    """After a protected promotion committed: issue and store its evidence. Never raises.

    ``seen`` maps identity digests to the attestation ids the gate judged on
    (``governance.attestations.observed``).
    """
    if decision is None or not decision.allowed or decision.profile is None:
        return
    started = time.perf_counter()
    # first what needs no query: a promotion whose profile judged no files costs nothing more
    attestation_id = seen.get(decision.identity_digest or "", 0)
    if not attestation_id:
        _logger.info("models:/%s/%s -> %s: the profile judged no files (no scan or hash "
                     "requirement), so the registry signs nothing for it",
                     decision.model_name, decision.version, decision.target)
        return
    try:
        identity = store.gate.current_identity(store, decision.model_name, decision.version)
        if identity is None or identity.digest() != decision.identity_digest:
            raise NotSignable("the version changed since the gate judged it")
        evidence = obtain(store, decision, identity, attestation_id=attestation_id)
    except NotSignable as exc:
        _logger.warning("models:/%s/%s -> %s promoted; evidence not signed now (%s): it is "
                        "issued on request while the gate allows it", decision.model_name,
                        decision.version, decision.target, exc)
        return
    except Exception:  # noqa: BLE001 - the promotion is committed; never turn it into a 5xx
        _logger.exception("models:/%s/%s -> %s promoted, but signing its evidence failed; it "
                          "is issued on request while the gate allows it",
                          decision.model_name, decision.version, decision.target)
        return
    _logger.info("signed promotion models:/%s/%s -> %s (policy %s) in %.1f ms%s",
                 decision.model_name, decision.version, decision.target,
                 decision.policy_digest, (time.perf_counter() - started) * 1000,
                 "" if evidence.issued_now else " (already stored)")


def obtain(store: Any, decision: Decision, identity: VersionIdentity, *,
           attestation_id: int) -> PromotionEvidence:
    """The stored evidence for ``decision`` (which must allow), or new evidence, signed and
    stored now. ``attestation_id``: the scan attestation the gate judged; the summary names
    only files the gate judged, so a profile without scan or hash requirements (0) gets none.

    Raises:
        NotSignable: the decision does not allow, the identity is not the judged one, the
            gate judged no attestation, or it is not the newest or does not verify.
        IntegrityError: the server has no (readable) signing key.
    """
    if not decision.allowed or decision.profile is None:
        raise NotSignable("the gate does not allow this version for the target")
    digest = identity.digest()
    if decision.identity_digest != digest:
        raise NotSignable("the gate judged another version identity")
    if not attestation_id:
        raise NotSignable("the target's profile judges no files (no scan or hash requirement)")
    recorder = store.gate.recorder
    if recorder is None:
        raise NotSignable("the governance tables are not bound")
    key_path = registry_key.configured_key_path()
    key = registry_key.load_private_key(key_path)
    public_pem = registry_key.public_pem(key)
    engine = recorder.engine
    with engine.connect() as conn:
        attestation = _judged_attestation(conn, digest, attestation_id)
        found = rows.find(conn, identity_digest=digest, target=decision.target,
                          policy_digest=decision.policy_digest, attestation_id=attestation.id)
    if found is not None and _still_bound(found, digest, decision.target, key):
        return PromotionEvidence(found, public_pem, issued_now=False)
    stored = _issue(engine, decision, identity, attestation, key_path, key)
    return PromotionEvidence(stored, public_pem, issued_now=True)


def _judged_attestation(conn: Any, identity_digest: str,
                        attestation_id: int) -> StoredAttestation:
    stored = attestations.latest(conn, identity_digest)
    if stored is None or stored.payload is None:
        raise NotSignable("no stored attestation for this version identity")
    if stored.id != attestation_id:
        raise NotSignable("a newer attestation arrived after the gate judged")
    try:
        public_key = attestations.configured_public_key()
    except IntegrityError:
        public_key = None
    if not stored.verified(public_key):
        raise NotSignable("the attestation does not verify with the server's key")
    return stored


def _still_bound(found: rows.StoredPromotionEvidence, identity_digest: str, target: str,
                 key: Any) -> bool:
    # The row's columns are only an index: what counts is what the registry signed. A row
    # copied onto another identity in the database is not served (it is re-issued instead).
    try:
        intoto.open_envelope(found.summary, [key.public_key()],
                             predicate_type=intoto.VSA_PREDICATE_TYPE)
    except intoto.EnvelopeRefused:
        return False
    return promotion_summary.binding(found.summary) == (identity_digest, target)


def _issue(engine: Any, decision: Decision, identity: VersionIdentity,
           attestation: StoredAttestation, key_path: Any, key: Any
           ) -> rows.StoredPromotionEvidence:
    payload = attestation.payload
    assert payload is not None  # _judged_attestation checked
    files = dict(payload.files)
    digest = identity.digest()
    scan_input = intoto.InputAttestation(
        uri=f"mlflow-supplychain:scan-attestation/{attestation.id}",
        sha256=hashlib.sha256(attestation.payload_text.encode()).hexdigest())
    summary = intoto.sign_envelope(promotion_summary.promotion_summary(
        files, name=identity.name, version=identity.version, target=decision.target,
        identity_digest=digest, policy_digest=decision.policy_digest, inputs=[scan_input]), key)
    bundle = oms.sign_file_hashes(files, private_key=key_path, model_name=(
        promotion_summary.oms_model_name(identity.name, identity.version, digest)))
    fingerprint = "sha256:" + hashlib.sha256(registry_key.public_pem(key).encode()).hexdigest()
    now = int(time.time() * 1000)
    resource = promotion_summary.resource_uri(identity.name, identity.version)
    with engine.begin() as conn:
        stored = rows.save(conn, identity=identity, target=decision.target,
                           policy_digest=decision.policy_digest, attestation_id=attestation.id,
                           artifact_digest=payload.artifact_digest, summary=summary,
                           oms_bundle=bundle, key_fingerprint=fingerprint, now_ms=now)
        audit.append(conn, actor=current_user() or "anonymous", action=SIGN_ACTION,
                     subject=resource, payload={
                         "target": decision.target, "identity": digest,
                         "summary_sha256": intoto.envelope_digest(summary),
                         "bundle_sha256": hashlib.sha256(bundle.encode()).hexdigest(),
                         "artifact_digest": payload.artifact_digest,
                         "attestation_id": attestation.id, "evidence_id": stored.id},
                     policy_digest=decision.policy_digest, ts_ms=now)
    return stored


def response_body(evidence: PromotionEvidence) -> dict[str, Any]:
    """The JSON the ``promotions/evidence`` endpoint answers with."""
    stored = evidence.stored
    return {"model": promotion_summary.resource_uri(stored.model_name, stored.version),
            "target": stored.target, "identity_digest": stored.identity_digest,
            "policy_digest": stored.policy_digest, "artifact_digest": stored.artifact_digest,
            "attestation_id": stored.attestation_id, "issued_at": stored.created_at,
            "issued_now": evidence.issued_now, "verification_summary": stored.summary,
            "oms_bundle": json.loads(stored.oms_bundle),
            "registry_key": evidence.public_key_pem, "key_fingerprint": stored.key_fingerprint}
