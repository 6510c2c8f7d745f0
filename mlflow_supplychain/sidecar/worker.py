"""A huey consumer process running the scan jobs (``python -m mlflow_supplychain.sidecar.worker``).

Started by ``mlflow-supplychain sidecar`` with the settings in its environment; ``--workers``
scan workers run as processes (scanning and hashing are CPU-bound).
"""

from __future__ import annotations

import logging
import sys

from mlflow_supplychain.sidecar.jobs import register_tasks
from mlflow_supplychain.sidecar.queue import open_queue
from mlflow_supplychain.sidecar.settings import SidecarSettings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    workers = int(args[0]) if args else 1
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = SidecarSettings.from_env()
    queue = open_queue(settings.queue_url)
    register_tasks(queue, settings)
    consumer = queue.create_consumer(workers=workers, worker_type="process", periodic=False,
                                     initial_delay=0.1, max_delay=1.0, backoff=1.15)
    consumer.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
