"""The README is the manual: keep the parts that mirror code true."""

from __future__ import annotations

import re
from pathlib import Path

from mlflow_supplychain.intake.fields import FIELDS
from mlflow_supplychain.policy.schema import Policy, Requirement

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_every_intake_field_is_documented() -> None:
    missing = [f for f in FIELDS if f"| `{f}` |" not in README]
    assert not missing, f"README intake table lacks {missing}"


def test_every_requirement_and_policy_key_is_documented() -> None:
    assert all(f"`{r.value}`" in README for r in Requirement)
    assert all(f"`{k}" in README for k in Policy.model_fields)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    block = re.search(r"```bash\n(.*?)```", README, re.DOTALL)
    assert block, "README has no bash quick-start block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2, commands
    test_command = commands[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(test_command)}$", ci, re.MULTILINE), test_command
