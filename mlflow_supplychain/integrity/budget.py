"""Hash an artifact tree under a time budget (promotion-time re-verification). No MLflow.

The work (download if needed, then :func:`build_manifest` in parallel) runs in a daemon
thread; the caller waits at most ``budget`` seconds. Past the budget the answer is "not
re-verified" (the gate then denies, fail closed) and the thread is told to stop after the file
it is hashing: sha256 of one file cannot be interrupted half-way, so a single huge file may keep
one thread busy until it is done, but the request returns on time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlflow_supplychain.errors import SupplyChainError
from mlflow_supplychain.integrity.manifest import Manifest, build_manifest

_logger = logging.getLogger(__name__)


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class Rehash:
    """The outcome: a manifest, or why there is none."""

    digest: str | None
    """The manifest digest of the bytes re-hashed now; None when not re-verified."""
    seconds: float
    reason: str | None = None
    """None on success; otherwise why re-verification did not happen (for logs and messages)."""


Materialize = Callable[[], "tuple[Path, Callable[[], None]]"]
"""Returns a local directory holding the artifacts and a cleanup function."""


def rehash_within(materialize: Materialize, budget: float, *,
                  workers: int | None = None) -> Rehash:
    """Materialize the artifacts and hash them, giving up after ``budget`` seconds."""
    started = time.perf_counter()
    cancel = threading.Event()
    box: dict[str, object] = {}

    def progress(done: int, total: int, last: str) -> None:
        if cancel.is_set():
            raise _Cancelled

    def work() -> None:
        cleanup: Callable[[], None] = lambda: None  # noqa: E731
        try:
            root, cleanup = materialize()
            if cancel.is_set():
                return
            box["manifest"] = build_manifest(root, workers=workers, progress=progress)
        except _Cancelled:
            pass
        except SupplyChainError as exc:
            box["error"] = exc.summary
        except Exception as exc:  # noqa: BLE001 - any failure means "not re-verified"
            box["error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            try:
                cleanup()
            except OSError:
                _logger.warning("could not remove re-verification scratch files")

    thread = threading.Thread(target=work, name="supplychain-reverify", daemon=True)
    thread.start()
    thread.join(budget)
    elapsed = time.perf_counter() - started
    if thread.is_alive():
        cancel.set()
        return Rehash(None, elapsed, f"re-hashing did not finish within {budget:g} s")
    manifest = box.get("manifest")
    if isinstance(manifest, Manifest):
        return Rehash(manifest.digest, elapsed)
    return Rehash(None, elapsed, str(box.get("error", "re-hashing was cancelled")))
