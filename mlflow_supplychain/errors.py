"""One error tree for the whole project, and the exit codes the CLI maps it to.

Every layer raises a subclass of :class:`SupplyChainError`. Third-party exceptions are
converted at the adapter that calls the library, so users never see a raw traceback: the
CLI prints :meth:`SupplyChainError.diagnostics` and exits with :attr:`exit_code`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    """Process exit codes, the same for every command."""

    OK = 0
    """Allowed, valid, clean."""
    DENIED = 1
    """Denied, unsafe or mismatched: the tool worked and the answer is no."""
    ERROR = 2
    """Could not decide: bad input, unreachable service, internal failure."""


@dataclass(frozen=True)
class Problem:
    """One thing that is wrong, where, and how to fix it."""

    where: str
    what: str
    fix: str = ""

    def render(self) -> str:
        text = f"{self.where}: {self.what}" if self.where else self.what
        return f"{text}\n    fix: {self.fix}" if self.fix else text


PATH_CHARS = 4096
"""Longest path shown whole in a message (Linux PATH_MAX)."""


def excerpt(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters with control characters escaped: safe to put in a
    message when it came from a file or a request (never quote more of an input than this)."""
    cut = text[:limit]
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return shown + ("..." if len(text) > limit else "")


class SupplyChainError(Exception):
    """Base of every error this project raises on purpose."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, summary: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(summary)
        self.summary = summary
        self.problems: tuple[Problem, ...] = tuple(problems)

    def diagnostics(self) -> str:
        """A multi-line, human-readable explanation: summary, then one entry per problem."""
        lines = [self.summary]
        lines.extend(f"  - {p.render()}" for p in self.problems)
        return "\n".join(lines)

    def one_line(self) -> str:
        """The diagnostics on one line (for places that print a single line, e.g. a launcher)."""
        details = []
        for p in self.problems:
            text = f"{p.where} {p.what}" if p.where else p.what
            details.append(f"{text} (fix: {p.fix})" if p.fix else text)
        return "; ".join([self.summary, *details]) if details else self.summary

    def __str__(self) -> str:
        return self.diagnostics()


class PolicyError(SupplyChainError):
    """The policy file is missing, unreadable or invalid."""


class EvidenceError(SupplyChainError):
    """Evidence (intake record, evidence file, tag value) is malformed."""


class ScanError(SupplyChainError):
    """The scanner could not analyse an input at all."""


class IntegrityError(SupplyChainError):
    """Bytes do not match the manifest they are checked against."""

    exit_code = ExitCode.DENIED


class ArtifactReadError(IntegrityError):
    """The artifact's bytes could not be read whole and stable: a file or directory is
    unreadable, changed while it was read, or nests past a limit. Nothing was compared, so the
    answer is "could not decide" (exit 2), not "mismatch"."""

    exit_code = ExitCode.ERROR


class CheckpointError(SupplyChainError):
    """An audit checkpoint (or the key to check it) cannot be read: could not decide."""


class RegistryError(SupplyChainError):
    """The MLflow registry could not be reached or answered unexpectedly."""


class WebhookAuthError(SupplyChainError):
    """A webhook delivery failed signature or freshness checks."""


class PromotionDenied(SupplyChainError):
    """The policy denies the requested promotion."""

    exit_code = ExitCode.DENIED


class GovernanceError(SupplyChainError):
    """A transition-request operation cannot be carried out."""


class RequestNotFound(GovernanceError):
    """No transition request has that id."""


class RequestConflict(GovernanceError):
    """The request is not in a state that allows the operation (or a duplicate exists)."""


class ApprovalRefused(GovernanceError):
    """The caller may not approve, reject or cancel this request."""

    exit_code = ExitCode.DENIED


class RequestRefused(GovernanceError):
    """The server refused a governance call: not authenticated or not permitted."""

    exit_code = ExitCode.DENIED
