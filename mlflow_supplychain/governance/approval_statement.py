"""The signed statement of one approval: an in-toto v1 Statement in a DSSE envelope.

When an approver approves a transition request, the registry signs, with its own key
(``signing/registry_key``, ECDSA P-256), a statement that:

- names as its ``subject`` the version, by its immutable identity: ``name`` is
  ``models:/<name>/<version>`` and ``digest.sha256`` the hex of the version's identity digest
  (``version_identity``: workspace, name, number, creation time, storage location, uid), so a
  renamed or deleted-and-re-created version is not the subject;
- has ``predicateType`` :data:`APPROVAL_PREDICATE_TYPE`;
- says in its ``predicate`` who approved (user and groups), which request (id, target,
  requester, the evidence digest the request was made on, the policy digest), the artifact
  digest of the bytes the gate saw, and when.

The envelope is stored with the approval row and returned with the request. It is signed with
securesystemslib's default key id for the registry key, like the verification summaries: check
it with ``registry-signing.pub`` alone (see docs/security-model.md).

Pure apart from the key object it is given: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from mlflow_supplychain.signing import intoto, keyed_envelopes

APPROVAL_PREDICATE_TYPE = "https://mlflow-supplychain.dev/attestation/approval/v1"
"""Our predicate type for approvals; a new major version gets a new URI."""


@dataclass(frozen=True)
class ApprovalFacts:
    """What an approval statement says."""

    request_id: int
    model_name: str
    version: str
    workspace: str
    identity_digest: str
    target: str
    requester: str
    evidence_digest: str
    policy_digest: str
    approver: str
    approver_groups: tuple[str, ...]
    approved_at_ms: int
    artifact_digest: str | None = None


def statement(facts: ApprovalFacts) -> bytes:
    """The approval's in-toto statement (canonical JSON).

    Raises:
        ValueError: the identity digest is not ``sha256:<hex>``.
    """
    algorithm, _, hexdigest = facts.identity_digest.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64:
        raise ValueError("the identity digest is not sha256:<hex>")
    when = datetime.fromtimestamp(facts.approved_at_ms / 1000, tz=timezone.utc)
    predicate: dict[str, Any] = {
        "approver": {"name": facts.approver, "groups": sorted(facts.approver_groups)},
        "request": {"id": facts.request_id, "target": facts.target,
                    "requester": facts.requester, "evidenceDigest": facts.evidence_digest,
                    "policyDigest": facts.policy_digest},
        "version": {"workspace": facts.workspace, "name": facts.model_name,
                    "version": facts.version, "identityDigest": facts.identity_digest},
        "approvedAt": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
    }
    if facts.artifact_digest is not None:
        predicate["artifactDigest"] = facts.artifact_digest
    subject = {f"models:/{facts.model_name}/{facts.version}": hexdigest}
    return keyed_envelopes.statement_bytes(subject, APPROVAL_PREDICATE_TYPE, predicate)


def seal(facts: ApprovalFacts, private_key: Any) -> str:
    """The DSSE envelope of the approval statement signed with the registry key, as the
    canonical JSON text that is stored."""
    return keyed_envelopes.canonical(intoto.sign_envelope(statement(facts), private_key))


@dataclass(frozen=True)
class ApprovalCheck:
    """What :func:`check` found; ``problems`` is empty when the envelope vouches for it."""

    problems: tuple[str, ...]
    statement: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def check(envelope: Mapping[str, Any] | str, public_keys: Sequence[Any], *,
          identity_digest: str, request_id: int,
          approver: str | None = None) -> ApprovalCheck:
    """Does a trusted registry key's envelope state this approval of this version?"""
    try:
        stmt = intoto.open_envelope(envelope if isinstance(envelope, Mapping)
                                    else json.loads(envelope), public_keys,
                                    predicate_type=APPROVAL_PREDICATE_TYPE)
    except (intoto.EnvelopeRefused, ValueError) as exc:
        return ApprovalCheck((f"approval envelope: {exc}",))
    predicate = stmt.get("predicate") or {}
    problems = []
    subjects = stmt.get("subject") or []
    digests = [(s.get("digest") or {}).get("sha256") for s in subjects]
    if digests != [identity_digest.partition(":")[2]]:
        problems.append("the subject is another version than " + identity_digest)
    if (predicate.get("version") or {}).get("identityDigest") != identity_digest:
        problems.append("the predicate names another version identity")
    if (predicate.get("request") or {}).get("id") != request_id:
        problems.append(f"the statement is about another request than {request_id}")
    if approver is not None and (predicate.get("approver") or {}).get("name") != approver:
        problems.append(f"the approver is not {approver}")
    return ApprovalCheck(tuple(problems), stmt)
