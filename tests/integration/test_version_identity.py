"""Issue #14, version identity: evidence never passes to another version that answers to the
same name and number. Adversarial, against real servers: renames and re-creation with
basic-auth (SQLite, and PostgreSQL when configured); workspaces, copies, version deletes and
prompts on one server with workspaces and the development identity header (fewer
password checks, a much faster module).

Each attack first proves its evidence is real (the victim version *is* allowed), so the
refusal afterwards can only come from the identity binding.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory, run_server

from .identity_world import DEV_POLICY, POLICY, World


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest,
          supplychain_server_factory: ServerFactory) -> Iterator[World]:
    if request.param == "sqlite":
        server = supplychain_server_factory(POLICY, auth=True)
    else:
        uri = request.getfixturevalue("supplychain_postgres_uri")
        server = supplychain_server_factory(POLICY, auth=True, postgres_uri=uri)
    w = World.with_auth(server)
    yield w
    w.close()


@pytest.fixture(scope="module")
def dev_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with run_server(DEV_POLICY, tmp_path_factory.mktemp("ws-identity"),
                    extra_args=("--enable-workspaces",)) as server:
        yield World.without_auth(server, "default")


def _approved_and_attested(w: World, name: str) -> tuple[str, int]:
    version = w.register(name)
    w.attest(name, version)
    rid = w.request_and_approve(name, version)
    assert w.evaluate(name, version)["allowed"] is True  # real evidence: the test can fail
    return version, rid


# -- class 1: rename into an approved name ------------------------------------------------

def test_rename_into_an_approved_name_is_refused_and_audited(world: World,
                                                             unique_model_name: str) -> None:
    good, bad = unique_model_name, unique_model_name + "-z"
    _, rid = _approved_and_attested(world, good)
    world.register(bad)
    world.attest(bad, "1", verdict="prohibited")
    assert world.alias(bad, "1").status_code == 403

    assert world.rename(good, good + "-old").status_code == 200
    assert world.rename(bad, good).status_code == 200

    for attempt in (world.alias(good, "1"), world.stage(good, "1")):
        assert attempt.status_code == 403, attempt.text
        assert attempt.json()["error_code"] == "PERMISSION_DENIED"
    assert {"scan.missing", "approval.missing"} <= world.violations(good, "1")
    # the approved version lost its evidence with its name (a rename is a new identity) ...
    assert world.alias(good + "-old", "1").status_code == 403
    # ... and does not get it back by returning to its old name
    assert world.rename(good, bad).status_code == 200
    assert world.rename(good + "-old", good).status_code == 200
    assert world.alias(good, "1").status_code == 403
    assert {"scan.missing", "approval.missing"} <= world.violations(good, "1")

    assert world.get_request(rid)["status"] == "stale"
    renames = [(actor, payload) for action, actor, payload in world.audit(f"models:/{good}")
               if action == "registry.rename"]
    assert renames[0][0] == "alice"
    assert renames[0][1]["new_name"] == good + "-old"
    assert renames[0][1]["invalidated_requests"] == [rid]
    assert renames[0][1]["reissued_identities"] == 1
    assert [a for a, _, _ in world.audit(f"models:/{bad}")].count("registry.rename") == 1

    # the way back is the ordinary one: scan and approve the version under its name
    world.attest(good, "1")
    world.request_and_approve(good, "1")
    assert world.alias(good, "1").status_code == 200


# -- class 2: delete and re-create -----------------------------------------------------------

def test_a_recreated_version_inherits_no_approval_nor_attestation(world: World,
                                                                  unique_model_name: str
                                                                  ) -> None:
    name = unique_model_name
    version, _ = _approved_and_attested(world, name)
    assert world.alias(name, version).status_code == 200  # approval applied
    old_identity = world.identity(name, version)
    late_scan = world.signed(name, version, identity=old_identity)  # sidecar still busy
    assert world.delete_alias(name).status_code == 200
    assert world.delete_model(name).status_code == 200

    recreated = world.register(name)  # same name, number 1 again, same source
    assert recreated == version
    assert world.identity(name, recreated) != old_identity
    for attempt in (world.alias(name, recreated), world.stage(name, recreated)):
        assert attempt.status_code == 403, attempt.text
    assert {"scan.missing", "approval.missing"} <= world.violations(name, recreated)

    # the old version's scan arriving now is refused, not stored for the newcomer
    refused = world.submit(late_scan)
    assert refused.status_code == 403 and "another version" in refused.text
    assert "scan.missing" in world.violations(name, recreated)
    actions = [a for a, _, _ in world.audit(f"models:/{name}")]
    assert "registry.delete" in actions


def test_deleting_a_version_is_audited_and_stales_its_requests(dev_world: World,
                                                               unique_model_name: str) -> None:
    world = dev_world
    name = unique_model_name
    version = world.register(name)
    rid = world.request(name, version)
    assert world.api("DELETE", "mlflow/model-versions/delete",
                     json={"name": name, "version": version}).status_code == 200
    assert world.get_request(rid)["status"] == "stale"
    records = world.audit(f"models:/{name}/{version}")
    assert [payload["invalidated_requests"] for a, _, payload in records
            if a == "registry.delete_version"] == [[rid]]


# -- copy_model_version ------------------------------------------------------------------------

def test_a_copy_inherits_no_evidence(dev_world: World, unique_model_name: str) -> None:
    world = dev_world
    source = unique_model_name
    version, _ = _approved_and_attested(world, source)
    copy_name = source + "-copy"
    client_copy = world.api("POST", "mlflow/registered-models/create", json={"name": copy_name})
    assert client_copy.status_code == 200
    # what MlflowClient.copy_model_version sends: the source's tags, source models:/<src>/<v>
    src = world.ok("GET", "mlflow/model-versions/get",
                   params={"name": source, "version": version})["model_version"]
    tags = src.get("tags", [])
    assert any(t["key"] == "supplychain.gate.version_uid" for t in tags)
    body = {"name": copy_name, "source": f"models:/{source}/{version}", "tags": tags}
    copied = world.ok("POST", "mlflow/model-versions/create", json=body)["model_version"]
    copy_version = str(copied["version"])
    assert world.identity(copy_name, copy_version).uid != world.identity(source, version).uid
    assert world.alias(copy_name, copy_version).status_code == 403
    assert {"scan.missing", "approval.missing"} <= world.violations(copy_name, copy_version)
    assert world.evaluate(source, version)["allowed"] is True  # the source keeps its own


# -- class 11: reserved tags through the prompt exemption ----------------------------------------

PROMPT_TAGS = {"mlflow.prompt.is_prompt": "true", "mlflow.prompt.text": "Say hi to {{name}}"}


FORGED = ("supplychain.scan.verdict", "supplychain.gate.created_by",
          "supplychain.gate.version_uid", "SupplyChain.Scan.x")


def test_a_prompt_cannot_carry_reserved_tags_nor_drop_its_marker(dev_world: World,
                                                                 unique_model_name: str) -> None:
    world = dev_world
    name = unique_model_name
    assert world.api("POST", "mlflow/registered-models/create",
                     json={"name": name, "tags": [{"key": "mlflow.prompt.is_prompt",
                                                   "value": "true"}]}).status_code == 200
    for forged in FORGED:
        tags = {**PROMPT_TAGS, forged: "permitted"}
        refused = world.api("POST", "mlflow/model-versions/create", json={
            "name": name, "source": "dummy-source",
            "tags": [{"key": k, "value": v} for k, v in tags.items()]})
        assert refused.status_code == 403, refused.text
    created = world.ok("POST", "mlflow/model-versions/create", json={
        "name": name, "source": "dummy-source",
        "tags": [{"key": k, "value": v} for k, v in PROMPT_TAGS.items()]})
    version = str(created["model_version"]["version"])
    attempts = [world.api("POST", "mlflow/model-versions/set-tag",
                          json={"name": name, "version": version, "key": k, "value": "x"})
                for k in FORGED]
    attempts += [
        world.api("POST", "mlflow/registered-models/set-tag",
                  json={"name": name, "key": "supplychain.scan.verdict", "value": "x"}),
        world.api("DELETE", "mlflow/model-versions/delete-tag",
                  json={"name": name, "version": version, "key": "mlflow.prompt.is_prompt"}),
        world.api("DELETE", "mlflow/registered-models/delete-tag",
                  json={"name": name, "key": "mlflow.prompt.is_prompt"})]
    for attempt in attempts:
        assert attempt.status_code == 403, attempt.text
    tags_now = {t["key"]: t["value"] for t in world.ok(
        "GET", "mlflow/model-versions/get",
        params={"name": name, "version": version})["model_version"].get("tags", [])}
    assert tags_now.get("mlflow.prompt.is_prompt") == "true"
    assert not any(k.lower().startswith("supplychain.") for k in tags_now)


# -- class 6: workspaces -----------------------------------------------------------------------

def _create_workspace(server: RunningServer, name: str) -> None:
    response = requests.post(server.url + "/api/3.0/mlflow/workspaces", json={"name": name},
                             timeout=30)
    assert response.status_code in (200, 201) or "ALREADY_EXISTS" in response.text


def test_a_workspace_does_not_borrow_another_workspaces_evidence(dev_world: World,
                                                                 unique_model_name: str
                                                                 ) -> None:
    _create_workspace(dev_world.server, "team-b")
    home, team_b = dev_world, dev_world.in_workspace("team-b")
    name = unique_model_name
    version, rid = _approved_and_attested(home, name)
    assert team_b.register(name) == version  # same name and number, other workspace

    for attempt in (team_b.alias(name, version), team_b.stage(name, version)):
        assert attempt.status_code == 403, attempt.text
    assert {"scan.missing", "approval.missing"} <= team_b.violations(name, version)
    assert home.identity(name, version) != team_b.identity(name, version)
    # team-b sees and acts on none of the default workspace's evidence
    assert team_b.api("GET", "mlflow-supplychain/attestations/get",
                      params={"name": name, "version": version}).status_code == 404
    listed = team_b.ok("GET", "mlflow-supplychain/transition-requests/list",
                       params={"name": name})["requests"]
    assert listed == []
    assert team_b.approve(rid).status_code == 404
    for action in ("get", "cancel"):
        method = "GET" if action == "get" else "POST"
        params = {"params" if action == "get" else "json": {"request_id": str(rid)}}
        assert team_b.api(method, f"mlflow-supplychain/transition-requests/{action}",
                          **params).status_code == 404
    # a default-workspace scan replayed into team-b is refused
    replay = team_b.submit(home.signed(name, version))
    assert replay.status_code == 403, replay.text
    assert home.alias(name, version).status_code == 200  # home keeps its own evidence
