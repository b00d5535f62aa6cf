"""BoundedBundles and JoinInBuckets (the portable runners' fusion breaks) change nothing but bundles."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.transforms.beam.bundles import BoundedBundles, JoinInBuckets, bucket_count, bucket_of


def test_bucket_count_follows_the_input_size_and_keeps_every_worker_busy():
    assert bucket_count(None) == 1024
    assert bucket_count(0, parallelism=4) == 8
    assert bucket_count(2_000_000_000, parallelism=2) == 250
    assert bucket_count(10**15) == 1 << 16


def test_bucket_of_is_stable_and_in_range():
    assert bucket_of("a/b.jsonl:1", 7) == bucket_of("a/b.jsonl:1", 7)
    assert {bucket_of(f"d{i}", 5) for i in range(200)} == set(range(5))


def test_bounded_bundles_pass_every_element_through_once():
    recs = [{"doc_id": f"d{i}", "text": "x" * i} for i in range(50)] + [{"doc_id": "d3", "text": "again"}]
    with TestPipeline() as p:
        out = p | beam.Create(recs) | BoundedBundles(lambda r: r["doc_id"], 4)
        assert_that(out | beam.Map(lambda r: (r["doc_id"], r["text"])),
                    equal_to([(r["doc_id"], r["text"]) for r in recs]))


def _sorted_groups(kv):
    key, groups = kv
    return key, tuple((tag, tuple(sorted(map(repr, vals)))) for tag, vals in sorted(groups.items()))


def test_join_in_buckets_gives_what_cogroupbykey_gives():
    recs = [(f"d{i}", {"doc_id": f"d{i}", "n": i}) for i in range(40)]
    decisions = [(f"d{i}", ("kept" if i % 3 else "near", i)) for i in range(0, 40, 2)] + [("d0", ("twice", 0))]
    sigs = [(f"d{i}", bytes([i])) for i in range(5)] + [("only-sig", b"\x01")]
    with TestPipeline() as p:
        tagged = {"rec": p | "r" >> beam.Create(recs), "decision": p | "d" >> beam.Create(decisions),
                  "sig": p | "s" >> beam.Create(sigs)}
        want = tagged | "cogbk" >> beam.CoGroupByKey() | "w" >> beam.Map(_sorted_groups)
        got = tagged | "buckets" >> JoinInBuckets(3) | "g" >> beam.Map(_sorted_groups)
        # Every key exactly once, with every tag present (empty where that side has nothing).
        assert_that(got | "key" >> beam.Map(lambda kv: kv[0]),
                    equal_to(sorted({k for pc in (recs, decisions, sigs) for k, _ in pc})), label="keys")
        assert_that((want, got) | beam.Flatten() | beam.combiners.Count.PerElement()
                    | beam.Filter(lambda kv: kv[1] != 2), equal_to([]), label="same groups")
