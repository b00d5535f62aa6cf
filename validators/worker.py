"""The expectation suite in a process started as the run begins.

Great Expectations takes ~3 s of one core to import, every run, and the suite only needs it once the
pipeline is over. A local in-process run keeps one core busy and leaves the other idle, so the CLI
starts a one-process pool at the start of the run whose initializer does that import there; the
suite then runs in it on the finished run's aggregates and hands back the same plain result dict. If
the process cannot be used (it died, it could not start), the suite runs in this process instead.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from concurrent.futures.process import BrokenProcessPool


def _import_suite() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations  # noqa: F401 - the import is the work done ahead

    import refinery.validators.suite  # noqa: F401


def _started() -> int:
    return os.getpid()


class SuiteProcess:
    """``run_suite`` in a spawned process that imported Great Expectations while the pipeline ran."""

    def __init__(self):
        # spawn, not fork: the parent already runs Beam's and gRPC's threads.
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_import_suite)
        self.pid = self._pool.submit(_started)  # start the process (and its import) now
        self.ran_in_process: bool | None = None

    def run_suite(self, *args) -> dict:
        from refinery.validators.suite import run_suite

        try:
            result = self._pool.submit(run_suite, *args).result()
            self.ran_in_process = True
            return result
        except BrokenProcessPool:
            self.ran_in_process = False
            return run_suite(*args)
        finally:
            self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
