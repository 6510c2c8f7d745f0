"""Data sets in intake records: the tag format, its limits, and reconciling with logged inputs."""

from __future__ import annotations

import json

import pytest

from mlflow_supplychain.errors import EvidenceError
from mlflow_supplychain.intake.dataset_links import LoggedDataset, reconcile
from mlflow_supplychain.intake.datasets import (
    MAX_DATASETS,
    MAX_DATASETS_CHARS,
    DatasetContext,
    DatasetEntry,
    encode_datasets,
    parse_datasets,
)
from mlflow_supplychain.intake.fields import validate_field
from mlflow_supplychain.intake.records import parse_record, record_from_fields, record_to_fields

SHA = "ab" * 32
FINE_TUNE = {"artifact_class": "fine_tune", "owner": "me",
             "base_model": {"uri": "models:/base/1", "digest": "sha256:" + "1" * 64},
             "finetune": {"summary": "LoRA"}}


def _entry(**over: object) -> dict[str, object]:
    return {"name": "tickets", "context": "training", "digest": SHA, "license": "CC-BY-4.0",
            "source": "s3://data/tickets", **over}


def test_record_round_trips_through_one_canonical_tag() -> None:
    record = parse_record({**FINE_TUNE, "datasets": [_entry(), _entry(name="holdout",
                                                                   context="evaluation",
                                                                   digest="9a7c5e3b")]})
    fields = record_to_fields(record)
    assert json.loads(fields["datasets"])[0] == _entry()
    assert fields["datasets"] == encode_datasets(record.datasets or ())  # canonical: stable
    assert record_from_fields(fields) == record
    assert validate_field("datasets", fields["datasets"]) is None


@pytest.mark.parametrize("entry, fragment", [
    (_entry(license="Not-A-License"), "unknown license"),
    (_entry(license=""), "is empty"),
    (_entry(digest="main"), "sha256 digest"),
    (_entry(digest="AB" * 32), "sha256 digest"),
    (_entry(context="train"), "'training', 'fine-tuning' or 'evaluation'"),
    (_entry(source="file:///etc/passwd"), "schemes"),
    (_entry(source="https://user:pw@host/x"), "credentials"),
    (_entry(name=" padded"), "leading or trailing"),
    (_entry(name="a\nb"), "control characters"),
    (_entry(extra="x"), "not a field"),
    ({k: v for k, v in _entry().items() if k != "license"}, "required"),
])
def test_malformed_entries_are_refused_with_the_field(entry: dict[str, object],
                                                       fragment: str) -> None:
    with pytest.raises(EvidenceError) as info:
        parse_record({**FINE_TUNE, "datasets": [entry]})
    text = str(info.value.problems)
    assert "datasets.0" in text and fragment in text, text


def test_tag_value_limits_fail_closed() -> None:
    assert "is empty" in (validate_field("datasets", "[]") or "")
    assert "not JSON" in (validate_field("datasets", "[{") or "")
    assert "tuple" in (validate_field("datasets", '{"name": "x"}') or "").lower()
    too_many = encode_datasets([_entry(name=f"d{i}") for i in range(MAX_DATASETS + 1)])
    assert len(too_many) < MAX_DATASETS_CHARS
    assert f"limit is {MAX_DATASETS}" in (validate_field("datasets", too_many) or "")
    long = encode_datasets([_entry(name=f"{i}" + "n" * 490, source="s3://b/" + "p" * 1500)
                            for i in range(MAX_DATASETS)])
    assert len(long) > MAX_DATASETS_CHARS
    assert f"limit is {MAX_DATASETS_CHARS}" in (validate_field("datasets", long) or "")
    duplicate = encode_datasets([_entry(), _entry(context="evaluation")])
    assert "twice" in (validate_field("datasets", duplicate) or "")
    with pytest.raises(ValueError) as info:
        parse_datasets('[{"name": "secret-value-xyz", "context": 1}]')
    assert "secret-value-xyz" not in str(info.value)  # never echoes the value


def test_malformed_tag_is_not_read_as_no_datasets() -> None:
    fields = record_to_fields(parse_record({**FINE_TUNE, "datasets": [_entry()]}))
    fields["datasets"] = '[{"name": "tickets"'
    with pytest.raises(EvidenceError):
        record_from_fields(fields)


def _logged(name: str = "tickets", digest: str | None = "9a7c5e3b", context: str | None = None,
            role: str = "training") -> LoggedDataset:
    return LoggedDataset(name=name, digest=digest, context=context, run_id="r" * 32,
                         run_role=role)  # type: ignore[arg-type]


def _recorded(digest: str = "9a7c5e3b", name: str = "tickets") -> DatasetEntry:
    return DatasetEntry(name=name, context=DatasetContext.TRAINING, digest=digest,
                        license="MIT")


def test_reconcile_links_by_name_and_compares_digests_of_one_kind() -> None:
    result = reconcile([_recorded()], [_logged()])
    assert [link.digest_checked for link in result.linked] == [True]
    result = reconcile([_recorded("0badf00d")], [_logged()])
    assert len(result.mismatched) == 1 and not result.linked
    result = reconcile([_recorded(SHA)], [_logged()])  # sha256 vs MLflow digest
    assert [link.digest_checked for link in result.linked] == [False]
    result = reconcile([_recorded("sha256:" + SHA)], [_logged(digest=SHA)])
    assert [link.digest_checked for link in result.linked] == [True]
    result = reconcile([_recorded(name="other")], [_logged()])
    assert [d.name for d in result.unrecorded] == ["tickets"]


@pytest.mark.parametrize("context, role, trains", [
    (None, "training", True), ("train", "training", True), ("eval", "training", False),
    ("weird", "training", True), (None, "evaluation", False), ("training", "evaluation", True),
])
def test_which_logged_inputs_count_as_training(context: str | None, role: str,
                                               trains: bool) -> None:
    assert _logged(context=context, role=role).trains is trains
