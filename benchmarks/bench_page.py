"""Benchmark: the governance page's views on a registry with many protected versions.

Fills a fresh SQLite database with ``--models`` registered models, each with one version
carrying an intake record and a ``production`` alias (written straight through MLflow's store,
not the gate), plus transition requests and audit records, then starts a governed server on it
and times each view (p50/p95 over ``--iterations`` GETs).

    python benchmarks/bench_page.py [--models 2000] [--iterations 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests
from mlflow.entities.model_registry import ModelVersionTag

from mlflow_supplychain.governance import db
from mlflow_supplychain.governance import requests as workflow
from mlflow_supplychain.testing.pytest_plugin import run_server
from mlflow_supplychain.version_identity import VersionIdentity

POLICY = Path(__file__).parents[1] / "tests" / "integration" / "policies" / "ui.yaml"
INTAKE = {"artifact_class": "base_model", "owner": "ml@example.com",
          "license.id": "Apache-2.0", "license.outcome": "approved"}
DIGEST = "sha256:" + "0" * 64


def fill(db_path: Path, models: int) -> None:
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    uri = f"sqlite:///{db_path}"
    store = SqlAlchemyStore(uri)
    for n in range(models):
        name = f"model-{n:05d}"
        store.create_registered_model(name)
        tags = [ModelVersionTag(f"supplychain.intake.{k}", v) for k, v in INTAKE.items()]
        store.create_model_version(name, "s3://corp-models/x", tags=tags)
        store.set_registered_model_alias(name, "production", "1")
    engine = db.create_engine(uri)
    db.upgrade(engine)
    with engine.begin() as conn:
        for n in range(models):
            identity = VersionIdentity(workspace="default", name=f"model-{n:05d}",
                                       version="1", created_at=n,
                                       storage_location="s3://corp-models/x")
            workflow.create_request(conn, identity=identity,
                                    target="champion", requester="alice", comment=None,
                                    evidence_digest=DIGEST, policy_digest=DIGEST, now_ms=n)
    engine.dispose()


def timed(url: str, iterations: int) -> tuple[float, float]:
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        response = requests.get(url, timeout=60)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text[:500]
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        start = time.perf_counter()
        fill(data / "mlflow.db", args.models)
        print(f"filled {args.models} models in {time.perf_counter() - start:.0f} s")
        with run_server(POLICY, data) as server:
            views = {"overview (25 aliases + 25 requests)": "/supplychain/",
                     "overview, last page": "/supplychain/?after_name=model-"
                                            f"{args.models - 10:05d}&after_alias=production",
                     "version (2 checklists)": "/supplychain/version?name=model-00042&version=1",
                     "audit trail": "/supplychain/audit?name=model-00042"}
            for label, path in views.items():
                p50, p95 = timed(server.url + path, args.iterations)
                print(f"{label:40s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
