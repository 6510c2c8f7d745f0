"""The governance tag namespace rules (pure)."""

from __future__ import annotations

import pytest

from mlflow_supplychain.registry import tags as t

P = "supplychain."


@pytest.mark.parametrize(("key", "kind"), [
    ("team", t.TagKind.OTHER),
    ("mlflow.prompt.is_prompt", t.TagKind.OTHER),
    ("supplychain.intake.owner", t.TagKind.INTAKE),
    ("supplychain.scan.verdict", t.TagKind.RESERVED),
    ("supplychain.gate.created_by", t.TagKind.RESERVED),
    ("SupplyChain.Scan.verdict", t.TagKind.RESERVED),
    ("SupplyChain.Intake.owner", t.TagKind.RESERVED),
    (" supplychain.scan.verdict ", t.TagKind.RESERVED),
    ("supplychain.intakes.owner", t.TagKind.RESERVED),
])
def test_classify(key, kind):
    assert t.classify(key, P) is kind


def test_check_tag_writes_reports_reserved_and_invalid():
    problems = t.check_tag_writes([("supplychain.scan.x", "1"),
                                   ("supplychain.intake.source_revision", "main"),
                                   ("supplychain.intake.owner", "team"),
                                   ("other", "x")], P)
    assert [p.where for p in problems.reserved] == ["tag 'supplychain.scan.x'"]
    assert [p.where for p in problems.invalid] == ["tag 'supplychain.intake.source_revision'"]
    assert "pinned revision" in problems.invalid[0].what


def test_unknown_intake_field_is_invalid():
    problems = t.check_tag_writes([("supplychain.intake.ownr", "x")], P)
    assert "not a known intake field" in problems.invalid[0].what


def test_plugin_writes_only_inside_the_context_manager():
    assert t.check_tag_delete("supplychain.scan.x", P) is not None
    with t.plugin_writes():
        assert t.is_plugin_write()
        assert not t.check_tag_writes([("supplychain.scan.x", "1")], P)
        assert t.check_tag_delete("supplychain.scan.x", P) is None
    assert not t.is_plugin_write()
    assert t.check_tag_writes([("supplychain.scan.x", "1")], P).reserved


def test_intake_values_and_decision_key():
    assert t.intake_values({"supplychain.intake.owner": "a", "x": "y"}, P) == {"owner": "a"}
    assert t.decision_tag_key(P, "stage:Production") == "supplychain.gate.decision.stage.Production"
