"""The deployment manifest: what a production service is about to load, pinned and evidenced.

A frozen pydantic model (``extra="forbid"``); ``mlflow-supplychain deploy schema`` exports its
JSON Schema. Its :meth:`DeploymentManifest.digest` (canonical JSON) is what the server's
``deploy.load`` audit record names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlflow_supplychain.digest_fields import Digest, FileHashes
from mlflow_supplychain.digests import digest_of
from mlflow_supplychain.documents import parse_json
from mlflow_supplychain.errors import EvidenceError, Problem
from mlflow_supplychain.regular_files import read_regular_text

MANIFEST_TYPE: Literal["mlflow-supplychain/deployment-manifest/v1"] = (
    "mlflow-supplychain/deployment-manifest/v1")
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScanSummary(_Frozen):
    """The verified scan attestation the manifest's hashes come from."""

    verdict: Literal["permitted", "sandboxed", "prohibited", "error"]
    findings: tuple[str, ...] = ()
    scanner_version: str
    scanned_at: str
    key_id: str


class ApprovalSummary(_Frozen):
    """One approval of an approved transition request for this version and target."""

    request_id: int
    approver: str
    evidence_digest: str
    created_at: int


class DeploymentManifest(_Frozen):
    """Everything a deployment must be able to prove about the model it loads."""

    type: Literal["mlflow-supplychain/deployment-manifest/v1"] = MANIFEST_TYPE
    registry: str = Field(description="Tracking/registry server URI (credentials stripped).")
    requested_uri: str = Field(description="The URI the manifest was asked for.")
    model_name: str = Field(min_length=1)
    version: str = Field(pattern=r"^[1-9][0-9]{0,18}$")
    alias: str | None = Field(None, description="Alias the URI named, at resolution time.")
    aliases: tuple[str, ...] = Field((), description="Every alias on the version at resolution.")
    target: str = Field(description="Protected target the gate allowed the version for.")
    artifact_digest: Digest
    files: FileHashes = Field(description="Relative POSIX path -> sha256 hex.")
    formats: dict[str, str] = Field(default_factory=dict, description="Path -> detected format.")
    scan: ScanSummary
    approvals: tuple[ApprovalSummary, ...] = ()
    eval_ref: str | None = None
    owner: str | None = None
    rollback_version: str | None = None
    policy_digest: Digest
    evidence_digest: Digest
    identity_digest: Digest | None = Field(
        None, description="Digest of the version's immutable identity the gate judged; the "
        "verification summary must name it (a model deleted and re-created under the same "
        "name has another one).")
    created_at: str = Field(description="ISO 8601 UTC time the manifest was written.")
    verification_summary: dict[str, Any] | None = Field(
        None, description="The registry's signed SLSA verification summary (DSSE envelope of "
        "an in-toto statement) for these files and this target.")
    oms_signature: dict[str, Any] | None = Field(
        None, description="The registry's OpenSSF Model Signing bundle over these files "
        "(verify with 'model_signing verify key' and the registry's public key).")

    @field_validator("files")
    @classmethod
    def _files(cls, value: dict[str, str]) -> dict[str, str]:
        # FileHashes has checked each hash already; an empty dict passes that check
        if not value:
            raise ValueError("a manifest lists at least one file")
        return value

    @property
    def pinned_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"

    def digest(self) -> str:
        """``sha256:`` over the manifest's canonical JSON."""
        return digest_of(self.model_dump(mode="json"))

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def json_schema() -> dict[str, Any]:
    """The manifest's JSON Schema (draft 2020-12, as pydantic emits it)."""
    schema = DeploymentManifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def parse_manifest(value: Any, *, where: str = "manifest") -> DeploymentManifest:
    """Validate a decoded JSON object as a manifest.

    Raises:
        EvidenceError: not a well-formed deployment manifest.
    """
    try:
        return DeploymentManifest.model_validate(value)
    except ValidationError as exc:
        problems = [Problem(f"{where}: " + (".".join(str(p) for p in err["loc"]) or "root"),
                            err["msg"], "write it with 'mlflow-supplychain deploy manifest'")
                    for err in exc.errors()[:10]]
        raise EvidenceError("Not a valid deployment manifest", problems) from None


def read_manifest(path: str | Path) -> DeploymentManifest:
    """Read and validate a manifest file.

    Raises:
        EvidenceError: missing, unreadable, not a regular file (a FIFO, a device...), larger
            than 16 MiB, not UTF-8 JSON, nested more than 64 levels deep, or not a valid
            manifest. Never anything else.
    """
    where = str(path)
    text = read_regular_text(path, limit=MAX_MANIFEST_BYTES, kind="Deployment manifest",
                             error=EvidenceError,
                             missing_fix="pass the file 'deploy manifest' wrote")
    data = parse_json(text, source=where, kind="Deployment manifest", error=EvidenceError)
    return parse_manifest(data, where=where)
