"""policy diff: every change between two policies is named, in words, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.policy.diff import diff_policies
from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.policy.schema import Policy

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "policy.yaml"


def _base() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def _policy(data: dict[str, Any]) -> Policy:
    return parse_policy(yaml.safe_dump(data))


def _texts(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [c.text for c in diff_policies(_policy(old), _policy(new))]


def test_identical_policies_have_no_changes() -> None:
    assert diff_policies(_policy(_base()), _policy(_base())) == []


def test_added_and_removed_approvers_are_named_with_their_consequence() -> None:
    old, new = _base(), _base()
    rule = new["profiles"]["prod"]["approvals"]
    rule["approvers"] = [*rule["approvers"][1:], "user:bob"]
    removed = old["profiles"]["prod"]["approvals"]["approvers"][0]
    texts = _texts(old, new)
    assert "'user:bob' may now approve under profile 'prod'" in texts
    assert any(t.startswith(f"'{removed}' may no longer approve") and "stop counting" in t
               for t in texts), texts
    assert len(texts) == 2, texts


def test_mode_protection_requirements_and_formats() -> None:
    old, new = _base(), _base()
    old["mode"] = "audit"
    new["mode"] = "enforce"
    new["protected"]["aliases"]["canary"] = "staging"
    new["profiles"]["staging"]["require"].append("eval_evidence")
    new["formats"]["permitted"].remove("gguf")
    new["formats"]["prohibited"].append("gguf")
    texts = _texts(old, new)
    assert ("mode changes from audit to enforce: non-compliant promotions will be blocked"
            in texts)
    assert "alias 'canary' becomes protected by profile 'staging'" in texts
    assert "profile 'staging' now also requires 'eval_evidence'" in texts
    assert "format 'gguf' moves from permitted to prohibited" in texts
    assert len(texts) == 4, texts


@pytest.mark.parametrize("edit, expected", [
    (lambda p: p["licenses"]["deny"].append("GPL-3.0-only"),
     "licenses.deny adds 'GPL-3.0-only'"),
    (lambda p: p["sources"].__setitem__("deny_mutable_refs", False),
     "sources.deny_mutable_refs changes from true to false"),
    (lambda p: p.setdefault("integrity", {}).__setitem__("reverify_budget_seconds", 120.0),
     "integrity.reverify_budget_seconds changes from"),
])
def test_other_sections_are_described_generically(edit: Any, expected: str) -> None:
    old, new = _base(), _base()
    edit(new)
    if new == old:
        pytest.skip("example already has this value")
    texts = _texts(old, new)
    assert len(texts) == 1 and texts[0].startswith(expected), texts


def test_every_single_field_change_is_reported() -> None:
    """Whatever top-level section changes, the diff is never empty when the digest differs."""
    base = _policy(_base())
    for section in Policy.model_fields:
        value = getattr(base, section)
        if section in ("version", "protected", "profiles", "artifact_classes", "sources"):
            continue
        data = _base()
        if section == "mode":
            data["mode"] = "audit" if base.mode.value == "enforce" else "enforce"
        elif section == "reserved_tag_prefix":
            data[section] = "governance."
        else:
            dumped = value.model_dump(mode="json")
            key = next(iter(dumped))
            current = dumped[key]
            dumped[key] = (not current if isinstance(current, bool)
                           else current + 1 if isinstance(current, (int, float))
                           else current)
            if dumped[key] == current:
                continue
            data[section] = dumped
        new = _policy(data)
        assert new.digest != base.digest
        assert diff_policies(base, new), section


def test_cli_text_json_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = _base()
    new["profiles"]["prod"]["approvals"]["approvers"].append("user:bob")
    new_file = tmp_path / "new.yaml"
    new_file.write_text(yaml.safe_dump(new))
    assert main(["policy", "diff", str(EXAMPLE), str(new_file)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "profiles:\n  - 'user:bob' may now approve under profile 'prod'" in out
    assert main(["policy", "diff", str(EXAMPLE), str(new_file), "--exit-code"]) == ExitCode.DENIED
    capsys.readouterr()
    assert main(["policy", "diff", str(EXAMPLE), str(EXAMPLE), "--exit-code"]) == ExitCode.OK
    assert "no change" in capsys.readouterr().out
    assert main(["policy", "diff", str(EXAMPLE), str(new_file), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["changes"] == [{"section": "profiles",
                               "path": "profiles.prod.approvals.approvers",
                               "text": "'user:bob' may now approve under profile 'prod'"}]


def test_cli_invalid_policy_is_exit_2_naming_the_file(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nmode: sometimes\n")
    assert main(["policy", "diff", str(EXAMPLE), str(bad)]) == ExitCode.ERROR
    assert "bad.yaml" in capsys.readouterr().err
