"""``BoundedBundles``: a fusion break that also bounds the bundles of the stages fused after it.

Beam's portable Flink runner (batch, Beam 2.56) runs a stateless executable stage as one bundle per
task: the task's whole input partition. It reads a bundle's outputs only when the bundle closes, so
each Python worker holds all the outputs of its partition until then: memory grows with the corpus.
A stateful stage is translated differently: its input is grouped by key and each key group is one
bundle. ``BoundedBundles`` keys the elements by a bucket (a stable hash of a key the caller names,
modulo a bucket count sized on the input) and passes them through a DoFn that declares a state it
never uses. The stages fused after it then run one bucket per bundle, and a worker holds one bucket's
outputs at a time. The elements do not change: what comes out is what went in, each once (figures:
docs/SCALING.md, "Bounded bundles").

``JoinInBuckets`` is ``beam.CoGroupByKey`` for the same runners: a stage after a CoGroupByKey is
stateless and runs a whole partition per bundle, so a join whose output is the records themselves
(dedup's decisions meeting their records) would hold its partition's outputs. It groups by bucket in a
stateful DoFn instead and emits, once a bucket's input is complete (an end-of-window timer), the same
``(key, {tag: [values]})`` elements as CoGroupByKey, a bucket per bundle.

On a runner that runs bundles of its own size (the DirectRunner) both are plain key-and-group
shuffles that ``beam.Reshuffle`` and ``beam.CoGroupByKey`` do more cheaply there: callers use them on
portable runners only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import apache_beam as beam
from apache_beam.coders import FastPrimitivesCoder, VarIntCoder
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import GlobalWindow

# Input bytes per bucket: a worker's share of a stage's outputs grows to a few times this.
BUCKET_BYTES = 8_000_000
# Buckets when the input's size is not known before the run (remote patterns).
DEFAULT_BUCKETS = 1024
MAX_BUCKETS = 1 << 16


def bucket_count(input_bytes: int | None, parallelism: int = 1) -> int:
    """Buckets for ``input_bytes`` of input: one per :data:`BUCKET_BYTES`, at least two per worker."""
    if input_bytes is None:
        return DEFAULT_BUCKETS
    return max(2 * max(1, parallelism), min(MAX_BUCKETS, -(-input_bytes // BUCKET_BYTES)))


def bucket_of(key: str, n: int) -> int:
    """A stable bucket in ``[0, n)`` for ``key`` (the same on every worker and every run; the writer's
    output shards are these buckets of the doc_id)."""
    return int(hashlib.blake2b(key.encode(), digest_size=8).hexdigest(), 16) % n


class _PassThroughFn(beam.DoFn):
    """(bucket, element) → element. The state is declared, never read or written: it is what makes a
    portable runner group the input by bucket and run each bucket as its own bundle."""

    UNUSED = ReadModifyWriteStateSpec("unused", VarIntCoder())

    def process(self, kv, unused=beam.DoFn.StateParam(UNUSED)):  # noqa: B008 - Beam's declaration idiom
        yield kv[1]


class KeyedBundles(beam.PTransform):
    """(bucket, element) pairs → the elements, a bucket per bundle (:class:`BoundedBundles` for elements
    that its caller has keyed already)."""

    def expand(self, pcoll):
        return pcoll | "OneBundlePerBucket" >> beam.ParDo(_PassThroughFn())


class BoundedBundles(beam.PTransform):
    """Elements → the same elements, regrouped into ``buckets`` bundles by ``bucket_of(key(element))``."""

    def __init__(self, key: Callable[[object], str], buckets: int):
        super().__init__()
        self.key = key
        self.buckets = buckets

    def expand(self, pcoll):
        key, n = self.key, self.buckets
        return (pcoll
                | "ByBucket" >> beam.Map(lambda e: (bucket_of(key(e), n), e)).with_output_types(tuple[int, Any])
                | "OneBundlePerBucket" >> beam.ParDo(_PassThroughFn()))


class BucketBagFn(beam.DoFn):
    """(bucket, item) → what :meth:`complete` makes of the bucket's items, once its input is all in: a
    bag state per bucket, emptied by an end-of-window timer (a bucket per bundle on a portable runner)."""

    ITEMS = BagStateSpec("items", FastPrimitivesCoder())
    COMPLETE = TimerSpec("complete", TimeDomain.WATERMARK)

    def start_bundle(self):
        self._timer_set: set[int] = set()  # buckets whose timer this bundle has set (setting it again is a no-op)

    def process(self, kv, items=beam.DoFn.StateParam(ITEMS),  # noqa: B008 - Beam's declaration idiom
                complete=beam.DoFn.TimerParam(COMPLETE)):  # noqa: B008
        bucket, item = kv
        items.add(item)
        if bucket not in self._timer_set:
            complete.set(GlobalWindow().max_timestamp())
            self._timer_set.add(bucket)

    @on_timer(COMPLETE)
    def _completed(self, items=beam.DoFn.StateParam(ITEMS)):  # noqa: B008
        yield from self.complete(items.read())
        items.clear()

    def complete(self, items):
        """The outputs for one bucket's ``items`` (an iterable read once)."""
        raise NotImplementedError


class _JoinInBucketFn(BucketBagFn):
    """(bucket, (tag, key, value)) → (key, {tag: [values]}) for every key of the bucket, when the
    bucket's input is complete."""

    def __init__(self, tags: tuple[str, ...]):
        self.tags = tags

    def complete(self, items):
        by_key: dict = {}
        for tag, key, value in items:
            group = by_key.get(key)
            if group is None:
                group = by_key[key] = {t: [] for t in self.tags}
            group[tag].append(value)
        yield from by_key.items()


class JoinInBuckets(beam.PTransform):
    """{tag: PCollection of (str key, value)} → (key, {tag: [values]}), as ``beam.CoGroupByKey``, grouped
    ``buckets`` ways so that a portable runner runs what follows one bucket per bundle."""

    def __init__(self, buckets: int):
        super().__init__()
        self.buckets = buckets

    def expand(self, tagged: dict):
        n, tags = self.buckets, tuple(tagged)

        def item(kv, tag):
            return bucket_of(kv[0], n), (tag, kv[0], kv[1])

        parts = [pc | f"Tag{tag}" >> beam.Map(item, tag).with_output_types(tuple[int, Any])
                 for tag, pc in tagged.items()]
        return (parts | "Flatten" >> beam.Flatten()
                | "Join" >> beam.ParDo(_JoinInBucketFn(tags)))
