"""The validation's aggregates and bottom-k sample, made by the writer from the rows it writes.

The write plan (:class:`refinery.transforms.beam.write._PlanFn`) counts each kind and sets a
sample-key threshold from the count (``sample_threshold``: a little over k rows fall under it; its
accumulator is a few numbers); the writer sends the rows at or under it to the aggregates, one element
each, with an aggregate per shard and the values that must not repeat, and the k smallest are kept.
``_bottom`` cuts ties (a duplicated doc_id) deterministically. The Flink run with small sort buffers in
tests/test_engines.py checks the shape on an engine; these check the choice itself, on the
DirectRunner, in seconds, with the records given whole (the DirectRunner's path) and as staged stubs
with the records restored (the engines').
"""

from __future__ import annotations

import json
import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.pipelines.config import RunConfig
from refinery.transforms.beam.write import WriteOutputs, WriterInputs, _PlanFn, sample_threshold
from refinery.validators.aggregates import sample_key
from refinery.validators.pipeline import _bottom, slim

IDENTITY = {"run_id": "r1", "refinery_version": "0", "config_sha256": "c" * 64}


def _records(n: int, text_chars: int = 50, prefix: str = "doc") -> list[dict]:
    out = []
    for i in range(n):
        text = f"t{i} " + "x" * text_chars
        out.append({"doc_id": f"{prefix}-{i:04d}", "text": text, "lang": "en", "meta": None, "source_uri": "in.jsonl",
                    "source_line": i, "n_chars": len(text), "stages": ["ingest"]})
    return out


def _smallest_ids(records: list[dict], k: int) -> list[str]:
    return [r["doc_id"] for r in sorted(records, key=lambda r: sample_key(r["doc_id"]))[:k]]


def test_the_plan_holds_each_kinds_shard_counts_and_sample_threshold_from_counts_alone():
    items = ([("count", "refined")] * 6000 + [("count", "rejected")] * 5
             + [("bytes", "refined", "en", 700), ("bytes", "refined", "en", 700), ("bytes", "refined", "zh", 10)])
    with TestPipeline() as p:
        plan = p | "Items" >> beam.Create(items) | "Plan" >> beam.CombineGlobally(_PlanFn(1000, 100))
        none = p | "None" >> beam.Create([]) | "PlanNone" >> beam.CombineGlobally(_PlanFn(1000, 7))
        want = {"shards": {("refined", "en"): 2, ("refined", "zh"): 1},
                "threshold": {"refined": sample_threshold(100, 6000), "rejected": sample_threshold(100, 5)}}
        assert_that(plan, equal_to([want]), label="bytes over the target; a threshold per kind from its count")
        assert_that(none, equal_to([{"shards": {}, "threshold": {}}]), label="none of none")


def test_the_sample_threshold_takes_a_little_over_k_rows_and_every_row_of_few():
    assert sample_threshold(100, 150) == (1 << 64) - 1  # fewer rows than k plus the margin: all of them
    keys = [sample_key(f"doc-{i}") for i in range(200_000)]
    for k in (100, 1000, 5000):
        t = sample_threshold(k, len(keys))
        under = sum(1 for x in keys if x <= t)
        want = k + 10 * int(k ** 0.5) + 20
        assert k < under and abs(under - want) < 5 * want ** 0.5, (k, under, want)


def test_the_plan_is_the_same_whatever_the_order_its_parts_are_merged_in():
    fn = _PlanFn(100, 5)
    items = [("count", "refined")] * 40 + [("bytes", "rejected", "", 30)] * 9
    want = fn.extract_output(fn.merge_accumulators([_acc(fn, items)]))
    for seed in range(5):
        shuffled = items[:]
        random.Random(seed).shuffle(shuffled)
        parts = [_acc(fn, shuffled[i::3]) for i in range(3)]
        assert fn.extract_output(fn.merge_accumulators(parts)) == want
    assert want["shards"] == {("rejected", ""): 3}


def _acc(fn, items):
    acc = fn.create_accumulator()
    for it in items:
        acc = fn.add_input(acc, it)
    return acc


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


def _aggregates(tmp_path, refined, rejected, errors, n: int, staged: bool, cfg=None) -> dict:
    """aggregates.json of a write of these rows; ``staged``: the records come restored, the stubs stand in
    for them in the plan (here the records themselves: they carry what a stub does)."""
    path = tmp_path / "aggregates.json"
    with TestPipeline() as p:
        r = p | "R" >> beam.Create(refined)
        j = p | "J" >> beam.Create(rejected)
        tagged = [("refined", x) for x in refined] + [("rejected", x) for x in rejected]
        restored = p | "Restored" >> beam.Create(tagged) if staged else None
        inputs = WriterInputs(refined=r, rejected=j, errors=p | "E" >> beam.Create(errors),
                              files=p | "F" >> beam.Create([{"uri": "in.jsonl", "sha256": "s" * 64}]),
                              refined_sized_by=r, restored=restored)
        _ = inputs | WriteOutputs(str(tmp_path / "out"), cfg or RunConfig(), IDENTITY, str(path), sample_rows=n)
    return json.loads(path.read_text())


def _error(i: int) -> dict:
    return {"source_uri": "f", "source_line": i, "error": "x", "error_stage": "ingest", "raw": b"", "doc_id": None}


@pytest.mark.parametrize("staged", [False, True], ids=["records", "restored"])
def test_the_writer_gives_the_bottom_k_sample_and_the_counts(tmp_path, staged):
    refined = _records(400, text_chars=100)  # 400 rows: the threshold takes about 59 of them, the sample 9
    rejected = [dict(r, reject_stage="quality", reject_reason="gopher_short_doc") for r in _records(12, prefix="rej")]
    assert sample_threshold(9, 400) < (1 << 64) - 1
    # a tiny target: several shards per kind, each giving its own aggregate and sample rows
    cfg = RunConfig.model_validate({"output": {"target_shard_mb": 0.005}})
    agg = _aggregates(tmp_path, refined, rejected, [_error(1)], 9, staged, cfg)
    assert len(list((tmp_path / "out" / "refined" / "lang=en").glob("*.parquet"))) > 3
    assert [r["doc_id"] for r in agg["refined_sample"]] == _smallest_ids(refined, 9)
    assert [r["doc_id"] for r in agg["rejected_sample"]] == _smallest_ids(rejected, 9)
    assert all(len(r["text"]) <= 500 for r in agg["refined_sample"])
    assert "run_id" not in agg["refined_sample"][0]  # the records' own columns, not the writer's
    assert agg["refined"]["rows"] == 400 and agg["rejected"]["rows"] == 12 and agg["errors_rows"] == 1
    assert agg["refined"]["text_chars"] == sum(len(r["text"]) for r in refined)
    assert agg["rejected"]["reject"] == {"quality/gopher_short_doc": 12}
    assert agg["duplicate_doc_ids"] == 0


@pytest.mark.parametrize("staged", [False, True], ids=["records", "restored"])
def test_the_writer_counts_repeated_doc_ids_and_content_hashes_once_each(tmp_path, staged):
    refined = [dict(r, content_hash=f"h{i % 3}") for i, r in enumerate(_records(6))]  # h0, h1, h2 twice each
    rejected = [dict(refined[0], reject_reason="near_duplicate"), dict(refined[1], reject_reason="near_duplicate"),
                dict(refined[1], reject_reason="near_duplicate", content_hash="other")]
    agg = _aggregates(tmp_path, refined, rejected, [], 4, staged)
    # doc-0000 twice, doc-0001 three times: two repeated doc_ids; a rejected record's hash is not counted
    assert agg["duplicate_doc_ids"] == 2
    assert agg["duplicate_content_hash"] == 3
    assert agg["errors_rows"] == 0 and agg["refined"]["rows"] == 6 and agg["rejected"]["rows"] == 3
    assert list(agg) == ["refined", "rejected", "errors_rows", "duplicate_doc_ids", "duplicate_content_hash",
                         "refined_sample", "rejected_sample"]


def test_rejected_text_left_out_of_the_files_is_still_in_the_aggregates_and_sample(tmp_path):
    from refinery.arrow_io import read_output

    rejected = [dict(r, reject_stage="quality", reject_reason="gopher_short_doc") for r in _records(5, prefix="rej")]
    cfg = RunConfig.model_validate({"output": {"write_rejected_text": False}})
    agg = _aggregates(tmp_path, _records(3), rejected, [], 10, True, cfg)
    assert {r["text"] for r in read_output(str(tmp_path / "out" / "rejected")).to_pylist()} == {""}
    assert agg["rejected"]["text_chars"] == sum(len(r["text"]) for r in rejected)
    assert all(r["text"] for r in agg["rejected_sample"])
