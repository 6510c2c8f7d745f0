"""The outcome of a gate evaluation: a value, never an exception.

Adapters turn a blocking :class:`Decision` into an MLflow ``PERMISSION_DENIED`` error, an
HTTP 403 or exit code 1; the engine only describes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from mlflow_supplychain.policy.schema import Requirement


class Violation(BaseModel):
    """One unmet requirement: a stable code, the field at fault, what is wrong and the fix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    requirement: Requirement
    field: str | None = None
    message: str
    remediation: str

    def render(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.code}{where}: {self.message} Fix: {self.remediation}"


class Decision(BaseModel):
    """Whether a version may be promoted to a target, and every reason why not."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    version: str
    target: str
    profile: str | None
    allowed: bool
    enforced: bool
    requirements: tuple[Requirement, ...]
    violations: tuple[Violation, ...]
    policy_digest: str
    evidence_digest: str
    identity_digest: str | None = None
    """Digest of the judged version's immutable identity (None: not known, evidence files)."""
    advisories: tuple[Violation, ...] = ()
    """Findings that do not block (e.g. a logged data set the record does not list, when the
    class does not require datasets): shown with the verdict, never counted against it."""
    deployed_when_noncompliant: Literal["refuse", "warn"] = "refuse"
    """The policy's ``deployed.when_noncompliant``: what deployment checks do when a version
    that already holds the target is not allowed (a new promotion is always refused)."""

    @property
    def blocks(self) -> bool:
        """True when the promotion must be refused (not allowed and the policy enforces)."""
        return self.enforced and not self.allowed

    @property
    def verdict(self) -> str:
        if self.allowed:
            return "allowed"
        return "denied" if self.enforced else "denied (audit mode: not enforced)"

    def explain(self) -> str:
        """A human message: verdict, then one line per violation with its fix."""
        head = (
            f"Promotion of {self.model_name!r} version {self.version} to {self.target!r} "
            f"is {self.verdict}"
        )
        if self.profile:
            head += f" under profile {self.profile!r}"
        notes = [f"  advisory: {v.render()}" for v in self.advisories]
        if not self.violations:
            return "\n".join([head + ".", *notes])
        lines = [head + f"; {len(self.violations)} requirement(s) unmet:"]
        lines.extend(f"  - {v.render()}" for v in self.violations)
        lines.extend(notes)
        lines.append(f"  (policy {self.policy_digest})")
        return "\n".join(lines)
