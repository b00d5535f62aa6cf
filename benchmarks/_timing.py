"""Shared timing helper for the benchmark scripts (wall clock, one core, repeated until stable)."""

from __future__ import annotations

import time
from collections.abc import Callable


def rate(run_once: Callable[[], int], nbytes: int, min_seconds: float = 2.0) -> tuple[float, float]:
    """Repeat ``run_once`` (which returns how many items it handled) for at least ``min_seconds``;
    returns (items per second, MB per second of ``nbytes`` per repetition)."""
    t0 = time.perf_counter()
    reps = items = 0
    while True:
        items += run_once()
        reps += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return items / elapsed, reps * nbytes / elapsed / 1e6
