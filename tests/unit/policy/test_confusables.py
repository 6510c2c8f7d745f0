"""Look-alike principals: 'user:alice' and 'user:аlice' (Cyrillic а) with min: 2 used to
validate silently, letting one person holding both accounts count as two approvers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode, PolicyError
from mlflow_supplychain.policy.confusables import check_principals, scripts, skeleton
from mlflow_supplychain.policy.loader import load_policy

EXAMPLE = (Path(__file__).resolve().parents[3] / "examples" / "policy.yaml").read_text()


def _policy(tmp_path: Path, approvers: list[str], extra: str = "") -> Path:
    text = EXAMPLE.replace("min: 1", "min: 2").replace(
        "approvers: [user:ml-lead, group:ml-security]",
        f"approvers: {json.dumps(approvers, ensure_ascii=False)}")
    path = tmp_path / "policy.yaml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def test_a_mixed_script_approver_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = _policy(tmp_path, ["user:alice", "user:\u0430lice"])
    with pytest.raises(PolicyError) as excinfo:
        load_policy(path)
    problem = excinfo.value.problems[0]
    assert "approvers.1" in problem.where and ":21" in problem.where
    assert "mixes scripts" in problem.what and "\\u0430lice" in problem.what
    assert main(["policy", "validate", str(path)]) == ExitCode.ERROR


@pytest.mark.parametrize(("first", "second"), [
    ("user:ace", "user:\u0430\u0441\u0435"),   # all-Cyrillic 'асе'
    ("user:bob", "user:b0b"),
    ("user:will", "user:wi1l"),
    ("user:modern", "user:modem"),   # rn / m
    ("user:ｍａｒｉａ", "user:maria"),  # fullwidth
])
def test_look_alike_approvers_validate_with_a_warning(tmp_path: Path, first: str, second: str,
                                                      caplog: pytest.LogCaptureFixture,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = _policy(tmp_path, [first, second])
    with caplog.at_level(logging.WARNING):
        load_policy(path)
    assert "looks like" in caplog.text and "count twice" in caplog.text
    capsys.readouterr()
    assert main(["policy", "validate", str(path), "--format", "json"]) == ExitCode.OK
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert len(warnings) == 1 and "approvers" in warnings[0]["where"]


def test_look_alikes_across_group_members_and_approvers_are_found(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _policy(tmp_path, ["user:alice", "group:ml-security"],
                   "identity:\n  groups:\n    ml-security: [\u0430\u0456\u0441\u0435, bob]\n")
    with caplog.at_level(logging.WARNING):
        load_policy(path)
    assert caplog.text == "" or "looks like" not in caplog.text  # 'аісе' is not 'alice'
    path = _policy(tmp_path, ["user:alice", "group:ml-security"],
                   "identity:\n  groups:\n    ml-security: [alice\u200b, bob]\n")
    with pytest.raises(PolicyError, match="invisible"):
        load_policy(path)


def test_distinct_and_legitimately_mixed_names_pass_quietly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _policy(tmp_path, ["user:alice", "user:bob", "user:山田たろう", "user:Ελένη",
                              "user:дмитрий", "group:ml-security"])
    with caplog.at_level(logging.WARNING):
        load_policy(path)
    assert "looks like" not in caplog.text


def test_skeleton_and_scripts() -> None:
    assert skeleton("\u0430lice") == skeleton("alice")
    assert skeleton("paypal") != skeleton("paypa")
    assert scripts("\u0430lice") == {"CYRILLIC", "LATIN"}
    assert scripts("user-01") == {"LATIN"}
    assert [i.refused for i in check_principals(["user:a", "user:b"])] == []
