"""The expectation suite in a process started as the run begins.

Great Expectations takes seconds of one core to import (docs/PERFORMANCE.md), every run, and the suite
only needs it once the pipeline is over. A local in-process run keeps one core busy and leaves the other
idle, so the CLI starts ``python -m refinery.validators.worker`` at the start of the run: it imports the
suite there, then waits for the finished run's aggregates on stdin and answers with the same plain
result dict on stdout (pickled: both ends are this program). A plain subprocess, not multiprocessing:
nothing of the caller's ``__main__`` is imported again in the child. If the process cannot be used (it
died, could not start, answered with an error), the suite runs in this process instead — same result,
or the real exception with its traceback.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys

# The suite reads aggregates and two 5,000-row samples (about a second); a process that has not answered
# in this long is stuck, and the suite runs here instead.
ANSWER_TIMEOUT_S = 300


def _import_suite() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations  # noqa: F401 - the import is the work done ahead

    import refinery.validators.suite  # noqa: F401


class SuiteProcess:
    """``run_suite`` in a process that imported Great Expectations while the pipeline ran."""

    def __init__(self):
        self._proc = subprocess.Popen([sys.executable, "-m", "refinery.validators.worker"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.pid = self._proc.pid
        self.ran_aside: bool | None = None

    def run_suite(self, *args) -> dict:
        try:
            answer, _ = self._proc.communicate(pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL),
                                               timeout=ANSWER_TIMEOUT_S)
            status, payload = pickle.loads(answer)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, subprocess.TimeoutExpired):
            status, payload = "unusable", None
        finally:
            self.close()
        if status == "ok":
            self.ran_aside = True
            return payload
        from refinery.validators.suite import run_suite

        self.ran_aside = False
        return run_suite(*args)

    def close(self) -> None:
        for stream in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


def _serve() -> None:
    # The answer goes to the real stdout; anything a library prints goes to stderr.
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _import_suite()
    try:
        args = pickle.load(sys.stdin.buffer)
    except EOFError:  # the run ended without validation (it failed): nothing to do
        return
    from refinery.validators.suite import run_suite

    try:
        out = ("ok", run_suite(*args))
    except BaseException as exc:  # noqa: BLE001 - the caller reruns the suite in its process to raise it
        out = ("error", f"{type(exc).__name__}: {exc}")
    pickle.dump(out, answer, protocol=pickle.HIGHEST_PROTOCOL)
    answer.close()


if __name__ == "__main__":
    _serve()
