"""Progress of a running job: records in and out per stage, input bytes read, elapsed time, an ETA.

Two sources, one line:

- **In-process** (Beam's DirectRunner in its default mode): the stages' counters are also noted in a
  process-local :class:`Tally` (by :class:`refinery.transforms.beam.stage.Counters`, once :func:`enable`
  made one), because that runner only publishes metrics when the whole job has finished.
- **Worker processes** of a local Flink or Spark run (the worker pool Refinery starts): each notes its
  counters in its own tally too, and writes it every ``WORKER_EVERY_S`` seconds to a file in the folder
  named by ``$REFINERY_PROGRESS_DIR`` (:func:`worker_values` sums them), because Beam's Flink job server
  answers a running job's metrics query with nothing until the job has finished (seen on Flink 1.16,
  Beam 2.56). Bundles run on several threads of a worker, so these counts are close, not exact: the
  line is for watching; the manifest's counters are exact.
- **A job server's metrics** (``PipelineResult.metrics()``) otherwise: a cluster whose workers Refinery
  did not start.

:class:`Reporter` prints every ``every_s`` seconds: on a terminal one line rewritten in place, in a log
plain lines. Unit of progress: bytes of input as stored (the ``ingest/bytes_read`` counter), the unit
of the run's summary, so the ETA is total input size over the rate so far.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable

# counter names read for the line: (namespace, name)
BYTES_READ = ("ingest", "bytes_read")
PROGRESS_DIR_ENV = "REFINERY_PROGRESS_DIR"
WORKER_EVERY_S = 2.0

_tally: Tally | None = None
_active: list[Reporter] = []  # reporters printing now (stop_all: an interrupted run's last line is its own)


class Tally:
    """Counter values noted in this process: (namespace, name) → sum. Thread-safe enough for its use:
    one writer thread (the pipeline's) and a reader that only takes snapshots."""

    def __init__(self):
        self.values: dict[tuple[str, str], int] = {}

    def add(self, namespace: str, name: str, n: int) -> None:
        key = (namespace, name)
        self.values[key] = self.values.get(key, 0) + n

    def snapshot(self) -> dict[tuple[str, str], int]:
        return dict(self.values)


def enable() -> Tally:
    global _tally
    _tally = Tally()
    return _tally


def disable() -> None:
    global _tally
    _tally = None


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


ETA_AFTER_SHARE = 0.05  # share of the input read before the line shows an ETA


def progress_line(values: dict[tuple[str, str], int], stages: list[str], elapsed: float,
                  total_bytes: int | None) -> str:
    """``0:42  read 12.3 of 40.0 MB (31 %, 0.29 MB/s, ETA 1:31)  ingest 9,120 → language 9,120 ...``:
    per stage the records it has seen (ingest: read), in pipeline order."""
    done = values.get(BYTES_READ, 0)
    mb = done / 1e6
    rate = mb / elapsed if elapsed > 0 else 0.0
    if total_bytes:
        share = min(done / total_bytes, 1.0)
        # The rate includes the start (imports, models): before a twentieth of the input is read it
        # says little about the rest, and an ETA from it would be hours off.
        sure = done >= ETA_AFTER_SHARE * total_bytes and rate > 0 and done < total_bytes
        eta = f", ETA {_clock((total_bytes - done) / 1e6 / rate)}" if sure else ""
        read = f"read {mb:,.1f} of {total_bytes / 1e6:,.1f} MB ({share:.0%}, {rate:,.2f} MB/s{eta})"
    else:
        read = f"read {mb:,.1f} MB ({rate:,.2f} MB/s)"
    flow = " → ".join(f"{s} {values.get((s, 'seen'), 0):,}" for s in stages)
    return f"{_clock(elapsed)}  {read}  {flow}"


class Reporter:
    """A daemon thread printing :func:`progress_line` of ``source()`` every ``every_s`` seconds
    until :meth:`stop`. ``source`` returns the counter values, or None when they cannot be read now
    (then nothing is printed for that tick)."""

    def __init__(self, source: Callable[[], dict | None], stages: list[str], total_bytes: int | None,
                 every_s: float = 5.0, stream=None):
        self.source, self.stages, self.total_bytes, self.every = source, stages, total_bytes, every_s
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._width = 0
        self._thread = threading.Thread(target=self._loop, name="refinery-progress", daemon=True)

    def start(self) -> Reporter:
        _active.append(self)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                values = self.source()
            except Exception:  # noqa: BLE001 - progress must never fail a run
                values = None
            if values is not None:
                self._print(progress_line(values, self.stages, time.monotonic() - self._start, self.total_bytes))

    def _print(self, line: str) -> None:
        if self.live:
            pad = " " * max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write(f"\rrefinery: {line}{pad}")
        else:
            self.stream.write(f"refinery: {line}\n")
        self.stream.flush()

    def stop(self) -> None:
        self._stop.set()
        if self in _active:
            _active.remove(self)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        if self.live and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def stop_all() -> None:
    """Stop every reporter (from a signal handler: the run is about to end)."""
    for reporter in list(_active):
        reporter.stop()


def fresh_metrics(result):
    """``result.metrics()`` asked anew. Beam's portable ``PipelineResult`` keeps its first answer for good
    (``_metrics``, Beam 2.56): one query while the job runs (empty on Flink) would then stand for the
    finished job's counters, and the manifest's counters would be empty."""
    if getattr(result, "_metrics", None) is not None:
        result._metrics = None
    return result.metrics()


def metrics_values(result) -> dict[tuple[str, str], int] | None:
    """Counter values of a running portable job (Flink, Spark) from its ``PipelineResult``, summed over
    steps (attempted: committed values arrive only as bundles finish), or None if not available."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        counters = fresh_metrics(result).query(MetricsFilter())["counters"]
    except Exception:  # noqa: BLE001 - a job server that cannot answer now: skip this tick
        return None
    out: dict[tuple[str, str], int] = {}
    for c in counters:
        key = (c.key.metric.namespace, c.key.metric.name)
        out[key] = out.get(key, 0) + int(c.attempted or 0)
    return out


def _dump(tally: Tally, path: str) -> None:
    data = {f"{ns}\t{name}": n for (ns, name), n in tally.snapshot().items()}
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _worker_loop(tally: Tally, path: str, every_s: float) -> None:
    while True:
        time.sleep(every_s)
        with contextlib.suppress(OSError):  # the folder is gone: the run has ended
            _dump(tally, path)


def start_worker_tally(folder: str, every_s: float = WORKER_EVERY_S) -> Tally:
    """In a worker process: note the stages' counters in a tally and write it to ``folder/<pid>.json``
    every ``every_s`` seconds (a daemon thread; the process's end stops it)."""
    tally = _tally or enable()
    path = os.path.join(folder, f"{os.getpid()}.json")
    threading.Thread(target=_worker_loop, args=(tally, path, every_s), name="refinery-progress-dump",
                     daemon=True).start()
    return tally


def worker_values(folder: str) -> dict[tuple[str, str], int] | None:
    """The counters the worker processes wrote to ``folder``, summed; None before any has written."""
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".json")]
    except OSError:
        return None
    out: dict[tuple[str, str], int] = {}
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):  # being replaced this instant: next tick
            continue
        for key, n in data.items():
            ns, _tab, counter = key.partition("\t")
            out[(ns, counter)] = out.get((ns, counter), 0) + int(n)
    return out if names else None


if os.environ.get(PROGRESS_DIR_ENV):  # a worker process of a local engine run (refinery.pipelines.engines)
    start_worker_tally(os.environ[PROGRESS_DIR_ENV])
