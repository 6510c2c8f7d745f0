"""Load test: the three user groups at once against the scale-out cluster, then the invariants.

Starts the topology of ``mlflow_supplychain.testing.cluster`` (PostgreSQL, Redis, nginx, an S3
endpoint: moto's server here, MinIO cannot be installed on these machines) with 1 and then 2
servers, and runs locust headless, loopback only, bounded in users and time:

- data scientists log a run with real artifacts (a few MB of weights) through the balancer
  into S3 and register a version with its intake record;
- CI asks for a promotion of a registered version, checks the gate (evaluate) and promotes
  (alias ``production``; a denial is an expected answer, not an error);
- approvers list pending requests and approve them.

Per call it prints p50/p95/p99 (ms), throughput and errors, for each server count and user
count (the knee is where throughput stops growing while p95 climbs). Afterwards it checks: the
audit chain verifies and holds exactly one gate decision per promotion answer (200 or 403),
every promoted version had an approved request and a passing attestation of its own, every
version got an attestation (after the queue drains), no request is left approved but
unapplied while its version sits unpromoted with a passing scan.

    python benchmarks/bench_load.py --postgres-uri postgresql://postgres@127.0.0.1:5432/test \
        [--servers 1 2] [--users 6 12] [--seconds 45] [--weights-mb 2] [--faults]

With ``--faults`` (the opt-in long fault run; the bounded one is the cluster test in CI) the
first step of each cluster runs while a sidecar and a server are killed -9, Redis stops for a
minute and every database connection drops; the same invariants are checked afterwards, and
the time to converge (every version attested) is printed.
"""

from __future__ import annotations

# locust patches the standard library with gevent when imported: it must come first.
from locust import HttpUser, between, events, task  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import contextlib
import hashlib
import io
import os
import queue
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import gevent
import requests

from mlflow_supplychain.testing.cluster import (
    Cluster,
    RedisServer,
    promotion_invariants,
    redis_server,
    run_cluster,
    s3_server,
    terminate_database_sessions,
)
from mlflow_supplychain.testing.pytest_plugin import postgres_database

POLICY = Path(__file__).resolve().parents[1] / "tests" / "integration" / "policies" / "cluster.yaml"
API = "/api/2.0"
TR = f"{API}/mlflow-supplychain/transition-requests"
PASSWORD = "load-test-password-1234"  # noqa: S105 - loopback test users
REGISTERED: queue.Queue[tuple[str, str]] = queue.Queue()
OUTCOMES = {"promote 200": 0, "promote 403": 0, "promote lost": 0}
ERRORS: list[str] = []
STOP_SECONDS = 300.0
# a lost webhook (Redis down) is found by the reconcile sweep, a job taken by a killed sidecar
# is handed out again after rescan_after: both bound how soon the cluster converges
RECONCILE_SECONDS = 20.0
RESCAN_SECONDS = 60.0


def _weights(megabytes: float) -> bytes:
    import numpy as np

    out = io.BytesIO()
    count = int(megabytes * 1024 * 1024 / 4)
    np.save(out, np.random.default_rng().random(count, dtype=np.float32))
    return out.getvalue()


class DataScientist(HttpUser):
    """Logs a run with real artifacts into S3 and registers a version with its intake."""

    weight = 2
    wait_time = between(0.5, 1.5)
    weights = b""

    def on_start(self) -> None:
        self.client.auth = ("alice", PASSWORD)
        r = self.client.post(f"{API}/mlflow/experiments/create",
                             json={"name": f"load-{uuid.uuid4().hex[:10]}"},
                             name="create experiment")
        self.experiment = r.json()["experiment_id"]

    @task
    def log_and_register(self) -> None:
        run = self.client.post(f"{API}/mlflow/runs/create",
                               json={"experiment_id": self.experiment},
                               name="create run").json()["run"]["info"]
        base = run["artifact_uri"].removeprefix("mlflow-artifacts:")
        for rel, data in (("model/MLmodel", b"flavors: {}\n"),
                          ("model/weights.npy", self.weights)):
            self.client.put(f"{API}/mlflow-artifacts/artifacts{base}/{rel}", data=data,
                            name="upload artifact")
        name = f"load-{uuid.uuid4().hex[:12]}"
        self.client.post(f"{API}/mlflow/registered-models/create", json={"name": name},
                         name="create model")
        sha = hashlib.sha256(self.weights).hexdigest()
        tags = [{"key": f"supplychain.intake.{k}", "value": v} for k, v in
                (("artifact_class", "base_model"), ("owner", "ml@example.com"),
                 ("source_sha256", sha))]
        mv = self.client.post(f"{API}/mlflow/model-versions/create",
                              json={"name": name, "source": f"runs:/{run['run_id']}/model",
                                    "run_id": run["run_id"], "tags": tags},
                              name="create version")
        if mv.status_code == 200:
            REGISTERED.put((name, str(mv.json()["model_version"]["version"])))


class ContinuousIntegration(HttpUser):
    """Asks for promotions, checks the gate, promotes (a denial is an answer, not an error)."""

    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        # CI runs as the service account that registered the models (it may set their
        # aliases under basic-auth); separation of duties only bars it from approving
        self.client.auth = ("alice", PASSWORD)
        self.asked: list[tuple[str, str]] = []

    @task(2)
    def request_promotion(self) -> None:
        try:
            name, version = REGISTERED.get_nowait()
        except queue.Empty:
            return
        with self.client.post(f"{TR}/create", json={"name": name, "version": version,
                                                    "target": "production"},
                              name="request create", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return
            self.asked.append((name, version))

    @task(3)
    def promote(self) -> None:
        if not self.asked:
            return
        name, version = self.asked[random.randrange(len(self.asked))]  # noqa: S311
        self.client.get(f"{API}/mlflow-supplychain/evaluate",
                        params={"name": name, "version": version, "target": "production"},
                        name="evaluate")
        with self.client.post(f"{API}/mlflow/registered-models/alias",
                              json={"name": name, "alias": "production", "version": version},
                              name="promote", catch_response=True) as r:
            # a 403 from the gate is an answer; any other refusal is an error
            if r.status_code == 403 and "PERMISSION_DENIED" in r.text and "profile" not in r.text:
                r.failure("refused before the gate")
                return
            if r.status_code in (0, 502, 504):  # the server died or the answer was lost
                OUTCOMES["promote lost"] += 1
                r.failure(f"no answer ({r.status_code})")
                return
            if r.status_code in (200, 403):
                OUTCOMES[f"promote {r.status_code}"] += 1
                r.success()
                if r.status_code == 200:
                    self.asked.remove((name, version))


class Approver(HttpUser):
    """Lists pending requests and approves them."""

    weight = 1
    wait_time = between(1, 2)

    def on_start(self) -> None:
        self.client.auth = ("bob", PASSWORD)

    @task
    def approve_pending(self) -> None:
        r = self.client.get(f"{TR}/list", params={"status": "pending", "max_results": 20},
                            name="list pending")
        if r.status_code != 200:
            return
        for request in r.json().get("requests", [])[:3]:
            with self.client.post(f"{TR}/approve", json={"request_id": str(request["id"])},
                                  name="approve", catch_response=True) as answer:
                # two approver sessions (both bob) raced for the same request: the loser is
                # told it is no longer pending (409) or that bob already approved it (403)
                if answer.status_code == 409 or (answer.status_code == 403
                                                 and "already approved" in answer.text):
                    answer.success()
                elif answer.status_code != 200:
                    answer.failure(f"{answer.status_code}: {answer.text[:120]}")


@contextlib.contextmanager
def cluster_for(servers: int, postgres_uri: str, workdir: Path
                ) -> Iterator[tuple[Cluster, RedisServer]]:
    # a private Redis: the fault run stops it, and a shared one could hold other runs' jobs
    with postgres_database(postgres_uri) as registry_db, \
            postgres_database(postgres_uri) as auth_db, s3_server(workdir) as s3, \
            redis_server(workdir) as redis, \
            run_cluster(POLICY, workdir, backend_store_uri=registry_db,
                        auth_db_uri=auth_db.replace("postgresql://", "postgresql+psycopg2://",
                                                    1),
                        redis_url=redis.url, s3=s3, servers=servers, workers=2, sidecars=1,
                        reconcile_interval=RECONCILE_SECONDS,
                        rescan_after=RESCAN_SECONDS) as running:
        for user in ("alice", "bob", "carl"):
            requests.post(f"{running.url}{API}/mlflow/users/create",
                          json={"username": user, "password": PASSWORD},
                          auth=running.admin_auth(), timeout=30).raise_for_status()
        yield running, redis


def inject_faults(cluster: Cluster, redis: RedisServer, seconds: float,
                  redis_down: float) -> list[str]:
    """The faults of issue #19, spread over one load step (run in a greenlet): a sidecar
    killed -9 mid-scan and replaced, a server killed -9 (with two or more), Redis stopped for
    ``redis_down`` seconds, every database connection dropped. Returns the timeline."""
    timeline: list[str] = []
    started = time.monotonic()

    def at(fraction: float, what: str) -> None:
        gevent.sleep(max(0.0, started + fraction * seconds - time.monotonic()))
        timeline.append(f"{time.monotonic() - started:6.1f} s  {what}")

    at(0.2, "kill -9 sidecar 0, start a replacement")
    cluster.kill_sidecar(0)
    cluster.restart_sidecar(0)
    if len(cluster.servers) > 1:
        at(0.35, f"kill -9 server {len(cluster.servers) - 1} (its workers too)")
        cluster.kill_server(len(cluster.servers) - 1)
    at(0.5, f"Redis stopped for {redis_down:.0f} s")
    redis.stop()
    gevent.sleep(redis_down)
    redis.start()
    timeline.append(f"{time.monotonic() - started:6.1f} s  Redis started again")
    at(0.85, "every PostgreSQL connection dropped (as in a restart)")
    terminate_database_sessions(cluster.backend_store_uri)
    return timeline


def run_load(cluster: Cluster, users: int, seconds: float) -> dict[str, dict[str, float]]:
    # stop_timeout: at the end of a step every user finishes the call it is making; killing
    # it mid-call would leave a promotion the server decided (and audited) but the client
    # never counted, and the audit invariant below would miscount
    environment = Environment(user_classes=[DataScientist, ContinuousIntegration, Approver],
                              host=cluster.url, events=events, stop_timeout=STOP_SECONDS)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=max(1, users))
    gevent.sleep(seconds)
    runner.stop()
    runner.quit()
    out = {}
    for (name, _method), entry in sorted(environment.stats.entries.items()):
        if not entry.num_requests:
            continue
        out[name] = {"n": entry.num_requests, "errors": entry.num_failures,
                     "p50": entry.get_response_time_percentile(0.5),
                     "p95": entry.get_response_time_percentile(0.95),
                     "p99": entry.get_response_time_percentile(0.99),
                     "rps": entry.num_requests / seconds}
    total = environment.stats.total
    out["ALL"] = {"n": total.num_requests, "errors": total.num_failures,
                  "p50": total.get_response_time_percentile(0.5),
                  "p95": total.get_response_time_percentile(0.95),
                  "p99": total.get_response_time_percentile(0.99),
                  "rps": total.num_requests / seconds}
    # what failed, not only how often: a failure count alone hid a real bug once (#19)
    for error in sorted(environment.stats.errors.values(), key=lambda e: -e.occurrences):
        ERRORS.append(f"{error.occurrences} x {error.method} {error.name}: "
                      f"{str(error.error)[:300]}")
    return out


def check_invariants(cluster: Cluster, drain_seconds: float = 120) -> list[str]:
    """Problems found after the load (empty when every invariant holds); prints how long the
    queue took to drain (every version attested)."""
    import sqlalchemy

    from mlflow_supplychain.governance import db

    problems: list[str] = []
    engine = db.create_engine(cluster.backend_store_uri)
    try:
        drained = time.monotonic()
        deadline = drained + drain_seconds
        while True:
            with engine.connect() as conn:
                unscanned = conn.execute(sqlalchemy.text(
                    "SELECT count(*) FROM model_versions mv WHERE NOT EXISTS (SELECT 1 FROM "
                    "supplychain_scan_attestations a WHERE a.model_name = mv.name AND "
                    "a.version = CAST(mv.version AS VARCHAR))")).scalar_one()
            if not unscanned or time.monotonic() > deadline:
                print(f"converged: every version attested {time.monotonic() - drained:.0f} s "
                      "after the load stopped" if not unscanned else "not converged")
                break
            time.sleep(2)
    finally:
        engine.dispose()
    if unscanned:
        problems.append(f"{unscanned} version(s) without an attestation after "
                        f"{drain_seconds:.0f} s")
    found, decisions = promotion_invariants(cluster.backend_store_uri)
    problems += found
    # a promotion whose answer was lost (server killed, 502) may or may not have been decided
    answers = OUTCOMES["promote 200"] + OUTCOMES["promote 403"]
    if not answers <= decisions <= answers + OUTCOMES["promote lost"]:
        problems.append(f"{decisions} gate decisions audited for {answers} promotion answers "
                        f"(and {OUTCOMES['promote lost']} lost)")
    return problems


def main(argv: list[str] | None = None) -> int:
    # a SIGTERM (timeout, pkill) unwinds the context managers: the cluster stops and its two
    # databases are dropped, instead of being left behind as a killed run left them once
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-uri", default=os.environ.get(
        "MLFLOW_SUPPLYCHAIN_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--users", type=int, nargs="+", default=[6, 12])
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--weights-mb", type=float, default=2)
    parser.add_argument("--faults", action="store_true",
                        help="inject the faults of issue #19 during the first step of each "
                             "cluster (kill -9 a sidecar and a server, stop Redis, drop every "
                             "database connection); then check the invariants")
    parser.add_argument("--redis-down", type=float, default=60,
                        help="seconds Redis stays stopped with --faults")
    args = parser.parse_args(argv)
    DataScientist.weights = _weights(args.weights_mb)
    print(f"# machine: {os.cpu_count()} cores; {len(DataScientist.weights) / 1e6:.1f} MB "
          f"weights per version; {args.seconds:.0f} s per step")
    failed = False
    for servers in args.servers:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, \
                cluster_for(servers, args.postgres_uri, Path(tmp)) as (cluster, redis):
            # the audit log holds every step's decisions: count answers per cluster too
            OUTCOMES.update({"promote 200": 0, "promote 403": 0, "promote lost": 0})
            for step, users in enumerate(args.users):
                faults = (gevent.spawn(inject_faults, cluster, redis, args.seconds,
                                       args.redis_down) if args.faults and step == 0 else None)
                stats = run_load(cluster, users, args.seconds)
                print(f"\n## {servers} server(s) x 2 workers, {users} users"
                      + (", with faults" if faults else ""))
                if faults is not None:
                    for line in faults.get():
                        print(f"fault at {line}")
                print(f"{'call':<18}{'n':>6}{'err':>5}{'p50':>8}{'p95':>8}{'p99':>8}{'rps':>7}")
                for name, row in stats.items():
                    print(f"{name:<18}{row['n']:>6.0f}{row['errors']:>5.0f}{row['p50']:>8.0f}"
                          f"{row['p95']:>8.0f}{row['p99']:>8.0f}{row['rps']:>7.1f}")
                for line in ERRORS:
                    print(f"error: {line}")
                ERRORS.clear()
                print(f"promotions so far: {OUTCOMES['promote 200']} allowed, "
                      f"{OUTCOMES['promote 403']} denied")
                problems = check_invariants(cluster, drain_seconds=600 if faults else 120)
                print("invariants: " + ("all hold" if not problems else "; ".join(problems)))
                failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
