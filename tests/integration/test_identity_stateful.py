"""Issue #14: a stateful property test of the gate against ONE real server.

Hypothesis drives random sequences of register, rename, delete, re-create, copy, artifact
overwrite (PUT through ``mlflow-artifacts``), intake tag edits, scans, request + approve and
promote (alias ``production`` and stage ``Production``). The test keeps its own model of the
evidence each version *identity* has earned; the server must never let a version reach a
protected target unless the model says its own identity and its current bytes satisfy the
policy (``policies/identity_stateful.yaml``: intake, scan, re-hash at promotion, approval).

Invariant, after every step: every version holding ``production`` or ``Production`` is one the
model allowed at the moment it was promoted, under the identity it has now.

The scanner is played by the test, honestly: bytes containing ``evil`` are ``prohibited``.
CI runs a few short examples; set ``MLFLOW_SUPPLYCHAIN_STATEFUL_EXAMPLES`` (and
``MLFLOW_SUPPLYCHAIN_STATEFUL_STEPS``) for a longer run.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from mlflow_supplychain.integrity.manifest import build_manifest
from mlflow_supplychain.testing.pytest_plugin import run_server

from .identity_world import INTAKE, STATEFUL_POLICY, World

EXAMPLES = int(os.environ.get("MLFLOW_SUPPLYCHAIN_STATEFUL_EXAMPLES", "6"))
STEPS = int(os.environ.get("MLFLOW_SUPPLYCHAIN_STATEFUL_STEPS", "14"))
CONTENTS = (b"benign-a", b"benign-a", b"benign-b", b"evil-os.system")  # mostly benign
FILE = "model.bin"


@dataclass
class Version:
    location: str  # path under the artifact root (storage location mlflow-artifacts:/<path>)
    declared: str  # intake source_sha256
    intake_rev: int
    identity: str  # the model's own token for this identity: new on create, copy and rename


_digests: dict[bytes, str] = {}
PROMOTIONS = {"allowed": 0, "refused": 0}


def manifest_digest(content: bytes) -> str:
    if content not in _digests:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / FILE).write_bytes(content)
            _digests[content] = build_manifest(tmp).digest
    return _digests[content]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with run_server(STATEFUL_POLICY, tmp_path_factory.mktemp("identity-stateful")) as server:
        yield World.without_auth(server)


class GateModel(RuleBasedStateMachine):
    w: World

    def __init__(self) -> None:
        super().__init__()
        prefix = "sm-" + uuid.uuid4().hex[:8]
        self.pool = [f"{prefix}-{c}" for c in "abc"]
        self.live: set[str] = set()
        self.versions: dict[tuple[str, str], Version] = {}
        self.bytes: dict[str, bytes] = {}
        self.attested: dict[str, tuple[str, str]] = {}  # identity -> (digest, verdict)
        self.approved: dict[str, set[tuple[str | None, int]]] = {}
        self.promoted_ok: set[str] = set()

    # -- helpers ---------------------------------------------------------------------------

    def _put(self, location: str, content: bytes) -> None:
        response = requests.put(
            f"{self.w.server.url}/api/2.0/mlflow-artifacts/artifacts/{location}/{FILE}",
            data=content, timeout=60)
        assert response.status_code == 200, response.text
        self.bytes[location] = content

    def _experiment(self) -> str:
        found = self.w.api("GET", "mlflow/experiments/get-by-name",
                           params={"experiment_name": "identity-stateful"})
        if found.status_code == 200:
            return str(found.json()["experiment"]["experiment_id"])
        return str(self.w.ok("POST", "mlflow/experiments/create",
                             json={"name": "identity-stateful"})["experiment_id"])

    @staticmethod
    def _token() -> str:
        # independent of the server's notion of identity, so a server that confuses two
        # versions cannot make the model agree with it
        return uuid.uuid4().hex

    def _allowed(self, v: Version) -> bool:
        current = self.bytes[v.location]
        attested = self.attested.get(v.identity)
        if attested is None or attested[1] != "permitted":
            return False
        if manifest_digest(current) != attested[0]:  # re-hash at promotion
            return False
        if hashlib.sha256(current).hexdigest() != v.declared:  # hash_match
            return False
        return (attested[0], v.intake_rev) in self.approved.get(v.identity, set())

    def _pick(self, data: st.DataObject) -> tuple[str, str]:
        return data.draw(st.sampled_from(sorted(self.versions)))

    # -- rules -----------------------------------------------------------------------------

    @initialize(stage=st.booleans())
    def a_promoted_version(self, stage: bool) -> None:
        """Every run starts from a version promoted the honest way: the attacks then have
        real evidence to try to borrow."""
        name = self.pool[0]
        self._register(name, CONTENTS[0])
        key = (name, max(v for n, v in self.versions if n == name))
        self._scan(*key)
        self._request_and_approve(*key)
        self._promote(*key, stage)

    @rule(data=st.data(), content=st.sampled_from(CONTENTS))
    def register(self, data: st.DataObject, content: bytes) -> None:
        self._register(data.draw(st.sampled_from(self.pool)), content)

    def _register(self, name: str, content: bytes) -> None:
        run = self.w.ok("POST", "mlflow/runs/create",
                        json={"experiment_id": self._experiment()})["run"]["info"]
        location = run["artifact_uri"].removeprefix("mlflow-artifacts:/") + "/model"
        self._put(location, content)
        tags = {**INTAKE, "supplychain.intake.source_sha256": hashlib.sha256(content).hexdigest()}
        version = self.w.register(name, source=f"mlflow-artifacts:/{location}", tags=tags,
                                  run_id=run["run_id"])
        self.live.add(name)
        self.versions[(name, version)] = Version(location, tags[
            "supplychain.intake.source_sha256"], 0, self._token())

    @precondition(lambda self: self.versions)
    @rule(data=st.data())
    def scan(self, data: st.DataObject) -> None:
        self._scan(*self._pick(data))

    def _scan(self, name: str, version: str) -> None:
        v = self.versions[(name, version)]
        content = self.bytes[v.location]
        verdict = "prohibited" if b"evil" in content else "permitted"
        body = self.w.signed(name, version, verdict=verdict)
        body["payload"]["artifact_digest"] = manifest_digest(content)
        body["payload"]["files"] = {FILE: hashlib.sha256(content).hexdigest()}
        body = self._resign(body)
        response = self.w.submit(body)
        assert response.status_code == 200, response.text
        self.attested[v.identity] = (manifest_digest(content), verdict)

    def _resign(self, body: dict[str, object]) -> dict[str, object]:
        from mlflow_supplychain.integrity import attest

        from .sidecar.attestation_helpers import server_key

        payload = attest.AttestationPayload.model_validate(body["payload"])
        return {"payload": payload.model_dump(mode="json"),
                "signature": attest.sign(payload, server_key(self.w.server))}

    @precondition(lambda self: self.versions)
    @rule(data=st.data(), content=st.sampled_from(CONTENTS))
    def overwrite_artifacts(self, data: st.DataObject, content: bytes) -> None:
        self._put(self.versions[self._pick(data)].location, content)

    @precondition(lambda self: self.versions)
    @rule(data=st.data())
    def edit_intake(self, data: st.DataObject) -> None:
        name, version = self._pick(data)
        self.w.ok("POST", "mlflow/model-versions/set-tag", json={
            "name": name, "version": version, "key": "supplychain.intake.owner",
            "value": f"owner-{uuid.uuid4().hex[:6]}@example.com"})
        self.versions[(name, version)].intake_rev += 1

    @precondition(lambda self: self.versions)
    @rule(data=st.data())
    def request_and_approve(self, data: st.DataObject) -> None:
        self._request_and_approve(*self._pick(data))

    def _request_and_approve(self, name: str, version: str) -> None:
        v = self.versions[(name, version)]
        for req in self.w.ok("GET", "mlflow-supplychain/transition-requests/list",
                             params={"name": name, "version": version})["requests"]:
            if req["status"] in ("pending", "approved"):  # one open request per promotion
                self.w.ok("POST", "mlflow-supplychain/transition-requests/cancel",
                          json={"request_id": str(req["id"])})
        rid = self.w.request(name, version)
        assert self.w.approve(rid).status_code == 200
        attested = self.attested.get(v.identity)
        self.approved.setdefault(v.identity, set()).add(
            (attested[0] if attested else None, v.intake_rev))

    @precondition(lambda self: self.versions)
    @rule(data=st.data(), stage=st.booleans())
    def promote(self, data: st.DataObject, stage: bool) -> None:
        self._promote(*self._pick(data), stage)

    def _promote(self, name: str, version: str, stage: bool) -> None:
        v = self.versions[(name, version)]
        expected = self._allowed(v)
        response = self.w.stage(name, version) if stage else self.w.alias(name, version)
        assert response.status_code in (200, 403), response.text
        if response.status_code == 200:
            assert expected, f"{name}/{version} promoted without its own evidence"
            self.promoted_ok.add(v.identity)
            PROMOTIONS["allowed"] += 1
        else:
            PROMOTIONS["refused"] += 1

    @precondition(lambda self: self.versions)
    @rule(data=st.data(), stage=st.booleans())
    def scan_approve_promote(self, data: st.DataObject, stage: bool) -> None:
        """The honest path in one step, so allowed promotions are common in short runs."""
        key = self._pick(data)
        self._scan(*key)
        self._request_and_approve(*key)
        self._promote(*key, stage)

    @precondition(lambda self: self.versions)
    @rule(data=st.data())
    def scan_and_approve(self, data: st.DataObject) -> None:
        key = self._pick(data)
        self._scan(*key)
        self._request_and_approve(*key)

    def _same_bytes_as(self, data: st.DataObject, name: str) -> bytes:
        held = sorted(self.bytes[v.location] for (n, _), v in self.versions.items() if n == name)
        return data.draw(st.sampled_from(held)) if held else CONTENTS[0]

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def delete_and_recreate(self, data: st.DataObject) -> None:
        """Class 2: the same name, number 1 again, the same bytes and tags."""
        name = data.draw(st.sampled_from(sorted(self.live)))
        content = self._same_bytes_as(data, name)
        self._demote(name)
        self._delete_model(name)
        self._register(name, content)
        self._promote_newest(name, data)

    def _promote_newest(self, name: str, data: st.DataObject) -> None:
        """The attacker's next move: promote the newcomer at once (stage or alias)."""
        newest = max((v for n, v in self.versions if n == name), key=int)
        self._promote(name, newest, bool(data.draw(st.booleans())))

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def rename_and_replace(self, data: st.DataObject) -> None:
        """Class 1: move a model away and register its name again with the same bytes."""
        name = data.draw(st.sampled_from(sorted(self.live)))
        content = self._same_bytes_as(data, name)
        self._demote(name)
        if self._rename(name, data):
            self._register(name, content)
            self._promote_newest(name, data)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def demote(self, data: st.DataObject) -> None:
        self._demote(data.draw(st.sampled_from(sorted(self.live))))

    def _demote(self, name: str) -> None:
        self.w.delete_alias(name)
        for (n, version) in list(self.versions):
            if n == name:
                self.w.stage(name, version, "Archived")

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def rename(self, data: st.DataObject) -> None:
        self._rename(data.draw(st.sampled_from(sorted(self.live))), data)

    def _rename(self, name: str, data: st.DataObject) -> bool:
        free = [n for n in self.pool if n not in self.live]
        if not free:
            return False
        new_name = data.draw(st.sampled_from(free))
        response = self.w.rename(name, new_name)
        assert response.status_code in (200, 403), response.text
        if response.status_code != 200:
            return False
        self.live = (self.live - {name}) | {new_name}
        for (n, version) in list(self.versions):
            if n == name:
                v = self.versions.pop((n, version))
                v.identity = self._token()
                self.versions[(new_name, version)] = v
        return True

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def delete_model(self, data: st.DataObject) -> None:
        self._delete_model(data.draw(st.sampled_from(sorted(self.live))))

    def _delete_model(self, name: str) -> None:
        response = self.w.delete_model(name)
        assert response.status_code in (200, 403), response.text
        if response.status_code == 200:
            self.live.discard(name)
            self.versions = {k: v for k, v in self.versions.items() if k[0] != name}

    @precondition(lambda self: self.versions)
    @rule(data=st.data())
    def copy(self, data: st.DataObject) -> None:
        name, version = self._pick(data)
        dest = data.draw(st.sampled_from(self.pool))
        src = self.w.ok("GET", "mlflow/model-versions/get",
                        params={"name": name, "version": version})["model_version"]
        created = self.w.api("POST", "mlflow/registered-models/create", json={"name": dest})
        assert created.status_code == 200 or "RESOURCE_ALREADY_EXISTS" in created.text
        body = {"name": dest, "source": f"models:/{name}/{version}", "tags": src.get("tags", [])}
        copied = self.w.ok("POST", "mlflow/model-versions/create", json=body)["model_version"]
        new = str(copied["version"])
        self.live.add(dest)
        source = self.versions[(name, version)]
        self.versions[(dest, new)] = Version(source.location, source.declared, 0,
                                             self._token())

    # -- invariant -------------------------------------------------------------------------

    @invariant()
    def protected_targets_hold_only_evidenced_identities(self) -> None:
        for name in self.live:
            found = self.w.ok("GET", "mlflow/model-versions/search",
                              params={"filter": f"name = '{name}'", "max_results": "200"})
            for mv in found.get("model_versions", []):
                key = (name, str(mv["version"]))
                holds = ("production" in (mv.get("aliases") or [])
                         or mv.get("current_stage") == "Production")
                if holds:
                    assert key in self.versions
                    assert self.versions[key].identity in self.promoted_ok, (
                        f"{key} holds a protected target under an identity that was never "
                        "allowed")


@pytest.mark.slow
def test_no_sequence_promotes_a_version_without_its_own_evidence(world: World) -> None:
    GateModel.w = world
    run_state_machine_as_test(GateModel, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
    print(f"promotions: {PROMOTIONS}")


def test_the_honest_path_is_allowed(world: World) -> None:
    """The machine's model is not vacuous: its honest path promotes (alias and stage)."""
    GateModel.w = world
    machine = GateModel()
    name = machine.pool[0]
    for stage in (False, True):
        before = PROMOTIONS["allowed"]
        machine.register(_Fixed(name), b"benign-a")
        key = max(k for k in machine.versions if k[0] == name)
        machine._scan(*key)
        machine._request_and_approve(*key)
        assert machine._allowed(machine.versions[key])
        machine._promote(*key, stage)
        assert PROMOTIONS["allowed"] == before + 1
        machine.protected_targets_hold_only_evidenced_identities()


class _Fixed:
    """Stands in for hypothesis' data object: draws return ``values`` in order (the last one
    again when they run out)."""

    def __init__(self, *values: object) -> None:
        self.values = list(values)

    def draw(self, strategy: object) -> object:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


@pytest.mark.parametrize("attack", ["delete_and_recreate", "rename_and_replace"])
def test_replaying_the_attacks_by_hand(world: World, attack: str) -> None:
    """Classes 1 and 2 as fixed sequences of the machine's own steps (a tripwire that does not
    depend on the search finding them): after the attack the newcomer is refused."""
    GateModel.w = world
    machine = GateModel()
    machine.a_promoted_version(stage=False)
    name = machine.pool[0]
    before = PROMOTIONS["refused"]
    # the attacked name, the same bytes again, (rename) where the old model goes, alias first
    getattr(machine, attack)(_Fixed(name, CONTENTS[0], machine.pool[1], False))
    newcomer = (name, max((v for n, v in machine.versions if n == name), key=int))
    machine._promote(*newcomer, True)  # asserts: allowed only with its own evidence
    assert PROMOTIONS["refused"] == before + 2
    machine.protected_targets_hold_only_evidenced_identities()
