"""Pages of the manual that mirror code: keep them true.

Intake fields, requirements, policy keys, REST endpoints and violation codes come from the code;
each must be documented on the page a reader looks for it on, not merely somewhere.
"""

from __future__ import annotations

import re

import yaml

from mlflow_supplychain.intake.fields import FIELDS
from mlflow_supplychain.policy.schema import Policy, Requirement
from tests.unit.docs.manual import REPO, nav, page, section

ENGINE_SOURCES = [REPO / "mlflow_supplychain" / "policy" / "engine.py",
                  REPO / "mlflow_supplychain" / "intake" / "inheritance.py",
                  REPO / "mlflow_supplychain" / "policy" / "dataset_checks.py"]
CODE = re.compile(
    r'"((?:intake|source|hash|license|eval|scan|approval|lineage|dataset)\.[a-z_]+)"')


def test_every_intake_field_has_a_row_in_the_intake_field_table() -> None:
    text = page("data-scientists/intake-fields.md")
    missing = [f for f in FIELDS if f"| `{f}` |" not in text]
    assert not missing, f"intake field table lacks {missing}"
    documented = re.findall(r"^\| `([a-z0-9_.]+)` \|", text, re.MULTILINE)
    assert sorted(documented) == sorted(FIELDS), "the table names a field the code lacks"


def test_every_requirement_has_a_row_in_concepts() -> None:
    text = page("getting-started/concepts.md")
    missing = [r.value for r in Requirement if f"| `{r.value}` |" not in text]
    assert not missing, f"Concepts' requirement table lacks {missing}"


def test_every_policy_key_is_in_the_policy_reference() -> None:
    text = page("admins/policy-reference.md")
    missing = [k for k in Policy.model_fields if f"| `{k}` |" not in text]
    assert not missing, f"policy reference lacks {missing}"
    assert all(f"`{r.value}`" in text for r in Requirement)


def test_rest_reference_lists_every_manifest_endpoint() -> None:
    manifest = yaml.safe_load((REPO / "plugin_manifest.yaml").read_text(encoding="utf-8"))
    rest = page("ci/rest-api.md")
    for endpoint in manifest["endpoints"]:
        row = next((line for line in rest.splitlines()
                    if line.startswith(f"| `{endpoint['path']}` |")), None)
        assert row, f"REST reference lacks {endpoint['path']}"
        assert ", ".join(endpoint["methods"]) in row, (endpoint, row)
    documented = re.findall(r"^\| `(/mlflow-supplychain/[^`]+)` \|", rest, re.MULTILINE)
    assert sorted(documented) == sorted(e["path"] for e in manifest["endpoints"])


def _violation_codes() -> set[str]:
    codes = {c for path in ENGINE_SOURCES for c in CODE.findall(path.read_text(encoding="utf-8"))}
    # inheritance.py also names intake fields (license.derivatives...); those are not codes
    codes -= {f for f in FIELDS if f != "license.outcome"}
    codes |= {f"{p}.{k}" for p in ("intake", "hash", "license", "eval")
              for k in ("missing", "invalid")}  # built as f"{prefix}.{kind}" by the engine
    assert len(codes) > 30
    return codes


def test_troubleshooting_gives_a_fix_for_every_violation_code() -> None:
    denied = section(page("troubleshooting.md"), "## A promotion is denied")
    rows = [line for line in denied.splitlines() if line.startswith("| `")]
    missing = sorted(c for c in _violation_codes()
                     if not any(f"`{c}`" in row.split(" | ")[0] for row in rows))
    assert not missing, f"Troubleshooting's denial table lacks {missing}"


def test_the_manual_has_a_page_for_each_reader() -> None:
    pages = nav()
    for title in ("Quick start", "Concepts", "Examples", "Registering a model", "Intake fields",
                  "When a promotion is denied", "Policy file", "Policy reference", "Deployment",
                  "Users and permissions", "Sidecar and scan attestations", "Command line",
                  "Exit codes", "Scanning and SARIF", "REST API", "Security model",
                  "Troubleshooting", "Performance", "Testing your models with pytest",
                  "Plugin manifest", "Development"):
        assert title in pages, title
    exit_codes = page("ci/exit-codes.md")
    for code in ("| 0 |", "| 1 |", "| 2 |"):
        assert code in exit_codes


def test_the_pytest_example_is_the_one_the_suite_runs() -> None:
    example = re.search(r"```python\n(.*?)```", page("data-scientists/testing.md"), re.DOTALL)
    assert example
    body = re.search(r"def test_unreviewed_model_cannot_reach_staging\(.*?\):\n(.*?)\n\n",
                     example.group(1), re.DOTALL)
    assert body
    suite = (REPO / "tests" / "integration" / "examples" / "test_plugin_fixtures.py").read_text(
        encoding="utf-8")
    for line in body.group(1).splitlines():
        assert line in suite, line
