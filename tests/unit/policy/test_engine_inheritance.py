"""License inheritance and required conditions, as gate rules of the pure engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_supplychain.errors import PolicyError
from mlflow_supplychain.intake.fields import ArtifactClass
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import Ancestor, AncestorState, Evidence, Target
from mlflow_supplychain.policy.loader import load_policy, parse_policy
from mlflow_supplychain.policy.schema import Policy

from .bad_policies import GOOD
from .evidence_factory import approve, full_evidence

REPO = Path(__file__).resolve().parents[3]
POLICY = load_policy(REPO / "examples" / "policy.yaml")
PROD = Target.parse("production")
BASE_URI = "models:/llama-base/3"

PERMISSIVE_REVIEW = {"license.commercial_use": "true", "license.redistribution": "true",
                     "license.derivatives": "true", "license.field_of_use": "none",
                     "license.output_rights": "none"}


def _fine_tune(intake_update: dict[str, str], base_license: dict[str, str] | None,
               policy: Policy = POLICY) -> Evidence:
    evidence = full_evidence(policy, ArtifactClass.FINE_TUNE, PROD)
    lineage = (Ancestor(uri=BASE_URI, state=AncestorState.COMPLIANT, license=base_license),)
    changed = evidence.model_copy(update={"intake": {**evidence.intake, **intake_update},
                                          "lineage": lineage})
    return approve(policy, changed, PROD)


def _violations(evidence: Evidence, policy: Policy = POLICY) -> list[tuple[str, str | None]]:
    return [(v.code, v.field) for v in evaluate(policy, evidence, PROD).violations]


def test_ancestor_without_license_facts_is_not_checked() -> None:
    assert _violations(_fine_tune(PERMISSIVE_REVIEW, None)) == []


def test_permissive_base_allows_permissive_derived() -> None:
    base = {"license.id": "Apache-2.0", "license.outcome": "approved", **PERMISSIVE_REVIEW}
    assert _violations(_fine_tune(PERMISSIVE_REVIEW, base)) == []


def test_non_commercial_base_denies_commercial_derived_and_names_the_base() -> None:
    base = {"license.id": "Apache-2.0", "license.outcome": "approved",
            "license.commercial_use": "false"}
    decision = evaluate(POLICY, _fine_tune(PERMISSIVE_REVIEW, base), PROD)
    assert [(v.code, v.field) for v in decision.violations] == [
        ("license.more_permissive_than_base", "license.commercial_use")]
    assert BASE_URI in decision.violations[0].message
    assert "license.commercial_use=false" in decision.violations[0].remediation


def test_restriction_not_carried_over_counts_as_dropped() -> None:
    base = {"license.id": "Apache-2.0", "license.outcome": "approved",
            "license.redistribution": "false"}
    assert _violations(_fine_tune({}, base)) == [
        ("license.more_permissive_than_base", "license.redistribution")]
    carried = _fine_tune({"license.redistribution": "false"}, base)
    assert _violations(carried) == []


def test_catalog_facts_apply_even_when_the_base_review_is_silent() -> None:
    # qwen-research is non-commercial and binds derivatives; the base review says nothing
    base = {"license.id": "qwen-research", "license.outcome": "approved"}
    codes = _violations(_fine_tune({**PERMISSIVE_REVIEW, "license.id": "Apache-2.0"}, base))
    assert ("license.more_permissive_than_base", "license.commercial_use") in codes
    assert ("license.more_permissive_than_base", "license.id") in codes  # relabelled
    assert ("license.more_permissive_than_base", "license.field_of_use") in codes


def test_relabelling_a_llama_fine_tune_is_denied() -> None:
    base = {"license.id": "llama3.1", "license.outcome": "approved_with_conditions",
            "license.conditions": "Built with Llama", **PERMISSIVE_REVIEW,
            "license.field_of_use": "Llama acceptable-use policy"}
    derived = {**PERMISSIVE_REVIEW, "license.field_of_use": "Llama acceptable-use policy",
               "license.outcome": "approved_with_conditions", "license.conditions": "Built with Llama"}
    assert _violations(_fine_tune({**derived, "license.id": "MIT"}, base)) == [
        ("license.more_permissive_than_base", "license.id")]
    assert _violations(_fine_tune({**derived, "license.id": "llama3.1"}, base)) == []


def test_conditions_of_the_base_cannot_be_dropped() -> None:
    base = {"license.id": "Apache-2.0", "license.outcome": "approved_with_conditions",
            "license.conditions": "attribution"}
    assert _violations(_fine_tune({"license.outcome": "approved"}, base)) == [
        ("license.more_permissive_than_base", "license.outcome")]


@pytest.mark.parametrize(("base", "code"), [
    ({"license.id": "Apache-2.0", "license.outcome": "rejected"}, "license.base_rejected"),
    ({"license.id": "CC-BY-ND-4.0", "license.outcome": "approved"},
     "license.base_forbids_derivatives"),
    ({"license.id": "Apache-2.0", "license.outcome": "approved", "license.derivatives": "no"},
     "license.base_forbids_derivatives"),
])
def test_base_that_forbids_the_derivative(base: dict[str, str], code: str) -> None:
    assert (code, "base_model.uri") in _violations(_fine_tune(PERMISSIVE_REVIEW, base))


def test_grandparent_restrictions_bind_too() -> None:
    evidence = full_evidence(POLICY, ArtifactClass.ADAPTER, PROD)
    lineage = (
        Ancestor(uri="models:/ft/2", state=AncestorState.COMPLIANT,
                 license={"license.id": "Apache-2.0", "license.outcome": "approved"}),
        Ancestor(uri="models:/base/1", state=AncestorState.COMPLIANT,
                 license={"license.id": "CC-BY-NC-4.0", "license.outcome": "approved"}),
    )
    changed = approve(POLICY, evidence.model_copy(update={"lineage": lineage}), PROD)
    decision = evaluate(POLICY, changed, PROD)
    assert decision.violations and all("models:/base/1" in v.message for v in decision.violations)


def _require_conditions(*ids: str) -> Policy:
    licenses = POLICY.licenses.model_copy(update={"require_conditions": ids})
    return POLICY.model_copy(update={"licenses": licenses})


def test_require_conditions_denies_plain_approval() -> None:
    policy = _require_conditions("llama3.1")
    evidence = full_evidence(policy, ArtifactClass.BASE_MODEL, PROD)
    plain = approve(policy, evidence.model_copy(update={"intake": {
        **evidence.intake, "license.id": "llama3.1", "license.outcome": "approved"}}), PROD)
    assert _violations(plain, policy) == [("license.conditions_required", "license.conditions")]
    with_conditions = approve(policy, plain.model_copy(update={"intake": {
        **plain.intake, "license.outcome": "approved_with_conditions",
        "license.conditions": "Built with Llama; AUP"}}), PROD)
    assert _violations(with_conditions, policy) == []


def test_require_conditions_policy_key_is_validated() -> None:
    ok = parse_policy(GOOD + "licenses: {require_conditions: [llama3.1, gemma]}\n")
    assert ok.licenses.require_conditions == ("llama3.1", "gemma")
    with pytest.raises(PolicyError, match="require_conditions"):
        parse_policy(GOOD + "licenses: {require_conditions: [not-a-license]}\n")
    with pytest.raises(PolicyError, match="approved_with_conditions"):
        parse_policy(GOOD + "licenses: {allowed_outcomes: [approved], require_conditions: [gemma]}\n")


def test_rejected_base_is_reported_once() -> None:
    base = {"license.id": "Apache-2.0", "license.outcome": "rejected"}
    evidence = _fine_tune(PERMISSIVE_REVIEW, base)
    rejected = evidence.model_copy(update={"lineage": (
        Ancestor(uri=BASE_URI, state=AncestorState.REJECTED, license=base),)})
    assert [c for c, _ in _violations(approve(POLICY, rejected, PROD))] == ["lineage.rejected"]
    # a profile without lineage_verified still sees it, through the license rule
    staging = Target.parse("staging")
    decision = evaluate(POLICY, rejected, staging)
    assert "license.base_rejected" in [v.code for v in decision.violations]
