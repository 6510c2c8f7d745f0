"""Intake records: the provenance record of one model version, one schema per artifact class.

Humans write a record as YAML (or JSON), nested by topic (``license: {id: ..., outcome: ...}``).
The registry stores it flat, as model-version tags ``supplychain.intake.<field>`` whose names are
exactly the :data:`~mlflow_supplychain.intake.fields.FIELDS` catalog (``license.id``...).
:func:`record_to_fields` and :func:`record_from_fields` convert between the two; every value is
checked with the catalog's validator, so a record, a tag and the gate judge a value the same way.

Required here is what makes a record *coherent* (an owner; a fine-tune names its base; an
outcome names its reviewer). What a promotion *needs* is the policy's business
(``artifact_classes.<class>.required``); :func:`missing_for_policy` lists the gap.

Pure: no MLflow, no network. Reading files lives in :mod:`.record_files`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from mlflow_supplychain.digests import canonical_json
from mlflow_supplychain.errors import EvidenceError, Problem
from mlflow_supplychain.intake.datasets import (
    DatasetList,
    encode_datasets,
    validate_datasets_value,
)
from mlflow_supplychain.intake.fields import (
    FIELDS,
    ArtifactClass,
    LicenseOutcome,
    SecurityReviewStatus,
    parse_source_hashes,
)
from mlflow_supplychain.intake.inheritance import parse_bool
from mlflow_supplychain.intake.licenses import license_terms
from mlflow_supplychain.intake.record_problems import LocateFn, validation_problem

TAG_PREFIX = "supplychain.intake."
BRANCH_IN_URL = re.compile(r"/(?:tree|resolve|blob|raw)/[^/]+")
"""A hub URL that names a branch or file view: the revision belongs in source_revision."""
MAX_TAG_VALUE = 100_000
"""MLflow's limit on a model-version tag value (``MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH`` in
``mlflow/utils/validation.py``, 100,000 characters since MLflow 3). A unit test keeps this in
step with the installed MLflow. Values that do not fit are rejected, never truncated."""


def _catalog(name: str) -> AfterValidator:
    """Check a value (as its tag string) with the FIELDS validator of ``name``."""

    def check(value: Any) -> Any:
        problem = FIELDS[name].validate(_encode(value))
        if problem is not None:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _split_targets(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(","))
    return value


def _relative_paths(value: Any) -> Any:
    if isinstance(value, dict):
        for path in value:
            pure = PurePosixPath(path)
            if pure.is_absolute() or ".." in pure.parts or "\\" in path or not path.strip():
                raise ValueError(f"path {path!r} must be relative, with '/' separators and no '..'")
    return value


Text = Annotated[StrictStr, _catalog("intended_use")]
Person = Annotated[StrictStr, _catalog("owner")]
SourceHashes = Annotated[dict[StrictStr, StrictStr] | StrictStr, AfterValidator(_relative_paths),
                         _catalog("source_sha256")]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _fail(path: str, message: str) -> ValueError:
    """A cross-field error; the field path travels in the message (pydantic puts model-level
    errors at the model's location, which would not name the field)."""
    return ValueError(f"{path}: {message}")


class LicenseReview(_Record):
    """The license review: the license id and what the reviewer concluded it allows."""

    id: Annotated[StrictStr, _catalog("license.id")] = Field(
        description="SPDX expression or named model license (e.g. Apache-2.0, llama3.1).")
    outcome: LicenseOutcome | None = Field(None, description="Leave empty while under review.")
    reviewer: Person | None = None
    date: dt.date | None = None
    commercial_use: StrictBool | None = None
    redistribution: StrictBool | None = None
    derivatives: StrictBool | None = None
    field_of_use: Text | None = Field(None, description="Field-of-use limits, or 'none'.")
    output_rights: Text | None = Field(None, description="Limits on outputs, or 'none'.")
    conditions: Text | None = Field(None, description="Conditions attached to the approval.")

    @model_validator(mode="after")
    def _coherent(self) -> LicenseReview:
        if self.outcome is not None:
            missing = [f for f in ("reviewer", "date") if getattr(self, f) is None]
            if missing:
                raise _fail(missing[0], f"is required once an outcome is recorded ({self.outcome.value})")
        if self.outcome is LicenseOutcome.APPROVED_WITH_CONDITIONS and not self.conditions:
            raise _fail("conditions", "is required when the outcome is approved_with_conditions")
        terms = license_terms(self.id)
        for name, known in (("commercial_use", terms.commercial_use),
                            ("redistribution", terms.redistribution),
                            ("derivatives", terms.derivatives)):
            if getattr(self, name) is True and known is False:
                raise _fail(name, f"is true, but {self.id} does not allow "
                            f"{name.replace('_', ' ')} ({'; '.join(terms.notes)})")
        return self


class EvalEvidence(_Record):
    """Where the evaluation is: an MLflow run (checked to exist when the record is applied)."""

    ref: Annotated[StrictStr, _catalog("eval.ref")]


class BaseModelRef(_Record):
    """The base a derived artifact was made from, pinned, with its digest."""

    uri: Annotated[StrictStr, _catalog("base_model.uri")] = Field(
        description="models:/<name>/<version>, or <url>@<commit> for an external base.")
    digest: Annotated[StrictStr, _catalog("base_model.digest")]
    license: Annotated[StrictStr, _catalog("base_model.license")] | None = Field(
        None, description="License of an external base (for inheritance checks).")


class FineTuneSummary(_Record):
    summary: Text
    data_lineage: Text | None = None


class SecurityReview(_Record):
    status: SecurityReviewStatus
    reviewer: Person | None = None
    date: dt.date | None = None

    @model_validator(mode="after")
    def _reviewed_by_someone(self) -> SecurityReview:
        if self.status is not SecurityReviewStatus.PENDING and self.reviewer is None:
            raise _fail("reviewer", f"is required when the status is {self.status.value}")
        return self


def _target(value: str) -> str:
    if not value or len(value) > 256 or "," in value:
        raise ValueError(f"target {value!r} must be 1-256 characters without commas")
    return value


class Deployment(_Record):
    targets: Annotated[tuple[Annotated[StrictStr, AfterValidator(_target)], ...],
                       BeforeValidator(_split_targets), Field(min_length=1)]


class Rollback(_Record):
    version: Annotated[StrictInt, Field(gt=0)]  # strict: YAML `yes` must not become 1


class _Common(_Record):
    owner: Person = Field(description="Accountable team or person.")
    intended_use: Text | None = None
    limitations: Text | None = None
    source_url: Annotated[StrictStr, _catalog("source_url")] | None = None
    source_revision: Annotated[StrictStr, _catalog("source_revision")] | None = None
    source_sha256: SourceHashes | None = None
    license: LicenseReview | None = None
    eval: EvalEvidence | None = None
    security_review: SecurityReview | None = None
    deployment: Deployment | None = None
    rollback: Rollback | None = None
    datasets: DatasetList | None = Field(
        None, description="Data sets the artifact was trained, fine-tuned or evaluated on.")

    @model_validator(mode="after")
    def _pinned_source(self) -> _Common:
        if self.source_revision is not None and self.source_url is None:
            raise _fail("source_url", "is required when source_revision is set (a revision of what?)")
        if self.source_url is not None and BRANCH_IN_URL.search(urlsplit(self.source_url).path):
            raise _fail("source_url", "points into a branch or file view (/tree/, /resolve/, "
                        "/blob/); give the repository URL and put the commit in source_revision")
        if self.source_url is not None and self.source_revision is None:
            raise _fail("source_revision", "is required when source_url is set: without a pinned "
                        "commit the source can change under the same URL")
        if self.datasets is not None and (
                problem := validate_datasets_value(encode_datasets(self.datasets))):
            raise _fail("datasets", problem)  # the tag's own limit (the JSON length)
        return self


class _Derivable(_Common):
    base_model: BaseModelRef | None = None
    finetune: FineTuneSummary | None = None

    @model_validator(mode="after")
    def _summary_needs_base(self) -> _Derivable:
        if self.finetune is not None and self.base_model is None:
            raise _fail("base_model", "is required when a finetune summary is given (tuned from what?)")
        return self


class BaseModelRecord(_Common):
    """A pretrained model taken as-is (from a hub or a vendor)."""

    artifact_class: Literal["base_model"]


class FineTuneRecord(_Derivable):
    """A model trained further from a base model."""

    artifact_class: Literal["fine_tune"]
    base_model: BaseModelRef
    finetune: FineTuneSummary


class AdapterRecord(_Derivable):
    """Adapter weights (LoRA...) that only work on top of a base model."""

    artifact_class: Literal["adapter"]
    base_model: BaseModelRef
    finetune: FineTuneSummary


class EmbeddingModelRecord(_Derivable):
    """A text/image embedding model; may itself be tuned from a base."""

    artifact_class: Literal["embedding_model"]


class RerankerRecord(_Derivable):
    """A cross-encoder or reranking model; may itself be tuned from a base."""

    artifact_class: Literal["reranker"]


class TokenizerRecord(_Common):
    artifact_class: Literal["tokenizer"]


class PreprocessorRecord(_Common):
    artifact_class: Literal["preprocessor"]


IntakeRecord = (BaseModelRecord | FineTuneRecord | AdapterRecord | EmbeddingModelRecord
                | RerankerRecord | TokenizerRecord | PreprocessorRecord)

RECORD_TYPES: Mapping[ArtifactClass, type[_Common]] = {
    ArtifactClass.BASE_MODEL: BaseModelRecord,
    ArtifactClass.FINE_TUNE: FineTuneRecord,
    ArtifactClass.ADAPTER: AdapterRecord,
    ArtifactClass.EMBEDDING_MODEL: EmbeddingModelRecord,
    ArtifactClass.RERANKER: RerankerRecord,
    ArtifactClass.TOKENIZER: TokenizerRecord,
    ArtifactClass.PREPROCESSOR: PreprocessorRecord,
}
"""The record schema of each artifact class."""


# -- parsing with precise messages ------------------------------------------------------------

def parse_record(data: Any, *, source: str = "<record>",
                 locate: LocateFn | None = None) -> IntakeRecord:
    """Validate ``data`` (a nested mapping, as read from YAML/JSON) as an intake record.

    ``locate`` turns a field path into a location such as ``file.yaml:12``.

    Raises:
        EvidenceError: with one problem per wrong field, naming the field path and the fix.
    """
    where = locate or (lambda _loc: source)
    summary = f"Intake record {source} is invalid"
    if not isinstance(data, Mapping):
        raise EvidenceError(summary, [Problem(source, "must be a mapping of intake fields",
                                              "start from 'mlflow-supplychain intake template'")])
    raw_class = data.get("artifact_class")
    try:
        artifact_class = ArtifactClass(raw_class)
    except ValueError:
        what = "is missing" if raw_class is None else f"is {raw_class!r}, not an artifact class"
        raise EvidenceError(summary, [Problem(
            f"{where(('artifact_class',))} artifact_class", what,
            "set artifact_class to one of " + ", ".join(c.value for c in ArtifactClass))]) from None
    record_type = RECORD_TYPES[artifact_class]
    try:
        return record_type.model_validate(data)  # type: ignore[return-value]
    except ValidationError as exc:
        problems: dict[str, Problem] = {}
        for err in exc.errors(include_url=False):
            problem = validation_problem(err, where, record_type)
            if problem.where in problems:  # one entry per field, even for union alternatives
                first = problems[problem.where]
                problem = Problem(first.where, first.what + "; or " + problem.what, first.fix)
            problems[problem.where] = problem
        raise EvidenceError(summary, list(problems.values())) from None


# -- record <-> flat tag fields ---------------------------------------------------------------

def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, int)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if isinstance(value, dict):
        return canonical_json(value).decode("utf-8")
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    if hasattr(value, "value"):  # an enum
        return str(value.value)
    return str(value)


def record_to_fields(record: IntakeRecord) -> dict[str, str]:
    """The record as flat intake fields (FIELDS names -> tag strings), without the tag prefix.

    Raises:
        EvidenceError: a value does not fit in an MLflow tag (never truncated).
    """
    flat: dict[str, str] = {}
    for key, value in record.model_dump(exclude_none=True).items():
        if key == "datasets":
            flat[key] = encode_datasets(record.datasets or ())
        elif isinstance(value, dict) and key != "source_sha256":
            for sub, inner in value.items():
                if inner is not None:
                    flat[f"{key}.{sub}"] = _encode(inner)
        else:
            flat[key] = _encode(value)
    unknown = sorted(set(flat) - set(FIELDS))
    assert not unknown, f"record fields missing from FIELDS: {unknown}"  # a programming error
    check_tag_sizes(flat)
    return flat


def check_tag_sizes(fields: Mapping[str, str]) -> None:
    """Refuse values longer than an MLflow model-version tag holds.

    Raises:
        EvidenceError: naming each field, its length and the limit.
    """
    too_long = [Problem(f"{TAG_PREFIX}{name}",
                        f"is {len(value)} characters; MLflow model-version tag values hold at "
                        f"most {MAX_TAG_VALUE}",
                        "shorten it (for long text, log a document as an artifact and reference "
                        "it); values are never truncated")
                for name, value in sorted(fields.items()) if len(value) > MAX_TAG_VALUE]
    if too_long:
        raise EvidenceError("Intake values do not fit in MLflow tags", too_long)


_BOOLEAN_FIELDS = {"license.commercial_use", "license.redistribution", "license.derivatives"}


def _decode(name: str, value: str) -> Any:
    if name in _BOOLEAN_FIELDS:
        parsed = parse_bool(value)
        return value if parsed is None else parsed
    if name == "source_sha256":
        hashes = parse_source_hashes(value)
        if hashes is not None and "" not in hashes:
            return hashes
        return value
    if name == "rollback.version":
        return int(value) if value.isdigit() else value
    if name == "datasets":
        # Only the shape is decoded here; the record schema judges the entries. Malformed
        # JSON stays a string, which the schema refuses (never read as "no data sets").
        try:
            decoded = json.loads(value) if len(value) <= MAX_TAG_VALUE else value
        except (ValueError, RecursionError):
            return value
        return decoded if isinstance(decoded, list) else value
    return value


def record_from_fields(fields: Mapping[str, str], *, source: str = "<tags>") -> IntakeRecord:
    """Rebuild a record from flat intake fields (tag names without the prefix).

    Raises:
        EvidenceError: an unknown field, an invalid value or an incoherent record.
    """
    unknown = [Problem(f"{source} {TAG_PREFIX}{name}", "is not a known intake field",
                       f"remove the tag or fix its name; known: {', '.join(sorted(FIELDS))}")
               for name in sorted(fields) if name not in FIELDS]
    if unknown:
        raise EvidenceError(f"Intake tags on {source} are invalid", unknown)
    nested: dict[str, Any] = {}
    for name, value in fields.items():
        head, _, tail = name.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = _decode(name, value)
        else:
            nested[name] = _decode(name, value)
    return parse_record(nested, source=source)


def missing_for_policy(record: IntakeRecord, required: tuple[str, ...]) -> list[str]:
    """The ``required`` fields (from ``Policy.required_fields``) the record does not set."""
    present = record_to_fields(record)
    return [name for name in required if name not in present]


def record_json(record: IntakeRecord) -> str:
    """The record as pretty JSON (for ``intake show --format json``)."""
    data = record.model_dump(mode="json", exclude_none=True)
    ordered = {"artifact_class": data.pop("artifact_class"), **data}  # the class first, as in files
    return json.dumps(ordered, indent=2)
