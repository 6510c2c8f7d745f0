"""Policy changes on a real server (issue #17): only what a change touches is invalidated,
deployed manifests keep verifying, the history keeps every policy, status shows who serves
which policy."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import requests

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from ..deploy.conftest import cli
from .conftest import API, BASE_POLICY, apply_policy, promote, status

WITH_BOB = BASE_POLICY.replace("[user:ml-lead]", "[user:ml-lead, user:bob]")
WITHOUT_ML_LEAD = BASE_POLICY.replace("[user:ml-lead]", "[user:bob]")
NEW_FORMATS = BASE_POLICY + "formats:\n  pickle_allowlist: [mypkg.models.*]\n"


def _evaluate(server: RunningServer, name: str, version: str,
              target: str = "production") -> dict[str, object]:
    response = requests.get(f"{server.url}{API}/evaluate", timeout=30,
                            params={"name": name, "version": version, "target": target})
    assert response.status_code == 200, response.text
    return dict(response.json()["decision"])


def _codes(decision: dict[str, object]) -> list[str]:
    return [v["code"] for v in decision["violations"]]  # type: ignore[attr-defined,index]


def test_adding_an_approver_keeps_promotions_and_manifests(server, unique_model_name, model_dir,
                                                           tmp_path: Path) -> None:
    by_alias = promote(server, unique_model_name, model_dir)
    by_stage = promote(server, unique_model_name, model_dir, target="stage:Production")
    manifest = tmp_path / "manifest.json"
    code, _, err = cli("deploy", "manifest", f"models:/{unique_model_name}@production",
                       "-o", str(manifest), "--tracking-uri", server.url)
    assert code == ExitCode.OK, err

    apply_policy(server, WITH_BOB)

    assert _evaluate(server, unique_model_name, by_alias)["allowed"] is True
    assert _evaluate(server, unique_model_name, by_stage, "stage:Production")["allowed"] is True
    code, report, err = cli("deploy", "verify", str(manifest), "--path", str(model_dir))
    assert code == ExitCode.OK, err
    assert report["verified"] is True and report["compliant"] is True
    code, _, err = cli("gate", "check", unique_model_name, by_alias, "--target", "production",
                       "--tracking-uri", server.url)
    assert code == ExitCode.OK, err


def test_removing_an_approver_names_them_and_deployed_policy_decides(
        server, unique_model_name, model_dir, tmp_path: Path) -> None:
    version = promote(server, unique_model_name, model_dir)
    manifest = tmp_path / "manifest.json"
    assert cli("deploy", "manifest", f"models:/{unique_model_name}@production", "-o",
               str(manifest), "--tracking-uri", server.url)[0] == ExitCode.OK

    apply_policy(server, WITHOUT_ML_LEAD)
    decision = _evaluate(server, unique_model_name, version)
    assert _codes(decision) == ["approval.insufficient"]
    assert "ml-lead is not an authorised approver" in json.dumps(decision)
    code, report, err = cli("deploy", "verify", str(manifest), "--path", str(model_dir))
    assert code == ExitCode.DENIED and report["compliant"] is False, err  # default: refuse

    flagged = requests.get(f"{server.url}{API}/status", params={"promoted": "1"},
                           timeout=60).json()["noncompliant_promoted"]
    assert {"model": unique_model_name, "version": version, "target": "production"} in [
        {k: f[k] for k in ("model", "version", "target")} for f in flagged]

    apply_policy(server, WITHOUT_ML_LEAD + "deployed:\n  when_noncompliant: warn\n")
    code, report, err = cli("deploy", "verify", str(manifest), "--path", str(model_dir))
    assert code == ExitCode.OK, err
    assert report["compliant"] is False and report["noncompliant_warnings"]
    assert "NOT compliant" in err and "approval.insufficient" in err


def test_format_change_reports_scan_pending_not_a_failure(server, unique_model_name,
                                                          model_dir) -> None:
    version = promote(server, unique_model_name, model_dir)
    apply_policy(server, WITH_BOB)  # not a format change: the scan still counts
    assert _evaluate(server, unique_model_name, version)["allowed"] is True

    apply_policy(server, NEW_FORMATS)

    decision = _evaluate(server, unique_model_name, version)
    assert _codes(decision) == ["scan.pending"]
    assert "pending rescan" in json.dumps(decision)
    assert "stale" not in json.dumps(decision)


def test_history_show_and_serving_processes(server, unique_model_name, model_dir) -> None:
    base = parse_policy(BASE_POLICY).digest
    changed = apply_policy(server, WITH_BOB)
    answer = status(server)
    here = answer["process"]
    assert any(p["process"] == here and p["policy_digest"] == changed
               for p in answer["processes"]), answer
    assert here.endswith(f":{os.getpid()}") is False  # the server's pid, not ours

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["policy", "show", base, "--tracking-uri", server.url]) == ExitCode.OK
    shown = out.getvalue()
    assert shown.startswith(f"# policy {base}") and "user:ml-lead" in shown
    assert "user:bob" not in shown  # the policy as it was, not as it is
    history = requests.get(f"{server.url}{API}/policy/history", timeout=30).json()
    digests = [h["digest"] for h in history["history"]]
    assert base in digests and changed in digests and history["current"] == changed
    unknown = requests.get(f"{server.url}{API}/policy/show", timeout=30,
                           params={"digest": "sha256:" + "0" * 64})
    assert unknown.status_code == 404
    assert cli("policy", "show", "sha256:" + "0" * 64, "--tracking-uri",
               server.url)[0] == ExitCode.ERROR
