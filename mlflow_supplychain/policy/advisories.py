"""Warnings about a valid policy that is weaker than it looks. Pure: no I/O.

``policy validate`` prints them, the server logs them when it loads or reloads the policy.
"""

from __future__ import annotations

from mlflow_supplychain.policy.schema import Mode, Policy, Requirement

BYTE_REQUIREMENTS = (Requirement.HASH_MATCH, Requirement.SCAN_PASSED)
"""Requirements whose evidence is about bytes (the attested manifest and its verdict)."""


def byte_evidence_unverified(policy: Policy) -> str | None:
    """The warning for enforce mode without re-verification while a profile needs byte
    evidence, or None.

    Without a re-hash at promotion, ``hash_match`` and ``scan_passed`` only say that the bytes
    *scanned* were fine: files overwritten through the artifact API afterwards would be
    promoted (only the verified loader and ``deploy verify`` would notice, at load time).
    """
    if policy.mode is not Mode.ENFORCE or policy.integrity.reverify_on_promotion:
        return None
    profiles = sorted(name for name, profile in policy.profiles.items()
                      if any(r in profile.require for r in BYTE_REQUIREMENTS))
    if not profiles:
        return None
    return ("integrity.reverify_on_promotion is off in enforce mode, but profile(s) "
            f"{', '.join(profiles)} require hash_match or scan_passed: those requirements will "
            "judge the bytes that were scanned, not the bytes deployments load, so artifacts "
            "overwritten after the scan can be promoted. Set reverify_on_promotion: true "
            "(and a reverify_budget_seconds your largest model fits).")


def advisories(policy: Policy) -> tuple[tuple[str, str], ...]:
    """Every warning for ``policy`` as (where, what) pairs (empty when none): re-verification
    off, and what the identity settings leave open (``policy.exposure``)."""
    from mlflow_supplychain.policy.exposure import policy_warnings

    found = [("integrity", byte_evidence_unverified(policy))]
    found += [("identity", text) for text in policy_warnings(policy)]
    return tuple((where, what) for where, what in found if what is not None)
