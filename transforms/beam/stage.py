"""What every record-at-a-time stage shares: counters, the three outputs, error capture.

A stage's DoFn subclasses :class:`RecordStageFn` and implements ``annotate`` (add columns) and
``decide`` (return a :class:`Rejection` or None). The base class does the bookkeeping, so no stage
can lose a record: each input element leaves on exactly one of the three outputs

- main (``kept``): annotated record, stage name appended to ``stages``;
- ``rejected``: annotated record + ``reject_stage``, ``reject_reason``, ``reject_detail``;
- ``errors``: the record could not be processed: its id, location, raw text and the exception.

Counters (namespace = stage): ``seen``, ``kept``, ``dropped:<reason>``, ``error:<ExceptionType>``.
Busy time (namespace ``refinery.timing``, counter ``<stage>_us``): microseconds spent in the stage's
own code (annotate + decide), summed over workers — the manifest's ``busy_seconds``; what a run's
wall time holds beyond their sum is Beam's own work (shuffles, coders, bundle handling) and I/O.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from refinery import progress
from refinery.runtime import WORKER_GC_THRESHOLD, relax_worker_gc, usable_cpus  # noqa: F401 - re-exported
from refinery.stages.spec import Rejection

if TYPE_CHECKING:  # a stage module imports this one while refinery.stages (and so the enums) is being built
    from refinery.schemas.reasons import Stage
    from refinery.schemas.records import Record
    from refinery.stages.spec import StageSpec

KEPT, REJECTED, ERRORS = "kept", "rejected", "errors"


def rejected_record(record: Record, stage: Stage, rejection: Rejection) -> Record:
    out = dict(record)
    out["reject_stage"] = stage.value
    out["reject_reason"] = rejection.reason.value
    out["reject_detail"] = rejection.detail
    return out


def error_record(record: Record, stage: Stage, exc: BaseException) -> dict:
    return {
        "source_uri": record.get("source_uri", "<unknown>"),
        "source_line": record.get("source_line"),
        "raw": (record.get("text") or "").encode("utf-8", "surrogatepass"),
        "error": f"{type(exc).__name__}: {exc}",
        "error_stage": stage.value,
        "doc_id": record.get("doc_id"),
    }


class SharedHolder:
    """Wraps a heavy per-worker object for ``apache_beam.utils.shared.Shared`` (it needs a weak-referenceable value)."""

    def __init__(self, value):
        self.value = value


class Counters:
    """Beam counters under one namespace, created on first use (bounded names only)."""

    def __init__(self, namespace: str):
        self._ns = namespace
        self._c: dict[str, object] = {}

    def inc(self, name: str, n: int = 1) -> None:
        c = self._c.get(name)
        if c is None:
            c = self._c[name] = Metrics.counter(self._ns, name)
        c.inc(n)
        if progress._tally is not None:  # an in-process run's live progress (refinery.progress)
            progress._tally.add(self._ns, name, n)


TIMING_NS = "refinery.timing"


class BusyClock:
    """Seconds spent in a stage's own code, flushed once per bundle to counter ``refinery.timing/<name>_us``."""

    def __init__(self, name: str):
        self.name = name
        self.total = 0.0
        self._counter = None

    def add(self, seconds: float) -> None:
        self.total += seconds

    def flush(self) -> None:
        if self.total:
            if self._counter is None:
                self._counter = Metrics.counter(TIMING_NS, f"{self.name}_us")
            self._counter.inc(int(self.total * 1e6))
            self.total = 0.0


class RecordStageFn(beam.DoFn):
    """Base DoFn: annotate, then decide; three outputs; counters."""

    stage: Stage | StageSpec  # anything with the stage's name as .value

    def __init__(self, cfg):
        self.cfg = cfg
        self._counters: Counters | None = None

    def setup(self):
        relax_worker_gc()
        self._counters = Counters(self.stage.value)
        self._clock = BusyClock(self.stage.value)

    def finish_bundle(self):
        self._clock.flush()

    def annotate(self, record: Record) -> object | None:
        """Add this stage's columns to ``record`` (a private copy). Default: nothing to add.

        It may return a note — evidence its ``decide`` needs that is no column (the licence policy's
        reason, say); the note never travels inside the record. ``decide`` then gets it as ``note``."""
        return None

    def decide(self, record: Record, note: object | None = None) -> Rejection | None:
        return None

    def process(self, record):
        counters = self._counters
        counters.inc("seen")
        record = dict(record)
        t0 = time.perf_counter()
        try:
            note = self.annotate(record)
            rejection = self.decide(record) if note is None else self.decide(record, note)
        except Exception as exc:  # noqa: BLE001 - the record goes to errors/, never lost
            self._clock.add(time.perf_counter() - t0)
            counters.inc(f"error:{type(exc).__name__}")
            yield TaggedOutput(ERRORS, error_record(record, self.stage, exc))
            return
        self._clock.add(time.perf_counter() - t0)
        record["stages"] = list(record.get("stages") or []) + [self.stage.value]
        if rejection is None:
            counters.inc("kept")
            yield record
        else:
            counters.inc(f"dropped:{rejection.reason.value}")
            yield TaggedOutput(REJECTED, rejected_record(record, self.stage, rejection))


def run_record_stage(pcoll, label: str, fn: RecordStageFn) -> dict:
    """Apply a RecordStageFn; returns {'kept', 'rejected', 'errors'} PCollections."""
    out = pcoll | label >> beam.ParDo(fn).with_outputs(REJECTED, ERRORS, main=KEPT)
    return {KEPT: out[KEPT], REJECTED: out[REJECTED], ERRORS: out[ERRORS]}
