"""Lineage across a real registry: a 3-level chain with a flagged base, and license inheritance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.intake import apply_intake, lineage_evidence
from mlflow_supplychain.intake.records import TAG_PREFIX
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import AncestorState, Evidence, Target
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from ..sidecar.attestation_helpers import make_payload, submit
from .conftest import register_version

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]
POLICY = load_policy(REPO / "examples" / "policy.yaml")
HEX = "cd" * 32


def _record(cls: str, base: str | None = None, **license_: object) -> dict[str, object]:
    record: dict[str, object] = {
        "artifact_class": cls, "owner": "ml@example.com",
        "license": {"id": "Apache-2.0", "outcome": "approved", "reviewer": "legal@example.com",
                    "date": "2026-01-31", **license_}}
    if base:
        record |= {"base_model": {"uri": base, "digest": f"sha256:{HEX}"},
                   "finetune": {"summary": "LoRA r=16"}}
    return record


def _chain(client: MlflowClient, prefix: str, tmp_path: Path,
           base_license: dict[str, object] | None = None,
           ft_license: dict[str, object] | None = None) -> tuple[str, str, str]:
    names = (f"{prefix}-base", f"{prefix}-ft", f"{prefix}-lora")
    base_v, _ = register_version(client, names[0], tmp_path)
    apply_intake(names[0], base_v, _record("base_model", **(base_license or {})), client=client)
    ft_v, _ = register_version(client, names[1], tmp_path)
    apply_intake(names[1], ft_v, _record("fine_tune", f"models:/{names[0]}/{base_v}",
                                         **(ft_license or {})), client=client)
    lora_v, _ = register_version(client, names[2], tmp_path)
    apply_intake(names[2], lora_v, _record("adapter", f"models:/{names[1]}/{ft_v}"), client=client)
    return names


def test_three_level_chain_with_flagged_base(client: MlflowClient, model_name: str, tmp_path: Path,
                                             env_tracking_uri: str, intake_server: RunningServer,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    base, ft, lora = _chain(client, model_name, tmp_path)
    # Flag the base the way the scanner does: a signed attestation with a prohibited verdict
    # (the governed server refuses invalid intake values, so those cannot flag it).
    flagged = make_payload(intake_server, base, "1", verdict="prohibited",
                           findings=["model.pkl: imports posix.system"])
    assert submit(intake_server, flagged).status_code == 200

    assert main(["lineage", ft, "--format", "json"]) == ExitCode.OK
    graph = json.loads(capsys.readouterr().out)
    states = {n["uri"]: n["state"] for n in graph["nodes"]}
    assert states == {f"models:/{base}/1": "flagged", f"models:/{ft}/1": "compliant",
                      f"models:/{lora}/1": "compliant"}

    assert main(["lineage", lora, "--version", "1"]) == ExitCode.DENIED
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith(f"models:/{base}/1  base_model  [flagged: scan verdict")
    assert f"ancestor models:/{base}/1 is flagged" in err

    for fmt, marker in (("mermaid", "flowchart TD"), ("dot", "digraph lineage")):
        assert main(["lineage", lora, "--format", fmt]) == ExitCode.OK
        assert capsys.readouterr().out.startswith(marker)

    chain = lineage_evidence(lora, "1", client=client, policy=POLICY)
    assert [a.state for a in chain] == [AncestorState.UNKNOWN, AncestorState.FLAGGED]  # ft lacks policy fields
    evidence = Evidence(model_name=lora, version="1", intake={"artifact_class": "adapter"},
                        lineage=chain)
    decision = evaluate(POLICY, evidence, Target.parse("production"))
    lineage_violations = [v for v in decision.violations if v.code.startswith("lineage.")]
    assert [v.code for v in lineage_violations] == ["lineage.unknown", "lineage.flagged"]
    assert f"models:/{base}/1" in lineage_violations[1].message


def test_license_inheritance_from_the_registry(client: MlflowClient, model_name: str,
                                               tmp_path: Path) -> None:
    base, ft, _ = _chain(client, model_name, tmp_path,
                         base_license={"commercial_use": False},
                         ft_license={"commercial_use": True})
    chain = lineage_evidence(ft, "1", client=client)
    assert chain[0].license is not None and chain[0].license["license.commercial_use"] == "false"
    intake = {k[len(TAG_PREFIX):]: v for k, v in client.get_model_version(ft, "1").tags.items()
              if k.startswith(TAG_PREFIX)}
    decision = evaluate(POLICY, Evidence(model_name=ft, version="1", intake=intake, lineage=chain),
                        Target.parse("production"))
    inherited = [v for v in decision.violations if v.code == "license.more_permissive_than_base"]
    assert [v.field for v in inherited] == ["license.commercial_use"]
    assert f"models:/{base}/1" in inherited[0].message


def test_lineage_of_unknown_model_is_an_error(env_tracking_uri: str, model_name: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lineage", model_name]) == ExitCode.ERROR
    assert "not in the registry" in capsys.readouterr().err
