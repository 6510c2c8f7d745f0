"""``gate check`` argument forms (no server needed)."""

from __future__ import annotations

from mlflow_supplychain.cli.main import main


def test_live_form_needs_both_name_and_version(capsys):
    assert main(["gate", "check", "model-only", "--target", "production",
                 "--tracking-uri", "http://127.0.0.1:9"]) == 2
    assert "live form" in capsys.readouterr().err


def test_live_form_needs_a_tracking_uri(monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["gate", "check", "m", "1", "--target", "production"]) == 2
    assert "--tracking-uri" in capsys.readouterr().err


def test_offline_form_needs_evidence_and_policy(capsys):
    assert main(["gate", "check", "--target", "production"]) == 2
    assert "offline form" in capsys.readouterr().err


def test_unreachable_server_is_an_error_not_a_denial(capsys):
    assert main(["gate", "check", "m", "1", "--target", "production",
                 "--tracking-uri", "http://127.0.0.1:9"]) == 2
    assert "Cannot reach" in capsys.readouterr().err
