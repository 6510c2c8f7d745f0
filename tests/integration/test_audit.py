"""Audit mode: nothing is blocked, every decision is recorded (tag and log line)."""

from __future__ import annotations

import json

from .helpers import COMPLIANT_INTAKE, new_version


def test_audit_mode_allows_and_records_the_decision(audit_server, unique_model_name):
    client = audit_server.client()
    version = new_version(client, unique_model_name)

    client.set_registered_model_alias(unique_model_name, "production", version)
    client.transition_model_version_stage(unique_model_name, version, "Staging")

    tags = client.get_model_version(unique_model_name, version).tags
    alias_decision = json.loads(tags["supplychain.gate.decision.production"])
    assert alias_decision["verdict"] == "denied"
    assert "intake.missing" in alias_decision["violations"]
    assert alias_decision["policy_digest"].startswith("sha256:")
    stage_decision = json.loads(tags["supplychain.gate.decision.stage.Staging"])
    assert "scan.missing" in stage_decision["violations"]
    log = audit_server.log_text()
    assert f"model='{unique_model_name}'" in log and "not enforced" in log


def test_audit_mode_logs_but_accepts_forged_tags(audit_server, unique_model_name):
    client = audit_server.client()
    version = new_version(client, unique_model_name)

    client.set_model_version_tag(unique_model_name, version, "supplychain.scan.verdict", "x")

    assert "audit mode, not enforced" in audit_server.log_text()


def test_copy_drops_governance_tags_of_the_source(audit_server, unique_model_name):
    client = audit_server.client()
    version = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    client.set_registered_model_alias(unique_model_name, "production", version)
    assert "supplychain.gate.decision.production" in client.get_model_version(
        unique_model_name, version).tags

    copy = client.copy_model_version(f"models:/{unique_model_name}/{version}",
                                     unique_model_name + "-copy")

    assert "supplychain.gate.decision.production" not in copy.tags
    assert copy.tags["supplychain.intake.owner"] == COMPLIANT_INTAKE["supplychain.intake.owner"]
