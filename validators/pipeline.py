"""``ComputeAggregates``: the evidence the expectation suite needs, computed in the job.

Writes ``reports/_run/aggregates.json``: per output kind the :class:`Aggregator` result, exact
duplicate counts (doc_id across refined + rejected; content_hash inside refined), the errors count,
and the bottom-k samples of refined and rejected rows (text cut to 500 characters). Nothing here
holds more than the sample in one worker.

The parts are made by the writer (:class:`refinery.transforms.beam.write.WriteOutputs`), shard by
shard, from the rows it writes (:func:`shard_parts`): an aggregate per shard, the values that must not
repeat, and the sample rows. The records thus reach one consumer only: on Flink every consumer of a
stage reads a copy of all its outputs, and whole records read by a writer and by three combines were
four copies on disk and in the job server's heap (docs/SCALING.md).

No element grows with the sample times the record size. A distributed engine moves each element
(and, on Flink's batch runner, every GroupByKey's values of one key, concatenated) as one record
through a sort buffer of a few MB, so gathering thousands of records into one element fails there
("Record too large") long before memory runs out. The bottom-k is therefore chosen on the sample
keys (8-byte hashes) without gathering them either: the writer's plan holds a threshold set from each
kind's count (:func:`refinery.transforms.beam.write.sample_threshold`: a little over k rows fall under
it), the rows at or under it are the writer's sample output, they reach the one aggregates writer as a
side input — one element per row — and it keeps the k smallest; the combines carry only small values
(counts and aggregates).
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import orjson
from apache_beam.pvalue import PCollection, TaggedOutput

from refinery.atomic import write_atomic
from refinery.schemas import REJECTED_SCHEMA
from refinery.validators.aggregates import SAMPLE_ROWS, Aggregator, sample_key

# The sample holds the records' own columns, not those the writer adds to every row (the run's identity)
_WRITER_COLUMNS = {"run_id", "refinery_version", "config_sha256", "source_sha256"}
_SAMPLE_COLUMNS = [c for c in REJECTED_SCHEMA.names if c not in _WRITER_COLUMNS]


_SAMPLED = ("refined", "rejected")  # the kinds the aggregates and samples are drawn from
PARTS = ("aggregate", "dup_keys", "sample")  # the writer's outputs for the validation, in AggregateParts order


def shard_parts(kind: str, rows: list[dict], threshold: int):
    """What one written shard of ``kind`` ('refined' or 'rejected') gives the validation, as tagged
    outputs: its :class:`Aggregator` (``aggregate``: (kind, aggregator)), the values that must not repeat
    (``dup_keys``, :func:`_dup_keys`), and its rows whose sample key is at or under ``threshold``
    (``sample``: (kind, slimmed row))."""
    agg = Aggregator()
    for r in rows:
        agg.add(r)
        for k in _dup_keys(kind, r):
            yield TaggedOutput("dup_keys", k)
        if sample_key(r["doc_id"]) <= threshold:
            yield TaggedOutput("sample", (kind, slim(r)))
    yield TaggedOutput("aggregate", (kind, agg))


class _MergeAggregatesFn(beam.CombineFn):
    """(kind, Aggregator) → {'refined': aggregate, 'rejected': aggregate}: the shards' aggregates merged."""

    def create_accumulator(self):
        return {kind: Aggregator() for kind in _SAMPLED}

    def add_input(self, acc, element):
        kind, agg = element
        acc[kind].merge(agg)
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            for kind in _SAMPLED:
                out[kind].merge(a[kind])
        return out

    def extract_output(self, acc):
        return {kind: acc[kind].result() for kind in _SAMPLED}


def _dup_keys(kind: str, record: dict):
    """The values of a ``kind`` record that must not repeat: ('duplicate_doc_ids', doc_id) across refined
    and rejected, ('duplicate_content_hash', hash) inside refined."""
    yield "duplicate_doc_ids", record["doc_id"]
    if kind == "refined" and record.get("content_hash"):
        yield "duplicate_content_hash", record["content_hash"]


class _CountRepeatedFn(beam.CombineFn):
    """((what, value), times seen) → {what: number of values seen more than once}, every ``what`` present."""

    def create_accumulator(self):
        return {"duplicate_doc_ids": 0, "duplicate_content_hash": 0}

    def add_input(self, acc, element):
        (what, _value), times = element
        if times > 1:
            acc[what] += 1
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            for k, v in a.items():
                out[k] += v
        return out

    def extract_output(self, acc):
        return acc


def slim(record: dict) -> dict:
    r = {k: record.get(k) for k in _SAMPLE_COLUMNS if k in record}
    if r.get("text") and len(r["text"]) > 500:
        r["text"] = r["text"][:500]
    if r.get("meta") and len(r["meta"]) > 500:
        r["meta"] = r["meta"][:500]
    return r


def _sample_order(row: dict) -> tuple:
    """Order of the sample rows: by sample key, then doc_id (equal only for a duplicated doc_id)."""
    doc_id = row.get("doc_id") or ""
    return sample_key(doc_id), doc_id


def _bottom(rows, n: int) -> list[dict]:
    """The ``n`` rows of smallest sample key, in that order; rows that tie on (key, doc_id) — a
    duplicated doc_id — are told apart by their content, so the choice does not depend on arrival."""
    return sorted(rows, key=lambda r: (*_sample_order(r), orjson.dumps(r, default=str,
                                                                    option=orjson.OPT_SORT_KEYS)))[:n]


class _WriteAggregates(beam.DoFn):
    """The aggregates (one element) with the repeated-value counts, the sampled (kind, row) pairs and the
    written files' facts (for the errors count) as side inputs → aggregates.json."""

    def __init__(self, path, n):
        self.path = path
        self.n = n

    def process(self, aggregates, repeated, sampled, facts):
        rows: dict[str, list] = {kind: [] for kind in _SAMPLED}
        for kind, row in sampled:
            rows[kind].append(row)
        out = {**aggregates, "errors_rows": sum(f["rows"] for f in facts if f["kind"] == "errors"), **repeated,
               "refined_sample": _bottom(rows["refined"], self.n),
               "rejected_sample": _bottom(rows["rejected"], self.n)}
        write_atomic(self.path, orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS))
        yield self.path


class AggregateParts(NamedTuple):
    """What :class:`ComputeAggregates` reads, by name: the writer's outputs (:func:`shard_parts`) and facts."""

    aggregate: PCollection
    """(kind, Aggregator) per written refined or rejected shard."""
    dup_keys: PCollection
    """(what, value) per row: the values that must not repeat."""
    sample: PCollection
    """(kind, slimmed row) for the rows under their kind's sample threshold."""
    facts: PCollection
    """The written files' facts (kind, rows, ...)."""


class ComputeAggregates(beam.PTransform):
    """:class:`AggregateParts` → writes aggregates.json to ``path``: the aggregates merged, the repeated
    values counted, the sample cut to ``sample_rows`` per kind (:func:`_bottom`)."""

    def __init__(self, path: str, sample_rows: int = SAMPLE_ROWS):
        super().__init__()
        self.path = path
        self.n = sample_rows

    def expand(self, parts: AggregateParts):
        if not isinstance(parts, AggregateParts):
            raise TypeError(f"ComputeAggregates takes AggregateParts, not {type(parts).__name__}")
        aggregates = parts.aggregate | "Aggregate" >> beam.CombineGlobally(_MergeAggregatesFn())
        repeated = (parts.dup_keys
                    | "CountKeys" >> beam.combiners.Count.PerElement()
                    | "CountRepeated" >> beam.CombineGlobally(_CountRepeatedFn()))
        return aggregates | "WriteAggregates" >> beam.ParDo(
            _WriteAggregates(self.path, self.n), beam.pvalue.AsSingleton(repeated),
            beam.pvalue.AsList(parts.sample), beam.pvalue.AsList(parts.facts))
