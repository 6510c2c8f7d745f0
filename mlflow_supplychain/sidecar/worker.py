"""A huey consumer process running the scan jobs (``python -m mlflow_supplychain.sidecar.worker``).

Started by ``mlflow-supplychain sidecar`` with the settings in its environment; ``--workers``
scan workers run as processes (scanning and hashing are CPU-bound).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import time
from pathlib import Path

from mlflow_supplychain.sidecar.jobs import register_tasks
from mlflow_supplychain.sidecar.queue import open_queue
from mlflow_supplychain.sidecar.settings import SidecarSettings


def remove_stale_scratch(scratch: Path, older_than: float) -> None:
    """Delete download directories left by a worker that died mid-scan (older than the
    rescan delay, so a live scan of another sidecar sharing the directory is not touched)."""
    if not scratch.is_dir():
        return
    cutoff = time.time() - older_than
    for entry in scratch.glob("scan-*"):
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    workers = int(args[0]) if args else 1
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = SidecarSettings.from_env()
    remove_stale_scratch(settings.scratch_dir, settings.rescan_after)
    queue = open_queue(settings.queue_url, settings.tracking_uri)
    register_tasks(queue, settings)
    consumer = queue.create_consumer(workers=workers, worker_type="process", periodic=False,
                                     initial_delay=0.1, max_delay=1.0, backoff=1.15)
    consumer.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
