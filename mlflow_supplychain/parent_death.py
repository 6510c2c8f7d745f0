"""Ask the kernel to stop a child process when its parent dies (Linux ``PR_SET_PDEATHSIG``).

Used as ``preexec_fn`` for helper processes (the sidecar's scan worker, the test cluster's
parts): a parent killed with SIGKILL cannot stop its children itself, and an orphaned scan
worker would keep taking jobs from the queue. Elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGTERM) -> None:
    """In the calling process: receive ``sig`` when the parent process exits."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)
