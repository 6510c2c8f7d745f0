"""Scan results as values: per-file results and the report over a whole artifact.

Verdicts are kept as plain strings so the scan path never imports pydantic (start-up time);
the ``verdict`` properties return the policy's ``FormatVerdict`` enum (a ``str`` enum, so the
two compare equal) for callers that want it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlflow_supplychain import __version__
from mlflow_supplychain.scanning.findings import Finding

if TYPE_CHECKING:
    from mlflow_supplychain.policy.schema import FormatVerdict

SCANNER = "mlflow-supplychain-scanner"
ERROR_VERDICT = "error"


def _as_verdict(name: str | None) -> FormatVerdict | None:
    if name is None:
        return None
    from mlflow_supplychain.policy.schema import FormatVerdict

    return FormatVerdict(name)


@dataclass(frozen=True)
class FileResult:
    """One file of the artifact: what it is and what the policy makes of it."""

    path: str
    kind: str
    """Outermost format detected by content (``pickle``, ``zip``, ``safetensors``...)."""
    formats: tuple[str, ...]
    """Policy format names found in it (``pickle_allowlisted``, ``pickle_unsafe``...)."""
    verdict_name: str | None
    """``permitted``/``sandboxed``/``prohibited``, or None: could not decide (error)."""
    findings: tuple[Finding, ...]
    size: int = 0
    globals: tuple[str, ...] = ()
    """Every ``module.name`` its pickles import that the scan accepted: all a restricted
    unpickler may resolve when the file is loaded (see ``deploy.sandbox``)."""

    @property
    def verdict(self) -> FormatVerdict | None:
        return _as_verdict(self.verdict_name)

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "size": self.size,
                "formats": list(self.formats), "verdict": self.verdict_name or ERROR_VERDICT,
                "findings": [f.as_dict() for f in self.findings]}


_ORDER = {"permitted": 0, "sandboxed": 1, "prohibited": 3}


@dataclass(frozen=True)
class ScanReport:
    """Every file's result and the overall verdict (the worst; None when undecided)."""

    root: str
    files: tuple[FileResult, ...]
    seconds: float = 0.0
    scanner_version: str = field(default=__version__)

    @property
    def verdict_name(self) -> str | None:
        """Worst file verdict: prohibited beats error (None) beats sandboxed beats permitted.
        An empty artifact is an error: nothing was shown to be safe."""
        names = [f.verdict_name for f in self.files]
        if "prohibited" in names:
            return "prohibited"
        if None in names or not names:
            return None
        return max(names, key=lambda n: _ORDER[n or "prohibited"])

    @property
    def verdict(self) -> FormatVerdict | None:
        return _as_verdict(self.verdict_name)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for r in self.files for f in r.findings)

    @property
    def clean(self) -> bool:
        """True only for ``permitted`` or ``sandboxed`` overall."""
        return self.verdict_name in ("permitted", "sandboxed")

    def merged(self, other: ScanReport) -> ScanReport:
        return ScanReport(f"{self.root}, {other.root}", self.files + other.files,
                          self.seconds + other.seconds, self.scanner_version)

    def as_dict(self) -> dict[str, Any]:
        return {"scanner": SCANNER, "version": self.scanner_version, "root": self.root,
                "verdict": self.verdict_name or ERROR_VERDICT, "seconds": round(self.seconds, 4),
                "files": [f.as_dict() for f in self.files]}
