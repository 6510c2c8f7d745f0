"""``python -m mlflow_supplychain.server.startup_notice URL``: tell a person at a terminal when
the server they started answers.

``mlflow-supplychain server`` replaces itself with ``mlflow server``, which starts workers,
imports MLflow and migrates the database (tens of seconds) before it says anything. On a
terminal the command starts this small child first: it polls ``URL/health``, prints a line
every few seconds while it waits and one when the server is ready, and exits then, or when
its parent (the server) is gone, or after a time limit. Never started when stderr is not a
terminal.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request

from mlflow_supplychain.progress import PREFIX

LIMIT_SECONDS = 300.0
EVERY_SECONDS = 5.0


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as answer:  # noqa: S310 - http(s) URL we built
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str]) -> int:
    """Poll ``argv[1]`` until it answers, printing progress on stderr."""
    url = argv[1]
    parent = os.getppid()
    started = time.monotonic()
    next_note = started + EVERY_SECONDS
    while time.monotonic() - started < LIMIT_SECONDS:
        if os.getppid() != parent:
            return 1  # the server exited; it has said why
        if _healthy(url):
            print(f"{PREFIX} ready at {url} after {time.monotonic() - started:.0f}s",
                  file=sys.stderr, flush=True)
            return 0
        if time.monotonic() >= next_note:
            print(f"{PREFIX} still starting ({time.monotonic() - started:.0f}s)...",
                  file=sys.stderr, flush=True)
            next_note += EVERY_SECONDS
        time.sleep(0.5)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
