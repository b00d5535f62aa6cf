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
from refinery.transforms.beam.staging import SIZE
from refinery.validators.aggregates import SAMPLE_ROWS
from refinery.validators.pipeline import PARTS, AggregateParts, ComputeAggregates, shard_parts

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


ROW_OVERHEAD = 200  # bytes a row adds to its text in a file (columns, metadata), for sizing shards


def text_chars(r: dict) -> int:
    """The text length of a record, or of the record a staging stub stands for: what shards are sized on."""
    n = r.get(SIZE)
    return n if n is not None else len(r.get("text") or r.get("raw") or b"")


def sample_threshold(k: int, n: int) -> int:
    """The sample key under which a kind's sample is taken: ``k`` rows wanted of ``n``. Sample keys are
    uniform 64-bit hashes, so about ``n * T / 2**64`` rows fall under ``T``; ``T`` is set for
    k + 10 sqrt(k) + 20 of them, about ten standard deviations above ``k``, and the writer of
    aggregates.json keeps the ``k`` smallest of those (:func:`refinery.validators.pipeline._bottom`):
    the exact bottom-k unless fewer than ``k`` fall under ``T`` (odds under 1e-20 for k >= 100), and a
    function of the data alone either way. Chosen from counts, not from the keys: a combine's
    accumulators of k keys each, concatenated for one key by Flink's combine step, passed its sort
    buffer at 2 GB."""
    want = k + 10 * math.isqrt(k) + 20
    return _ALL_KEYS if n <= want else (_ALL_KEYS + 1) * want // n


_ALL_KEYS = (1 << 64) - 1  # the largest sample key: a threshold that takes every row


class _PlanFn(beam.CombineFn):
    """("bytes", kind, partition, n) and ("count", kind) → the write's plan: ``shards``, the file count of
    each (kind, partition) (its bytes over the target size), and ``threshold``, per kind counted the
    sample key under which its sample of ``n`` rows is taken (:func:`sample_threshold`). Accumulators are
    a few numbers per kind and partition. One combine for both, so that a stage whose outputs feed it is
    read once (see ``WriteOutputs``)."""

    def __init__(self, target_bytes: int, n: int):
        self.target_bytes, self.n = target_bytes, n

    def create_accumulator(self):
        return {}, {}

    def add_input(self, acc, element):
        sizes, counts = acc
        if element[0] == "bytes":
            _, kind, partition, n = element
            sizes[kind, partition] = sizes.get((kind, partition), 0) + n
        else:
            counts[element[1]] = counts.get(element[1], 0) + 1
        return acc

    def merge_accumulators(self, accs):
        sizes, counts = self.create_accumulator()
        for a_sizes, a_counts in accs:
            for k, n in a_sizes.items():
                sizes[k] = sizes.get(k, 0) + n
            for k, n in a_counts.items():
                counts[k] = counts.get(k, 0) + n
        return sizes, counts

    def extract_output(self, acc):
        sizes, counts = acc
        return {"shards": {k: max(1, math.ceil(b / self.target_bytes)) for k, b in sizes.items()},
                "threshold": {kind: sample_threshold(self.n, c) for kind, c in counts.items()}}


def _partition(kind: str, r: dict) -> str:
    return (r.get(PARTITION_COLUMN) or "und") if kind == "refined" else ""


def _bytes_items(r: dict, kind: str, keep_text: bool = True):
    yield "bytes", kind, _partition(kind, r), (text_chars(r) if keep_text else 0) + ROW_OVERHEAD


def _count_items(r: dict, kind: str):
    yield "count", kind


def _bytes_and_count_items(r: dict, kind: str, keep_text: bool):
    yield from _bytes_items(r, kind, keep_text)
    yield from _count_items(r, kind)


def _plan(parts: list, label: str, target_bytes: int, n: int):
    """The write plan (:class:`_PlanFn`) of the items each ``(pcoll, items_fn, args)`` in ``parts`` makes."""
    items = [pc | f"{label}{i}" >> beam.FlatMap(fn, *args) for i, (pc, fn, args) in enumerate(parts)]
    return beam.pvalue.AsSingleton(items | f"{label}Items" >> beam.Flatten()
                                   | f"{label}Plan" >> beam.CombineGlobally(_PlanFn(target_bytes, n)))


class _KeyForWriteFn(beam.DoFn):
    """(kind, record) → ((kind, partition, shard, shard count), the row with its lineage columns)."""

    def __init__(self, identity: dict[str, str]):
        self.identity = identity

    def process(self, element, plan, sha_by_uri):
        kind, record = element
        p = _partition(kind, record)
        n = plan["shards"][kind, p]
        row = dict(record)
        row["source_sha256"] = sha_by_uri.get(row["source_uri"])
        row.update(self.identity)
        yield (kind, p, bucket_of(row["doc_id"], n), n), row


def _key_error(row: dict, plan):
    n = plan["shards"]["errors", ""]
    return ("errors", "", bucket_of(f"{row['source_uri']}\n{row.get('source_line')}\n{row['error']}", n), n), row


class _KindSpec(NamedTuple):
    """How :class:`_WriteShardFn` writes one output kind."""

    schema: pa.Schema
    partition_dir: str | None
    declared: frozenset[str] | None
    """The keys a row may carry (others: an ``UndeclaredKeys`` error row); None: not checked."""
    keep_text: bool = True


class _WriteShardFn(beam.DoFn):
    """((kind, partition, shard, shard count), rows) → the shard's Parquet file, and its fact (main output).

    A row with a key its schema does not declare goes to ``errors`` instead (``UndeclaredKeys``): a key
    is never silently narrowed away by the schema-driven conversion to Arrow. With ``validate``, each
    refined and rejected shard also gives the validation its parts
    (:func:`refinery.validators.pipeline.shard_parts`: aggregates, the values that must not repeat, the
    sample rows under the ``plan``'s threshold) — computed here, on rows the write reads anyway, so the
    records reach one consumer only."""

    def __init__(self, out_dir: str, specs: dict[str, _KindSpec], compression: str, validate: bool = False):
        self.out_dir = out_dir
        self.specs = specs
        self.compression = None if compression == "none" else compression
        self.validate = validate

    def setup(self):
        self._clock = BusyClock("write")
        self._counters = Counters(WRITE_NS)

    def finish_bundle(self):
        self._clock.flush()

    def process(self, element, plan=None):
        t0 = time.perf_counter()
        (kind, partition, shard, nshards), rows = element
        spec = self.specs[kind]
        rows = sorted(rows, key=_sort_key(kind))
        if spec.declared is not None:
            kept = []
            for r in rows:
                extra = undeclared_keys(r, spec.declared)
                if extra:
                    self._counters.inc(f"error:{UndeclaredKeys.__name__}")
                    exc = UndeclaredKeys(f"keys no schema declares: {extra} (declare them as a stage's columns)")
                    yield TaggedOutput(ERRORS, error_record(r, WRITE_SPEC, exc))
                else:
                    kept.append(r)
            rows = kept
        if self.validate and kind != "errors":
            yield from shard_parts(kind, rows, plan["threshold"].get(kind, -1))
        if not rows:
            self._clock.add(time.perf_counter() - t0)
            return
        if not spec.keep_text:
            rows = [{**r, "text": ""} for r in rows]
        table = pa.Table.from_pylist(rows, schema=spec.schema)
        buf = io.BytesIO()
        pq.write_table(table, buf, compression=self.compression, row_group_size=ROW_GROUP_ROWS,
                       use_dictionary=True, write_statistics=True)
        data = buf.getvalue()
        parts = [self.out_dir, kind]
        if spec.partition_dir:
            parts.append(f"{spec.partition_dir}={partition}")
        parts.append(f"part-{shard:05d}-of-{nshards:05d}.parquet")
        path = FileSystems.join(*parts)
        write_atomic(path, data)  # a temporary name renamed once whole: no partial file under a final name
        per_source: dict[str, int] = {}
        for r in rows:
            per_source[r["source_uri"]] = per_source.get(r["source_uri"], 0) + 1
        self._clock.add(time.perf_counter() - t0)
        yield {
            "kind": kind,
            "path": path,
            "partition": partition if spec.partition_dir else None,
            "rows": len(rows),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "per_source": per_source,
        }


class WriterInputs(NamedTuple):
    """What :class:`WriteOutputs` writes, by name (a PCollection each)."""

    refined: PCollection
    """Records every stage kept (dicts of the refined columns), or, with ``restored``, their stubs."""
    rejected: PCollection
    """Records a stage rejected (with ``reject_stage``, ``reject_reason``, ``reject_detail``), or, with
    ``restored``, their stubs."""
    errors: PCollection
    """Error rows (:data:`refinery.schemas.ERRORS_SCHEMA` less ``run_id``)."""
    files: PCollection
    """Input-file facts (``uri``, ``sha256``, ...): ``source_sha256`` comes from them."""
    refined_sized_by: PCollection
    """Records (or stubs) that hold every refined row, on which the refined shard counts are sized: the
    records entering a barrier stage (dedup), or ``refined`` itself (see :class:`WriteOutputs`)."""
    restored: PCollection | None = None
    """Staged records (:mod:`refinery.transforms.beam.staging`): (kind, whole record) for every refined
    and rejected record; ``refined`` and ``rejected`` are then stubs, read for sizes and sample keys only."""


class UndeclaredKeys(ValueError):
    """A record carries a key its output schema does not declare (a stage wrote a key no stage declares
    as a column). Its type names the ``write/error:UndeclaredKeys`` counter and the error row alike."""


def undeclared_keys(record: dict, declared: frozenset[str]) -> list[str]:
    """The keys of ``record`` that ``declared`` lacks, sorted (none: an empty list)."""
    return [] if declared.issuperset(record) else sorted(set(record) - declared)


def _add_run_id(record, run_id, declared: frozenset[str]):
    """An error row with the run's id. Error rows are built by Refinery alone (ingest, ``error_record``):
    one with an undeclared key is a defect, raised, not narrowed to the schema."""
    extra = undeclared_keys(record, declared)
    if extra:
        raise UndeclaredKeys(f"error row with keys no schema declares: {extra}")
    r = dict(record)
    r["run_id"] = run_id
    return r


class WriteOutputs(beam.PTransform):
    """Write refined, rejected and errors; returns the PCollection of written-file facts.

    Input: :class:`WriterInputs` (named PCollections: refined, rejected, errors, files, refined_sized_by,
    and ``restored`` when the records were staged).

    ``identity``: run_id, refinery_version, config_sha256 (columns and footer metadata).
    ``aggregates``: where the validation's aggregates go (None: validation off), with a sample of
    ``sample_rows`` rows per kind (:class:`refinery.validators.pipeline.ComputeAggregates`).
    Config: ``output.compression``, ``output.target_shard_mb``, ``output.write_rejected_text``.

    The refined and rejected rows cross one shuffle, keyed by (kind, partition, shard): a record's shard
    comes from its doc_id and the shard count of its partition, planned from the text sizes of
    ``refined_sized_by`` and ``rejected`` (:class:`_PlanFn`). When the records are ``restored``, the plan
    is read from the stubs, so the stage that restores them feeds that one shuffle and nothing else (on
    Flink every consumer of a stage reads a copy of all its outputs); the validation's aggregates and
    sample are computed by the writer itself. Otherwise each kind is keyed where it is made, on a plan of
    its own: the refined rows do not wait for the rejected ones.
    """

    def __init__(self, out_dir: str, cfg, identity: dict[str, str], aggregates: str | None = None,
                 sample_rows: int = SAMPLE_ROWS):
        super().__init__()
        self.out_dir = out_dir
        self.cfg = cfg
        self.identity = identity
        self.aggregates = aggregates
        self.n = sample_rows if aggregates else 0

    def _extract_input_pvalues(self, pvalueish):
        # ``restored`` may be None (records not staged): the inputs are the PCollections given.
        if isinstance(pvalueish, WriterInputs):
            return pvalueish, {k: v for k, v in pvalueish._asdict().items() if v is not None}
        return super()._extract_input_pvalues(pvalueish)

    def expand(self, inputs: WriterInputs):
        if not isinstance(inputs, WriterInputs):
            raise TypeError(f"WriteOutputs takes WriterInputs, not {type(inputs).__name__}")
        refined, rejected, files = inputs.refined, inputs.rejected, inputs.files
        out = self.cfg.output
        target, n = int(out.target_shard_mb * 1e6), self.n
        keep_text = out.write_rejected_text
        sha = beam.pvalue.AsDict(files | "ShaByUri" >> beam.Map(lambda f: (f["uri"], f["sha256"])))
        footer = {"run_id": self.identity["run_id"], "config_sha256": self.identity["config_sha256"],
                  "refinery_version": self.identity["refinery_version"]}
        key = _KeyForWriteFn(self.identity)
        sized = [(inputs.refined_sized_by, _bytes_items, ("refined",))]
        if inputs.restored is not None:
            plan = _plan([*sized, *([(refined, _count_items, ("refined",))] if n else []),
                          (rejected, _bytes_and_count_items if n else _bytes_items, ("rejected", keep_text))],
                         "Plan", target, n)
            keyed = inputs.restored | "KeyByShard" >> beam.ParDo(key, plan, sha)
        else:
            refined_plan = _plan(sized, "PlanRefined", target, 0)
            rejected_plan = _plan([(rejected, _bytes_items, ("rejected", keep_text))], "PlanRejected", target, 0)
            keyed = (
                (refined | "TagRefined" >> beam.Map(lambda r: ("refined", r))
                 | "KeyRefined" >> beam.ParDo(key, refined_plan, sha),
                 rejected | "TagRejected" >> beam.Map(lambda r: ("rejected", r))
                 | "KeyRejected" >> beam.ParDo(key, rejected_plan, sha))
                | "Keyed" >> beam.Flatten())
            plan = _plan([(refined, _count_items, ("refined",)), (rejected, _count_items, ("rejected",))],
                         "Sample", target, n) if n else None
        specs = {
            "refined": _KindSpec(with_run_metadata(refined_file_schema(), footer), PARTITION_COLUMN,
                                 frozenset(REFINED_SCHEMA.names)),
            "rejected": _KindSpec(with_run_metadata(REJECTED_SCHEMA, footer), None, frozenset(REJECTED_SCHEMA.names),
                                  keep_text),
            "errors": _KindSpec(with_run_metadata(ERRORS_SCHEMA, footer), None, None),
        }
        writer = _WriteShardFn(self.out_dir, specs, out.compression, validate=bool(n))
        written = (keyed | "GroupShard" >> beam.GroupByKey()
                   | "Write" >> beam.ParDo(writer, *([plan] if n else [])).with_outputs(ERRORS, *PARTS, main="files"))
        errors = ((inputs.errors, written[ERRORS]) | "AllErrors" >> beam.Flatten()
                  | "RunIdErrors" >> beam.Map(_add_run_id, self.identity["run_id"],
                                              frozenset(ERRORS_SCHEMA.names) - {"run_id"}))
        errors_plan = _plan([(errors, _bytes_items, ("errors",))], "PlanErrors", target, 0)
        errors_written = (errors | "KeyErrors" >> beam.Map(_key_error, errors_plan)
                          | "GroupErrors" >> beam.GroupByKey()
                          | "WriteErrors" >> beam.ParDo(writer))
        facts = (written["files"], errors_written) | "AllFiles" >> beam.Flatten()
        if self.aggregates:
            (AggregateParts(*(written[tag] for tag in PARTS), facts)
             | "ComputeAggregates" >> ComputeAggregates(self.aggregates, self.n))
        return facts
