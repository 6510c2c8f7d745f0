"""The policy-impact CI example parses and calls real commands with real options."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from mlflow_supplychain.cli.main import cli

WORKFLOW = Path(__file__).resolve().parents[3] / "examples" / "ci" / "policy-impact.yml"


def _lines() -> list[list[str]]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    out = []
    for job in data["jobs"].values():
        for step in job["steps"]:
            for raw in str(step.get("run", "")).splitlines():
                if raw.strip().startswith("mlflow-supplychain "):
                    words = shlex.split(raw.strip())
                    cut = next((i for i, w in enumerate(words) if w in (">", ">>", "|", "||")),
                               len(words))
                    out.append(words[1:cut])
    return out


def test_impact_step_calls_policy_impact_and_acts_on_its_exit_code() -> None:
    lines = _lines()
    assert ["policy", "impact", "policy.yaml", "--format", "json"] in lines
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    step = next(s for s in data["jobs"]["impact"]["steps"] if s.get("id") == "impact")
    assert "1)" in step["run"] and "exit 2" in step["run"]


def test_every_command_is_real() -> None:
    known = {"policy": {"validate", "impact", "diff", "show"}}
    for argv in _lines():
        assert argv[0] in known and argv[1] in known[argv[0]], argv
        group = cli.get_command(None, argv[0])  # type: ignore[arg-type]
        assert group is not None
        if argv[1] != "diff":  # 'policy diff' lands from main (integrator)
            assert group.get_command(None, argv[1]) is not None, argv  # type: ignore[attr-defined]
