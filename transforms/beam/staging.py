"""Records staged in files of their own while their decisions are made: stubs cross the shuffles.

Beam's portable Flink runner (batch, Beam 2.56) translates an executable stage with several outputs
into one operator whose output is the tagged union of them all, and gives each consumer of the stage
(each output that another stage reads) a blocking copy of the whole union: with whole records on any
output, Flink's disk held the records about as many times as the stage had outputs (13 times for the
stage that runs ingest to the dedup sketch; 7 GB of shuffle files for 200 MB of input, full disk at
2 GB). On such runners the records leave that stage through files written here instead:

- ``StageRecords``: each bundle's records are written to staging files (one per bucket of the doc_id,
  the buckets of :mod:`refinery.transforms.beam.bundles`), and each record goes on as a *stub*: the
  few fields the later stages read (:data:`STUB_KEYS`) and where its record lies.
- ``RestoreRecords``: the stubs of a bucket meet (:class:`~refinery.transforms.beam.bundles.BucketBagFn`,
  a bucket per bundle), the bucket's staging files are read, and each record comes back whole with what the stub
  gained on the way (dedup's decision columns, its reject reason): the same record the unstaged
  pipeline would have carried.

A staging file is written whole under a name of its own (a fresh uuid per bundle and bucket): a bundle
that a runner retries writes new files, and only the files its surviving stubs name are read. The run
removes the staging folder when the job ends. The DirectRunner keeps whole records in memory and does
not use this (figures: docs/SCALING.md, "Staged records").
"""

from __future__ import annotations

import pickle
import struct
import uuid
from collections import defaultdict
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from refinery.transforms.beam.bundles import BucketBagFn, bucket_of
from refinery.transforms.beam.stage import Counters

# The fields a stub carries: what the steps between staging and restoring read (dedup's decision step
# and its index rows) and what names a record in an error row. Anything a step adds to a stub is kept.
STUB_KEYS = ("doc_id", "lang", "content_hash", "stages", "source_uri", "source_line")
STAGED = "_staged"  # the stub's (staging file, position) key; never written out
SIZE = "_chars"  # the stub's record's text length (the writer sizes its files on it); never written out
_CODEC = "zstd"
_HEADER = struct.Struct("<Q")  # the pickled list's length before compression
NS = "staging"  # counters: staged, restored (equal at the end of a run)


def stub_of(record: dict, path: str, row: int) -> dict:
    """The stub that stands for ``record``, staged at ``row`` of ``path``."""
    stub = {k: record[k] for k in STUB_KEYS if k in record}
    stub[STAGED] = (path, row)
    stub[SIZE] = len(record.get("text") or "")
    return stub


def restored(record: dict, stub: dict) -> dict:
    """``record`` as staged, with every field its stub holds (the stub's values win) but the staging keys."""
    out = dict(record)
    out.update(stub)
    del out[STAGED]
    out.pop(SIZE, None)
    return out


def write_staged(path: str, records: list[dict]) -> None:
    """``records`` to ``path``: a length header, then their pickled list, zstd-compressed."""
    data = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
    with FileSystems.create(path) as f:
        f.write(_HEADER.pack(len(data)))
        f.write(pa.compress(data, codec=_CODEC, asbytes=True))


def read_staged(path: str) -> list[dict]:
    """The records :func:`write_staged` wrote to ``path``."""
    with FileSystems.open(path) as f:
        blob = f.read()
    (size,) = _HEADER.unpack_from(blob)
    return pickle.loads(pa.decompress(blob[_HEADER.size:], decompressed_size=size, codec=_CODEC, asbytes=True))


class BundleFiles:
    """One bundle's staging files, one per bucket: items are gathered by bucket, and :meth:`write` writes
    each bucket's file when the bundle ends. File names: ``b{bucket:05d}-{label}-{uuid}.stage``."""

    def __init__(self, folder: str, label: str):
        self.folder, self.label = folder, label
        self._files: dict[int, tuple[str, list]] = {}

    def add(self, bucket: int, item) -> tuple[str, int]:
        """``item`` into ``bucket``'s file → (the file's path, the item's position in it)."""
        staged = self._files.get(bucket)
        if staged is None:
            name = f"b{bucket:05d}-{self.label}-{uuid.uuid4().hex}.stage"
            staged = self._files[bucket] = (FileSystems.join(self.folder, name), [])
        path, rows = staged
        rows.append(item)
        return path, len(rows) - 1

    def write(self) -> list[tuple[int, str]]:
        """Writes every file → (bucket, path) for each, by bucket; the object is empty again."""
        written = []
        for bucket, (path, rows) in sorted(self._files.items()):
            write_staged(path, rows)
            written.append((bucket, path))
        self._files = {}
        return written


class _StageFn(beam.DoFn):
    """Record → stub; the bundle's records are written to one staging file per bucket when it ends."""

    def __init__(self, folder: str, buckets: int, label: str):
        self.folder, self.buckets, self.label = folder, buckets, label

    def setup(self):
        self._counters = Counters(NS)

    def start_bundle(self):
        self._files = BundleFiles(self.folder, self.label)

    def process(self, record):
        path, position = self._files.add(bucket_of(record["doc_id"], self.buckets), record)
        self._counters.inc("staged")
        yield stub_of(record, path, position)

    def finish_bundle(self):
        # The stubs went out before their file exists: a runner hands a bundle's outputs on only once the
        # bundle has finished, this included, and drops them (files unread) if it fails.
        self._files.write()


class StageRecords(beam.PTransform):
    """Records → their stubs; the records themselves go to staging files under ``folder``."""

    def __init__(self, folder: str, buckets: int, label: str):
        super().__init__()
        self.folder, self.buckets, self.label = folder, buckets, label

    def expand(self, records):
        return records | "Stage" >> beam.ParDo(_StageFn(self.folder, self.buckets, self.label))


class _RestoreFn(BucketBagFn):
    """(bucket, (tag, stub)) → (tag, the whole record), once the bucket's stubs are all in."""

    def setup(self):
        self._counters = Counters(NS)

    def complete(self, items):
        by_path: dict[str, list] = defaultdict(list)
        for tag, stub in items:
            by_path[stub[STAGED][0]].append((tag, stub))
        for path in sorted(by_path):
            records = read_staged(path)
            for tag, stub in by_path[path]:
                self._counters.inc("restored")
                yield tag, restored(records[stub[STAGED][1]], stub)


class RestoreRecords(beam.PTransform):
    """{tag: PCollection of stubs} → one PCollection of (tag, whole record), a bucket of ``buckets`` per
    bundle. One output, not one per tag: on Flink every consumer of a stage's outputs reads a copy of
    them all, so the restored records go to exactly one consumer, the writer's shuffle
    (:class:`refinery.transforms.beam.write.WriteOutputs`)."""

    def __init__(self, buckets: int):
        super().__init__()
        self.buckets = buckets

    def expand(self, tagged: dict):
        n = self.buckets

        def item(stub, tag):
            return bucket_of(stub["doc_id"], n), (tag, stub)

        parts = [pc | f"Key{tag}" >> beam.Map(item, tag).with_output_types(tuple[int, Any])
                 for tag, pc in tagged.items()]
        return parts | "Flatten" >> beam.Flatten() | "Restore" >> beam.ParDo(_RestoreFn())
