"""Who may approve a promotion: one pure rule shared by the engine and the approval workflow."""

from __future__ import annotations

from collections.abc import Iterable

from mlflow_supplychain.policy.schema import ApprovalRule


def principals(user: str, groups: Iterable[str]) -> set[str]:
    """The policy principals a user holds: ``user:<name>`` and one ``group:<g>`` per group."""
    return {f"user:{user}"} | {f"group:{g}" for g in groups}


def approver_problem(rule: ApprovalRule, approver: str, groups: Iterable[str],
                     requester: str | None, creator: str | None) -> str | None:
    """Why ``approver`` may not approve under ``rule``, or ``None`` when they may.

    Separation of duties (when the rule asks for it): the approver is neither the person who
    requested the promotion nor the creator of the model version, and the creator is known.
    """
    if not principals(approver, groups) & set(rule.approvers):
        return (f"{approver} is not an authorised approver (authorised: "
                f"{', '.join(rule.approvers)})")
    if rule.separation_of_duties:
        if approver == requester:
            return f"{approver} requested this promotion and cannot also approve it"
        if creator is None:
            # Fail closed: a version registered without any identity (no --auth, no pinned
            # proxy) could be anyone's, including the approver's.
            return ("the version's creator is unknown (it was registered without an "
                    "identity), so separation of duties cannot be checked: register it again "
                    "as an authenticated user")
        if approver == creator:
            return f"{approver} created this model version and cannot approve its promotion"
    return None
