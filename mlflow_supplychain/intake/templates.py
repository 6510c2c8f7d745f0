"""Commented YAML templates of intake records, one per artifact class.

Every template validates as-is (a test keeps it so), and marks which fields the record schema
requires and which the policy requires for promotion, so a data scientist fills in facts
instead of guessing field names. Example values are placeholders: the all-zero hashes and run
id will not pass the gate, so an unedited template cannot slip through.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import yaml
from pydantic import BaseModel

from mlflow_supplychain.field_models import model_in
from mlflow_supplychain.intake.fields import FIELDS, ArtifactClass, parse_source_hashes
from mlflow_supplychain.intake.records import RECORD_TYPES
from mlflow_supplychain.policy.needs import profile_fields
from mlflow_supplychain.policy.schema import Policy

_EXAMPLE_OVERRIDES: dict[str, Any] = {
    "license.outcome": "approved",
    "license.commercial_use": True,
    "license.redistribution": True,
    "license.derivatives": True,
    "license.date": dt.date(2026, 1, 31),
    "security_review.date": dt.date(2026, 1, 31),
    "rollback.version": 2,
    "deployment.targets": ["eu-prod-serving"],
}
# Fields the record schema requires only together with another (records.py validators); the
# template says when, instead of calling them optional (a test removes every [optional]
# field and expects the record to stay valid).
_REQUIRED_WITH: dict[str, str] = {
    "source_url": "required with source_revision",
    "source_revision": "required with source_url",
    "license.reviewer": "required once license.outcome is set",
    "license.date": "required once license.outcome is set",
    "license.conditions": "required when license.outcome is approved_with_conditions",
    "security_review.reviewer": "required unless security_review.status is pending",
}
# sections that are optional for a class and would change its meaning if filled with examples
_COMMENTED_WHEN_OPTIONAL = {"base_model", "finetune"}


def _example(name: str) -> Any:
    if name in _EXAMPLE_OVERRIDES:
        return _EXAMPLE_OVERRIDES[name]
    if name == "source_sha256":
        return parse_source_hashes(FIELDS[name].example)
    return FIELDS[name].example


def _scalar(value: Any) -> str:
    dumped: str = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return dumped.removesuffix("\n...").removesuffix("...").strip()


def _flags(name: str, schema_required: bool, policy_required: set[str]) -> str:
    flags = []
    if schema_required:
        flags.append("required" if "." not in name else "required in this section")
    elif name in _REQUIRED_WITH:
        flags.append(_REQUIRED_WITH[name])
    if name in policy_required:
        flags.append("policy requires")
    return f" [{', '.join(flags)}]" if flags else " [optional]"


def _dataset_lines(indent: str, policy_required: set[str], derived: bool) -> list[str]:
    """The ``datasets`` list with one example entry; commented out where it is optional and
    the class is not derived (a base model's data is usually the publisher's to list)."""
    flags = _flags("datasets", False, policy_required)
    entry = json.loads(FIELDS["datasets"].example)[0]
    lines = [f"{indent}# {FIELDS['datasets'].summary}{flags}", f"{indent}datasets:"]
    first = True
    for key in ("name", "context", "digest", "license", "source"):
        lines.append(f"{indent}  {'- ' if first else '  '}{key}: {_scalar(entry[key])}")
        first = False
    if "policy requires" in flags or derived:
        return lines
    header = [f"{indent}# {line[len(indent):]}" for line in lines[1:]]
    return [f"{indent}# Uncomment to list the data sets it was trained or evaluated on:", *header]


def _lines(model: type[BaseModel], prefix: str, indent: str, policy_required: set[str],
           derived: bool = False) -> list[str]:
    out: list[str] = []
    for key, info in model.model_fields.items():
        if key == "artifact_class":
            continue
        name = f"{prefix}{key}"
        if name == "datasets":
            out.extend(_dataset_lines(indent, policy_required, derived))
            continue
        section = model_in(info.annotation)
        if section is not None:
            sub = _lines(section, f"{name}.", indent + "  ", policy_required, derived)
            header = [f"{indent}{key}:{' # required section' if info.is_required() else ''}", *sub]
            if key in _COMMENTED_WHEN_OPTIONAL and not info.is_required():
                # removing the "# " after the indent restores the section exactly
                header = [f"{indent}# {line[len(indent):]}" for line in header]
                header.insert(0, f"{indent}# Uncomment when this artifact was tuned from a base:")
            out.extend(header)
            continue
        spec = FIELDS[name]
        out.append(f"{indent}# {spec.summary}{_flags(name, info.is_required(), policy_required)}")
        value = _example(name)
        if isinstance(value, dict):
            out.append(f"{indent}{key}:")
            out.extend(f"{indent}  {_scalar(k)}: {_scalar(v)}" for k, v in value.items())
        else:
            out.append(f"{indent}{key}: {_scalar(value)}")
    return out


def render_template(artifact_class: ArtifactClass, policy: Policy | None = None) -> str:
    """A commented YAML intake record for ``artifact_class`` that validates as written.

    With ``policy``, every field its gate reads for this class under some profile (the class's
    own fields, and ``source_sha256``, ``license.*``, ``eval.ref`` when a profile checks
    hashes, licenses or evaluations) is marked ``[policy requires]``; ``[optional]`` means no
    profile of the policy needs it.
    """
    policy_required = {name for profile in policy.profiles.values()
                       for name in profile_fields(policy, profile, artifact_class)
                       } if policy else set()
    head = [
        f"# mlflow-supplychain intake record, artifact class {artifact_class.value}.",
        "# Replace every example value with the facts of your model, delete optional lines you",
        "# do not use, then:",
        "#   mlflow-supplychain intake validate record.yaml --policy policy.yaml",
        "#   mlflow-supplychain intake apply record.yaml --name NAME --version VERSION",
        "# Quote values YAML would read as numbers or booleans (e.g. a commit of only digits).",
        "",
        f"artifact_class: {artifact_class.value}",
    ]
    body = _lines(RECORD_TYPES[artifact_class], "", "", policy_required,
                  artifact_class in (ArtifactClass.FINE_TUNE, ArtifactClass.ADAPTER))
    return "\n".join(head + body) + "\n"
