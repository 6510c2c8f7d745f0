"""The gate on data sets: required training data, reconciling with logged inputs, data licenses."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_supplychain.intake.dataset_links import LoggedDataset
from mlflow_supplychain.intake.datasets import encode_datasets
from mlflow_supplychain.intake.fields import ArtifactClass
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import Evidence, Target
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.policy.schema import Licenses, Requirement

from .evidence_factory import approve, full_evidence

REPO = Path(__file__).resolve().parents[3]
POLICY = load_policy(REPO / "examples" / "policy.yaml")
PROD = Target.parse("production")
RUN = "f" * 32


def _entry(**over: str) -> dict[str, str]:
    return {"name": "tickets", "context": "fine-tuning", "digest": "9a7c5e3b",
            "license": "CC-BY-4.0", **over}


def _evidence(entries: list[dict[str, str]] | None, *, cls: ArtifactClass = ArtifactClass.FINE_TUNE,
              logged: tuple[LoggedDataset, ...] | None = (), policy=POLICY,
              **intake: str) -> Evidence:
    evidence = full_evidence(policy, cls, PROD)
    fields = dict(evidence.intake)
    fields.pop("datasets", None)
    if entries is not None:
        fields["datasets"] = encode_datasets(entries)
    fields.update(intake)
    changed = evidence.model_copy(update={"intake": fields, "logged_datasets": logged})
    return approve(policy, changed, PROD)


def _logged(name: str = "tickets", digest: str = "9a7c5e3b", context: str | None = "training",
            role: str = "training") -> LoggedDataset:
    return LoggedDataset(name=name, digest=digest, context=context, run_id=RUN,
                         run_role=role)  # type: ignore[arg-type]


def _codes(evidence: Evidence, policy=POLICY) -> tuple[list[str], list[str]]:
    decision = evaluate(policy, evidence, PROD)
    return [v.code for v in decision.violations], [v.code for v in decision.advisories]


def test_fine_tune_with_linked_training_data_is_allowed() -> None:
    decision = evaluate(POLICY, _evidence([_entry()], logged=(_logged(),)), PROD)
    assert decision.allowed and not decision.advisories, decision.explain()


def test_fine_tune_must_list_its_data() -> None:
    assert _codes(_evidence(None)) == (["intake.missing"], [])
    assert _codes(_evidence([_entry(context="evaluation")])) == (["dataset.no_training"], [])


def test_a_base_model_need_not_list_data() -> None:
    assert _codes(_evidence(None, cls=ArtifactClass.BASE_MODEL)) == ([], [])


def test_runs_not_looked_up_deny_a_class_that_requires_datasets() -> None:
    assert _codes(_evidence([_entry()], logged=None)) == (["dataset.unverified"], [])
    assert _codes(_evidence(None, cls=ArtifactClass.BASE_MODEL, logged=None)) == ([], [])


def test_logged_training_data_missing_from_the_record() -> None:
    other = _logged(name="scraped-web")
    assert _codes(_evidence([_entry()], logged=(_logged(), other))) == (
        ["dataset.unrecorded"], [])
    # an evaluation input missing from the record is only an advisory
    holdout = _logged(name="holdout", context="eval")
    assert _codes(_evidence([_entry()], logged=(_logged(), holdout))) == (
        [], ["dataset.unrecorded"])
    # a class that does not require datasets: advisory, never a refusal
    assert _codes(_evidence(None, cls=ArtifactClass.BASE_MODEL, logged=(other,))) == (
        [], ["dataset.unrecorded"])


def test_record_and_run_disagree_on_the_digest() -> None:
    assert _codes(_evidence([_entry(digest="0badf00d")], logged=(_logged(),))) == (
        ["dataset.digest_mismatch"], [])
    assert _codes(_evidence([_entry(digest="ab" * 32)], logged=(_logged(),))) == (
        [], ["dataset.digest_unlinked"])


def test_invalid_datasets_value_is_reported_once() -> None:
    evidence = _evidence([_entry()])
    fields = {**evidence.intake, "datasets": '[{"name": "tickets"}]'}
    codes, _ = _codes(approve(POLICY, evidence.model_copy(update={"intake": fields}), PROD))
    assert codes == ["intake.invalid"]


def _with_licenses(**rules: object):
    return POLICY.model_copy(update={"licenses": Licenses(**rules)})  # type: ignore[arg-type]


@pytest.mark.parametrize("policy_rules, entry, intake, code", [
    ({"deny": ("CC-BY-NC-4.0",)}, _entry(license="CC-BY-NC-4.0"), {}, "dataset.license_denied"),
    ({"deny": ("GPL-3.0-only",)}, _entry(license="MIT OR GPL-3.0-only"), {},
     "dataset.license_denied"),
    ({"require_conditions": ("CC-BY-SA-4.0",)}, _entry(license="CC-BY-SA-4.0"), {},
     "dataset.license_conditions_required"),
    ({"require_conditions": ("CC-BY-SA-4.0",)}, _entry(license="CC-BY-SA-4.0"),
     {"license.outcome": "approved_with_conditions", "license.conditions": "share-alike"}, None),
    ({}, _entry(license="CC-BY-NC-4.0"), {"license.commercial_use": "true"},
     "dataset.license_terms"),
    ({}, _entry(license="CC-BY-NC-4.0", context="evaluation"), {"license.commercial_use": "true"},
     None),
    ({}, _entry(license="CC-BY-NC-4.0"), {"license.commercial_use": "false"}, None),
])
def test_license_review_covers_the_data(policy_rules: dict[str, object], entry: dict[str, str],
                                        intake: dict[str, str], code: str | None) -> None:
    policy = _with_licenses(**policy_rules)
    training = [_entry(name="base-corpus", context="training", license="MIT")]
    entries = [*training, entry] if entry["context"] == "evaluation" else [entry]
    evidence = _evidence(entries, policy=policy, **intake)
    decision = evaluate(policy, evidence, PROD)
    codes = [v.code for v in decision.violations]
    assert codes == ([code] if code else []), decision.explain()
    if code:
        violation = decision.violations[0]
        assert violation.requirement is Requirement.LICENSE_APPROVED
        assert violation.field == "datasets" and violation.remediation


def test_unknown_dataset_license_fails_closed_under_license_approved_alone() -> None:
    """A profile without intake_complete still refuses a data set whose license is unknown."""
    staging_only = POLICY.model_copy(update={"profiles": {
        **POLICY.profiles,
        "staging": POLICY.profiles["staging"].model_copy(
            update={"require": (Requirement.LICENSE_APPROVED,)})}})
    evidence = _evidence([_entry()], policy=staging_only)
    fields = {**evidence.intake,
              "datasets": encode_datasets([_entry(license="LicenseRef-x")]).replace(
                  "LicenseRef-x", "Made-Up-License")}
    evidence = evidence.model_copy(update={"intake": fields})
    decision = evaluate(staging_only, evidence, Target.parse("staging"))
    assert [(v.code, v.field) for v in decision.violations] == [("license.invalid", "datasets")]


def test_advisories_are_shown_but_do_not_block() -> None:
    decision = evaluate(POLICY, _evidence([_entry(digest="ab" * 32)], logged=(_logged(),)), PROD)
    assert decision.allowed
    assert "advisory: dataset.digest_unlinked" in decision.explain()
