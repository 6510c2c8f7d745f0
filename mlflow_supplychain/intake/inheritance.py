"""License inheritance: a derived model may not be reviewed more permissively than its base.

A fine-tune or adapter is a derivative work of its base. Whatever the base's license forbids
(commercial use, redistribution, derivatives at all), or limits (field of use, outputs), or
makes derivatives carry (Llama, Gemma, OpenRAIL, share-alike and non-commercial terms), binds
the derived model too. This module compares the base's license facts (its own license review
from the registry, plus what the catalog knows about its license id) with the derived model's
review and returns every way the derived review is more permissive. Pure: no I/O.

Fail closed: a restriction of the base that the derived review does not repeat counts as
dropped, so the restriction is visible on the derived version itself, where deployers look.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlflow_supplychain.intake.fields import LicenseOutcome
from mlflow_supplychain.intake.licenses import license_keys, license_terms

_NO_LIMITS = {"", "none", "n/a", "no", "unrestricted"}


@dataclass(frozen=True)
class InheritanceProblem:
    """One way a derived review is more permissive than its base allows."""

    code: str
    field: str
    message: str
    fix: str


def parse_bool(value: str | None) -> bool | None:
    """``true``/``yes`` -> True, ``false``/``no`` -> False, anything else -> None."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in {"true", "yes"}:
        return True
    if lowered in {"false", "no"}:
        return False
    return None


def _limited(text: str | None) -> bool:
    return text is not None and text.strip().lower() not in _NO_LIMITS


@dataclass(frozen=True)
class BaseRestrictions:
    """The effective restrictions of a base: its review combined with the license catalog."""

    license_id: str | None
    outcome: str | None
    commercial_use: bool | None
    redistribution: bool | None
    derivatives: bool | None
    field_of_use: str | None
    output_rights: str | None
    carried_licenses: frozenset[str]
    conditions: str | None


def _narrowest(reviewed: bool | None, catalog: bool | None) -> bool | None:
    """False if either source says no; True only if the review says yes and the catalog agrees."""
    if reviewed is False or catalog is False:
        return False
    return reviewed if reviewed is not None else catalog


def base_restrictions(base_license: Mapping[str, str]) -> BaseRestrictions:
    """Combine the base's ``license.*`` review fields with the catalog's facts about its id."""
    license_id = base_license.get("license.id")
    terms = license_terms(license_id) if license_id else None
    field_of_use = base_license.get("license.field_of_use")
    if not _limited(field_of_use) and terms is not None and terms.field_of_use_limits:
        field_of_use = f"the {license_id} license's use restrictions"
    output_rights = base_license.get("license.output_rights")
    if not _limited(output_rights) and terms is not None and terms.output_limits:
        output_rights = f"the {license_id} license's output restrictions"
    return BaseRestrictions(
        license_id=license_id,
        outcome=base_license.get("license.outcome"),
        commercial_use=_narrowest(parse_bool(base_license.get("license.commercial_use")),
                                  terms.commercial_use if terms else None),
        redistribution=_narrowest(parse_bool(base_license.get("license.redistribution")),
                                  terms.redistribution if terms else None),
        derivatives=_narrowest(parse_bool(base_license.get("license.derivatives")),
                               terms.derivatives if terms else None),
        field_of_use=field_of_use if _limited(field_of_use) else None,
        output_rights=output_rights if _limited(output_rights) else None,
        carried_licenses=terms.carried_by_derivatives if terms else frozenset(),
        conditions=base_license.get("license.conditions"),
    )


def inheritance_problems(base_uri: str, base_license: Mapping[str, str],
                         derived: Mapping[str, str]) -> list[InheritanceProblem]:
    """Every way ``derived`` (intake fields) is more permissive than the base at ``base_uri``.

    ``base_license`` holds the base's ``license.*`` fields (its own review; for an external
    base, at least ``license.id``).
    """
    base = base_restrictions(base_license)
    out: list[InheritanceProblem] = []
    fix_review = f"re-review the license: the base {base_uri} restricts it; carry its terms over."

    if base.outcome == LicenseOutcome.REJECTED.value:
        out.append(InheritanceProblem(
            "license.base_rejected", "base_model.uri",
            f"the license review of base {base_uri} is rejected; nothing derived from it may "
            "be promoted.", "derive from a base whose license review is approved."))
    if base.derivatives is False:
        out.append(InheritanceProblem(
            "license.base_forbids_derivatives", "base_model.uri",
            f"base {base_uri} ({base.license_id or 'its license'}) does not allow derivative "
            "works, so this fine-tune or adapter may not exist under it.",
            "derive from a base whose license allows derivatives."))

    for field, base_allows, what in (
        ("license.commercial_use", base.commercial_use, "commercial use"),
        ("license.redistribution", base.redistribution, "redistribution"),
    ):
        if base_allows is not False:
            continue
        claimed = parse_bool(derived.get(field))
        if claimed is not False:
            stated = "says true" if claimed else "does not say so"
            out.append(InheritanceProblem(
                "license.more_permissive_than_base", field,
                f"base {base_uri} does not allow {what}, but this version's review {stated}.",
                f"set {field}=false (inherited from {base_uri}), or {fix_review}"))

    for field, limit in (("license.field_of_use", base.field_of_use),
                         ("license.output_rights", base.output_rights)):
        if limit is not None and not _limited(derived.get(field)):
            out.append(InheritanceProblem(
                "license.more_permissive_than_base", field,
                f"base {base_uri} restricts this ({limit!r}), but this version's review "
                "records no restriction.",
                f"record the inherited restriction in {field}, or {fix_review}"))

    derived_outcome = derived.get("license.outcome")
    if (base.outcome == LicenseOutcome.APPROVED_WITH_CONDITIONS.value
            and derived_outcome == LicenseOutcome.APPROVED.value):
        out.append(InheritanceProblem(
            "license.more_permissive_than_base", "license.outcome",
            f"base {base_uri} was approved with conditions ({base.conditions or 'see its review'}"
            "), but this version is approved without any.",
            "set license.outcome=approved_with_conditions and repeat the base's conditions in "
            "license.conditions."))

    derived_id = derived.get("license.id")
    if base.carried_licenses and derived_id:
        kept = {k.lower() for k in license_keys(derived_id)}
        dropped = sorted(k for k in base.carried_licenses if k.lower() not in kept)
        if dropped:
            out.append(InheritanceProblem(
                "license.more_permissive_than_base", "license.id",
                f"base {base_uri} is under {', '.join(dropped)}, whose terms bind derivatives, "
                f"but this version is licensed {derived_id!r}.",
                f"license this version under an expression that keeps {', '.join(dropped)} "
                f"(e.g. '{dropped[0]}')."))
    return out
