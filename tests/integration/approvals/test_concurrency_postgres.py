"""50 parallel promote/approve attempts on PostgreSQL with 2 workers: no promotion without a
valid approval, and one unbroken audit chain with every event."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlflow_supplychain.governance import audit, db
from mlflow_supplychain.testing.pytest_plugin import ServerFactory

from .conftest import POLICY, add_users, make_api, register

TR = "mlflow-supplychain/transition-requests"


@pytest.mark.long
def test_parallel_promotions_and_approvals(supplychain_server_factory: ServerFactory,
                                           supplychain_postgres_uri: str) -> None:
    server = supplychain_server_factory(POLICY, postgres_uri=supplychain_postgres_uri,
                                        workers=2, auth=True)
    users = add_users(server)
    api = make_api(server)
    models = []
    for i in range(10):
        name = f"parallel-{uuid.uuid4().hex[:8]}-{i}"
        version = register(api, users["alice"], name)
        rid = api("POST", f"{TR}/create", users["alice"],
                  json={"name": name, "version": version, "target": "production"}
                  ).json()["request"]["id"]
        models.append((name, version, rid))

    tasks = []
    for name, version, rid in models:
        tasks += [("alias", name, version, rid)] * 2
        tasks += [("approve:bob", name, version, rid), ("approve:erin", name, version, rid),
                  ("approve:bob", name, version, rid)]
    assert len(tasks) == 50
    random.Random(7).shuffle(tasks)  # noqa: S311 - test ordering, not a secret

    def run(task: tuple[str, str, str, int]) -> tuple[str, int]:
        kind, name, version, rid = task
        if kind == "alias":
            r = api("POST", "mlflow/registered-models/alias", users["alice"],
                    json={"name": name, "alias": "production", "version": version})
        else:
            r = api("POST", f"{TR}/approve", users[kind.split(":")[1]],
                    json={"request_id": str(rid)})
        return kind, r.status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(run, tasks))
    assert {code for _, code in results} <= {200, 403, 409}, results
    assert any(k == "alias" and c == 200 for k, c in results)

    for name, _version, rid in models:
        alias = api("GET", "mlflow/registered-models/alias", users["carol"],
                    params={"name": name, "alias": "production"})
        request = api("GET", f"{TR}/get", users["carol"], params={"request_id": rid}).json()
        if alias.status_code == 200:
            assert request["request"]["approvals"], f"{name} promoted without approval"
            assert request["decision"]["allowed"] is True

    engine = db.create_engine(server.backend_store_uri or "")
    try:
        with engine.connect() as conn:
            report = audit.verify(conn)
            actions = [r.action for r in audit.iter_records(conn)]
    finally:
        engine.dispose()
    assert report.ok, report
    alias_attempts = sum(1 for k, c in results if k == "alias" and c in (200, 403))
    approvals_ok = sum(1 for k, c in results if k.startswith("approve") and c == 200)
    assert actions.count("gate.decision") == alias_attempts
    assert actions.count("request.approve") == approvals_ok
    assert actions.count("request.create") == 10
