"""The gate's judgement of the data sets a version was made from (pure, no I/O).

Two requirements read the ``datasets`` intake field:

* ``intake_complete`` (:func:`record_findings`): a class whose policy rule requires
  ``datasets`` must list at least one training or fine-tuning data set, and the record is
  reconciled with the data sets MLflow logged on the version's runs
  (:mod:`mlflow_supplychain.intake.dataset_links`): a logged training data set the record does
  not list blocks when the class requires datasets, and is an advisory otherwise; a digest the
  run contradicts always blocks (the record is false).
* ``license_approved`` (:func:`license_findings`): the license review covers the data's terms.
  A data set under a license the policy denies blocks; one under a license the policy accepts
  only with conditions needs the version's review to be approved_with_conditions with the
  conditions written; training data that forbids commercial use contradicts a review saying
  the model may be used commercially. An invalid or unknown license fails closed (the field is
  invalid, as a model license would be).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlflow_supplychain.intake.dataset_links import LoggedDataset, reconcile
from mlflow_supplychain.intake.datasets import DatasetEntry, parse_datasets
from mlflow_supplychain.intake.fields import LicenseOutcome
from mlflow_supplychain.intake.licenses import license_keys, license_terms
from mlflow_supplychain.policy.schema import Policy

FIELD = "datasets"
_FIX_RECORD = ("list it in the intake record's datasets (name as logged, context, digest, "
               "license) and apply the record again ('mlflow-supplychain intake apply').")


@dataclass(frozen=True)
class Finding:
    """One finding: a violation when ``blocking``, else an advisory."""

    code: str
    message: str
    fix: str
    blocking: bool = True


def recorded_datasets(intake: Mapping[str, str]) -> tuple[DatasetEntry, ...] | None:
    """The record's data sets; None when the field is absent or invalid (the intake check
    reports an invalid value; nothing is inferred from it)."""
    raw = intake.get(FIELD)
    if raw is None:
        return None
    try:
        return parse_datasets(raw)
    except ValueError:
        return None


def record_findings(intake: Mapping[str, str], *, required: bool,
                    logged: tuple[LoggedDataset, ...] | None) -> list[Finding]:
    """The ``intake_complete`` findings about data sets (``required``: the class's rule
    requires ``datasets``; a missing or invalid field is reported by the caller)."""
    entries = recorded_datasets(intake)
    if FIELD in intake and entries is None:
        return []  # invalid: reported once, as intake.invalid
    out: list[Finding] = []
    if required and entries is not None and not any(e.context.trains for e in entries):
        out.append(Finding(
            "dataset.no_training",
            "the record lists no training or fine-tuning data set; this artifact class must "
            "say what data shaped its weights.",
            "add an entry with context: training (or fine-tuning), its digest and license."))
    if logged is None:
        if required:
            out.append(Finding(
                "dataset.unverified",
                "the data sets logged on the version's training and evaluation runs were not "
                "looked up, so the record could not be checked against them.",
                "evaluate against the live registry (gate check NAME VERSION), or set "
                "logged_datasets in the evidence file."))
        return out
    result = reconcile(entries or (), logged)
    for item in result.unrecorded:
        where = f"{item.run_role} run {item.run_id}"
        blocking = required and item.trains
        out.append(Finding(
            "dataset.unrecorded",
            f"data set {item.name!r} (digest {item.digest}) logged on the {where} is not in "
            "the intake record.",
            _FIX_RECORD, blocking=blocking))
    for mismatch in result.mismatched:
        out.append(Finding(
            "dataset.digest_mismatch",
            f"data set {mismatch.logged.name!r}: the record says digest "
            f"{mismatch.recorded.digest}, the {mismatch.logged.run_role} run "
            f"{mismatch.logged.run_id} logged {mismatch.logged.digest}.",
            "record the digest of the data the run actually used (the run's logged input), "
            "or retrain on the recorded data."))
    for link in result.linked:
        if not link.digest_checked:
            out.append(Finding(
                "dataset.digest_unlinked",
                f"data set {link.logged.name!r}: the record's sha256 and the digest MLflow "
                f"logged ({link.logged.digest}) are different kinds of fingerprint and were "
                "not compared.",
                "record the digest MLflow logged for it to link the two.", blocking=False))
    return out


def license_findings(policy: Policy, intake: Mapping[str, str]) -> list[Finding]:
    """The ``license_approved`` findings about the data's terms (the field valid)."""
    entries = recorded_datasets(intake) or ()
    denied = {d.lower() for d in policy.licenses.deny}
    wanted = {k.lower() for k in policy.licenses.require_conditions}
    outcome = intake.get("license.outcome")
    conditions = intake.get("license.conditions", "").strip()
    with_conditions = outcome == LicenseOutcome.APPROVED_WITH_CONDITIONS.value and conditions
    commercial = intake.get("license.commercial_use", "").lower() in {"true", "yes"}
    out: list[Finding] = []
    for entry in entries:
        keys = license_keys(entry.license)
        what = f"data set {entry.name!r} ({entry.context.value}) is under {entry.license!r}"
        if hits := [k for k in keys if k.lower() in denied]:
            out.append(Finding(
                "dataset.license_denied",
                f"{what}, which includes {', '.join(hits)}: the policy denies it.",
                "train without that data, or ask the policy owner."))
            continue
        if (hits := [k for k in keys if k.lower() in wanted]) and not with_conditions:
            out.append(Finding(
                "dataset.license_conditions_required",
                f"{what}, which includes {', '.join(hits)}: the policy accepts it only with "
                "the conditions written down.",
                "set license.outcome=approved_with_conditions and list the data's obligations "
                "(e.g. attribution) in license.conditions."))
        if (entry.context.trains and commercial
                and license_terms(entry.license).commercial_use is False):
            out.append(Finding(
                "dataset.license_terms",
                f"{what}, which does not allow commercial use, but the review says the model "
                "may be used commercially (license.commercial_use: true).",
                "have the reviewer set license.commercial_use: false, or train without that "
                "data."))
    return out
