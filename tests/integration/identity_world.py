"""A governed server seen by its users, for the version-identity tests (issue #14).

alice registers models and asks for promotions, bob approves (group ml-security in
``policies/identity.yaml``). Scan attestations are signed with the server's own key, as the
sidecar does, for the identity the server reports (or an explicit one, to replay old scans).
Every call is raw HTTP against the real server; nothing is mocked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import requests
import sqlalchemy

from mlflow_supplychain.integrity import attest
from mlflow_supplychain.testing.pytest_plugin import RunningServer
from mlflow_supplychain.version_identity import VersionIdentity

from .conftest import POLICIES
from .sidecar.attestation_helpers import SUBMIT, make_payload, server_key

POLICY = POLICIES / "identity.yaml"
DEV_POLICY = POLICIES / "identity_dev.yaml"
STATEFUL_POLICY = POLICIES / "identity_stateful.yaml"
INTAKE = {
    "supplychain.intake.artifact_class": "base_model",
    "supplychain.intake.owner": "ml-platform@example.com",
    "supplychain.intake.license.id": "Apache-2.0",
    "supplychain.intake.license.outcome": "approved",
}
TR = "mlflow-supplychain/transition-requests"
Auth = tuple[str, str]


def password(user: str) -> str:
    return f"{user}-password-1234"


@dataclass
class World:
    """One server, two people. Without credentials (``alice`` None) the development identity
    header names the caller; ``workspace`` set: calls go to that workspace."""

    server: RunningServer
    alice: Auth | None
    bob: Auth | None
    workspace: str | None = None
    _engine: Any = field(default=None, repr=False)
    _policy_digest: str | None = field(default=None, repr=False)

    @classmethod
    def with_auth(cls, server: RunningServer) -> World:
        return cls(server, server.user("alice", password("alice")),
                   server.user("bob", password("bob")))

    @classmethod
    def without_auth(cls, server: RunningServer, workspace: str | None = None) -> World:
        return cls(server, None, None, workspace)

    def in_workspace(self, workspace: str) -> World:
        return World(self.server, self.alice, self.bob, workspace)

    # -- transport -------------------------------------------------------------------------

    def _headers(self, who: str) -> dict[str, str]:
        headers = {"X-MLflow-Workspace": self.workspace} if self.workspace else {}
        if self.alice is None:  # no basic-auth: the development identity header
            headers["X-Supplychain-User"] = who
        return headers

    def _auth(self, who: str) -> Auth | None:
        return self.alice if who == "alice" else self.bob

    def api(self, method: str, endpoint: str, who: str = "alice", **kwargs: Any
            ) -> requests.Response:
        return requests.request(method, f"{self.server.url}/api/2.0/{endpoint}",
                                auth=self._auth(who), headers=self._headers(who), timeout=60,
                                **kwargs)

    def ok(self, method: str, endpoint: str, who: str = "alice", **kwargs: Any) -> Any:
        response = self.api(method, endpoint, who, **kwargs)
        assert response.status_code == 200, f"{endpoint}: {response.status_code} {response.text}"
        return response.json()

    # -- registry --------------------------------------------------------------------------

    def register(self, name: str, *, source: str = "s3://corp-models/fraud/1",
                 tags: dict[str, str] | None = None, run_id: str | None = None) -> str:
        """alice creates ``name`` if needed and a new version of it; returns the number."""
        created = self.api("POST", "mlflow/registered-models/create", json={"name": name})
        assert created.status_code == 200 or "RESOURCE_ALREADY_EXISTS" in created.text
        body = {"name": name, "source": source,
                "tags": [{"key": k, "value": v} for k, v in (tags or INTAKE).items()]}
        if run_id is not None:
            body["run_id"] = run_id
        return str(self.ok("POST", "mlflow/model-versions/create",
                           json=body)["model_version"]["version"])

    def rename(self, name: str, new_name: str) -> requests.Response:
        return self.api("POST", "mlflow/registered-models/rename",
                        json={"name": name, "new_name": new_name})

    def delete_model(self, name: str) -> requests.Response:
        return self.api("DELETE", "mlflow/registered-models/delete", json={"name": name})

    def alias(self, name: str, version: str, alias: str = "production") -> requests.Response:
        return self.api("POST", "mlflow/registered-models/alias",
                        json={"name": name, "alias": alias, "version": version})

    def delete_alias(self, name: str, alias: str = "production") -> requests.Response:
        return self.api("DELETE", "mlflow/registered-models/alias",
                        json={"name": name, "alias": alias})

    def stage(self, name: str, version: str, stage: str = "Production") -> requests.Response:
        return self.api("POST", "mlflow/model-versions/transition-stage",
                        json={"name": name, "version": version, "stage": stage,
                              "archive_existing_versions": False})

    # -- evidence --------------------------------------------------------------------------

    def identity(self, name: str, version: str) -> VersionIdentity:
        body = self.ok("GET", "mlflow-supplychain/versions/identity",
                       params={"name": name, "version": version})
        return VersionIdentity.model_validate(body["identity"])

    def signed(self, name: str, version: str, *, verdict: str = "permitted",
               identity: VersionIdentity | None = None) -> dict[str, Any]:
        """A sidecar-style submission body for the version (its identity now, unless given)."""
        findings = [] if verdict == "permitted" else ["model.pkl: global os.system"]
        payload = make_payload(self.server, name, version,
                               identity=identity or self.identity(name, version),
                               verdict=verdict, findings=findings,
                               format_policy_digest=self.format_digest())
        return {"payload": payload.model_dump(mode="json"),
                "signature": attest.sign(payload, server_key(self.server))}

    def policy_digest(self) -> str:
        if self._policy_digest is None:
            self._policy_digest = str(self.ok("GET", "mlflow-supplychain/status")["policy"]["digest"])
        return self._policy_digest

    def format_digest(self) -> str:
        return str(self.ok("GET", "mlflow-supplychain/status")["policy"]["format_digest"])

    def submit(self, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.server.url}{SUBMIT}", json=body, auth=self.alice,
                             headers=self._headers("alice"), timeout=60)

    def attest(self, name: str, version: str, verdict: str = "permitted") -> None:
        response = self.submit(self.signed(name, version, verdict=verdict))
        assert response.status_code == 200, response.text

    def request(self, name: str, version: str, target: str = "production") -> int:
        body = self.ok("POST", f"{TR}/create", "alice",
                       json={"name": name, "version": version, "target": target})
        return int(body["request"]["id"])

    def approve(self, request_id: int, *, apply: bool = False) -> requests.Response:
        return self.api("POST", f"{TR}/approve", "bob",
                        json={"request_id": str(request_id), "apply": apply})

    def request_and_approve(self, name: str, version: str, target: str = "production") -> int:
        rid = self.request(name, version, target)
        response = self.approve(rid)
        assert response.status_code == 200, response.text
        assert response.json()["request"]["status"] == "approved"
        return rid

    def get_request(self, request_id: int) -> dict[str, Any]:
        """The request as listed (``get`` also evaluates its version, which may be gone)."""
        listed = self.ok("GET", f"{TR}/list", params={"max_results": "1000"})["requests"]
        return dict(next(r for r in listed if int(r["id"]) == request_id))

    def evaluate(self, name: str, version: str, target: str = "production") -> dict[str, Any]:
        return dict(self.ok("GET", "mlflow-supplychain/evaluate",
                            params={"name": name, "version": version, "target": target})["decision"])

    def violations(self, name: str, version: str, target: str = "production") -> set[str]:
        return {v["code"] for v in self.evaluate(name, version, target)["violations"]}

    # -- audit -----------------------------------------------------------------------------

    def audit(self, subject: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(action, actor, payload) of the audit records with exactly this subject."""
        if self._engine is None:
            uri = (self.server.backend_store_uri
                   or f"sqlite:///{self.server.data_dir / 'mlflow.db'}")
            self._engine = sqlalchemy.create_engine(uri.replace("supplychain+", ""))
        with self._engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text(
                "SELECT action, actor, payload FROM supplychain_audit_events "
                "WHERE subject = :s ORDER BY seq"), {"s": subject}).all()
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
