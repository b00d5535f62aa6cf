"""``ReadCrude``: input patterns → records, ingest rejections, errors, per-file facts."""

from __future__ import annotations

import contextlib
import sys
import time

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import TaggedOutput

from refinery.schemas.reasons import RejectReason, Stage
from refinery.transforms.beam.bundles import BoundedBundles, KeyedBundles, bucket_of
from refinery.transforms.beam.stage import (
    ERRORS,
    REJECTED,
    BusyClock,
    Counters,
    Rejection,
    rejected_record,
    relax_worker_gc,
)
from refinery.transforms.ingest import read_crude
from refinery.transforms.inputs import InputSet, expand_inputs
from refinery.transforms.pii import PiiScrubber
from refinery.transforms.text import visible_chars

FILES = "files"


def _open_raw(uri: str):
    # Stored bytes, not decompressed: the sha256 is of the file as stored; ingest decompresses.
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


class _Progress:
    """Rate-limited progress line on stderr (one per worker every few seconds, never per record)."""

    def __init__(self, enabled: bool, every_s: float = 5.0):
        self.enabled = enabled
        self.every = every_s
        self.start = self.last = time.monotonic()
        self.records = 0
        self.nbytes = 0

    def add(self, records: int, nbytes: int) -> None:
        self.records += records
        self.nbytes += nbytes
        now = time.monotonic()
        if self.enabled and now - self.last >= self.every:
            self.last = now
            mb = self.nbytes / 1e6
            rate = mb / max(now - self.start, 1e-9)
            print(f"refinery: read {self.records:,} records, {mb:,.1f} MB ({rate:,.2f} MB/s)",
                  file=sys.stderr, flush=True)


class _StoredBytes:
    """Counter ``bytes_read``: bytes of an input file as stored (the unit of the run's summary) read so
    far, from the position of the handles the reader opened; the whole file once it is read."""

    def __init__(self, counters: Counters, size: int | None):
        self.counters, self.size = counters, size
        self.handles: list = []
        self.positions: list[int] = []
        self.reported = 0

    def open(self, uri: str):
        f = _open_raw(uri)
        self.handles.append(f)
        self.positions.append(0)
        return f

    def _consumed(self) -> int:
        for i, f in enumerate(self.handles):
            with contextlib.suppress(OSError, ValueError, AttributeError):  # closed, or a stream without a position
                self.positions[i] = max(self.positions[i], f.tell())
        return max(self.positions, default=0)

    def _add(self, upto: int) -> None:
        if upto > self.reported:
            self.counters.inc("bytes_read", upto - self.reported)
            self.reported = upto

    def report(self) -> None:
        self._add(self._consumed() if self.size is None else min(self._consumed(), self.size))

    def finish(self) -> None:
        self._add(self.size if self.size is not None else self._consumed())


class _ReadCrudeFn(beam.DoFn):
    def __init__(self, cfg, progress: bool):
        self.cfg = cfg
        self.progress = progress

    def setup(self):
        relax_worker_gc()
        self._counters = Counters(Stage.INGEST.value)
        self._progress = _Progress(self.progress)
        self._clock = BusyClock(Stage.INGEST.value)
        self._pii = PiiScrubber.from_config(self.cfg)

    def _redact_pii(self, kind: str, item: dict) -> None:
        """PII out of every record and error (in place) before anything routes or writes it; counters
        ``pii:<kind>`` (spans found in text) and ``pii:raw_dropped`` (undecodable raw bytes dropped)."""
        t0 = time.perf_counter()
        if kind == "record":
            counts = self._pii.record(item)
            if counts:
                for k, n in counts.items():
                    if n:
                        self._counters.inc(f"pii:{k}", n)
        elif kind == "error" and not self._pii.error(item):
            self._counters.inc("pii:raw_dropped")
        self._clock.add(time.perf_counter() - t0)

    def finish_bundle(self):
        self._clock.flush()

    def _timed(self, items):
        """The reader's items, its own time on the busy clock (not the downstream stages fused after it)."""
        clock, it, now = self._clock, iter(items), time.perf_counter
        while True:
            t0 = now()
            item = next(it, None)
            clock.add(now() - t0)
            if item is None:
                return
            yield item

    def process(self, match):
        uri, size = match
        counters = self._counters
        ingest = self.cfg.ingest
        n = nbytes = 0
        stored = _StoredBytes(counters, size)
        for kind, item in self._timed(read_crude(uri, ingest, stored.open, size_hint=size)):
            self._redact_pii(kind, item)
            if kind == "record":
                n += 1
                nbytes += len(item["text"])
                counters.inc("seen")
                if item.get("_reject"):  # decided by the reader (web pages: non-text payload, empty page ...)
                    reason, detail = item.pop("_reject")
                    counters.inc(f"dropped:{reason.value}")
                    yield TaggedOutput(REJECTED, rejected_record(item, Stage.INGEST, Rejection(reason, detail)))
                elif visible_chars(item["text"]) < ingest.min_chars:
                    counters.inc(f"dropped:{RejectReason.EMPTY_TEXT.value}")
                    rej = Rejection(RejectReason.EMPTY_TEXT,
                                    f"{visible_chars(item['text'])} visible characters < "
                                    f"ingest.min_chars={ingest.min_chars}")
                    yield TaggedOutput(REJECTED, rejected_record(item, Stage.INGEST, rej))
                else:
                    counters.inc("kept")
                    yield item
                if n % 256 == 0:
                    stored.report()
                if n % 1000 == 0:
                    self._progress.add(n, nbytes)
                    n = nbytes = 0
            elif kind == "error":
                n += 1
                counters.inc("seen")
                counters.inc("error:" + item["error"].split(":", 1)[0])
                yield TaggedOutput(ERRORS, item)
            else:
                counters.inc("files")
                yield TaggedOutput(FILES, item)
        self._progress.add(n, nbytes)
        stored.finish()


class _ReadCrudeOneOutputFn(_ReadCrudeFn):
    """:class:`_ReadCrudeFn` for a portable runner: every output on the main one, as (bucket, (tag, item)),
    the records in the bucket of their doc_id (:class:`refinery.transforms.beam.bundles.KeyedBundles`).
    A stage with several outputs gives each of their consumers a copy of them all on such a runner
    (:mod:`refinery.transforms.beam.staging`): the read's only output goes to the records' buckets, and
    the outputs part in the stage after it (:class:`_SplitReadFn`)."""

    def __init__(self, cfg, progress: bool, buckets: int):
        super().__init__(cfg, progress)
        self.buckets = buckets

    def process(self, match):
        n = self.buckets
        for out in super().process(match):
            tag, item = (out.tag, out.value) if isinstance(out, TaggedOutput) else ("kept", out)
            key = item.get("doc_id") or item.get("uri") or f"{item.get('source_uri')}\n{item.get('source_line')}"
            yield bucket_of(key, n), (tag, item)


class _SplitReadFn(beam.DoFn):
    """(tag, item) → ``item`` on output ``tag`` (the read's outputs, as :class:`_ReadCrudeFn` tags them)."""

    def process(self, tagged):
        tag, item = tagged
        yield item if tag == "kept" else TaggedOutput(tag, item)


def _uri_of(match) -> str:
    return match[0]


def _known_size(sizes):
    return next((s for s in sizes if s is not None), None)


class _ExpandPathListsFn(beam.DoFn):
    """Common Crawl ``*.paths[.gz]`` lists → the files they name (the list itself becomes a fact)."""

    def __init__(self, cfg):
        self.cfg = cfg

    def process(self, match):
        uri, size = match
        if not uri.lower().endswith((".paths.gz", ".paths")):
            yield match
            return
        import gzip
        import hashlib

        from refinery.transforms.webcrawl import expand_paths_list

        try:
            with _open_raw(uri) as f:
                raw = f.read()
            data = gzip.decompress(raw) if uri.lower().endswith(".gz") else raw
            listed = expand_paths_list(data, self.cfg.ingest.commoncrawl_prefix)
        except Exception:  # noqa: BLE001 - an unreadable list goes on as a file: its error lands in errors/
            yield match
            return
        yield TaggedOutput(FILES, {"uri": uri, "format": "warc_paths", "compression": "gzip", "encoding": "utf-8",
                                   "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(), "records": 0,
                                   "blank_lines": 0, "listed_files": len(listed)})
        for listed_uri in listed:
            yield listed_uri, None


class ReadCrude(beam.PTransform):
    """Read every file matching the patterns (matched when the pipeline runs, not when it is built).

    Outputs (dict): ``kept`` records, ``rejected`` (empty_text), ``errors`` (unparseable lines and
    unreadable file parts, with raw bytes), ``files`` (one fact dict per input file: uri, bytes,
    sha256, records, blank_lines, encoding, format). PII is redacted in every record and error before
    it reaches any of these (``refinery.transforms.pii.PiiScrubber``; ``pii_counts`` filled).
    Counters: namespace ``ingest`` (``pii:<kind>``, ``pii:raw_dropped`` too).
    Config: ``ingest.*``, ``quality.pii.*``.
    """

    def __init__(self, patterns: list[str], cfg, progress: bool = False, spread_records: bool = True,
                 inputs: InputSet | None = None, bounded_buckets: int | None = None):
        super().__init__()
        self.patterns = sorted(set(patterns))
        self.cfg = cfg
        self.progress = progress
        self.spread_records = spread_records
        # A portable runner: files and records are spread by BoundedBundles (one bundle per bucket).
        self.bounded_buckets = bounded_buckets
        # Local patterns are matched once, here (refinery.pipelines.inputs): the files read are exactly
        # the files the run's checks saw. Remote patterns are matched by Beam when the pipeline runs.
        self.inputs = inputs if inputs is not None else expand_inputs(self.patterns, strict=False)

    def expand(self, pbegin):
        parts = []
        if self.inputs.local_files:
            parts.append(pbegin | "LocalFiles" >> beam.Create(self.inputs.local_files))
        if self.inputs.remote_patterns or not parts:
            parts.append(
                pbegin
                | "Patterns" >> beam.Create(self.inputs.remote_patterns)
                | "Match" >> fileio.MatchAll()
                | "PathAndSize" >> beam.Map(lambda m: (m.path, m.size_in_bytes))
            )
        matched = (parts | "AllMatches" >> beam.Flatten()) | "OneMatchPerFile" >> beam.Distinct()
        expanded = matched | "ExpandPathLists" >> beam.ParDo(_ExpandPathListsFn(self.cfg)).with_outputs(
            FILES, main="to_read")
        # A file named by a list and by a pattern is still read once.
        files = expanded["to_read"] | "OneReadPerFile" >> beam.CombinePerKey(_known_size)
        n = self.bounded_buckets
        # Spread files over workers before the (slow) read.
        spread = (files | "SpreadFiles" >> beam.Reshuffle() if n is None
                  else files | "SpreadFiles" >> BoundedBundles(_uri_of, n))
        if n is None:
            out = spread | "Read" >> beam.ParDo(_ReadCrudeFn(self.cfg, self.progress)).with_outputs(
                REJECTED, ERRORS, FILES, main="kept")
        else:  # one output, to the records' buckets; parted again after them
            out = (spread
                   | "Read" >> beam.ParDo(_ReadCrudeOneOutputFn(self.cfg, self.progress, n))
                   | "SpreadRecords" >> KeyedBundles()
                   | "SplitRead" >> beam.ParDo(_SplitReadFn()).with_outputs(REJECTED, ERRORS, FILES, main="kept"))
        # Fusion break: one large file's records are spread over workers for the stages after. A
        # runner with one worker in one process has nothing to spread them to, and a full-record shuffle
        # costs it ~15 % of the run (50 MB benchmark corpus: 59 s -> 49 s without it).
        kept = out["kept"]
        if n is None and self.spread_records:
            kept = kept | "SpreadRecords" >> beam.Reshuffle()
        facts = (out[FILES], expanded[FILES]) | "AllFileFacts" >> beam.Flatten()
        return {"kept": kept, REJECTED: out[REJECTED], ERRORS: out[ERRORS], FILES: facts}
