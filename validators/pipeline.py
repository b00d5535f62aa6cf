"""``ComputeAggregates``: the evidence the expectation suite needs, computed by combiners in the job.

Writes ``reports/_run/aggregates.json``: per output kind the :class:`Aggregator` result, exact
duplicate counts (doc_id across refined + rejected; content_hash inside refined), the errors count,
and the bottom-k samples of refined and rejected rows (text cut to 500 characters). Nothing here
holds more than the sample in one worker.
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


class _WriteAggregates(beam.DoFn):
    """(None, [(part name, value), ...]) — every part exactly once — → aggregates.json."""

    def __init__(self, path):
        self.path = path

    def process(self, element):
        _key, parts = element
        p = dict(parts)
        out = {"refined": p["refined"], "rejected": p["rejected"], "errors_rows": p["errors_rows"],
               "duplicate_doc_ids": p["duplicate_doc_ids"], "duplicate_content_hash": p["duplicate_content_hash"],
               "refined_sample": [r for _k, r in sorted(p["refined_sample"], key=lambda kv: kv[0])],
               "rejected_sample": [r for _k, r in sorted(p["rejected_sample"], key=lambda kv: kv[0])]}
        write_atomic(self.path, orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS))
        yield self.path


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
        n = self.n

        def sample(pc, label):
            return (pc | f"{label}Key" >> beam.Map(lambda r: (sample_key(r["doc_id"]), slim(r)))
                    | f"{label}BottomK" >> beam.combiners.Top.Smallest(n, key=lambda kv: kv[0]))

        # Each part is one element (a global combine yields one even for no input); they meet in one
        # group rather than as side inputs, which Beam's state cache would size object by object.
        parts = {"refined": ref_agg, "rejected": rej_agg, "errors_rows": n_err, "duplicate_doc_ids": dup_ids,
                 "duplicate_content_hash": dup_hash, "refined_sample": sample(refined, "SampleRefined"),
                 "rejected_sample": sample(rejected, "SampleRejected")}
        named = [pc | f"Name{name}" >> beam.Map(lambda v, name=name: (None, (name, v))) for name, pc in parts.items()]
        return (named | "AllAggregates" >> beam.Flatten() | "GatherAggregates" >> beam.GroupByKey()
                | "WriteAggregates" >> beam.ParDo(_WriteAggregates(self.path)))
