"""Wall-clock timing shared by the benchmarks: best of N runs."""

from __future__ import annotations

import time
from collections.abc import Callable


def best(fn: Callable[[], object], runs: int = 5) -> float:
    """Seconds of the fastest of ``runs`` calls of ``fn`` (the least disturbed by other load)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)
