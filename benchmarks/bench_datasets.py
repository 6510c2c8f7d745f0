"""Benchmark: what reading the training run's logged data sets adds to a protected promotion.

One governed server; the same protected alias is set, alternately, on base-model versions
that differ only in their training run and record: no run; a run (50 metrics and params, as
real training runs carry) whose data the record does not list (the gate skips the lookup: the
class does not require datasets); a run that logged 1 data set, and one that logged ``--many``,
each listed in the record (the gate reads the run's inputs and reconciles).

    python benchmarks/bench_datasets.py [--iterations 200] [--many 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from mlflow_supplychain.testing.pytest_plugin import run_server

POLICY = Path(__file__).resolve().parents[1] / "tests" / "integration" / "policies" / "enforce.yaml"
INTAKE = {"supplychain.intake.artifact_class": "base_model",
          "supplychain.intake.owner": "ml-platform@example.com",
          "supplychain.intake.license.id": "Apache-2.0",
          "supplychain.intake.license.outcome": "approved"}


def _run_with_inputs(client: object, count: int) -> str:
    import numpy as np
    from mlflow.data.numpy_dataset import from_numpy
    from mlflow.entities import DatasetInput, InputTag, Metric, Param

    run = client.create_run("0")  # type: ignore[attr-defined]
    inputs = [DatasetInput(from_numpy(np.full((4, 3), float(i)), name=f"data-{i}")
                           ._to_mlflow_entity(),
                           tags=[InputTag("mlflow.data.context", "training")])
              for i in range(count)]
    client.log_inputs(run.info.run_id, datasets=inputs)  # type: ignore[attr-defined]
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id,  # type: ignore[attr-defined]
                     metrics=[Metric(f"m{i}", float(i), now, 0) for i in range(50)],
                     params=[Param(f"p{i}", str(i)) for i in range(50)])
    return str(run.info.run_id)


def _listed(client: object, run_id: str | None, count: int) -> dict[str, str]:
    """The datasets tag listing the first ``count`` data sets the run logged."""
    if not count or run_id is None:
        return {}
    inputs = client.get_run(run_id).inputs.dataset_inputs[:count]  # type: ignore[attr-defined]
    entries = [{"name": i.dataset.name, "context": "training", "digest": i.dataset.digest,
                "license": "CC-BY-4.0"} for i in inputs]
    return {"supplychain.intake.datasets": json.dumps(entries)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--many", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        with run_server(POLICY, Path(tmp)) as server:
            client = server.client()
            name = "bench-" + uuid.uuid4().hex[:8]
            client.create_registered_model(name)
            runs = {"no training run": (None, 0),
                    "run, record lists no data": (_run_with_inputs(client, 1), 0),
                    "run, 1 data set listed": (_run_with_inputs(client, 1), 1),
                    f"run, {args.many} data sets listed": (_run_with_inputs(client, args.many),
                                                           args.many)}
            versions = {label: str(client.create_model_version(
                name, "s3://corp-models/bench", tags={**INTAKE, **_listed(client, run_id, n)},
                run_id=run_id).version) for label, (run_id, n) in runs.items()}
            session = requests.Session()
            url = server.url + "/api/2.0/mlflow/registered-models/alias"
            times: dict[str, list[float]] = {label: [] for label in versions}
            for i in range(args.warmup + args.iterations):
                order = list(versions.items())
                order = order if i % 2 == 0 else order[::-1]
                for label, version in order:
                    start = time.perf_counter()
                    response = session.post(url, json={"name": name, "alias": "production",
                                                       "version": version}, timeout=30)
                    elapsed = (time.perf_counter() - start) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"{label}: {response.status_code} {response.text}")
                    if i >= args.warmup:
                        times[label].append(elapsed)
    base = statistics.median(times["no training run"])
    rows = [{"version": label, "p50_ms": statistics.median(t),
             "p95_ms": statistics.quantiles(t, n=100, method="inclusive")[94],
             "ratio_p50": statistics.median(t) / base} for label, t in times.items()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"SQLite, 1 worker, keep-alive, {args.iterations} protected set-alias calls each (ms)")
    print(f"{'version':32} {'p50':>7} {'p95':>7} {'ratio p50':>9}")
    for r in rows:
        print(f"{r['version']:32} {r['p50_ms']:7.2f} {r['p95_ms']:7.2f} {r['ratio_p50']:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
