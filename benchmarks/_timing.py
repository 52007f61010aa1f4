"""Timing protocol shared by the benchmarks: the median of repeated wall-clock runs.

Each `fn` must block until its result is ready (`.block_until_ready()` for JAX).
"""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls of `fn`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
