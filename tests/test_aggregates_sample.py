"""The validation sample (bottom-k by sample key) chosen without gathering whole records into one element.

``SampleBottomK`` picks the k smallest sample keys by a combiner over the keys alone, then filters the
records under the threshold; ``_bottom`` cuts ties (a duplicated doc_id) deterministically. The Flink
run with small sort buffers in tests/test_engines.py checks the shape on an engine; these check the
choice itself, on the DirectRunner, in seconds.
"""

from __future__ import annotations

import json
import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.validators.aggregates import sample_key
from refinery.validators.pipeline import AggregateInputs, ComputeAggregates, SampleBottomK, _bottom, slim


def _records(n: int, text_chars: int = 50) -> list[dict]:
    return [{"doc_id": f"doc-{i:04d}", "text": f"t{i} " + "x" * text_chars, "lang": "en", "meta": None}
            for i in range(n)]


def _smallest_ids(records: list[dict], k: int) -> list[str]:
    return [r["doc_id"] for r in sorted(records, key=lambda r: sample_key(r["doc_id"]))[:k]]


def test_bottom_k_is_the_k_smallest_sample_keys_slimmed_all_of_few_none_of_none():
    records = _records(60, text_chars=2000)
    few = _records(5)
    errors = [{"source_uri": "f", "source_line": i, "error": "x"} for i in range(3)]
    with TestPipeline() as p:
        tagged = [("refined", r) for r in records] + [("rejected", r) for r in few] + [("errors", e) for e in errors]
        got = (p | "Many" >> beam.Create(tagged) | "K7" >> SampleBottomK(7)
               | "IdLen" >> beam.Map(lambda kv: (kv[0], kv[1]["doc_id"], len(kv[1]["text"]))))
        some = (p | "Few" >> beam.Create([("rejected", r) for r in few]) | "K50" >> SampleBottomK(50)
                | "Ids" >> beam.Map(lambda kv: kv[1]["doc_id"]))
        none = p | "None" >> beam.Create([]) | "K50b" >> SampleBottomK(50)
        # each kind is sampled on its own: the 7 smallest of the refined, all 5 of the rejected, no error
        want = ([("refined", i, 500) for i in _smallest_ids(records, 7)]
                + [("rejected", r["doc_id"], len(r["text"])) for r in few])
        assert_that(got, equal_to(want), label="k smallest per kind, slimmed")
        assert_that(some, equal_to([r["doc_id"] for r in few]), label="all of fewer than k")
        assert_that(none, equal_to([]), label="none of none")


def test_ties_on_a_duplicated_doc_id_are_cut_to_k_the_same_way_whatever_the_order():
    records = _records(10)
    dup = dict(records[3], text="another text under the same doc_id")
    rows = [slim(r) for r in records + [dup]]
    k = 10
    want = _bottom(rows, k)
    assert len(want) == k
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        assert _bottom(shuffled, k) == want
    # Ordered by sample key, as the suite and `refinery validate` read it.
    keys = [sample_key(r["doc_id"]) for r in want]
    assert keys == sorted(keys)


def test_compute_aggregates_writes_the_bottom_k_sample_and_the_counts(tmp_path):
    refined = _records(40, text_chars=800)
    rejected = [dict(r, doc_id=f"rej-{i}", reject_stage="quality", reject_reason="gopher_short_doc")
                for i, r in enumerate(_records(12))]
    errors = [{"source_uri": "f", "source_line": 1, "error": "x", "error_stage": "ingest"}]
    path = tmp_path / "aggregates.json"
    with TestPipeline() as p:
        pcolls = AggregateInputs(refined=p | "R" >> beam.Create(refined), rejected=p | "J" >> beam.Create(rejected),
                                 errors=p | "E" >> beam.Create(errors))
        _ = pcolls | ComputeAggregates(str(path), sample_rows=9)
    agg = json.loads(path.read_text())
    assert [r["doc_id"] for r in agg["refined_sample"]] == _smallest_ids(refined, 9)
    assert [r["doc_id"] for r in agg["rejected_sample"]] == _smallest_ids(rejected, 9)
    assert all(len(r["text"]) <= 500 for r in agg["refined_sample"])
    assert agg["refined"]["rows"] == 40 and agg["rejected"]["rows"] == 12 and agg["errors_rows"] == 1
    assert agg["duplicate_doc_ids"] == 0


def test_compute_aggregates_counts_repeated_doc_ids_and_content_hashes_once_each(tmp_path):
    refined = [dict(r, content_hash=f"h{i % 3}") for i, r in enumerate(_records(6))]  # h0, h1, h2 twice each
    rejected = [dict(refined[0], reject_reason="near_duplicate"), dict(refined[1], reject_reason="near_duplicate"),
                dict(refined[1], reject_reason="near_duplicate", content_hash="other")]
    path = tmp_path / "aggregates.json"
    with TestPipeline() as p:
        pcolls = AggregateInputs(refined=p | "R" >> beam.Create(refined), rejected=p | "J" >> beam.Create(rejected),
                                 errors=p | "E" >> beam.Create([]))
        _ = pcolls | ComputeAggregates(str(path), sample_rows=4)
    agg = json.loads(path.read_text())
    # doc-0000 twice, doc-0001 three times: two repeated doc_ids; a rejected record's hash is not counted
    assert agg["duplicate_doc_ids"] == 2
    assert agg["duplicate_content_hash"] == 3
    assert agg["errors_rows"] == 0 and agg["refined"]["rows"] == 6 and agg["rejected"]["rows"] == 3
    assert list(agg) == ["refined", "rejected", "errors_rows", "duplicate_doc_ids", "duplicate_content_hash",
                         "refined_sample", "rejected_sample"]
