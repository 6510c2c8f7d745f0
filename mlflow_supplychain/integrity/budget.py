"""Hash an artifact tree under a time budget (promotion-time re-verification). No MLflow.

Two ways in: :func:`rehash_within` (a local directory, downloaded first if need be, hashed by
:func:`build_manifest`) and :func:`stream_within` (objects listed and hashed as they stream in
from an object store, nothing written to disk). The work runs in a daemon
thread; the caller waits at most ``budget`` seconds. Past the budget the answer is "not
re-verified" (the gate then denies, fail closed) and the thread is told to stop after the file
it is hashing: sha256 of one file cannot be interrupted half-way, so a single huge file may keep
one thread busy until it is done, but the request returns on time. A streamed hash stops at
the next ranged read; a read that stalls ends by the client's read timeout, which the caller
keeps within the budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlflow_supplychain.errors import SupplyChainError
from mlflow_supplychain.integrity.manifest import Manifest, build_manifest
from mlflow_supplychain.integrity.object_tree import RemoteObject
from mlflow_supplychain.integrity.streaming import Cancelled, Fetch, stream_manifest

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


class Lister(Protocol):
    """An object store's view of one artifact (see :mod:`.object_store`)."""

    def list(self) -> list[RemoteObject]: ...

    def fetch(self, obj: RemoteObject, start: int, end: int) -> bytes: ...


def rehash_within(materialize: Materialize, budget: float, *,
                  workers: int | None = None) -> Rehash:
    """Materialize the artifacts and hash them, giving up after ``budget`` seconds."""
    def work(cancel: threading.Event, stage: list[str]) -> Manifest | None:
        def progress(done: int, total: int, last: str) -> None:
            stage[0] = f"{done} of {total} bytes hashed"
            if cancel.is_set():
                raise _Cancelled

        cleanup: Callable[[], None] = lambda: None  # noqa: E731
        try:
            stage[0] = "fetching the artifacts"
            root, cleanup = materialize()
            if cancel.is_set():
                return None
            stage[0] = "hashing"
            return build_manifest(root, workers=workers, progress=progress)
        except SupplyChainError as exc:
            raise _Failed(exc.summary) from None
        finally:
            try:
                cleanup()
            except OSError:
                _logger.warning("could not remove re-verification scratch files")

    return _within(work, budget)


def stream_within(source: Callable[[], Lister], budget: float, **tuning: int) -> Rehash:
    """List the objects of ``source()`` and hash them as they stream in, giving up after
    ``budget`` seconds; ``tuning`` goes to :func:`stream_manifest` (``part_size``,
    ``window``, ``lanes``)."""
    def work(cancel: threading.Event, stage: list[str]) -> Manifest | None:
        try:
            stage[0] = "connecting to the object store"
            reader = source()
            stage[0] = "waiting for the object store to list the artifact"
            objects = reader.list()
            stage[0] = f"0 of {sum(o.size for o in objects)} bytes read from the object store"

            def progress(done: int, total: int, last: str) -> None:
                stage[0] = f"{done} of {total} bytes read from the object store"

            fetch: Fetch = reader.fetch
            return stream_manifest(objects, fetch, cancel=cancel, progress=progress, **tuning)
        except Cancelled:
            return None
        except SupplyChainError as exc:
            raise _Failed(exc.one_line()) from None

    return _within(work, budget)


class _Failed(Exception):
    """Why the work gave no manifest (already worded for the reason)."""


def _within(work: Callable[[threading.Event, list[str]], Manifest | None],
            budget: float) -> Rehash:
    started = time.perf_counter()
    cancel = threading.Event()
    stage = ["starting"]
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["manifest"] = work(cancel, stage)
        except _Cancelled:
            pass
        except _Failed as exc:
            box["error"] = str(exc)[:400]
        except Exception as exc:  # noqa: BLE001 - any failure means "not re-verified"
            box["error"] = f"{type(exc).__name__}: {exc}"[:300]

    thread = threading.Thread(target=run, name="supplychain-reverify", daemon=True)
    thread.start()
    thread.join(budget)
    elapsed = time.perf_counter() - started
    if thread.is_alive():
        cancel.set()
        return Rehash(None, elapsed, f"re-hashing did not finish within {budget:.3g} s "
                      f"({stage[0]})")
    manifest = box.get("manifest")
    if isinstance(manifest, Manifest):
        return Rehash(manifest.digest, elapsed)
    return Rehash(None, elapsed, str(box.get("error", "re-hashing was cancelled")))
