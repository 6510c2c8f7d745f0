"""README sections that mirror code: the REST reference and the troubleshooting of denials."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlflow_supplychain.intake.fields import FIELDS

REPO = Path(__file__).resolve().parents[3]
README = (REPO / "README.md").read_text(encoding="utf-8")
ENGINE_SOURCES = [REPO / "mlflow_supplychain" / "policy" / "engine.py",
                  REPO / "mlflow_supplychain" / "intake" / "inheritance.py"]
CODE = re.compile(r'"((?:intake|source|hash|license|eval|scan|approval|lineage)\.[a-z_]+)"')


def _section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.DOTALL | re.MULTILINE)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_rest_reference_lists_every_manifest_endpoint() -> None:
    manifest = yaml.safe_load((REPO / "plugin_manifest.yaml").read_text(encoding="utf-8"))
    rest = _section("REST reference")
    for endpoint in manifest["endpoints"]:
        row = next((line for line in rest.splitlines()
                    if line.startswith(f"| `{endpoint['path']}` |")), None)
        assert row, f"REST reference lacks {endpoint['path']}"
        assert ", ".join(endpoint["methods"]) in row, (endpoint, row)
    documented = re.findall(r"^\| `(/mlflow-supplychain/[^`]+)` \|", rest, re.MULTILINE)
    assert sorted(documented) == sorted(e["path"] for e in manifest["endpoints"])


def test_troubleshooting_gives_a_fix_for_every_violation_code() -> None:
    codes = {c for path in ENGINE_SOURCES for c in CODE.findall(path.read_text(encoding="utf-8"))}
    # inheritance.py also names intake fields (license.derivatives...); those are not codes
    codes -= {f for f in FIELDS if f != "license.outcome"}
    codes |= {f"{p}.{k}" for p in ("intake", "hash", "license", "eval")
              for k in ("missing", "invalid")}  # built as f"{prefix}.{kind}" by the engine
    assert len(codes) > 30
    trouble = _section("Troubleshooting")
    missing = sorted(c for c in codes if f"`{c}`" not in trouble)
    assert not missing, f"Troubleshooting lacks {missing}"


def test_manual_keeps_the_sections_issue_9_asks_for() -> None:
    for title in ("Quick start", "Concepts", "Deployment", "Policy file", "Command line",
                  "REST reference", "Security model", "Performance", "Troubleshooting",
                  "Examples", "Testing your own models with our pytest plugin"):
        assert re.search(rf"^## {re.escape(title)}$", README, re.MULTILINE), title
    assert re.search(r"^### Exit codes$", README, re.MULTILINE)
