"""``WriteOutputs``: refined / rejected / errors Parquet with lineage, plus the run's bookkeeping.

Layout (Hive style for refined): ``refined/lang=<lang>/part-SSSSS-of-NNNNN.parquet``,
``rejected/part-...parquet``, ``errors/part-...parquet``. The ``lang`` value lives in the directory
name (the Hive convention) and in the files, dictionary-encoded (see :func:`refined_file_schema`).

Determinism: a record's shard is a function of its doc_id and of the partition's total text size
(for refined/ with dedup on: of the partition as it entered dedup, so files come out up to the removed
duplicates' share under ``output.target_shard_mb``), and rows are sorted by doc_id inside a file, so
the same input gives the same files whatever the runner, worker count or input order. Each file is
written whole from memory (bounded by ``output.target_shard_mb``) so its sha256 and row counts are
known without reading it back.

Outputs: a PCollection of one fact dict per written file (kind, path, partition, rows, bytes, sha256,
rows per source_uri) — the manifest and the reconciliation are built from these.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import PCollection, TaggedOutput

from refinery.atomic import write_atomic
from refinery.schemas import ERRORS_SCHEMA, REFINED_SCHEMA, REJECTED_SCHEMA, with_run_metadata
from refinery.stages import BY_NAME
from refinery.transforms.beam.bundles import bucket_of
from refinery.transforms.beam.stage import ERRORS, BusyClock, Counters, error_record

WRITE_SPEC = BY_NAME["write"]
WRITE_NS = WRITE_SPEC.name
PARTITION_COLUMN = "lang"
LANG_FILE_TYPE = pa.dictionary(pa.int32(), pa.string())


def refined_file_schema() -> pa.Schema:
    """Columns stored in refined/ files: the refined schema, with the partition column ``lang`` stored
    dictionary-encoded — the type pyarrow gives a Hive partition it discovers — so readers that ignore
    the path (Hugging Face ``datasets``, a single file) have it, and ``pq.read_table(OUT/refined)`` merges
    the path's value and the file's without a type clash."""
    i = REFINED_SCHEMA.get_field_index(PARTITION_COLUMN)
    return REFINED_SCHEMA.set(i, REFINED_SCHEMA.field(i).with_type(LANG_FILE_TYPE))


# Rows per Parquet row group. A reader (refinery sample, diff, validate; DuckDB, Spark) decodes a row
# group's column at a time and parallelises over row groups, so groups far smaller than a shard keep a
# reader's memory from growing with the files (figures: docs/INTERNALS.md).
ROW_GROUP_ROWS = 10_000


def _sort_key(kind: str):
    if kind == "errors":
        return lambda r: (r["source_uri"], -1 if r.get("source_line") is None else r["source_line"], r["error"])
    return lambda r: r["doc_id"]


class _WriteShardFn(beam.DoFn):
    def __init__(self, out_dir: str, kind: str, schema: pa.Schema, compression: str, partition_dir: str | None):
        self.out_dir = out_dir
        self.kind = kind
        self.schema = schema
        self.compression = None if compression == "none" else compression
        self.partition_dir = partition_dir

    def setup(self):
        self._clock = BusyClock("write")

    def finish_bundle(self):
        self._clock.flush()

    def process(self, element):
        t0 = time.perf_counter()
        (partition, shard, nshards), rows = element
        rows = sorted(rows, key=_sort_key(self.kind))
        table = pa.Table.from_pylist(rows, schema=self.schema)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression=self.compression, row_group_size=ROW_GROUP_ROWS,
                       use_dictionary=True, write_statistics=True)
        data = buf.getvalue()
        parts = [self.out_dir, self.kind]
        if self.partition_dir:
            parts.append(f"{self.partition_dir}={partition}")
        parts.append(f"part-{shard:05d}-of-{nshards:05d}.parquet")
        path = FileSystems.join(*parts)
        write_atomic(path, data)  # a temporary name renamed once whole: no partial file under a final name
        per_source: dict[str, int] = {}
        for r in rows:
            per_source[r["source_uri"]] = per_source.get(r["source_uri"], 0) + 1
        self._clock.add(time.perf_counter() - t0)
        yield {
            "kind": self.kind,
            "path": path,
            "partition": partition if self.partition_dir else None,
            "rows": len(rows),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "per_source": per_source,
        }


class WriterInputs(NamedTuple):
    """What :class:`WriteOutputs` writes, by name (a PCollection each)."""

    refined: PCollection
    """Records every stage kept (dicts of the refined columns)."""
    rejected: PCollection
    """Records a stage rejected (with ``reject_stage``, ``reject_reason``, ``reject_detail``)."""
    errors: PCollection
    """Error rows (:data:`refinery.schemas.ERRORS_SCHEMA` less ``run_id``)."""
    files: PCollection
    """Input-file facts (``uri``, ``sha256``, ...): ``source_sha256`` comes from them."""
    refined_sized_by: PCollection
    """Records that hold every refined row, on which the refined shard counts are sized: the records
    entering a barrier stage (dedup), or ``refined`` itself (see ``_WriteKind``)."""


class KindInputs(NamedTuple):
    """What :class:`_WriteKind` writes: ``rows``, sharded by the sizes of ``sized_by`` (``rows`` itself, or
    records that hold every row of it)."""

    rows: PCollection
    sized_by: PCollection


class _WriteKind(beam.PTransform):
    """Shard one output kind deterministically and write it."""

    def __init__(self, out_dir, kind, schema, compression, target_bytes, partition_of, partition_dir):
        super().__init__()
        self.args = (out_dir, kind, schema, compression, target_bytes, partition_of, partition_dir)

    def expand(self, inputs: KindInputs):
        """The shard count of each partition comes from the sizes of ``inputs.sized_by``. When that is a
        superset of the rows (the refined records as they entered dedup), files come out somewhat under
        the target size, and the write is no longer a barrier behind its own input: the rows are keyed
        where they are made, not buffered first."""
        rows, sized_by = inputs.rows, inputs.sized_by
        out_dir, kind, schema, compression, target_bytes, partition_of, partition_dir = self.args
        sized = sized_by | "Size" >> beam.Map(
            lambda r: (partition_of(r), len(r.get("text") or r.get("raw") or b"") + 200))
        nshards = beam.pvalue.AsDict(
            sized
            | "BytesPerPartition" >> beam.CombinePerKey(sum)
            | "Shards" >> beam.MapTuple(lambda p, b: (p, max(1, math.ceil(b / target_bytes))))
        )
        key_field = "doc_id" if kind != "errors" else None

        def keyed(r, shards):
            p = partition_of(r)
            n = shards[p]
            k = r[key_field] if key_field else f"{r['source_uri']}\n{r.get('source_line')}\n{r['error']}"
            return (p, bucket_of(k, n), n), r

        return (
            rows
            | "KeyByShard" >> beam.Map(keyed, nshards)
            | "GroupShard" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteShardFn(out_dir, kind, schema, compression, partition_dir))
        )


class UndeclaredKeys(ValueError):
    """A record carries a key its output schema does not declare (a stage wrote a key no stage declares
    as a column). Its type names the ``write/error:UndeclaredKeys`` counter and the error row alike."""


def undeclared_keys(record: dict, declared: frozenset[str]) -> list[str]:
    """The keys of ``record`` that ``declared`` lacks, sorted (none: an empty list)."""
    return [] if declared.issuperset(record) else sorted(set(record) - declared)


class _LineageFn(beam.DoFn):
    """Record → the record with its lineage columns (main), or, when it carries a key its schema does not
    declare, an ``errors`` row (``UndeclaredKeys``): a key is never silently narrowed away by the
    schema-driven conversion to Arrow, and the record is still accounted for."""

    def __init__(self, schema: pa.Schema, identity: dict[str, str], keep_text: bool = True):
        self.declared = frozenset(schema.names)
        self.identity = identity
        self.keep_text = keep_text

    def setup(self):
        self._counters = Counters(WRITE_NS)

    def process(self, record, sha_by_uri):
        extra = undeclared_keys(record, self.declared)
        if extra:
            self._counters.inc(f"error:{UndeclaredKeys.__name__}")
            exc = UndeclaredKeys(f"keys no schema declares: {extra} (declare them as a stage's columns)")
            yield TaggedOutput(ERRORS, error_record(record, WRITE_SPEC, exc))
            return
        r = dict(record)
        r["source_sha256"] = sha_by_uri.get(r["source_uri"])
        r.update(self.identity)
        if not self.keep_text:
            r["text"] = ""
        yield r


def _add_run_id(record, run_id, declared: frozenset[str]):
    """An error row with the run's id. Error rows are built by Refinery alone (ingest, ``error_record``):
    one with an undeclared key is a defect, raised, not narrowed to the schema."""
    extra = undeclared_keys(record, declared)
    if extra:
        raise UndeclaredKeys(f"error row with keys no schema declares: {extra}")
    r = dict(record)
    r["run_id"] = run_id
    return r


def _whole(rows) -> KindInputs:
    """``rows`` sharded by their own sizes."""
    return KindInputs(rows, rows)


class WriteOutputs(beam.PTransform):
    """Write refined, rejected and errors; returns the PCollection of written-file facts.

    Input: :class:`WriterInputs` (named PCollections: refined, rejected, errors, files, refined_sized_by).

    ``identity``: run_id, refinery_version, config_sha256 (columns and footer metadata).
    Config: ``output.compression``, ``output.target_shard_mb``, ``output.write_rejected_text``.
    """

    def __init__(self, out_dir: str, cfg, identity: dict[str, str]):
        super().__init__()
        self.out_dir = out_dir
        self.cfg = cfg
        self.identity = identity

    def expand(self, inputs: WriterInputs):
        if not isinstance(inputs, WriterInputs):
            raise TypeError(f"WriteOutputs takes WriterInputs, not {type(inputs).__name__}")
        refined, rejected, errors, files = inputs.refined, inputs.rejected, inputs.errors, inputs.files
        out = self.cfg.output
        target = int(out.target_shard_mb * 1e6)
        sha = beam.pvalue.AsDict(files | "ShaByUri" >> beam.Map(lambda f: (f["uri"], f["sha256"])))
        footer = {"run_id": self.identity["run_id"], "config_sha256": self.identity["config_sha256"],
                  "refinery_version": self.identity["refinery_version"]}
        lineage_refined = refined | "LineageRefined" >> beam.ParDo(
            _LineageFn(REFINED_SCHEMA, self.identity), sha).with_outputs(ERRORS, main="rows")
        lineage_rejected = rejected | "LineageRejected" >> beam.ParDo(
            _LineageFn(REJECTED_SCHEMA, self.identity, out.write_rejected_text), sha).with_outputs(ERRORS, main="rows")
        errors = ((errors, lineage_refined[ERRORS], lineage_rejected[ERRORS])
                  | "UndeclaredKeyErrors" >> beam.Flatten())
        written = [
            KindInputs(lineage_refined["rows"], inputs.refined_sized_by)
            | "WriteRefined" >> _WriteKind(self.out_dir, "refined", with_run_metadata(refined_file_schema(), footer),
                                           out.compression, target, lambda r: r.get(PARTITION_COLUMN) or "und",
                                           PARTITION_COLUMN),
            _whole(lineage_rejected["rows"])
            | "WriteRejected" >> _WriteKind(self.out_dir, "rejected", with_run_metadata(REJECTED_SCHEMA, footer),
                                            out.compression, target, lambda r: "", None),
            _whole(errors | "RunIdErrors" >> beam.Map(_add_run_id, self.identity["run_id"],
                                                      frozenset(ERRORS_SCHEMA.names) - {"run_id"}))
            | "WriteErrors" >> _WriteKind(self.out_dir, "errors", with_run_metadata(ERRORS_SCHEMA, footer),
                                          out.compression, target, lambda r: "", None),
        ]
        return written | "AllFiles" >> beam.Flatten()
