"""What a proposed policy would change: pure comparison of two decisions per promotion.

The adapter (``registry.impact``) finds every version that holds a protected alias or stage
(under the current *or* the proposed policy) and every open transition request, evaluates each
under both policies on the same evidence, and hands the pairs here. Nothing in this module
reads a database or a clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.policy.schema import Integrity, Policy


class Holding(str, enum.Enum):
    ALIAS = "alias"
    """The version holds the protected alias now (it is promoted)."""
    STAGE = "stage"
    """The version is in the protected stage now (it is promoted)."""
    REQUEST = "request"
    """An open transition request asks for this promotion."""


class Change(str, enum.Enum):
    BREAKS = "breaks"
    """Compliant now, non-compliant under the proposed policy (enforced or, in audit mode,
    recorded)."""
    BLOCKS = "blocks"
    """Denied now but not enforced (audit mode or unprotected); enforced and denied after."""
    FIXES = "fixes"
    """Denied now, allowed under the proposed policy."""
    STILL_DENIED = "still_denied"
    UNCHANGED = "unchanged"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Outcome(_Frozen):
    """One policy's decision, reduced to what a reviewer reads."""

    protected: bool
    allowed: bool
    enforced: bool
    violations: tuple[str, ...] = Field((), description="'code: message' per violation.")

    @classmethod
    def of(cls, decision: Decision) -> Outcome:
        return cls(protected=decision.profile is not None, allowed=decision.allowed,
                   enforced=decision.enforced,
                   violations=tuple(f"{v.code}: {v.message}" for v in decision.violations))

    @property
    def blocks(self) -> bool:
        return self.protected and self.enforced and not self.allowed


class ImpactRow(_Frozen):
    model_name: str
    version: str
    target: str
    holding: Holding
    request_id: int | None = None
    current: Outcome
    proposed: Outcome
    change: Change

    @property
    def promoted(self) -> bool:
        return self.holding is not Holding.REQUEST


class ImpactReport(_Frozen):
    """Every promotion the proposed policy was evaluated on, and what changes."""

    current_digest: str
    proposed_digest: str
    format_changed: bool = Field(description="The format policy changed: every version is "
                                 "rescanned (scan.pending until then).")
    rows: tuple[ImpactRow, ...]
    notes: tuple[str, ...] = ()

    @property
    def breaking(self) -> tuple[ImpactRow, ...]:
        """Promoted versions that would become non-compliant, or start being blocked."""
        return tuple(r for r in self.rows if r.promoted
                     and r.change in (Change.BREAKS, Change.BLOCKS))

    def summary(self) -> dict[str, int]:
        counts = {c.value: 0 for c in Change}
        for row in self.rows:
            counts[row.change.value] += 1
        return {"evaluated": len(self.rows), "promoted_breaking": len(self.breaking), **counts}


def classify(current: Outcome, proposed: Outcome) -> Change:
    """How a promotion's standing changes from ``current`` to ``proposed``.

    An unprotected target counts as allowed. ``blocks``: not blocked now (audit mode, or the
    target is unprotected) but blocked after; this is what ``mode: audit`` -> ``enforce``
    shows.
    """
    now_ok = not current.protected or current.allowed
    after_ok = not proposed.protected or proposed.allowed
    if now_ok and not after_ok:
        return Change.BREAKS
    if not now_ok and after_ok:
        return Change.FIXES
    if not now_ok and not after_ok:
        return Change.BLOCKS if proposed.blocks and not current.blocks else Change.STILL_DENIED
    return Change.UNCHANGED


def for_impact(policy: Policy) -> Policy:
    """``policy`` without promotion-time re-hashing: impact judges the recorded evidence and
    never downloads artifacts (a re-hash is the gate's job at the moment of a promotion)."""
    if not policy.integrity.reverify_on_promotion:
        return policy
    return policy.model_copy(update={"integrity": Integrity(
        reverify_on_promotion=False,
        reverify_budget_seconds=policy.integrity.reverify_budget_seconds)})


def build_report(current: Policy, proposed: Policy,
                 rows: Iterable[ImpactRow], notes: Iterable[str] = ()) -> ImpactReport:
    ordered = sorted(rows, key=lambda r: (r.change is not Change.BREAKS,
                                          r.change is not Change.BLOCKS, not r.promoted,
                                          r.model_name, int(r.version), r.target))
    extra = list(notes)
    if proposed.integrity.reverify_on_promotion:
        extra.append("artifact bytes are not re-hashed by impact; the gate re-hashes them at "
                     "each promotion")
    return ImpactReport(current_digest=current.digest, proposed_digest=proposed.digest,
                        format_changed=current.format_digest != proposed.format_digest,
                        rows=tuple(ordered), notes=tuple(extra))
