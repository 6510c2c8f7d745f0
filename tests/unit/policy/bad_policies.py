"""A table of invalid policies: each edits the example policy and names what the error must say."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BadPolicy:
    id: str
    text: str
    must_mention: tuple[str, ...]


GOOD = """\
version: 1
mode: enforce
protected:
  aliases: {production: prod}
  stages: {Production: prod}
profiles:
  prod:
    require: [intake_complete, license_approved, approval]
    approvals: {min: 1, approvers: [group:ml-security]}
artifact_classes:
  base_model: {required: [owner, license.id, license.outcome]}
  fine_tune: {extends: base_model, required: [base_model.uri]}
sources: {allow: ["mlflow-artifacts:", "runs:/", "models:/"]}
"""


def _edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


BAD_POLICIES: tuple[BadPolicy, ...] = (
    BadPolicy("empty-file", "", ("empty",)),
    BadPolicy("not-a-mapping", "- a\n- b\n", ("mapping",)),
    BadPolicy("yaml-syntax", GOOD + "  bad: [unclosed\n", ("YAML error", ":14")),
    BadPolicy("unknown-top-key", GOOD + "approvers: []\n", ("approvers", "unknown key", "allowed here")),
    BadPolicy("unknown-profile-key", _edit("require: [", "requires: [x]\n    require: ["),
              ("profiles.prod.requires", "unknown key", "approvals")),
    BadPolicy("wrong-version", _edit("version: 1", "version: 2"), ("version", "1")),
    BadPolicy("bad-mode", _edit("mode: enforce", "mode: warn"), ("mode", "enforce", "audit")),
    BadPolicy("empty-require", _edit(
        "require: [intake_complete, license_approved, approval]\n    approvals: {min: 1, approvers: [group:ml-security]}",
        "require: []"), ("profiles.prod.require", "is empty")),
    BadPolicy("unknown-requirement", _edit("license_approved,", "license_ok,"),
              ("profiles.prod.require", "license_ok")),
    BadPolicy("alias-in-two-profiles", _edit("aliases: {production: prod}",
                                             "aliases: {production: prod, production: staging}"),
              ("production", "twice")),
    BadPolicy("undefined-profile", _edit("stages: {Production: prod}", "stages: {Production: gold}"),
              ("Production", "gold", "not defined")),
    BadPolicy("unused-profile", GOOD.replace("artifact_classes:", "  spare:\n    require: [intake_complete]\nartifact_classes:"),
              ("profiles.spare", "no protected alias or stage uses")),
    BadPolicy("unknown-required-field", _edit("required: [owner,", "required: [ownr,"),
              ("artifact_classes.base_model.required", "'ownr'", "not an intake field")),
    BadPolicy("unknown-artifact-class", _edit("  fine_tune:", "  finetune:"),
              ("artifact_classes", "finetune")),
    BadPolicy("extends-undefined", _edit("extends: base_model", "extends: adapter"),
              ("fine_tune.extends", "adapter", "not defined")),
    BadPolicy("extends-cycle", _edit("base_model: {required:", "base_model: {extends: fine_tune, required:"),
              ("cycle",)),
    BadPolicy("approval-without-settings", _edit("\n    approvals: {min: 1, approvers: [group:ml-security]}", ""),
              ("profiles.prod", "approvals")),
    BadPolicy("bad-principal", _edit("[group:ml-security]", "[alice]"),
              ("approvers", "user:<name>")),
    BadPolicy("min-exceeds-users", _edit("{min: 1, approvers: [group:ml-security]}", "{min: 3, approvers: [user:a, user:b]}"),
              ("min is 3",)),
    BadPolicy("unknown-stage", _edit("stages: {Production: prod}", "stages: {Prod: prod}"),
              ("protected.stages", "Prod", "Staging")),
    BadPolicy("public-hub-source", _edit('"models:/"]', '"models:/", "https://huggingface.co/"]'),
              ("sources.allow", "public model hub")),
    BadPolicy("empty-sources", _edit('{allow: ["mlflow-artifacts:", "runs:/", "models:/"]}', "{allow: []}"),
              ("sources.allow", "is empty")),
    BadPolicy("nothing-protected", _edit("aliases: {production: prod}\n  stages: {Production: prod}",
                                         "aliases: {}\n  stages: {}"), ("nothing would be enforced",)),
    BadPolicy("format-in-two-lists", GOOD + "formats: {permitted: [safetensors], prohibited: [safetensors]}\n",
              ("safetensors", "both")),
    BadPolicy("rejected-outcome-allowed", GOOD + "licenses: {allowed_outcomes: [approved, rejected]}\n",
              ("licenses.allowed_outcomes", "rejected")),
    BadPolicy("invalid-denied-license", GOOD + "licenses: {deny: [Not-A-License]}\n",
              ("licenses.deny", "Not-A-License")),
    BadPolicy("yaml-anchor", GOOD + "x: &a [1]\n", ("anchors",)),
    BadPolicy("alias-latest", _edit("aliases: {production: prod}", "aliases: {production: prod, latest: prod}"),
              ("latest", "reserved")),
    BadPolicy("bad-tag-prefix", GOOD + "reserved_tag_prefix: mlflow.\n", ("reserved_tag_prefix",)),
)
