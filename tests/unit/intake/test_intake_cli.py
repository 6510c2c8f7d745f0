"""intake commands that need no server, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.intake.record_files import load_record

REPO = Path(__file__).resolve().parents[3]
POLICY = str(REPO / "examples" / "policy.yaml")


def test_template_to_file_validates_and_refuses_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ft.yaml"
    assert main(["intake", "template", "--class", "fine_tune", "-o", str(out)]) == ExitCode.OK
    assert load_record(out).artifact_class == "fine_tune"
    assert main(["intake", "validate", str(out), "--policy", POLICY]) == ExitCode.OK
    assert main(["intake", "template", "--class", "fine_tune", "-o", str(out)]) == ExitCode.ERROR


def test_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thin = tmp_path / "thin.yaml"
    thin.write_text("artifact_class: base_model\nowner: me\n")
    assert main(["intake", "validate", str(thin)]) == ExitCode.OK
    assert main(["intake", "validate", str(thin), "--policy", POLICY]) == ExitCode.DENIED
    assert "source_url" in capsys.readouterr().err
    thin.write_text("artifact_class: base_model\nowner: me\nlicense: {id: Llama-3}\n")
    assert main(["intake", "validate", str(thin)]) == ExitCode.ERROR
    assert f"{thin}:3 license.id" in capsys.readouterr().err


def test_licenses_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["intake", "licenses"]) == ExitCode.OK
    assert "gemma" in capsys.readouterr().out
    assert main(["intake", "licenses", "CC-BY-NC-4.0"]) == ExitCode.OK
    assert "commercial use:       no" in capsys.readouterr().out
    assert main(["intake", "licenses", "Not-A-License"]) == ExitCode.ERROR
