"""Render a :class:`ScanReport` as JSON, SARIF 2.1.0 (code-scanning UIs) or human text."""

from __future__ import annotations

import json
from typing import Any

from mlflow_supplychain import __version__
from mlflow_supplychain.scanning.findings import Code, Finding, Severity
from mlflow_supplychain.scanning.results import ScanReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/mlflow-supplychain/mlflow-supplychain"
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
_SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                      Severity.LOW: "3.0", Severity.INFO: "1.0"}


def to_json(report: ScanReport) -> str:
    """The report as indented JSON."""
    return json.dumps(report.as_dict(), indent=2, sort_keys=True)


def to_sarif(report: ScanReport) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (one run, one rule per finding code used)."""
    codes = sorted({f.code for f in report.findings}, key=lambda c: c.value)
    index = {code: i for i, code in enumerate(codes)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mlflow-supplychain", "version": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(code) for code in codes],
            }},
            "results": [_result(f, index[f.code]) for f in report.findings],
            "properties": {"verdict": report.verdict_name or "error",
                           "files": {r.path: r.verdict_name or "error" for r in report.files}},
        }],
    }


def _rule(code: Code) -> dict[str, Any]:
    severity = code.default_severity
    words = code.name.lower().replace("_", " ")
    return {
        "id": code.value,
        "name": "".join(part.capitalize() for part in code.name.split("_")),
        "shortDescription": {"text": words[0].upper() + words[1:]},
        "fullDescription": {"text": f"{words} (classifies the file as '{code.policy_format}')"},
        "defaultConfiguration": {"level": _LEVEL[severity]},
        "properties": {"tags": ["security", "supply-chain"],
                       "security-severity": _SECURITY_SEVERITY[severity]},
    }


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    loc = finding.location
    physical: dict[str, Any] = {"artifactLocation": {"uri": loc.file}}
    if loc.member is None and loc.offset is not None:
        physical["region"] = {"byteOffset": loc.offset}
    location: dict[str, Any] = {"physicalLocation": physical}
    if loc.member is not None:
        location["logicalLocations"] = [{"fullyQualifiedName": loc.member, "kind": "member"}]
    message = finding.message + (f" (fix: {finding.fix})" if finding.fix else "")
    return {
        "ruleId": finding.code.value, "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity], "message": {"text": message},
        "locations": [location],
        "properties": {"format": finding.format, "member": loc.member, "offset": loc.offset,
                       "severity": finding.severity.value},
    }


def to_text(report: ScanReport) -> str:
    """Human summary: one line per file, findings indented, the overall verdict last."""
    lines = []
    for result in report.files:
        verdict = (result.verdict_name or "error").upper()
        lines.append(f"{verdict:<10} {result.path}  [{result.kind}: "
                     f"{', '.join(result.formats) or '-'}]")
        for finding in result.findings:
            lines.append(f"    {finding.code.value} {finding.severity.value}: {finding.message}"
                         f" at {finding.location.render()}")
            if finding.fix:
                lines.append(f"        fix: {finding.fix}")
    overall = (report.verdict_name or "error").upper()
    lines.append(f"{overall}: {len(report.files)} file(s), {len(report.findings)} finding(s) "
                 f"in {report.seconds:.2f}s")
    return "\n".join(lines)
