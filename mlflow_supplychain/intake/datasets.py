"""Data sets in the intake record: what a version was trained, fine-tuned or evaluated on.

Representation in the registry: ONE tag, ``supplychain.intake.datasets``, holding a canonical
JSON list of entries with a strict schema, rather than indexed tags
(``supplychain.intake.dataset.0.name``...). Why:

* The intake field catalog (:data:`~mlflow_supplychain.intake.fields.FIELDS`) is a fixed set of
  names that the store validates on write, the policy may require and the gate reads; indexed
  tags would make the name space open-ended (``dataset.<n>.<key>``), and every one of those
  places would have to learn patterns. One field keeps ``required: [datasets]`` meaningful.
* A list written in one tag write is atomic: there is no half-updated entry 3 of 5, no gap in the
  indexes, no stale ``dataset.7.*`` left behind when the list shrinks.
* ``source_sha256`` already travels as a JSON object in one tag; this is the same pattern.

The cost is size: MLflow holds 100,000 characters in a model-version tag value, so the list is
bounded (:data:`MAX_DATASETS` entries, :data:`MAX_DATASETS_CHARS` characters of JSON) and a
value past a limit is invalid, never truncated. Parsing is strict (pydantic ``extra="forbid"``,
unique entries, a license on every entry): a malformed value is a problem, never "no data sets".

Pure: no MLflow, no network.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from mlflow_supplychain.digests import canonical_json
from mlflow_supplychain.intake.licenses import validate_license_id

MAX_DATASETS = 64
"""Most entries one record lists (a longer list belongs in a data catalog the record points at)."""
MAX_DATASETS_CHARS = 50_000
"""Longest JSON value of the ``datasets`` tag: half of MLflow's 100,000-character tag limit, so
the record's other fields always fit beside it."""
MAX_NAME = 500
"""MLflow's own limit on a logged data set's name (``MAX_DATASET_NAME_SIZE``)."""
MAX_SOURCE = 2048
SOURCE_SCHEMES = ("https", "http", "s3", "gs", "hf", "abfss", "wasbs", "dbfs")

_SHA256 = re.compile(r"^(?:sha256:)?[0-9a-f]{64}$")
# MLflow's dataset digests are short (MAX_DATASET_DIGEST_SIZE is 36): e.g. the first 8 hex
# characters of a hash for pandas frames; custom datasets may use a uuid.
_MLFLOW_DIGEST = re.compile(r"^[0-9A-Za-z_-]{8,36}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SOURCE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>[^\s]+)$")


class DatasetContext(str, enum.Enum):
    """What a data set was used for."""

    TRAINING = "training"
    FINE_TUNING = "fine-tuning"
    EVALUATION = "evaluation"

    @property
    def trains(self) -> bool:
        """Whether the data shaped the weights (training or fine-tuning)."""
        return self is not DatasetContext.EVALUATION


def digest_problem(value: str) -> str | None:
    """Why ``value`` is not a data set digest, or None."""
    if _SHA256.match(value) or _MLFLOW_DIGEST.match(value):
        return None
    return ("must be a sha256 digest (64 lowercase hex characters, optionally prefixed "
            "'sha256:') or the digest MLflow logged for the data set (8-36 letters or digits)")


def is_sha256_digest(value: str) -> bool:
    """True for a sha256 digest (bare hex or ``sha256:``-prefixed)."""
    return bool(_SHA256.match(value))


def _check_digest(value: str) -> str:
    problem = digest_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_name(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise ValueError("must be non-empty, without leading or trailing spaces")
    if len(value) > MAX_NAME:
        raise ValueError(f"is {len(value)} characters; the limit is {MAX_NAME}")
    if _CONTROL.search(value):
        raise ValueError("contains control characters")
    return value


def source_problem(value: str) -> str | None:
    """Why ``value`` is not a data set source URI, or None."""
    if len(value) > MAX_SOURCE:
        return f"is {len(value)} characters; the limit is {MAX_SOURCE}"
    match = _SOURCE.match(value)
    if match is None or match["scheme"] not in SOURCE_SCHEMES:
        return "must be a URI with one of the schemes " + ", ".join(SOURCE_SCHEMES)
    authority = match["rest"].split("/", 1)[0]
    if "@" in authority:
        return "contains credentials; remove the user:password@ part"
    if not authority:
        return "has no host or bucket"
    return None


def _check_source(value: str) -> str:
    problem = source_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_license(value: str) -> str:
    problem = validate_license_id(value)
    if problem:
        raise ValueError(problem)
    return value


class DatasetEntry(BaseModel):
    """One data set in the intake record."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[StrictStr, AfterValidator(_check_name)] = Field(
        description="The data set's name; use the name it was logged under (mlflow.log_input) "
        "so the gate can link the two.")
    context: DatasetContext = Field(description="training, fine-tuning or evaluation.")
    digest: Annotated[StrictStr, AfterValidator(_check_digest)] = Field(
        description="sha256 of the data, or the digest MLflow logged for it.")
    license: Annotated[StrictStr, AfterValidator(_check_license)] = Field(
        description="SPDX expression, named license or LicenseRef-<name> of the data's terms.")
    source: Annotated[StrictStr, AfterValidator(_check_source)] | None = Field(
        None, description="Where the data is (https://, s3://, gs://, hf://, abfss://...).")


def _count_and_unique(entries: tuple[DatasetEntry, ...]) -> tuple[DatasetEntry, ...]:
    # Counted here, not with Field(min_length=...): pydantic counts a tuple's length after
    # dropping invalid items, so one bad entry was also reported as "at least 1 item".
    if not entries:
        raise ValueError("is empty; list at least one data set, or leave the section out")
    if len(entries) > MAX_DATASETS:
        raise ValueError(f"lists {len(entries)} data sets; the limit is {MAX_DATASETS}")
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        key = (entry.name, entry.digest)
        if key in seen:
            raise ValueError(f"lists data set {entry.name!r} with digest {entry.digest} twice")
        seen.add(key)
    return entries


DatasetList = Annotated[tuple[DatasetEntry, ...], AfterValidator(_count_and_unique)]
"""The ``datasets`` section of a record: 1 to :data:`MAX_DATASETS` unique entries."""

_LIST = TypeAdapter(DatasetList)


def encode_datasets(entries: Sequence[DatasetEntry | dict[str, Any]]) -> str:
    """The tag value for ``entries``: canonical JSON (sorted keys, no spaces), so the same list
    always gives the same value (approvals bind to intake values)."""
    data = [e.model_dump(mode="json", exclude_none=True) if isinstance(e, DatasetEntry) else
            {k: v for k, v in e.items() if v is not None} for e in entries]
    return canonical_json(data).decode("utf-8")


def parse_datasets(value: str) -> tuple[DatasetEntry, ...]:
    """The entries of a ``datasets`` tag value.

    Raises:
        ValueError: the value is too long, not JSON, or not a valid list (the message names
            the entry and key at fault; it never echoes the value).
    """
    if len(value) > MAX_DATASETS_CHARS:
        raise ValueError(f"is {len(value)} characters; the limit is {MAX_DATASETS_CHARS} "
                         f"(at most {MAX_DATASETS} data sets)")
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise ValueError("is not JSON; write a JSON list of data set entries") from None
    return validate_entries(data)


def validate_entries(data: Any) -> tuple[DatasetEntry, ...]:
    """``data`` (a list of mappings) as validated entries.

    Raises:
        ValueError: naming the first entry and key at fault.
    """
    try:
        return _LIST.validate_python(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{'entry ' + where + ' ' if where else ''}{message}") from None


def validate_datasets_value(value: str) -> str | None:
    """The FIELDS validator of ``datasets``: a message naming the problem, or None."""
    try:
        parse_datasets(value)
    except ValueError as exc:
        return str(exc)
    return None


DATASETS_EXAMPLE = encode_datasets([DatasetEntry(
    name="support-tickets-2026q1", context=DatasetContext.FINE_TUNING, digest="0" * 64,
    license="LicenseRef-internal", source="s3://datasets/support-tickets/2026q1")])
"""An example value (all-zero digest: a placeholder that will not link to a logged data set)."""
