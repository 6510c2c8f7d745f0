"""Benchmark: the same registry calls against a vanilla MLflow server and a governed one.

Both servers run side by side (same backend kind, same worker count); calls alternate
between them so background load hits both equally. Prints p50/p95 per call and the
governed/vanilla ratio at p50 (goal: <= 1.15).

    python benchmarks/bench_gate.py [--iterations 300] [--postgres-uri postgresql://...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from mlflow_supplychain.testing.pytest_plugin import (
    free_port,
    postgres_database,
    run_server,
)

POLICY = Path(__file__).resolve().parents[1] / "tests" / "integration" / "policies" / "enforce.yaml"
INTAKE = [
    {"key": "supplychain.intake.artifact_class", "value": "base_model"},
    {"key": "supplychain.intake.owner", "value": "ml-platform@example.com"},
    {"key": "supplychain.intake.license.id", "value": "Apache-2.0"},
    {"key": "supplychain.intake.license.outcome", "value": "approved"},
]
CALLS = ("get version", "create version", "set tag", "set alias (unprotected)",
         "set alias (protected, allowed)", "re-set alias (protected, unchanged)",
         "set alias (protected, denied)")
"""``set alias (protected, allowed)`` is a promotion: the alias moves to the other of two
compliant versions on each call, so vanilla MLflow writes too. ``re-set ... unchanged`` points
it again at the version it already holds: vanilla MLflow writes nothing (its ORM merge finds no
change and the commit is empty), while the gate still records the decision in the audit log,
so that row compares an empty commit with a real one."""


@contextlib.contextmanager
def vanilla_server(data_dir: Path, backend: str | None, workers: int) -> Iterator[str]:
    """Plain ``mlflow server`` (no plugin) on a free port."""
    port = free_port()
    backend = backend or f"sqlite:///{data_dir / 'mlflow.db'}"
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
            "--artifacts-destination", str(data_dir / "artifacts"), "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers)]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # as run_server does
    with open(data_dir / "server.log", "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                log_text = (data_dir / "server.log").read_text(errors="replace")
                raise RuntimeError("vanilla server did not start:\n" + log_text[-3000:])
            time.sleep(0.25)
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


class Target:
    """One server with a model, a compliant version and a bare version."""

    def __init__(self, url: str, *, keep_alive: bool = True) -> None:
        self.url = url + "/api/2.0/mlflow/"
        # requests' module functions open a new connection per call; see --fresh-connections
        self.session: Any = requests.Session() if keep_alive else requests
        self.name = "bench-" + uuid.uuid4().hex[:8]
        self.post("registered-models/create", {"name": self.name})
        self.good = self.create_version()
        self.good2 = self.create_version()
        self.promotions = 0
        self.bare = self.post("model-versions/create", {
            "name": self.name, "source": "s3://corp-models/bench"})["model_version"]["version"]

    def post(self, endpoint: str, body: dict, expect: tuple[int, ...] = (200,)) -> dict:
        response = self.session.post(self.url + endpoint, json=body, timeout=30)
        if response.status_code not in expect:
            raise RuntimeError(f"{endpoint}: {response.status_code} {response.text[:300]}")
        return response.json()

    def create_version(self) -> str:
        return self.post("model-versions/create", {
            "name": self.name, "source": "s3://corp-models/bench", "tags": INTAKE,
        })["model_version"]["version"]

    def call(self, which: str) -> None:
        if which == "get version":
            response = self.session.get(self.url + "model-versions/get",
                                        params={"name": self.name, "version": self.good},
                                        timeout=30)
            response.raise_for_status()
        elif which == "create version":
            self.create_version()
        elif which == "set tag":
            self.post("model-versions/set-tag", {"name": self.name, "version": self.good,
                                                 "key": "supplychain.intake.owner",
                                                 "value": "ml-platform@example.com"})
        elif which == "set alias (unprotected)":
            self.post("registered-models/alias", {"name": self.name, "alias": "candidate",
                                                  "version": self.good})
        elif which == "set alias (protected, allowed)":
            self.promotions += 1
            version = self.good if self.promotions % 2 else self.good2
            self.post("registered-models/alias", {"name": self.name, "alias": "production",
                                                  "version": version})
        elif which == "re-set alias (protected, unchanged)":
            self.post("registered-models/alias", {"name": self.name, "alias": "production",
                                                  "version": self.good})
        else:  # denied on the governed server, a plain alias write on the vanilla one
            self.post("registered-models/alias", {"name": self.name, "alias": "production",
                                                  "version": self.bare}, expect=(200, 403))


def measure(targets: dict[str, Target], iterations: int, warmup: int
            ) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {c: {k: [] for k in targets} for c in CALLS}
    for which in CALLS:
        for i in range(warmup + iterations):
            order = list(targets.items()) if i % 2 == 0 else list(reversed(targets.items()))
            for label, target in order:
                start = time.perf_counter()
                target.call(which)
                elapsed = (time.perf_counter() - start) * 1000
                if i >= warmup:
                    times[which][label].append(elapsed)
    return times


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(times: dict[str, dict[str, list[float]]]) -> list[dict[str, float | str]]:
    rows = []
    for which, by_server in times.items():
        v, g = by_server["vanilla"], by_server["governed"]
        rows.append({"call": which,
                     "vanilla_p50": statistics.median(v), "vanilla_p95": percentile(v, 95),
                     "governed_p50": statistics.median(g), "governed_p95": percentile(g, 95),
                     "ratio_p50": statistics.median(g) / statistics.median(v)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--postgres-uri", help="Admin URI; each server gets a fresh database.")
    parser.add_argument("--fresh-connections", action="store_true",
                        help="New TCP connection per call. Use with --workers > 1: keep-alive "
                             "connections to multi-worker uvicorn stall ~40 ms per request "
                             "(Nagle/delayed ACK) on vanilla MLflow too, which hides the "
                             "server's own cost.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        (root / "v").mkdir()
        backends: list[str | None] = [None, None]
        if args.postgres_uri:
            backends = [stack.enter_context(postgres_database(args.postgres_uri))
                        for _ in range(2)]
        vanilla_url = stack.enter_context(vanilla_server(root / "v", backends[0], args.workers))
        governed = stack.enter_context(run_server(POLICY, root / "g", workers=args.workers,
                                                  backend_store_uri=backends[1]))
        keep = not args.fresh_connections
        targets = {"vanilla": Target(vanilla_url, keep_alive=keep),
                   "governed": Target(governed.url, keep_alive=keep)}
        rows = report(measure(targets, args.iterations, args.warmup))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    backend = "PostgreSQL" if args.postgres_uri else "SQLite"
    connections = "new connection per call" if args.fresh_connections else "keep-alive"
    print(f"{backend}, {args.workers} worker(s), {connections}, {args.iterations} calls each (ms)")
    print(f"{'call':36} {'vanilla p50':>11} {'p95':>7} {'governed p50':>12} {'p95':>7} "
          f"{'ratio p50':>9}")
    for r in rows:
        print(f"{r['call']:36} {r['vanilla_p50']:11.2f} {r['vanilla_p95']:7.2f} "
              f"{r['governed_p50']:12.2f} {r['governed_p95']:7.2f} {r['ratio_p50']:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
