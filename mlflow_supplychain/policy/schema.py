"""The policy file, as frozen pydantic models.

A policy names which aliases and stages are protected, which promotion profile guards each,
what evidence each profile requires, which intake fields each artifact class must carry,
where model versions may come from, which serialization formats are acceptable and which
license outcomes pass. Cross-field rules (an alias in two profiles, a profile nothing uses, a
required field no intake schema defines...) live in :func:`Policy._check_consistency` so the
loader reports them with the same field paths as type errors.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlflow_supplychain.digests import digest_of
from mlflow_supplychain.intake.fields import FIELDS, ArtifactClass, LicenseOutcome
from mlflow_supplychain.intake.licenses import validate_license_id

SCHEMA_VERSION = 1
SCANNER_RULES_VERSION = 1
"""Version of the scanner's detection rules. A scan verdict depends on the format policy and on
these rules, so both are part of :attr:`Policy.format_digest`: bump this when a release changes
what the scanner detects, and every version is rescanned (promoted ones first)."""
MLFLOW_STAGES = ("Staging", "Production", "Archived")


class Requirement(str, enum.Enum):
    """A piece of evidence a promotion profile can require."""

    INTAKE_COMPLETE = "intake_complete"
    SOURCE_ALLOWED = "source_allowed"
    HASH_MATCH = "hash_match"
    LICENSE_APPROVED = "license_approved"
    EVAL_EVIDENCE = "eval_evidence"
    SCAN_PASSED = "scan_passed"
    APPROVAL = "approval"
    LINEAGE_VERIFIED = "lineage_verified"
    SIGNATURE_VERIFIED = "signature_verified"


class Mode(str, enum.Enum):
    ENFORCE = "enforce"
    """Deny non-compliant promotions."""
    AUDIT = "audit"
    """Evaluate, record and tag, never block."""


class FormatVerdict(str, enum.Enum):
    PERMITTED = "permitted"
    SANDBOXED = "sandboxed"
    PROHIBITED = "prohibited"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


_PRINCIPAL = re.compile(r"^(user|group):[^\s:]+$")


class ApprovalRule(_Frozen):
    """Who may approve a promotion under a profile, and how many must."""

    min: Annotated[int, Field(ge=1, le=10, description="Distinct approvals needed.")] = 1
    approvers: tuple[str, ...] = Field(
        description="Principals allowed to approve: 'user:<name>' or 'group:<name>'."
    )
    separation_of_duties: bool = Field(
        True,
        description="Approver must be neither the requester nor the version's creator.",
    )

    @field_validator("approvers")
    @classmethod
    def _principals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("lists no approvers; name at least one 'user:<name>' or 'group:<name>'")
        bad = [p for p in value if not _PRINCIPAL.match(p)]
        if bad:
            raise ValueError(
                f"{', '.join(map(repr, bad))} must be written 'user:<name>' or 'group:<name>'"
            )
        if len(set(value)) != len(value):
            raise ValueError("lists the same approver twice")
        return value

    @model_validator(mode="after")
    def _enough_people(self) -> ApprovalRule:
        users = [p for p in self.approvers if p.startswith("user:")]
        has_group = any(p.startswith("group:") for p in self.approvers)
        if not has_group and len(users) < self.min:
            raise ValueError(
                f"min is {self.min} but only {len(users)} approver(s) are listed; "
                "list more approvers or add a group"
            )
        return self


class Profile(_Frozen):
    """A promotion profile: the evidence a protected target requires."""

    require: tuple[Requirement, ...] = Field(description="Evidence every promotion must carry.")
    approvals: ApprovalRule | None = Field(
        None, description="Approval rule; required when 'approval' is in require."
    )
    allowed_scan_verdicts: tuple[FormatVerdict, ...] = Field(
        (FormatVerdict.PERMITTED, FormatVerdict.SANDBOXED),
        description="Worst per-file format verdict that still passes the scan requirement.",
    )

    @field_validator("require")
    @classmethod
    def _non_empty(cls, value: tuple[Requirement, ...]) -> tuple[Requirement, ...]:
        if not value:
            raise ValueError(
                "is empty; a protected target must require evidence (an empty list would "
                "allow everything). List at least one of: "
                + ", ".join(r.value for r in Requirement)
            )
        if len(set(value)) != len(value):
            raise ValueError("lists the same requirement twice")
        return value

    @model_validator(mode="after")
    def _approval_settings(self) -> Profile:
        if Requirement.APPROVAL in self.require and self.approvals is None:
            raise ValueError("requires 'approval' but has no 'approvals' section; add "
                             "approvals: {min: 1, approvers: [group:<approvers>]}")
        if Requirement.APPROVAL not in self.require and self.approvals is not None:
            raise ValueError("has an 'approvals' section but does not require 'approval'; "
                             "add 'approval' to require or remove the section")
        if FormatVerdict.PROHIBITED in self.allowed_scan_verdicts:
            raise ValueError("allowed_scan_verdicts must not include 'prohibited'")
        return self


class Protected(_Frozen):
    """Protected targets, each mapped to the name of the profile that guards it."""

    aliases: dict[str, str] = Field(
        default_factory=dict, description="Alias name -> profile, e.g. production: prod.")
    stages: dict[str, str] = Field(
        default_factory=dict, description="MLflow stage (Staging, Production, Archived) -> profile.")

    @field_validator("aliases")
    @classmethod
    def _alias_names(cls, value: dict[str, str]) -> dict[str, str]:
        for alias in value:
            if not re.fullmatch(r"[A-Za-z0-9_\-]{1,255}", alias) or re.fullmatch(r"[vV]\d+", alias):
                raise ValueError(f"{alias!r} is not a valid MLflow alias")
            if alias.lower() == "latest":
                raise ValueError("'latest' is reserved by MLflow and cannot be an alias")
        return value

    @field_validator("stages")
    @classmethod
    def _stage_names(cls, value: dict[str, str]) -> dict[str, str]:
        for stage in value:
            if stage not in MLFLOW_STAGES:
                raise ValueError(
                    f"{stage!r} is not an MLflow stage; use one of {', '.join(MLFLOW_STAGES)}"
                )
        return value


class ArtifactClassRule(_Frozen):
    """Required intake fields for one artifact class."""

    extends: ArtifactClass | None = Field(
        None, description="Inherit the required fields of another class (no cycles).")
    required: tuple[str, ...] = Field(
        (), description="Intake fields (names from the intake field table) this class must carry. "
        "'datasets' also requires a training or fine-tuning data set, and the data sets logged "
        "on the training run to be in the record.")
    require_signature: bool = Field(
        False, description="Versions of this class must carry their publisher's OpenSSF Model "
        "Signing signature, verified with a key in signatures.trusted_keys or a chain in "
        "signatures.trusted_certificates, under every profile "
        "(adds signature_verified).")

    @field_validator("required")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in FIELDS]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))} is not an intake field; known fields: "
                + ", ".join(sorted(FIELDS))
            )
        return value


class Sources(_Frozen):
    """Where model-version sources may point."""

    allow: tuple[str, ...] = Field(
        description="URI prefixes versions may come from (controlled storage, runs, models)."
    )
    deny_mutable_refs: bool = Field(
        True, description="Deny sources that can change later (aliases, stages, 'latest')."
    )

    @field_validator("allow")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("is empty; list the URI prefixes of your controlled storage, "
                             "e.g. ['mlflow-artifacts:', 'runs:/', 'models:/']")
        for prefix in value:
            if ":" not in prefix:
                raise ValueError(f"{prefix!r} has no URI scheme; write e.g. 's3://bucket/prefix'")
            if _is_public_hub(prefix):
                raise ValueError(
                    f"{prefix!r} is a public model hub; import models into controlled storage "
                    "with 'mlflow-supplychain intake import' instead of allowing the hub"
                )
        return value


_PUBLIC_HUBS = ("huggingface.co", "hf.co", "hf://", "hub.docker.com", "kaggle.com",
                "modelscope.cn", "ollama.com", "github.com", "raw.githubusercontent.com")


def _is_public_hub(uri: str) -> bool:
    lowered = uri.lower()
    return any(hub in lowered for hub in _PUBLIC_HUBS)


def is_public_hub(uri: str) -> bool:
    """True when ``uri`` points at a public model hub rather than controlled storage."""
    return _is_public_hub(uri)


class Formats(_Frozen):
    """Which detected formats are permitted, sandboxed or prohibited."""

    permitted: tuple[str, ...] = Field(
        ("safetensors", "onnx", "gguf", "numpy", "json", "text", "keras", "hdf5"),
        description="Format names that pass any scan.")
    sandboxed: tuple[str, ...] = Field(
        ("pickle_allowlisted", "torchscript", "requirements_unpinned"),
        description="Format names that pass only where a profile allows 'sandboxed'.")
    prohibited: tuple[str, ...] = Field(
        ("pickle_unsafe", "cloudpickle", "keras_lambda", "onnx_custom_op", "unknown",
         "keras_custom_object", "onnx_external_data_escape", "archive_unsafe", "mlflow_code",
         "requirements_untrusted_source", "chat_template_unsafe"),
        description="Format names that never pass; a name no list mentions counts as 'unknown'.")
    pickle_allowlist: tuple[str, ...] = Field(
        (), description="Extra 'module.qualname' globals (or 'module.*') pickles may import."
    )

    @model_validator(mode="after")
    def _disjoint(self) -> Formats:
        seen: dict[str, str] = {}
        for verdict in ("permitted", "sandboxed", "prohibited"):
            for name in getattr(self, verdict):
                if name in seen:
                    raise ValueError(f"format {name!r} is both {seen[name]} and {verdict}")
                seen[name] = verdict
        for entry in self.pickle_allowlist:
            if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*(\.\*)?", entry) or "." not in entry:
                raise ValueError(f"pickle_allowlist entry {entry!r} must be 'module.name' or 'module.*'")
        return self


class Licenses(_Frozen):
    """Which license review outcomes pass, and which licenses are denied outright."""

    allowed_outcomes: tuple[LicenseOutcome, ...] = Field(
        (LicenseOutcome.APPROVED, LicenseOutcome.APPROVED_WITH_CONDITIONS),
        description="license.outcome values that pass; never 'rejected'.")
    deny: tuple[str, ...] = Field(
        (), description="Licenses (SPDX ids or named model licenses) that never pass, also "
        "inside an expression: the model's license.id and the license of every data set its "
        "record lists (datasets).")
    require_conditions: tuple[str, ...] = Field(
        (), description="Licenses (SPDX ids or named model licenses) that may only pass as "
        "approved_with_conditions, with the conditions written in license.conditions (for the "
        "model's license and its data sets' licenses).")

    @field_validator("allowed_outcomes")
    @classmethod
    def _outcomes(cls, value: tuple[LicenseOutcome, ...]) -> tuple[LicenseOutcome, ...]:
        if not value:
            raise ValueError("is empty; list approved (and approved_with_conditions if accepted)")
        if LicenseOutcome.REJECTED in value:
            raise ValueError("must not include 'rejected': a rejected license review cannot pass")
        return value

    @field_validator("deny", "require_conditions")
    @classmethod
    def _denied_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for license_id in value:
            problem = validate_license_id(license_id)
            if problem:
                raise ValueError(f"{license_id!r} {problem}")
        return value

    @model_validator(mode="after")
    def _conditions_can_pass(self) -> Licenses:
        if self.require_conditions and (
            LicenseOutcome.APPROVED_WITH_CONDITIONS not in self.allowed_outcomes
        ):
            raise ValueError("require_conditions lists licenses that may only pass as "
                             "approved_with_conditions, but allowed_outcomes excludes it; add "
                             "approved_with_conditions to allowed_outcomes or deny the licenses")
        return self


class Integrity(_Frozen):
    """Re-verification of artifact bytes at promotion."""

    reverify_on_promotion: bool = Field(
        True, description="Re-hash the bytes at the version's download location whenever a "
        "profile needing hash_match or scan_passed is evaluated, and judge those bytes. Off "
        "(an escape hatch, warned about): the bytes that were scanned are judged instead."
    )
    reverify_budget_seconds: Annotated[float, Field(
        gt=0, le=3600, description="Longest re-hash allowed at promotion (0 < s <= 3600); "
        "past it the promotion is denied as not re-verified.")] = 120.0


class Signatures(_Frozen):
    """Publishers whose OpenSSF Model Signing (OMS) signatures the registry trusts."""

    trusted_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Publisher name -> its public key (PEM, elliptic curve: OMS key mode). A "
        "model's signature (model.sig among its files) must verify with one of them.")
    trusted_certificates: dict[str, str] = Field(
        default_factory=dict,
        description="Publisher name -> the certificate chain its signing certificates chain to "
        "(PEM: the root CA, then any intermediates; OMS certificate mode). A model signed with "
        "a leaf certificate (in its signature) verifies when the leaf chains to one of these "
        "roots, allows digital signatures or code signing, and every certificate on the path "
        "is valid now. Both this and trusted_keys may be set.")

    @field_validator("trusted_certificates")
    @classmethod
    def _chains(cls, value: dict[str, str]) -> dict[str, str]:
        from cryptography import x509

        for name, pem in value.items():
            _check_publisher_name(name)
            if "PRIVATE KEY" in pem:
                raise ValueError(f"{name}: holds a private key; paste only the CA "
                                 "certificates ('-----BEGIN CERTIFICATE-----' blocks)")
            try:
                certificates = x509.load_pem_x509_certificates(pem.encode())
            except (ValueError, TypeError):
                raise ValueError(f"{name}: not a PEM certificate chain (paste the root CA's "
                                 "'-----BEGIN CERTIFICATE-----' block, then any "
                                 "intermediates)") from None
            if not certificates:
                raise ValueError(f"{name}: holds no certificate")
        return value

    @field_validator("trusted_keys")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        for name, pem in value.items():
            _check_publisher_name(name)
            try:
                key = serialization.load_pem_public_key(pem.encode())
            except (ValueError, TypeError):
                raise ValueError(f"{name}: not a PEM public key (paste the publisher's "
                                 "'-----BEGIN PUBLIC KEY-----' block)") from None
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise ValueError(f"{name}: OMS key mode uses elliptic-curve keys (P-256, P-384 "
                                 "or P-521)")
        return value


def _check_publisher_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", name):
        raise ValueError(f"publisher name {name!r} must be letters, digits, . _ -")


class Lineage(_Frozen):
    """How the gate treats the ancestors of derived artifacts (fine-tunes, adapters)."""

    accept_external_pinned: bool = Field(
        False,
        description="Accept a base that is not in this registry when pinned to a commit and "
        "declared with its digest.",
    )


class DeployedAction(str, enum.Enum):
    REFUSE = "refuse"
    """Deployment checks (``deploy verify``, ``load_verified_model``) refuse the version."""
    WARN = "warn"
    """They warn loudly (and audit) but let the version already in production keep running."""


class Deployed(_Frozen):
    """Versions already holding a protected target when a policy change makes them
    non-compliant (a new license on the deny list, a stricter format policy...)."""

    when_noncompliant: DeployedAction = Field(
        DeployedAction.REFUSE,
        description="'refuse' (default, fail closed): deploy verify exits 1 and "
        "load_verified_model raises; 'warn': both report the violations, audit them and let the "
        "version that already holds the target keep serving. New promotions are always gated.")


class Identity(_Frozen):
    """Who the caller is, for requests and approvals (the gate itself needs no identity)."""

    groups: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Group name -> member usernames, for 'group:<name>' approvers when users "
        "authenticate with MLflow basic-auth (which has no groups).",
    )
    trusted_proxy_user_header: str | None = Field(
        None, description="Header carrying the user, set by an authenticating reverse proxy. "
        "Only name it when every request passes through that proxy.")
    trusted_proxy_groups_header: str | None = Field(
        None, description="Header carrying the user's comma-separated groups, set by the proxy.")
    trusted_proxy_secret_header: str | None = Field(
        None, description="Pin the proxy by a shared secret: the proxy sends it in this header "
        "and the server compares it with the MLFLOW_SUPPLYCHAIN_PROXY_SECRET environment "
        "variable (the secret never goes in the policy). A request without the right secret "
        "gets no proxy identity. The server refuses to start when the variable is unset.")
    trusted_proxy_addresses: tuple[str, ...] = Field(
        (), description="Pin the proxy by address: IP addresses or networks (CIDR) the proxy "
        "connects from. A request from any other peer address gets no proxy identity. Name "
        "this, trusted_proxy_secret_header, or both; otherwise anyone who reaches the server "
        "can claim any user (a warning at start, in status and on the page).")
    allow_unauthenticated: bool = Field(
        False, description="DEVELOPMENT ONLY: without authentication, take the user from the "
        "X-Supplychain-User header. Logged as a warning on every use.")

    @field_validator("groups")
    @classmethod
    def _members(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for group, members in value.items():
            if not re.fullmatch(r"[^\s:]+", group):
                raise ValueError(f"group name {group!r} must have no spaces or colons")
            if not members:
                raise ValueError(f"group {group!r} has no members")
        return value

    @model_validator(mode="after")
    def _headers(self) -> Identity:
        if self.trusted_proxy_groups_header and not self.trusted_proxy_user_header:
            raise ValueError("trusted_proxy_groups_header needs trusted_proxy_user_header")
        pinned = self.trusted_proxy_secret_header or self.trusted_proxy_addresses
        if pinned and not self.trusted_proxy_user_header:
            raise ValueError("trusted_proxy_secret_header and trusted_proxy_addresses pin the "
                             "proxy named by trusted_proxy_user_header, which is not set")
        headers = [h for h in (self.trusted_proxy_user_header, self.trusted_proxy_groups_header,
                               self.trusted_proxy_secret_header) if h is not None]
        for header in headers:
            # Dashes only: servers fold '_' and '-' into one WSGI key, so an underscore
            # spelling could never be told apart from the dashed one.
            if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", header):
                raise ValueError(f"{header!r} is not an HTTP header name (letters, digits, "
                                 "dashes)")
        if len({h.lower() for h in headers}) != len(headers):
            raise ValueError("the trusted proxy user, groups and secret headers must differ")
        for address in self.trusted_proxy_addresses:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxy_addresses: {address!r} is not an IP address "
                                 "or CIDR network") from None
        return self


class Policy(_Frozen):
    """A complete, validated supply-chain policy."""

    version: Literal[1] = Field(description="Policy schema version; only 1 exists.")
    mode: Mode = Field(Mode.ENFORCE, description="'enforce' denies non-compliant promotions; "
                       "'audit' evaluates, records and tags, never blocks.")
    reserved_tag_prefix: str = Field(
        "supplychain.", description="Governance tag namespace only the plugin may write.")
    protected: Protected
    profiles: dict[str, Profile] = Field(
        description="Profile name -> the evidence a protected target requires.")
    artifact_classes: dict[ArtifactClass, ArtifactClassRule] = Field(
        description="Artifact class -> the intake fields a version of that class must carry.")
    sources: Sources
    formats: Formats = Formats()
    licenses: Licenses = Licenses()
    integrity: Integrity = Integrity()
    lineage: Lineage = Lineage()
    identity: Identity = Identity()
    deployed: Deployed = Deployed()
    signatures: Signatures = Signatures()

    @field_validator("reserved_tag_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_\-]*(\.[a-z0-9_\-]+)*\.", value):
            raise ValueError("must be lowercase dotted words ending in '.', e.g. 'supplychain.'")
        if value.startswith("mlflow."):
            raise ValueError("must not be inside MLflow's own 'mlflow.' namespace")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Policy:
        if not self.protected.aliases and not self.protected.stages:
            raise ValueError("protected: lists no aliases and no stages, so nothing would be "
                             "enforced; protect at least one alias (e.g. production)")
        if not self.profiles:
            raise ValueError("profiles: is empty; define the profile your protected targets use")
        for kind, mapping in (("aliases", self.protected.aliases),
                              ("stages", self.protected.stages)):
            for target, profile in mapping.items():
                if profile not in self.profiles:
                    raise ValueError(
                        f"protected.{kind}.{target}: names profile {profile!r}, which is not "
                        f"defined; defined profiles: {', '.join(sorted(self.profiles))}"
                    )
        used = set(self.protected.aliases.values()) | set(self.protected.stages.values())
        for name in self.profiles:
            if name not in used:
                raise ValueError(
                    f"profiles.{name}: no protected alias or stage uses this profile; "
                    "map a target to it under protected: or delete it"
                )
        for name, rule in self.artifact_classes.items():
            self._resolve_chain(name, rule)
        wants_signature = (any(Requirement.SIGNATURE_VERIFIED in p.require
                               for p in self.profiles.values())
                           or any(r.require_signature for r in self.artifact_classes.values()))
        if wants_signature and not (self.signatures.trusted_keys
                                    or self.signatures.trusted_certificates):
            raise ValueError("signatures.trusted_keys: and signatures.trusted_certificates: "
                             "are empty but signature_verified is required; add the public key "
                             "or the CA certificate chain of each publisher you trust")
        needs_intake = any(Requirement.INTAKE_COMPLETE in p.require for p in self.profiles.values())
        if needs_intake and not self.artifact_classes:
            raise ValueError("artifact_classes: is empty but a profile requires intake_complete; "
                             "define the required fields for each artifact class you register")
        return self

    def _resolve_chain(self, name: ArtifactClass, rule: ArtifactClassRule) -> None:
        seen = [name]
        while rule.extends is not None:
            parent = rule.extends
            if parent in seen:
                chain = " -> ".join(c.value for c in [*seen, parent])
                raise ValueError(f"artifact_classes.{name.value}.extends: cycle {chain}")
            if parent not in self.artifact_classes:
                raise ValueError(
                    f"artifact_classes.{name.value}.extends: {parent.value!r} is not defined "
                    "in artifact_classes"
                )
            seen.append(parent)
            rule = self.artifact_classes[parent]

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Policy:
        """A copy (with ``update`` applied) whose digests are computed afresh."""
        copy = super().model_copy(update=update, deep=deep)
        for cached in ("digest", "format_digest"):
            copy.__dict__.pop(cached, None)
        return copy

    # -- derived views ---------------------------------------------------------------------

    def required_fields(self, artifact_class: ArtifactClass) -> tuple[str, ...]:
        """Every field ``artifact_class`` requires, own and inherited, without duplicates."""
        ordered: list[str] = []
        rule: ArtifactClassRule | None = self.artifact_classes.get(artifact_class)
        chain: list[ArtifactClassRule] = []
        while rule is not None:
            chain.append(rule)
            rule = self.artifact_classes.get(rule.extends) if rule.extends else None
        for link in reversed(chain):
            ordered.extend(f for f in link.required if f not in ordered)
        return tuple(ordered)

    def requirements_for(self, profile: str, artifact_class: str | None) -> tuple[Requirement, ...]:
        """What promotion under ``profile`` requires of a version of ``artifact_class``: the
        profile's list, plus ``signature_verified`` when the class demands a signature."""
        required = self.profiles[profile].require
        rule = None
        if artifact_class in {c.value for c in self.artifact_classes}:
            rule = self.artifact_classes[ArtifactClass(artifact_class)]
        if rule is not None and rule.require_signature and (
                Requirement.SIGNATURE_VERIFIED not in required):
            return (*required, Requirement.SIGNATURE_VERIFIED)
        return required

    def profile_for_alias(self, alias: str) -> str | None:
        return self.protected.aliases.get(alias)

    def profile_for_stage(self, stage: str) -> str | None:
        for name, profile in self.protected.stages.items():
            if name.lower() == stage.lower():
                return profile
        return None

    # Cached: the model is frozen, and the gate reads both on every evaluation (impact runs
    # thousands). pydantic leaves functools.cached_property out of the fields; model_copy
    # below drops the cached values, which a copy with changes must not inherit.
    @functools.cached_property
    def digest(self) -> str:
        """Stable ``sha256:`` digest of the canonical JSON form of this policy."""
        return digest_of(self.model_dump(mode="json"))

    @functools.cached_property
    def format_digest(self) -> str:
        """Digest of the part of the policy a scan verdict depends on: the ``formats`` section
        (including ``pickle_allowlist``), the publishers whose signatures the scan checks
        (``signatures.trusted_keys`` and ``trusted_certificates``) and the scanner's rules
        version. Scan attestations bind to this, not to :attr:`digest`, so editing approvers
        or profiles never makes a scan stale, while trusting another publisher does (the sidecar rescans)."""
        return format_policy_digest(self.formats, self.signatures)


def format_policy_digest(formats: Formats, signatures: Signatures | None = None) -> str:
    """:attr:`Policy.format_digest` of a policy with these ``formats`` and ``signatures``
    sections (no trusted keys: the same digest as before signatures were checked)."""
    bound: dict[str, object] = {"formats": formats.model_dump(mode="json"),
                                "scanner_rules": SCANNER_RULES_VERSION}
    if signatures is not None and signatures.trusted_keys:
        bound["trusted_keys"] = dict(sorted(signatures.trusted_keys.items()))
    if signatures is not None and signatures.trusted_certificates:
        bound["trusted_certificates"] = dict(sorted(signatures.trusted_certificates.items()))
    return digest_of(bound)
