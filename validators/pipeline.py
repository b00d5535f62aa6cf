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

import apache_beam as beam
import orjson

from refinery.atomic import write_atomic
from refinery.schemas import REJECTED_SCHEMA
from refinery.validators.aggregates import SAMPLE_ROWS, Aggregator, sample_key

_SAMPLE_COLUMNS = REJECTED_SCHEMA.names


class _AggregateFn(beam.CombineFn):
    def create_accumulator(self):
        return Aggregator()

    def add_input(self, acc, record):
        return acc.add(record)

    def merge_accumulators(self, accs):
        out = Aggregator()
        for a in accs:
            out.merge(a)
        return out

    def extract_output(self, acc):
        return acc.result()


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
    """(None, [(part name, value), ...]) — every part exactly once — with the sampled rows of each
    kind as side inputs → aggregates.json."""

    def __init__(self, path, n):
        self.path = path
        self.n = n

    def process(self, element, refined_rows, rejected_rows):
        _key, parts = element
        p = dict(parts)
        out = {"refined": p["refined"], "rejected": p["rejected"], "errors_rows": p["errors_rows"],
               "duplicate_doc_ids": p["duplicate_doc_ids"], "duplicate_content_hash": p["duplicate_content_hash"],
               "refined_sample": _bottom(refined_rows, self.n),
               "rejected_sample": _bottom(rejected_rows, self.n)}
        write_atomic(self.path, orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS))
        yield self.path


class SampleBottomK(beam.PTransform):
    """Records → the slimmed records (:func:`slim`) whose sample key is among the ``n`` smallest,
    one element each (a few more only when doc_ids repeat: :func:`_bottom` cuts them to ``n``).

    The k smallest keys are found by a combiner over the 8-byte keys alone (its one element holds
    ``n`` integers, whatever the records' size); the largest of them is the threshold a filter
    applies to the records, as a singleton side input."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def expand(self, records):
        threshold = beam.pvalue.AsSingleton(
            records
            | "Keys" >> beam.Map(lambda r: sample_key(r["doc_id"]))
            | "SmallestKeys" >> beam.combiners.Top.Smallest(self.n)
            | "Threshold" >> beam.Map(lambda keys: max(keys) if keys else -1))
        return (records
                | "UnderThreshold" >> beam.Filter(lambda r, t: sample_key(r["doc_id"]) <= t, threshold)
                | "Slim" >> beam.Map(slim))


class ComputeAggregates(beam.PTransform):
    """(refined, rejected, errors) → writes aggregates.json to ``path``."""

    def __init__(self, path: str, sample_rows: int = SAMPLE_ROWS):
        super().__init__()
        self.path = path
        self.n = sample_rows

    def expand(self, pcolls):
        refined, rejected, errors = pcolls
        ref_agg = refined | "AggRefined" >> beam.CombineGlobally(_AggregateFn())
        rej_agg = rejected | "AggRejected" >> beam.CombineGlobally(_AggregateFn())
        n_err = errors | "CountErrors" >> beam.combiners.Count.Globally()
        ids = ((refined, rejected) | "AllKept" >> beam.Flatten() | "DocIds" >> beam.Map(lambda r: r["doc_id"]))
        dup_ids = _dups(ids, "DupIds")
        hashes = refined | "Hashes" >> beam.FlatMap(lambda r: [r["content_hash"]] if r.get("content_hash") else [])
        dup_hash = _dups(hashes, "DupHash")
        refined_rows = refined | "SampleRefined" >> SampleBottomK(self.n)
        rejected_rows = rejected | "SampleRejected" >> SampleBottomK(self.n)

        # Each part is one small element (a global combine yields one even for no input); they meet in
        # one group. The sampled rows come as side inputs, one element per row (see the module doc).
        parts = {"refined": ref_agg, "rejected": rej_agg, "errors_rows": n_err, "duplicate_doc_ids": dup_ids,
                 "duplicate_content_hash": dup_hash}
        named = [pc | f"Name{name}" >> beam.Map(lambda v, name=name: (None, (name, v))) for name, pc in parts.items()]
        return (named | "AllAggregates" >> beam.Flatten() | "GatherAggregates" >> beam.GroupByKey()
                | "WriteAggregates" >> beam.ParDo(_WriteAggregates(self.path, self.n),
                                                  beam.pvalue.AsList(refined_rows),
                                                  beam.pvalue.AsList(rejected_rows)))
