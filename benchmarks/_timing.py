"""Helpers shared by the benchmark scripts: timing (wall clock, one core, repeated) and common options."""

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


def benchmark_parser(doc: str):
    """argparse parser with the options every benchmark shares: --shared (reference data) and --json."""
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data"),
                    help="the reference data folder (default: ../shared/data)")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    return ap
