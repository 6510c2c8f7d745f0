from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode, PolicyError
from mlflow_supplychain.intake.fields import ArtifactClass
from mlflow_supplychain.policy.loader import load_policy, parse_policy
from mlflow_supplychain.policy.schema import Mode

from .bad_policies import BAD_POLICIES, GOOD, BadPolicy

REPO = Path(__file__).resolve().parents[3]


def test_good_policy_parses() -> None:
    policy = parse_policy(GOOD)
    assert policy.mode is Mode.ENFORCE
    assert policy.profile_for_alias("production") == "prod"
    assert policy.profile_for_stage("production") == "prod"  # MLflow stages are case-insensitive
    assert policy.profile_for_alias("dev") is None
    assert policy.required_fields(ArtifactClass.FINE_TUNE) == (
        "owner", "license.id", "license.outcome", "base_model.uri")


def test_table_has_at_least_15_bad_inputs() -> None:
    assert len(BAD_POLICIES) >= 15


@pytest.mark.parametrize("bad", BAD_POLICIES, ids=lambda b: b.id)
def test_bad_policy_is_rejected_with_precise_message(bad: BadPolicy, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(bad.text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    text = info.value.diagnostics()
    assert str(path) in text
    for needle in bad.must_mention:
        assert needle in text, f"{needle!r} missing from:\n{text}"
    assert main(["policy", "validate", str(path)]) == ExitCode.ERROR


def test_missing_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "nope.yaml")
    assert "policy init" in info.value.diagnostics()


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * (1 << 20) + "\n" + GOOD)
    with pytest.raises(PolicyError, match="limit"):
        load_policy(path)


def test_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD.replace("mode: enforce", "mode: warn"))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert f"{path}:2 mode" in info.value.diagnostics()


def test_digest_is_stable_and_content_sensitive() -> None:
    a = parse_policy(GOOD)
    b = parse_policy("# a comment and reordered keys\n" + GOOD.replace(
        "version: 1\nmode: enforce\n", "mode: enforce\nversion: 1\n"))
    assert a.digest == b.digest
    assert a.digest.startswith("sha256:")
    c = parse_policy(GOOD.replace("mode: enforce", "mode: audit"))
    assert c.digest != a.digest


def test_example_policy_is_valid_and_complete() -> None:
    policy = load_policy(REPO / "examples" / "policy.yaml")
    assert set(policy.artifact_classes) == set(ArtifactClass)
    assert {"production", "champion"} <= set(policy.protected.aliases)
    assert "Production" in policy.protected.stages
    assert {p.value for p in policy.profiles["prod"].require} >= {
        "intake_complete", "source_allowed", "hash_match", "license_approved",
        "eval_evidence", "scan_passed", "approval"}
    assert not any("huggingface" in s or s.startswith("http") for s in policy.sources.allow)


def test_starter_policy_matches_example() -> None:
    starter = REPO / "mlflow_supplychain" / "policy" / "starter.yaml"
    assert starter.read_text() == (REPO / "examples" / "policy.yaml").read_text()
