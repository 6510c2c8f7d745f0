"""Which intake fields a promotion needs, before any evidence exists (pure, no I/O).

The gate (:mod:`mlflow_supplychain.policy.engine`) reads intake fields for several requirements:
``intake_complete`` (the class and the fields the class requires), ``hash_match``
(``source_sha256``), ``license_approved`` (``license.id``, ``license.outcome``),
``eval_evidence`` (``eval.ref``) and ``lineage_verified`` (``base_model.uri`` of a derived
class). ``intake validate --policy`` and ``intake template --policy`` ask this module, so a
record they accept is not then refused by the gate for a field they did not mention.
"""

from __future__ import annotations

from mlflow_supplychain.intake.fields import ArtifactClass
from mlflow_supplychain.policy.schema import Policy, Profile, Requirement

REQUIREMENT_FIELDS: dict[Requirement, tuple[str, ...]] = {
    Requirement.HASH_MATCH: ("source_sha256",),
    Requirement.LICENSE_APPROVED: ("license.id", "license.outcome"),
    Requirement.EVAL_EVIDENCE: ("eval.ref",),
}
"""Intake fields the gate reads for a requirement, whatever the artifact class."""
DERIVED_CLASSES = (ArtifactClass.FINE_TUNE, ArtifactClass.ADAPTER)


def fields_every_class_requires(policy: Policy) -> tuple[str, ...]:
    """The fields every artifact class of ``policy`` requires (known before the class is)."""
    classes = list(policy.artifact_classes)
    if not classes:
        return ()
    common = set(policy.required_fields(classes[0]))
    for cls in classes[1:]:
        common &= set(policy.required_fields(cls))
    return tuple(f for f in policy.required_fields(classes[0]) if f in common)


def profile_fields(policy: Policy, profile: Profile,
                   artifact_class: ArtifactClass | None) -> tuple[str, ...]:
    """Every intake field the gate reads under ``profile`` for a version of ``artifact_class``
    (``None``: not known yet, so only the fields every class requires), in a stable order."""
    ordered: list[str] = []

    def add(names: tuple[str, ...]) -> None:
        ordered.extend(n for n in names if n not in ordered)

    if Requirement.INTAKE_COMPLETE in profile.require:
        add(("artifact_class",))
        add(policy.required_fields(artifact_class) if artifact_class is not None
            and artifact_class in policy.artifact_classes else fields_every_class_requires(policy))
    for requirement in profile.require:
        add(REQUIREMENT_FIELDS.get(requirement, ()))
    if Requirement.LINEAGE_VERIFIED in profile.require and artifact_class in DERIVED_CLASSES:
        add(("base_model.uri",))
    return tuple(ordered)
