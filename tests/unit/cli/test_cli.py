from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.policy.loader import load_policy

REPO = Path(__file__).resolve().parents[3]
POLICY = str(REPO / "examples" / "policy.yaml")
GOOD = str(REPO / "examples" / "evidence-compliant.json")
BAD = str(REPO / "examples" / "evidence-missing.json")


def test_policy_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", POLICY, "--format", "json"]) == ExitCode.OK
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is True and out["digest"].startswith("sha256:")


def test_shipped_policies_reverify_and_warn_when_turned_off(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init = tmp_path / "init.yaml"
    assert main(["policy", "init", "-o", str(init)]) == ExitCode.OK
    for path in (POLICY, str(init)):
        integrity = load_policy(Path(path)).integrity
        # a 10 GB model hashes in ~10 s on the reference machine (benchmarks/bench_reverify.py)
        assert integrity.reverify_on_promotion and integrity.reverify_budget_seconds >= 60
    capsys.readouterr()
    assert main(["policy", "validate", str(init), "--format", "json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["warnings"] == []

    off = tmp_path / "off.yaml"
    off.write_text(init.read_text().replace("reverify_on_promotion: true",
                                            "reverify_on_promotion: false"))
    assert main(["policy", "validate", str(off), "--format", "json"]) == ExitCode.OK
    captured = capsys.readouterr()
    warnings = json.loads(captured.out)["warnings"]
    assert len(warnings) == 1 and "reverify_on_promotion is off" in warnings[0]["what"]
    assert warnings[0]["where"] == "integrity"
    assert "prod, staging" in warnings[0]["what"] and "WARNING: " in captured.err
    # a policy that leaves integrity out re-verifies (no permissive default)
    text = init.read_text()
    start = text.index("integrity:")
    omitted = tmp_path / "omitted.yaml"
    omitted.write_text(text[:start] + text[text.index("lineage:", start):])
    assert "integrity" not in omitted.read_text()
    assert load_policy(omitted).integrity.reverify_on_promotion
    audit = tmp_path / "audit.yaml"
    audit.write_text(off.read_text().replace("mode: enforce", "mode: audit"))
    assert main(["policy", "validate", str(audit), "--format", "json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["warnings"] == []


def test_policy_validate_json_lists_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 1\nmode: nope\n")
    assert main(["policy", "validate", str(bad), "--format", "json"]) == ExitCode.ERROR
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is False
    wheres = " ".join(p["where"] for p in out["problems"])
    assert "mode" in wheres and "protected" in wheres


def test_policy_init_writes_a_valid_policy_and_refuses_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "policy.yaml"
    assert main(["policy", "init", "-o", str(target)]) == ExitCode.OK
    load_policy(target)
    assert main(["policy", "init", "-o", str(target)]) == ExitCode.ERROR


def test_policy_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "schema"]) == ExitCode.OK
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    assert {"protected", "profiles", "artifact_classes", "sources"} <= set(schema["required"])


def test_gate_check_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["gate", "check", "--evidence", GOOD, "--target", "production", "--policy", POLICY,
               "--format", "json"])
    captured = capsys.readouterr()
    assert rc == ExitCode.OK, captured.err + "\n(regenerate: python -m tests.unit.policy.evidence_factory)"
    assert json.loads(captured.out)["allowed"] is True


def test_gate_check_denied_lists_every_violation(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["gate", "check", "--evidence", BAD, "--target", "stage:Production",
               "--policy", POLICY, "--format", "json"])
    assert rc == ExitCode.DENIED
    decision = json.loads(capsys.readouterr().out)
    assert {v["code"] for v in decision["violations"]} == {
        "source.public_hub", "scan.missing", "approval.missing"}


def test_gate_check_unprotected_target_is_allowed() -> None:
    assert main(["gate", "check", "--evidence", BAD, "--target", "dev", "--policy", POLICY]) == 0


@pytest.mark.parametrize("content", [
    "not json", '{"model_name": "m"}', '{"model_name": "m", "version": "1", "surprise": 1}'])
def test_gate_check_bad_evidence_is_an_error(tmp_path: Path, content: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    evidence = tmp_path / "e.json"
    evidence.write_text(content)
    rc = main(["gate", "check", "--evidence", str(evidence), "--target", "production",
               "--policy", POLICY])
    assert rc == ExitCode.ERROR
    assert "Evidence file" in capsys.readouterr().err


def test_gate_check_missing_policy_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["gate", "check", "--evidence", GOOD, "--target", "production",
               "--policy", "/nonexistent/policy.yaml"])
    assert rc == ExitCode.ERROR
    assert "does not exist" in capsys.readouterr().err


def test_usage_error_exits_2() -> None:
    assert main(["gate", "check"]) == ExitCode.ERROR
    assert main(["no-such-command"]) == ExitCode.ERROR


def test_console_script_exit_codes() -> None:
    """The installed entry point maps codes the same way, in a real process."""
    exe = Path(sys.executable).with_name("mlflow-supplychain")
    ok = subprocess.run([str(exe), "policy", "validate", POLICY], capture_output=True, text=True, check=False)
    denied = subprocess.run([str(exe), "gate", "check", "--evidence", BAD, "--target",
                             "production", "--policy", POLICY], capture_output=True, text=True,
                            check=False)
    assert (ok.returncode, denied.returncode) == (0, 1)
    assert "Traceback" not in denied.stderr


def test_policy_cli_does_not_import_mlflow() -> None:
    code = ("import sys; from mlflow_supplychain.cli.main import main; "
            f"main(['policy','validate',{POLICY!r}]); print('mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_listed_command_loads() -> None:
    from mlflow_supplychain.cli.main import COMMANDS, cli

    ctx = click.Context(cli)
    for name, (_, summary) in COMMANDS.items():
        assert main([name, "--help"]) == ExitCode.OK
        command = cli.get_command(ctx, name)
        assert command is not None
        # the static summary `--help` shows is the command's own first help line
        assert summary == command.get_short_help_str(limit=500), name
    assert sorted(cli.list_commands(None)) == sorted(COMMANDS)  # type: ignore[arg-type]


def test_top_level_help_lists_every_command_without_importing_them() -> None:
    code = ("import sys; from mlflow_supplychain.cli.main import main; main(['--help']); "
            "print(sorted(m for m in sys.modules if m.startswith('mlflow_supplychain.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "['mlflow_supplychain.cli.main']"
    for name in ("audit", "deploy", "scan", "webhooks"):
        assert f"  {name} " in out.stdout


def test_server_command_imports_mlflow_only_in_the_process_it_execs() -> None:
    # `mlflow-supplychain server` plans, writes secrets and execs `mlflow server`; importing
    # MLflow first cost every start-up ~1.5 s
    code = ("import sys; import mlflow_supplychain.cli.server_cmd; "
            "print('mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
