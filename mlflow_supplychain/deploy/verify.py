"""Compare downloaded bytes with an expected manifest. Pure: no MLflow, no I/O."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from mlflow_supplychain.errors import IntegrityError, Problem
from mlflow_supplychain.integrity.manifest import Manifest


class MismatchKind(str, enum.Enum):
    CHANGED = "changed"
    MISSING = "missing"
    EXTRA = "extra"


@dataclass(frozen=True)
class Mismatch:
    """One file that differs from the expected manifest."""

    path: str
    kind: MismatchKind
    expected: str | None
    actual: str | None

    def as_dict(self) -> dict[str, str | None]:
        return {"path": self.path, "kind": self.kind.value, "expected": self.expected,
                "actual": self.actual}

    def problem(self) -> Problem:
        match self.kind:
            case MismatchKind.CHANGED:
                what = f"changed: sha256 {self.actual}, expected {self.expected}"
            case MismatchKind.MISSING:
                what = "missing: the manifest lists it, the download does not have it"
            case MismatchKind.EXTRA:
                what = "extra: not in the manifest (an added file can change behaviour)"
        return Problem(self.path, what, "do not load these bytes; restore the approved "
                       "artifacts or register and approve a new version")


def compare(expected: Mapping[str, str], actual: Manifest) -> list[Mismatch]:
    """Every changed, missing and extra file, sorted by path."""
    found = {entry.path: entry.sha256 for entry in actual.files}
    out = [Mismatch(path, MismatchKind.MISSING, digest, None)
           for path, digest in expected.items() if path not in found]
    out += [Mismatch(path, MismatchKind.EXTRA, None, digest)
            for path, digest in found.items() if path not in expected]
    out += [Mismatch(path, MismatchKind.CHANGED, expected[path], digest)
            for path, digest in found.items() if path in expected and expected[path] != digest]
    return sorted(out, key=lambda m: m.path)


def require_match(expected: Mapping[str, str], expected_digest: str, actual: Manifest,
                  *, subject: str) -> None:
    """Raise unless ``actual`` is exactly the expected files and digest.

    Raises:
        IntegrityError: names every changed, missing and extra file.
    """
    mismatches = compare(expected, actual)
    if mismatches:
        raise IntegrityError(f"{subject}: {len(mismatches)} file(s) do not match the approved "
                             "manifest", [m.problem() for m in mismatches])
    if actual.digest != expected_digest:
        # Same paths and hashes but another digest: sizes differ or the manifest was edited.
        raise IntegrityError(f"{subject}: manifest digest mismatch", [Problem(
            "artifact_digest", f"bytes hash to {actual.digest}, expected {expected_digest}",
            "do not load these bytes")])
