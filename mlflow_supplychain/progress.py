"""Progress lines for slow steps, on a terminal only.

Long commands (``server`` start-up, ``deploy verify``, :func:`load_verified_model`) spend tens
of seconds downloading, hashing and waiting. On a terminal, :func:`step` prints what is
happening to stderr; in pipes, CI logs and captured output it prints nothing, so scripts and
machine-read output are unchanged.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

PREFIX = "mlflow-supplychain:"


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default: stderr) is an interactive terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced by an object without isatty
        return False


class Steps:
    """Numbered-by-time progress lines: ``step("hashing 5 files")`` prints
    ``mlflow-supplychain: [3.2s] hashing 5 files...`` when stderr is a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = on_terminal(self._stream)
        self._started = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self._enabled

    def step(self, text: str) -> None:
        """Say what starts now (nothing when not on a terminal)."""
        if self._enabled:
            elapsed = time.monotonic() - self._started
            print(f"{PREFIX} [{elapsed:.1f}s] {text}...", file=self._stream, flush=True)
