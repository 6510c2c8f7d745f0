"""The end-to-end story behind ``mlflow-supplychain demo``, on the embedded default.

A governed server (SQLite, local artifacts, basic-auth, scan sidecar) runs in a temporary
directory. A data scientist registers a real scikit-learn model as usual; promotion is denied
with the missing evidence listed; the intake record arrives; the scanner's signed attestation
arrives; an approver who is not the requester approves and applies the promotion; a
deployment manifest is written and verified; a model carrying a malicious pickle is flagged and
blocked; a tampered artifact fails verification. Each step checks its own outcome: the demo
succeeds only when every step behaved as the product promises.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from mlflow_supplychain.errors import ExitCode

MODEL = "fraud-detector"
BAD_MODEL = "fraud-detector-untrusted"
DATA_SCIENTIST = "alice"
APPROVER = "ml-lead"
ATTESTATION_TIMEOUT = 120.0


class StepFailed(Exception):
    """A step did not behave as the product promises."""


@dataclass
class Story:
    """Numbered, narrated steps; remembers which failed."""

    say: Callable[[str], None]
    failures: list[str] = field(default_factory=list)
    number: int = 0

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.number += 1
        self.say(f"\n[{self.number}] {title}")
        try:
            yield
        except StepFailed as exc:
            self.failures.append(f"step {self.number} ({title}): {exc}")
            self.say(f"    FAILED: {exc}")
        except Exception as exc:  # noqa: BLE001 - the demo reports every broken step, then goes on
            self.failures.append(f"step {self.number} ({title}): {type(exc).__name__}: {exc}")
            self.say(f"    FAILED: {type(exc).__name__}: {exc}")
        else:
            self.say("    ok")

    def detail(self, text: str) -> None:
        for line in text.splitlines():
            self.say(f"    {line}")


class _Exec:
    """Pickles as a call of ``os.system``; pickling it runs nothing, and nobody unpickles it."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("echo harmless-demo-payload",))


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


@contextlib.contextmanager
def _as_user(user: str, password: str) -> Iterator[None]:
    """Make MLflow's client (and ours) authenticate as ``user`` inside the block."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME",
                                            "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"] = user
    os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _create_users(url: str, admin_password: str) -> dict[str, str]:
    passwords = {}
    for user in (DATA_SCIENTIST, APPROVER):
        password = hashlib.sha256(os.urandom(16)).hexdigest()[:20]
        response = requests.post(f"{url}/api/2.0/mlflow/users/create",
                                 json={"username": user, "password": password},
                                 auth=("admin", admin_password), timeout=30)
        _expect(response.status_code == 200, f"could not create user {user}: {response.text}")
        passwords[user] = password
    return passwords


def _wait_for_scan(client: Any, name: str, version: str) -> dict[str, str]:
    deadline = time.monotonic() + ATTESTATION_TIMEOUT
    while time.monotonic() < deadline:
        tags = client.get_model_version(name, version).tags
        if "supplychain.scan.verdict" in tags:
            return dict(tags)
        time.sleep(0.5)
    raise StepFailed(f"no scan attestation for {name} v{version} after "
                     f"{ATTESTATION_TIMEOUT:.0f} s (is the sidecar running?)")


def _cli(args: list[str]) -> int:
    from mlflow_supplychain.cli.main import main

    return main(args)


def run(server_url: str, data_dir: Path, admin_password: str, say: Callable[[str], None],
        work: Path) -> ExitCode:
    """Walk the story against a running governed server; OK only if every step behaved."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from mlflow_supplychain.client import SupplyChainClient
    from mlflow_supplychain.intake import apply_intake

    story = Story(say)
    mlflow.set_tracking_uri(server_url)
    client = MlflowClient(tracking_uri=server_url, registry_uri=server_url)
    with story.step("An admin creates two users: alice (data scientist) and ml-lead (approver)"):
        passwords = _create_users(server_url, admin_password)
    alice = (DATA_SCIENTIST, passwords.get(DATA_SCIENTIST, ""))
    lead = (APPROVER, passwords.get(APPROVER, ""))

    version = "1"
    run_id = ""
    with story.step("alice trains a scikit-learn model and registers it as usual (log_model)"), \
            _as_user(*alice):
        features, labels = load_iris(return_X_y=True)
        model = LogisticRegression(max_iter=300).fit(features, labels)
        mlflow.set_experiment("fraud")
        with mlflow.start_run() as active:
            mlflow.log_metric("accuracy", float(model.score(features, labels)))
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL)
            run_id = active.info.run_id
        version = str(info.registered_model_version)
        story.detail(f"registered {MODEL} version {version} from {info.model_uri}")

    with story.step("Promoting it to 'production' is denied, with every missing piece listed"), \
            _as_user(*alice):
        try:
            client.set_registered_model_alias(MODEL, "production", version)
            raise StepFailed("the promotion was allowed without any evidence")
        except MlflowException as exc:
            _expect(exc.error_code == "PERMISSION_DENIED", f"unexpected error {exc.error_code}")
            story.detail(exc.message)

    with story.step("alice supplies the intake record and license review"), _as_user(*alice):
        downloaded = Path(mlflow.artifacts.download_artifacts(
            f"models:/{MODEL}/{version}", dst_path=str(work / "download")))
        weights = next(p for p in (downloaded / "model.skops", downloaded / "model.pkl")
                       if p.exists())
        record = {
            "artifact_class": "base_model", "owner": "fraud-team@example.com",
            "intended_use": "Demo: scoring card payments for fraud",
            "source_url": "https://git.example.com/fraud/model-training",
            "source_revision": "0123456789abcdef0123456789abcdef01234567",
            "source_sha256": {weights.name: hashlib.sha256(weights.read_bytes()).hexdigest()},
            "license": {"id": "Apache-2.0", "outcome": "approved",
                        "reviewer": "legal@example.com", "date": "2026-01-31"},
            "eval": {"ref": f"runs:/{run_id}"},
        }
        apply_intake(MODEL, version, record, client=client)
        shown = client.get_model_version(MODEL, version).tags
        story.detail(f"{sum(k.startswith('supplychain.intake.') for k in shown)} intake tags set")

    with story.step("The scan sidecar's signed attestation arrives"), _as_user(*alice):
        tags = _wait_for_scan(client, MODEL, version)
        _expect(tags["supplychain.scan.verdict"] in ("permitted", "sandboxed"),
                f"unexpected verdict {tags['supplychain.scan.verdict']}")
        story.detail(f"verdict {tags['supplychain.scan.verdict']}, artifacts "
                     f"{tags.get('supplychain.integrity.digest')}")

    request_id = 0
    with story.step("alice asks for the promotion; only the approval is missing now"):
        answer = SupplyChainClient(server_url, environ=_env(*alice)).create_request(
            MODEL, version, "production", "ready for production")
        request_id = int(answer["request"]["id"])
        missing = [v["code"] for v in answer["decision"]["violations"]]
        _expect(missing == ["approval.missing"], f"still missing: {missing}")
        story.detail(f"request {request_id} is pending; missing: {', '.join(missing)}")

    with story.step("alice cannot approve her own request"):
        from mlflow_supplychain.errors import RequestRefused

        try:
            SupplyChainClient(server_url, environ=_env(*alice)).approve_request(request_id)
            raise StepFailed("self-approval was accepted")
        except RequestRefused as exc:
            story.detail(exc.problems[0].what if exc.problems else exc.summary)

    with story.step("ml-lead approves and applies: the alias moves through the same gate"):
        answer = SupplyChainClient(server_url, environ=_env(*lead)).approve_request(
            request_id, "reviewed the evidence", apply=True)
        _expect(bool(answer.get("applied")), f"not applied: {answer.get('explanation')}")
        with _as_user(*lead):
            moved = client.get_model_version_by_alias(MODEL, "production")
        _expect(str(moved.version) == version, "the alias did not move")
        story.detail(f"production -> {MODEL} v{version}")

    manifest = work / "deployment-manifest.json"
    with story.step("A deployment manifest pins the approved bytes, and verifies"), \
            _as_user(*lead):
        _expect(_cli(["deploy", "manifest", f"models:/{MODEL}@production", "-o",
                      str(manifest), "--tracking-uri", server_url]) == 0,
                "deploy manifest failed")
        _expect(_cli(["deploy", "verify", str(manifest), "--tracking-uri", server_url]) == 0,
                "deploy verify failed on untouched artifacts")
        story.detail(f"wrote {manifest.name}: digest "
                     f"{json.loads(manifest.read_text()).get('artifact_digest')}")

    with story.step("A model with a malicious pickle is flagged and cannot be promoted"), \
            _as_user(*alice):
        bad_dir = work / "untrusted-model"
        bad_dir.mkdir()
        (bad_dir / "model.pkl").write_bytes(pickle.dumps(_Exec(), protocol=4))
        (bad_dir / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
        with mlflow.start_run() as active:
            mlflow.log_artifacts(str(bad_dir), "model")
            bad_source = f"runs:/{active.info.run_id}/model"
        client.create_registered_model(BAD_MODEL)
        bad_version = str(client.create_model_version(BAD_MODEL, bad_source,
                                                      run_id=active.info.run_id).version)
        tags = _wait_for_scan(client, BAD_MODEL, bad_version)
        _expect(tags["supplychain.scan.verdict"] == "prohibited",
                f"verdict was {tags['supplychain.scan.verdict']}")
        try:
            client.set_registered_model_alias(BAD_MODEL, "production", bad_version)
            raise StepFailed("a prohibited model was promoted")
        except MlflowException as exc:
            _expect("scan.flagged" in exc.message, "denial does not name the scan finding")
            story.detail(next(line for line in exc.message.splitlines() if "scan." in line))

    with story.step("alice overwrites the approved weights after the fact: verification "
                    "names the file"):
        tampered = work / "tampered"
        tampered.mkdir()
        (tampered / weights.name).write_bytes(b"not the approved weights")
        with _as_user(*alice):  # she owns the model, so MLflow lets her write its artifacts
            client.log_model_artifacts(info.model_id, str(tampered))
        with _as_user(*lead):
            code = _cli(["deploy", "verify", str(manifest), "--tracking-uri", server_url])
        _expect(code == ExitCode.DENIED, f"verify exited {code}, expected 1 (mismatch)")

    if story.failures:
        say("\nThe demo found problems:")
        for failure in story.failures:
            say(f"  - {failure}")
        return ExitCode.DENIED
    say("\nEvery step behaved: the registry enforced the supply-chain policy end to end.")
    return ExitCode.OK


def _env(user: str, password: str) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}


def temporary_workdir(keep: Path | None) -> contextlib.AbstractContextManager[str]:
    """The demo's scratch directory: ``keep`` when given (left in place), else a temp dir."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return contextlib.nullcontext(str(keep))
    return tempfile.TemporaryDirectory(prefix="mlflow-supplychain-demo-")
