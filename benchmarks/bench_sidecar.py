"""Benchmark: registration-to-attestation latency and scan-queue throughput.

Starts ``mlflow-supplychain server`` with its sidecar (2 scan workers by default), logs one
small scikit-learn model, then

1. latency: registers versions of it one at a time and measures from the
   ``create_model_version`` response to the ``supplychain.scan.verdict`` tag (webhook delivery,
   queue, download, hash, scan, sign, submit, tags);
2. throughput: registers a burst of versions back to back and measures until all are attested.

    python benchmarks/bench_sidecar.py [--samples 5] [--burst 20] [--queue redis://127.0.0.1:6379/9]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from mlflow_supplychain.testing.pytest_plugin import run_server

POLICY = Path(__file__).resolve().parents[1] / "tests" / "integration" / "policies" / "sidecar.yaml"


def _attested(client: Any, name: str, version: str) -> bool:
    return "supplychain.scan.verdict" in client.get_model_version(name, version).tags


def _wait_all(client: Any, name: str, versions: list[str], timeout: float) -> float:
    pending = set(versions)
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise SystemExit(f"not attested within {timeout}s: {sorted(pending)}")
        pending = {v for v in pending if not _attested(client, name, v)}
        if pending:
            time.sleep(0.05)
    return time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--queue", default=None, help="redis://... (default: SQLite)")
    args = parser.parse_args()
    env = {"MLFLOW_SUPPLYCHAIN_SIDECAR_RECONCILE_INTERVAL": "3600"}
    if args.queue:
        env["MLFLOW_SUPPLYCHAIN_SIDECAR_QUEUE"] = args.queue
    with tempfile.TemporaryDirectory() as tmp, run_server(
            POLICY, Path(tmp) / "data", sidecar=True, env=env) as server:
        from sklearn.linear_model import LogisticRegression

        mlflow.set_tracking_uri(server.url)
        model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(model, name="model")
        source = info.model_uri  # models:/m-... (the logged model)
        files = sum(1 for _ in Path(mlflow.artifacts.download_artifacts(
            source, dst_path=str(Path(tmp) / "probe"))).rglob("*") if _.is_file())
        client = server.client()
        name = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_registered_model(name)
        client.create_model_version(name, source, model_id=info.model_id)  # warm-up (imports in the worker)
        _wait_all(client, name, ["1"], 120)

        latencies = []
        for _ in range(args.samples):
            start = time.monotonic()
            version = str(client.create_model_version(name, source, model_id=info.model_id).version)
            latencies.append(_wait_all(client, name, [version], 120) - start)

        start = time.monotonic()
        burst = [str(client.create_model_version(name, source, model_id=info.model_id).version)
                 for _ in range(args.burst)]
        registered = time.monotonic() - start
        elapsed = _wait_all(client, name, burst, 600) - start
        print(json.dumps({
            "model": f"sklearn LogisticRegression, {files} files",
            "queue": args.queue or "sqlite",
            "scan_workers": 2,
            "latency_s": {"median": round(statistics.median(latencies), 2),
                          "min": round(min(latencies), 2), "max": round(max(latencies), 2),
                          "samples": args.samples},
            "burst": {"versions": args.burst, "registration_s": round(registered, 2),
                      "all_attested_s": round(elapsed, 2),
                      "versions_per_s": round(args.burst / elapsed, 2)},
        }, indent=2))


if __name__ == "__main__":
    main()
