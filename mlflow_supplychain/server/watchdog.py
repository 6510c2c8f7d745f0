"""Stop a server's whole process group when the process that started it dies.

``python -m mlflow_supplychain.server.watchdog PGID`` blocks reading its stdin, the read end of
a pipe whose only write end the starting process holds (pipes are not inherited by other
children). The read returns end-of-file when that process closes it or dies in any way,
including SIGKILL and the kernel's out-of-memory killer; the watchdog then sends SIGTERM to
process group PGID (the server, its uvicorn/gunicorn workers and its sidecar all live there),
and SIGKILL to whatever is left after a grace period.

``PR_SET_PDEATHSIG`` alone would not do: it is cleared in every forked child, so it reaches
the server's first process and none of its workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

GRACE_SECONDS = 10.0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pgid: int, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM process group ``pgid``; SIGKILL it if anything remains after ``grace``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    """Wait for end-of-file on stdin, then stop process group ``argv[1]``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C on the tests must not skip cleanup
    pgid = int(argv[1])
    if pgid <= 1:
        return 2
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    stop_group(pgid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
