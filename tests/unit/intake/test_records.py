"""Intake records: templates validate, the flat tag form round-trips, bad input is named precisely."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import mlflow.utils.validation as mlflow_validation
import pytest

from mlflow_supplychain.errors import EvidenceError
from mlflow_supplychain.intake.fields import FIELDS, ArtifactClass
from mlflow_supplychain.intake.record_files import load_record, parse_record_text
from mlflow_supplychain.intake.records import (
    MAX_TAG_VALUE,
    check_tag_sizes,
    missing_for_policy,
    record_from_fields,
    record_to_fields,
)
from mlflow_supplychain.intake.templates import render_template
from mlflow_supplychain.policy.loader import parse_policy

STARTER = parse_policy(resources.files("mlflow_supplychain.policy").joinpath("starter.yaml")
                       .read_text("utf-8"))
HEX = "ab" * 32
REV = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize("cls", list(ArtifactClass))
def test_every_template_validates_and_covers_the_starter_policy(cls: ArtifactClass) -> None:
    text = render_template(cls, STARTER)
    record = parse_record_text(text, source=f"{cls.value}.yaml")
    assert record.artifact_class == cls.value
    assert missing_for_policy(record, STARTER.required_fields(cls)) == []
    assert "[policy requires]" in text


@pytest.mark.parametrize("cls", list(ArtifactClass))
def test_record_fields_round_trip(cls: ArtifactClass) -> None:
    record = parse_record_text(render_template(cls))
    fields = record_to_fields(record)
    assert set(fields) <= set(FIELDS)
    assert all(FIELDS[name].validate(value) is None for name, value in fields.items()), fields
    assert record_from_fields(fields) == record


def test_mlflow_tag_limit_is_the_installed_one() -> None:
    assert MAX_TAG_VALUE == mlflow_validation.MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH


def test_over_long_value_is_rejected_naming_field_and_limit_never_truncated() -> None:
    hashes = "{" + ",".join(f'"f{i:06d}.bin":"{HEX}"' for i in range(1500)) + "}"
    with pytest.raises(EvidenceError) as err:
        check_tag_sizes({"owner": "me", "source_sha256": hashes})
    (problem,) = err.value.problems
    assert problem.where == "supplychain.intake.source_sha256"
    assert str(MAX_TAG_VALUE) in problem.what and "never truncated" in problem.fix


def test_long_text_is_rejected_by_the_field_limit() -> None:
    with pytest.raises(EvidenceError, match=r"intended_use: is 5001 characters long; the limit is 5000"):
        parse_record_text(f"artifact_class: base_model\nowner: me\nintended_use: {'x' * 5001}\n")


BASE = "artifact_class: base_model\nowner: ml@example.com\n"
FT = ("artifact_class: fine_tune\nowner: ml@example.com\n"
      f"base_model: {{uri: 'models:/base/1', digest: 'sha256:{HEX}'}}\nfinetune: {{summary: LoRA}}\n")

# (id, record text, where must contain, what must contain)
BAD_RECORDS = [
    ("empty", "", "<t>", "is empty"),
    ("not a mapping", "- a\n- b\n", "<t>", "must be a mapping"),
    ("yaml syntax", "owner: [unclosed\n", "<t>:", "YAML error"),
    ("duplicate key", BASE + "owner: other\n", "<t>:3", "appears twice"),
    ("no class", "owner: me\n", "artifact_class", "is missing"),
    ("unknown class", "artifact_class: lora\nowner: me\n", "artifact_class", "'lora', not an artifact class"),
    ("no owner", "artifact_class: base_model\n", "owner", "required"),
    ("typo field", BASE + "sourse_url: https://x.org/m\n", "<t>:3 sourse_url", "not a field"),
    ("typo in section", BASE + "license: {id: MIT, outcom: approved}\n", "license.outcom", "fields here"),
    ("mutable revision", BASE + "source_url: https://huggingface.co/o/m\nsource_revision: main\n",
     "<t>:4 source_revision", "not a pinned revision"),
    ("short sha revision", BASE + "source_url: https://huggingface.co/o/m\nsource_revision: 0123abc\n",
     "source_revision", "full 40-character commit"),
    ("numeric revision", BASE + "source_url: https://h.co/m\nsource_revision: 1234567890123456789012345678901234567890\n",
     "source_revision", "valid string"),
    ("url without revision", BASE + "source_url: https://huggingface.co/o/m\n", "source_revision",
     "without a pinned commit"),
    ("revision without url", BASE + f"source_revision: '{REV}'\n", "source_url", "a revision of what"),
    ("url into a branch", BASE + f"source_url: https://huggingface.co/o/m/tree/main\nsource_revision: '{REV}'\n",
     "source_url", "branch or file view"),
    ("url with credentials", BASE + f"source_url: https://u:p@h.co/m\nsource_revision: '{REV}'\n",
     "source_url", "credentials"),
    ("bad hash", BASE + "source_sha256: {model.safetensors: abc}\n", "source_sha256", "64-character"),
    ("upper-case hash", BASE + f"source_sha256: {HEX.upper()}\n", "source_sha256", "lowercase"),
    ("traversal path", BASE + f"source_sha256: {{../../etc/passwd: {HEX}}}\n", "source_sha256", "no '..'"),
    ("unknown license", BASE + "license: {id: Llama-Community}\n", "license.id", "unknown license"),
    ("bad spdx syntax", BASE + "license: {id: MIT AND}\n", "license.id", "license"),
    ("bad outcome", BASE + "license: {id: MIT, outcome: ok}\n", "license.outcome", "approved_with_conditions"),
    ("outcome without reviewer", BASE + "license: {id: MIT, outcome: approved, date: 2026-01-01}\n",
     "license.reviewer", "once an outcome is recorded"),
    ("conditions missing", BASE + "license: {id: MIT, outcome: approved_with_conditions, reviewer: l, date: 2026-01-01}\n",
     "license.conditions", "approved_with_conditions"),
    ("review contradicts catalog", BASE + "license: {id: CC-BY-NC-4.0, commercial_use: true}\n",
     "license.commercial_use", "does not allow commercial use"),
    ("bool as string", BASE + "license: {id: MIT, commercial_use: maybe}\n", "license.commercial_use", "boolean"),
    ("bad date", BASE + "license: {id: MIT, date: 31/01/2026}\n", "license.date", "date"),
    ("eval not a run", BASE + "eval: {ref: my-eval}\n", "eval.ref", "32 hex"),
    ("fine-tune without base", "artifact_class: fine_tune\nowner: me\nfinetune: {summary: x}\n",
     "base_model", "required but missing"),
    ("base alias", FT.replace("models:/base/1", "models:/base@prod"), "base_model.uri", "fixed version"),
    ("base branch url", FT.replace("models:/base/1", "https://huggingface.co/o/m@main"), "base_model.uri", "pinned"),
    ("base digest", FT.replace(f"sha256:{HEX}", HEX), "base_model.digest", "sha256:<64"),
    ("base model on a base_model", BASE + f"base_model: {{uri: 'models:/b/1', digest: 'sha256:{HEX}'}}\n",
     "base_model", "not a field"),
    ("summary without base", "artifact_class: reranker\nowner: me\nfinetune: {summary: x}\n",
     "base_model", "tuned from what"),
    ("security status", BASE + "security_review: {status: ok}\n", "security_review.status", "passed"),
    ("security without reviewer", BASE + "security_review: {status: passed}\n", "security_review.reviewer", "required"),
    ("rollback boolean", BASE + "rollback: {version: yes}\n", "rollback.version", "valid integer"),
    ("rollback zero", BASE + "rollback: {version: 0}\n", "rollback.version", "greater than 0"),
    ("empty targets", BASE + "deployment: {targets: []}\n", "deployment.targets", "at least 1"),
    ("target with comma", BASE + "deployment: {targets: ['a,b']}\n", "deployment.targets", "without commas"),
    ("owner is a number", "artifact_class: base_model\nowner: 42\n", "owner", "valid string"),
]


@pytest.mark.parametrize(("text", "where", "what"), [b[1:] for b in BAD_RECORDS],
                         ids=[b[0] for b in BAD_RECORDS])
def test_bad_records_get_precise_messages(text: str, where: str, what: str) -> None:
    with pytest.raises(EvidenceError) as err:
        parse_record_text(text, source="<t>")
    rendered = err.value.diagnostics()
    assert any(where in p.where and what in p.what for p in err.value.problems), rendered


def test_load_record_names_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="intake template"):
        load_record(tmp_path / "nope.yaml")


def test_record_from_tags_rejects_unknown_tag() -> None:
    with pytest.raises(EvidenceError, match="supplychain.intake.ownr"):
        record_from_fields({"artifact_class": "base_model", "owner": "me", "ownr": "x"})


def test_shown_record_is_a_valid_record_file() -> None:
    from mlflow_supplychain.cli.intake_cmd import _record_yaml

    record = parse_record_text(render_template(ArtifactClass.ADAPTER))
    shown = _record_yaml(record)
    assert shown.startswith("artifact_class: adapter\n")
    assert parse_record_text(shown) == record
