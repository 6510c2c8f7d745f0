"""The CI example parses, calls only real commands with real options, and uploads what it scans."""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from mlflow_supplychain.cli.main import cli

WORKFLOW = Path(__file__).resolve().parents[3] / "examples" / "ci" / "gate-promotion.yml"


def _steps() -> list[dict[str, Any]]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data["jobs"], "no jobs"
    return [step for job in data["jobs"].values() for step in job["steps"]]


def _command_lines() -> list[list[str]]:
    lines = []
    for step in _steps():
        for raw in str(step.get("run", "")).splitlines():
            line = raw.strip()
            if line.startswith("mlflow-supplychain "):
                words = shlex.split(line)
                cut = next((i for i, w in enumerate(words) if w in (">", "|", "&&")), len(words))
                lines.append(words[1:cut])
    return lines


def _parse(argv: list[str]) -> click.Context:
    """Resolve ``argv`` through the real command tree and parse its options (no execution)."""
    ctx = cli.make_context("mlflow-supplychain", list(argv), resilient_parsing=False)
    command: click.Command = cli
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # click 8.2+ deprecates protected_args; 8.1 needs it
            warnings.simplefilter("ignore", DeprecationWarning)
            pending = [*ctx.protected_args, *ctx.args]
        name, sub, rest = command.resolve_command(ctx, pending)
        assert sub is not None, f"unknown command {name} in {argv}"
        ctx = sub.make_context(name or "", rest, parent=ctx)
        command = sub
    return ctx


@pytest.fixture(autouse=True)
def _checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow runs in a checkout where the version's files were downloaded to model/."""
    (tmp_path / "model").mkdir()
    (tmp_path / "examples").symlink_to(WORKFLOW.parents[1])
    monkeypatch.chdir(tmp_path)


def test_workflow_has_the_gate_scan_and_upload_steps() -> None:
    uses = [step.get("uses", "") for step in _steps()]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    commands = [words[0] for words in _command_lines()]
    assert "scan" in commands and "gate" in commands


def test_every_command_line_is_a_real_command_with_real_options() -> None:
    lines = _command_lines()
    assert lines
    for argv in lines:
        ctx = _parse([w.replace("$", "") for w in argv])  # shell variables as placeholder values
        assert ctx.command.callback is not None, argv


def test_gate_check_is_the_live_form() -> None:
    gate = next(argv for argv in _command_lines() if argv[:2] == ["gate", "check"])
    ctx = _parse(gate)
    assert ctx.params["name"] and ctx.params["version"] and ctx.params["target"] == "production"
    assert ctx.params["evidence_file"] is None


def test_sarif_upload_reads_the_file_the_scan_writes() -> None:
    scan_step = next(s for s in _steps() if "mlflow-supplychain scan" in str(s.get("run", "")))
    written = re.search(r"--format sarif.*>\s*(\S+)", scan_step["run"])
    assert written, "the scan step must write SARIF to a file"
    upload = next(s for s in _steps() if str(s.get("uses", "")).startswith(
        "github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == written.group(1)
    assert upload.get("if") == "always()", "a finding must not stop the SARIF upload"


def test_promotion_runs_only_on_exit_zero() -> None:
    gate = next(s for s in _steps() if "gate check" in str(s.get("run", "")))
    promote = next(s for s in _steps() if "set_registered_model_alias" in str(s.get("run", "")))
    assert promote["if"] == f"steps.{gate['id']}.outputs.rc == '0'"
    assert re.search(r"^\s*1\)", gate["run"], re.MULTILINE) and "exit 2" in gate["run"]


def test_unknown_options_are_caught() -> None:
    try:
        _parse(["gate", "check", "m", "1", "--target", "production", "--no-such-option"])
    except click.NoSuchOption:
        return
    raise AssertionError("the parser check would accept an unknown option")
