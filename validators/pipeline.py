"""``ComputeAggregates``: the evidence the expectation suite needs, computed by combiners in the job.

Writes ``reports/_run/aggregates.json``: per output kind the :class:`Aggregator` result, exact
duplicate counts (doc_id across refined + rejected; content_hash inside refined), the errors count,
and the bottom-k samples of refined and rejected rows (text cut to 500 characters). Nothing here
holds more than the sample in one worker.

No element grows with the sample times the record size. A distributed engine moves each element
(and, on Flink's batch runner, every GroupByKey's values of one key, concatenated) as one record
through a sort buffer of a few MB, so gathering thousands of records into one element fails there
("Record too large") long before memory runs out. The bottom-k is therefore chosen on the sample
keys alone (8-byte integers: the k-th smallest is the threshold), the rows at or under the
threshold are selected by a filter, and they reach the one writer as a side input — one element
per row — while the GroupByKey that gathers the parts carries only small values (counts and
aggregates).
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import orjson
from apache_beam.pvalue import PCollection

from refinery.atomic import write_atomic
from refinery.schemas import REJECTED_SCHEMA
from refinery.validators.aggregates import SAMPLE_ROWS, Aggregator, sample_key

_SAMPLE_COLUMNS = REJECTED_SCHEMA.names


_SAMPLED = ("refined", "rejected")  # the kinds a sample is drawn from


class _KindsAggregateFn(beam.CombineFn):
    """(kind, record) → {'refined': aggregate, 'rejected': aggregate, 'errors_rows': count}: one combine
    for the three outputs (an :class:`Aggregator` per sampled kind; errors are only counted)."""

    def create_accumulator(self):
        return {"refined": Aggregator(), "rejected": Aggregator(), "errors": 0}

    def add_input(self, acc, element):
        kind, record = element
        if kind == "errors":
            acc["errors"] += 1
        else:
            acc[kind].add(record)
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out["refined"].merge(a["refined"])
            out["rejected"].merge(a["rejected"])
            out["errors"] += a["errors"]
        return out

    def extract_output(self, acc):
        return {"refined": acc["refined"].result(), "rejected": acc["rejected"].result(),
                "errors_rows": acc["errors"]}


def _dup_keys(element):
    """(kind, record) → the values that must not repeat: ('duplicate_doc_ids', doc_id) across refined and
    rejected, ('duplicate_content_hash', hash) inside refined."""
    kind, record = element
    if kind == "errors":
        return
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


def _dups(pcoll, label):
    return (pcoll
            | f"{label}Count" >> beam.combiners.Count.PerElement()
            | f"{label}Repeated" >> beam.Filter(lambda kv: kv[1] > 1)
            | f"{label}HowMany" >> beam.combiners.Count.Globally())


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
    """The aggregates (one element) with the repeated-value counts and the sampled (kind, row) pairs as
    side inputs → aggregates.json."""

    def __init__(self, path, n):
        self.path = path
        self.n = n

    def process(self, aggregates, repeated, sampled):
        rows: dict[str, list] = {kind: [] for kind in _SAMPLED}
        for kind, row in sampled:
            rows[kind].append(row)
        out = {**aggregates, **repeated,
               "refined_sample": _bottom(rows["refined"], self.n),
               "rejected_sample": _bottom(rows["rejected"], self.n)}
        write_atomic(self.path, orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS))
        yield self.path


def _sample_keys(element):
    kind, record = element
    if kind in _SAMPLED:
        yield kind, sample_key(record["doc_id"])


def _thresholds(kv):
    """(kind, the n smallest keys) → (kind, the largest of them: a record at or under it is sampled)."""
    kind, keys = kv
    return kind, max(keys) if keys else -1


def _under_threshold(element, thresholds):
    kind, record = element
    if kind in _SAMPLED and sample_key(record["doc_id"]) <= thresholds.get(kind, -1):
        yield kind, slim(record)


class SampleBottomK(beam.PTransform):
    """(kind, record) → (kind, slimmed record (:func:`slim`)) for the records of each sampled kind whose
    sample key is among that kind's ``n`` smallest, one element each (a few more only when doc_ids
    repeat: :func:`_bottom` cuts them to ``n``).

    The k smallest keys of each kind are found by a combiner over the 8-byte keys alone (its element
    holds ``n`` integers, whatever the records' size); the largest of them is the threshold a filter
    applies to the records, through a side input of one small value per kind."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def expand(self, kinds):
        thresholds = beam.pvalue.AsDict(
            kinds
            | "Keys" >> beam.FlatMap(_sample_keys)
            | "SmallestKeys" >> beam.combiners.Top.SmallestPerKey(self.n)
            | "Threshold" >> beam.Map(_thresholds))
        return kinds | "UnderThreshold" >> beam.FlatMap(_under_threshold, thresholds)


class AggregateInputs(NamedTuple):
    """What :class:`ComputeAggregates` reads, by name (a PCollection of records each)."""

    refined: PCollection
    rejected: PCollection
    errors: PCollection


class ComputeAggregates(beam.PTransform):
    """:class:`AggregateInputs` (refined, rejected, errors) → writes aggregates.json to ``path``.

    The three outputs are tagged with their kind and flow as one collection through three combines —
    the aggregates, the repeated values, the sample — that meet at the writer: few steps, so a small
    run does not pay for many stages, and no step holds more than the sample."""

    def __init__(self, path: str, sample_rows: int = SAMPLE_ROWS):
        super().__init__()
        self.path = path
        self.n = sample_rows

    def expand(self, inputs: AggregateInputs):
        if not isinstance(inputs, AggregateInputs):
            raise TypeError(f"ComputeAggregates takes AggregateInputs, not {type(inputs).__name__}")
        refined, rejected, errors = inputs.refined, inputs.rejected, inputs.errors
        kinds = ((refined | "TagRefined" >> beam.Map(lambda r: ("refined", r)),
                  rejected | "TagRejected" >> beam.Map(lambda r: ("rejected", r)),
                  errors | "TagErrors" >> beam.Map(lambda r: ("errors", r)))
                 | "AllOutputs" >> beam.Flatten())
        aggregates = kinds | "Aggregate" >> beam.CombineGlobally(_KindsAggregateFn())
        repeated = (kinds
                    | "DupKeys" >> beam.FlatMap(_dup_keys)
                    | "CountKeys" >> beam.combiners.Count.PerElement()
                    | "CountRepeated" >> beam.CombineGlobally(_CountRepeatedFn()))
        sampled = kinds | "Sample" >> SampleBottomK(self.n)
        return aggregates | "WriteAggregates" >> beam.ParDo(
            _WriteAggregates(self.path, self.n), beam.pvalue.AsSingleton(repeated), beam.pvalue.AsList(sampled))
