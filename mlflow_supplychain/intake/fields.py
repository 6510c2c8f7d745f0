"""The catalog of intake fields: every name a policy may require, and how each is validated.

Intake fields travel as MLflow model-version tags ``supplychain.intake.<field>``. This module is
pure: it knows each field's meaning, an example, and a validator that returns a message naming
what is wrong (or ``None`` when the value is acceptable). The registry store uses the same
validators on write, the engine on promotion, so a value is judged the same way everywhere.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from mlflow_supplychain.digests import DIGEST_SHAPE, is_digest, is_sha256_hex
from mlflow_supplychain.intake import licenses
from mlflow_supplychain.intake.datasets import DATASETS_EXAMPLE, validate_datasets_value


class ArtifactClass(str, enum.Enum):
    """What kind of artifact a registered model version is."""

    BASE_MODEL = "base_model"
    FINE_TUNE = "fine_tune"
    ADAPTER = "adapter"
    EMBEDDING_MODEL = "embedding_model"
    RERANKER = "reranker"
    TOKENIZER = "tokenizer"
    PREPROCESSOR = "preprocessor"


class LicenseOutcome(str, enum.Enum):
    APPROVED = "approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions"
    REJECTED = "rejected"


class SecurityReviewStatus(str, enum.Enum):
    PASSED = "passed"
    PENDING = "pending"
    FAILED = "failed"


Validator = Callable[[str], "str | None"]

MAX_TEXT = 5000
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_PINNED_REV = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_MODELS_PINNED = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[1-9][0-9]*)$")
_OWNER = re.compile(r"^[^\s].{0,255}$", re.DOTALL)
_BOOL_WORDS = {"true", "false", "yes", "no"}


def _text(value: str) -> str | None:
    if not value.strip():
        return "is empty"
    if len(value) > MAX_TEXT:
        return f"is {len(value)} characters long; the limit is {MAX_TEXT}"
    return None


def _owner(value: str) -> str | None:
    if not value.strip() or not _OWNER.match(value):
        return "must be a team or person (1-256 characters, not starting with a space)"
    return None


def _url(value: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in {"https", "http", "s3", "gs", "hf", "abfss", "wasbs"}:
        return "must be an https://, s3://, gs://, hf:// or abfss:// URL"
    if not parts.netloc:
        return "has no host"
    if parts.username or parts.password:
        return "contains credentials; remove the user:password@ part"
    return None


def _pinned_revision(value: str) -> str | None:
    if not _PINNED_REV.match(value):
        return (
            f"{value!r} is not a pinned revision (branch names, tags and 'main' can move); "
            "use the full 40-character commit hash"
        )
    return None


def _source_hashes(value: str) -> str | None:
    return None if parse_source_hashes(value) is not None else (
        "must be a 64-character lowercase sha256 hex digest, or a JSON object "
        'mapping relative file paths to such digests, e.g. {"model.safetensors": "<sha256>"}'
    )


def _digest(value: str) -> str | None:
    return None if is_digest(value) else DIGEST_SHAPE


def _license_id(value: str) -> str | None:
    return licenses.validate_license_id(value)


def _enum(cls: type[enum.Enum]) -> Validator:
    allowed = [m.value for m in cls]

    def check(value: str) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _run_ref(value: str) -> str | None:
    ref = value[len("runs:/") :].split("/", 1)[0] if value.startswith("runs:/") else value
    if _RUN_ID.match(ref):
        return None
    return "must be an MLflow run id (32 hex characters) or runs:/<run_id>"


def _base_model_uri(value: str) -> str | None:
    if _MODELS_PINNED.match(value):
        return None
    if value.startswith("models:/"):
        return "must name a fixed version (models:/<name>/<version>), not an alias, stage or 'latest'"
    url, sep, rev = value.rpartition("@")
    if sep and _url(url) is None and _PINNED_REV.match(rev):
        return None
    return "must be models:/<name>/<version> or an external URL pinned to a commit, <url>@<commit-sha>"


def _iso_date(value: str) -> str | None:
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return "must be an ISO date, YYYY-MM-DD"
    return None


def _boolean(value: str) -> str | None:
    return None if value.lower() in _BOOL_WORDS else "must be true or false"


def _version_number(value: str) -> str | None:
    return None if value.isdigit() and int(value) > 0 else "must be a registered version number"


def parse_source_hashes(value: str) -> dict[str, str] | None:
    """Parse declared source hashes: a bare hex digest (keyed ``""``) or a path->hex JSON object.

    Returns ``None`` when the value is malformed.
    """
    if is_sha256_hex(value):
        return {"": value}
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not data:
        return None
    if not all(isinstance(k, str) and k and isinstance(v, str) and is_sha256_hex(v)
               for k, v in data.items()):
        return None
    return dict(data)


@dataclass(frozen=True)
class FieldSpec:
    """One intake field: its name, what it means, an example and its validator."""

    name: str
    summary: str
    example: str
    validate: Validator


_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("artifact_class", "What the artifact is; selects the required fields.",
              "base_model", _enum(ArtifactClass)),
    FieldSpec("owner", "Accountable team or person.", "ml-platform@example.com", _owner),
    FieldSpec("intended_use", "What the model is for, in a sentence.",
              "Fraud scoring of card payments", _text),
    FieldSpec("limitations", "Known limitations and out-of-scope uses.",
              "Not evaluated on non-EU traffic", _text),
    FieldSpec("source_url", "Where the artifact originally came from (provenance only).",
              "https://huggingface.co/org/model", _url),
    FieldSpec("source_revision", "The exact upstream commit the files were taken from.",
              "0123456789abcdef0123456789abcdef01234567", _pinned_revision),
    FieldSpec("source_sha256", "Declared sha256 of the upstream files (hex, or JSON path->hex).",
              '{"model.safetensors": "' + "0" * 64 + '"}', _source_hashes),
    FieldSpec("license.id", "SPDX expression or named model license.", "Apache-2.0", _license_id),
    FieldSpec("license.outcome", "Result of the license review.", "approved",
              _enum(LicenseOutcome)),
    FieldSpec("license.reviewer", "Who reviewed the license.", "legal@example.com", _owner),
    FieldSpec("license.date", "When the license was reviewed.", "2026-01-31", _iso_date),
    FieldSpec("license.commercial_use", "Whether commercial use is allowed.", "true", _boolean),
    FieldSpec("license.redistribution", "Whether redistribution is allowed.", "true", _boolean),
    FieldSpec("license.derivatives", "Whether derivative works are allowed.", "true", _boolean),
    FieldSpec("license.field_of_use", "Field-of-use restrictions, if any.", "none", _text),
    FieldSpec("license.output_rights", "Restrictions on model outputs, if any.", "none", _text),
    FieldSpec("license.conditions", "Conditions attached to the approval.",
              "Attribution in the product notice", _text),
    FieldSpec("eval.ref", "MLflow run holding the evaluation evidence.",
              "runs:/" + "0" * 32, _run_ref),
    FieldSpec("base_model.uri", "The base this artifact derives from, pinned.",
              "models:/llama-base/3", _base_model_uri),
    FieldSpec("base_model.digest", "Artifact digest of that base.", "sha256:" + "0" * 64, _digest),
    FieldSpec("base_model.license", "License of the base, for inheritance checks when the base "
              "is external (a registered base's own review is read from the registry).",
              "llama3.1", _license_id),
    FieldSpec("finetune.summary", "How the fine-tune was trained.", "LoRA r=16, 3 epochs", _text),
    FieldSpec("finetune.data_lineage", "Training data sources and their licenses.",
              "internal-tickets-2026Q1 (proprietary)", _text),
    FieldSpec("datasets", "Data sets the artifact was trained, fine-tuned or evaluated on "
              "(name, context, digest, license, source each; one JSON list in the tag); their "
              "licenses are reviewed with the model's.", DATASETS_EXAMPLE,
              validate_datasets_value),
    FieldSpec("security_review.status", "Outcome of the security review.", "passed",
              _enum(SecurityReviewStatus)),
    FieldSpec("security_review.reviewer", "Who did the security review.", "appsec@example.com",
              _owner),
    FieldSpec("security_review.date", "When the security review was done.", "2026-01-31",
              _iso_date),
    FieldSpec("deployment.targets", "Where the model may be deployed.", "eu-prod-serving", _text),
    FieldSpec("rollback.version", "Registered version to fall back to.", "2", _version_number),
)

FIELDS: Mapping[str, FieldSpec] = {spec.name: spec for spec in _SPECS}
"""Every known intake field, by name."""


def validate_field(name: str, value: str) -> str | None:
    """Validate one intake field value; return a message naming the problem, or ``None``.

    Unknown field names are a problem too: a typo must not pass as "extra information".
    """
    spec = FIELDS.get(name)
    if spec is None:
        return f"is not a known intake field (known: {', '.join(sorted(FIELDS))})"
    return spec.validate(value)
