"""Would the gate accept this intake record? The intake part of a promotion, offline (pure).

``intake validate --policy P [--target T]`` runs the gate itself on the record alone, keeps the
refusals about intake fields and drops those about facts a record cannot hold (the artifact
manifest, the scan, approvals, whether the evaluation run and the base model exist). So a
record it accepts is not then refused by the gate for a field it did not mention: a missing
``source_sha256`` under ``hash_match``, a license outcome the policy does not accept.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlflow_supplychain.intake.fields import FIELDS
from mlflow_supplychain.policy.decision import Violation
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import Evidence, Target, TargetKind
from mlflow_supplychain.policy.schema import Policy

# Refusals about facts outside the record: whether base models resolve and are compliant.
_OUTSIDE_THE_RECORD = ("lineage.",)


def record_refusals(policy: Policy, target: str, fields: Mapping[str, str]) -> list[Violation]:
    """The gate's refusals of a promotion to ``target`` that concern the intake ``fields``."""
    parsed = Target.parse(target)
    # whether the eval run exists, and what the runs logged, are checked at promotion
    evidence = Evidence(model_name="record", version="1", intake=dict(fields),
                        eval_run_found=True, logged_datasets=())
    decision = evaluate(policy, evidence, parsed)
    return [v for v in decision.violations
            if v.field in FIELDS and not v.code.startswith(_OUTSIDE_THE_RECORD)]


def profile_for(policy: Policy, target: str) -> str | None:
    """The profile guarding ``target`` (``production``, ``alias:x`` or ``stage:Name``)."""
    parsed = Target.parse(target)
    return (policy.profile_for_alias(parsed.name) if parsed.kind is TargetKind.ALIAS
            else policy.profile_for_stage(parsed.name))


def protected_targets(policy: Policy) -> list[str]:
    """One target per profile (an alias, else a ``stage:`` name), for checking every profile."""
    chosen: dict[str, str] = {}
    for alias, profile in policy.protected.aliases.items():
        chosen.setdefault(profile, alias)
    for stage, profile in policy.protected.stages.items():
        chosen.setdefault(profile, f"stage:{stage}")
    return list(chosen.values())
