"""``DedupNearDuplicates``: exact then near-duplicate removal, with no single-machine step.

Graph (every step keyed, so no worker ever holds the corpus or all its signatures):

1. ``Sketch`` (batched, vectorised): dedup key, ``content_hash``, shingle hash set, MinHash signature.
2. ``Exact``: group by content_hash; the best-ranked record of each group stands for it.
3. ``Candidates``: LSH bands of the group representatives (GroupByKey on (band, band digest)),
   candidate pairs inside each bucket.
4. ``Verify``: exact Jaccard of the two shingle sets (one keyed join brings each record's set to
   its pairs, a group by pair brings the two together); a pair is an edge only at or above
   ``dedup.threshold``. Shingle sets travel nowhere else, except those of records on a candidate
   pair, to the Jaccard-to-kept step (6).
5. ``Components``: ``dedup.max_rounds`` unrolled rounds of large-star / small-star over the edges,
   then a convergence check (counter ``cc_not_converged`` must stay 0); node → component minimum.
6. ``Representatives``: per component, the record kept by the rank rule (``dedup.keep``) — members
   travel as (id, rank, weight), never with their sets — then, for clusters of two or more, the
   kept record's set joins each member and each member's exact Jaccard to it is computed.
7. ``Decide``: every record joins its decision: kept (cluster id/size), ``exact_duplicate`` or
   ``near_duplicate`` (``dup_of`` = the kept record, ``dup_jaccard`` = exact Jaccard to it).

Outputs: ``kept``, ``rejected``, ``errors``. Counters (namespace ``dedup``): seen, kept,
dropped:exact_duplicate, dropped:near_duplicate, error:<type>, candidate_pairs, verified_pairs,
cc_not_converged. Config: ``dedup.*``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.pvalue import TaggedOutput
from refinery.schemas.reasons import RejectReason, Stage
from refinery.transforms.beam.stage import (
    ERRORS,
    KEPT,
    REJECTED,
    BusyClock,
    Counters,
    Rejection,
    error_record,
    rejected_record,
)
from refinery.transforms.dedup import (
    band_digests,
    candidate_pairs,
    content_hash,
    dedup_normalise,
    has_shingles,
    large_star,
    lsh_params,
    rank_key,
    sketch_batch,
    small_star,
)
from refinery.transforms.minhash import jaccard_sets as jaccard

NS = Stage.DEDUP.value


class NoDecision(RuntimeError):
    """A record reached the end of dedup without a decision (a lost element upstream); it goes to errors/.
    Its type names the ``error:NoDecision`` counter and the error row alike, so they reconcile."""


def _arr(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.uint32)


class _SketchFn(beam.DoFn):
    """Batch of records → (doc_id, record) on main, (doc_id, sketch) on 'sketch', errors."""

    def __init__(self, cfg):
        self.cfg = cfg

    def setup(self):
        self._counters = Counters(NS)
        self._clock = BusyClock(NS)

    def finish_bundle(self):
        self._clock.flush()

    def process(self, batch):
        t0 = time.perf_counter()
        d = self.cfg.dedup
        good, norms = [], []
        for rec in batch:
            self._counters.inc("seen")
            try:
                norms.append(dedup_normalise(rec["text"], d.fold_chinese_variants))
                good.append(rec)
            except Exception as exc:  # noqa: BLE001
                self._counters.inc(f"error:{type(exc).__name__}")
                yield TaggedOutput(ERRORS, error_record(rec, Stage.DEDUP, exc))
        if not good:
            return
        sets, sigs = sketch_batch(norms, d) if d.near else ([np.zeros(0, np.uint32)] * len(good), None)
        out = []
        for i, (rec, norm) in enumerate(zip(good, norms)):
            rec = dict(rec)
            rec["content_hash"] = content_hash(norm)
            quality = rec.get("quality_score")
            sketch = {
                "hash": rec["content_hash"] if d.exact else rec["doc_id"],
                "rank": rank_key(d.keep, rec["doc_id"], rec.get("n_chars") or len(rec["text"]), quality),
                "set": sets[i].tobytes(),
                "sig": sigs[i].tobytes() if sigs is not None else b"",
            }
            out.append((rec, sketch))
        self._clock.add(time.perf_counter() - t0)
        for rec, sketch in out:
            yield rec["doc_id"], rec
            yield TaggedOutput("sketch", (rec["doc_id"], sketch))


def _exact_groups(element):
    """(content hash, [(doc_id, rank, sig)]) → ('assign', (doc_id, group rep)) and (rep, (rank, weight, sig))."""
    _h, members = element
    members = sorted(members, key=lambda m: m[1])
    rep_id, rank, sig = members[0]
    for doc_id, _r, _s in members:
        yield TaggedOutput("assign", (doc_id, rep_id))
    yield rep_id, (rank, len(members), sig)


class _BandsFn(beam.DoFn):
    """Batch of (doc_id, (rank, weight, sig)) → ((band, shard), [(digest, doc_id), ...]).

    Band digests are computed for the whole batch at once, and a batch sends one element per
    (band, digest shard) rather than one per (document, band): ~16x fewer elements to shuffle. The
    LSH buckets themselves are unchanged (a bucket is one digest of one band, inside its shard)."""

    def __init__(self, bands: int, rows: int, shards: int):
        self.bands, self.rows, self.shards = bands, rows, shards

    def process(self, batch):
        ids = [doc_id for doc_id, _v in batch]
        sigs = np.stack([_arr(v[2]) for _doc, v in batch])
        digests = band_digests(sigs, self.bands, self.rows)
        ok = has_shingles(sigs)
        out: dict[tuple[int, int], list] = {}
        shard_of = (digests % np.uint64(self.shards)).astype(np.int64)
        for i in np.flatnonzero(ok).tolist():
            row, shards = digests[i].tolist(), shard_of[i].tolist()
            for band in range(self.bands):
                out.setdefault((band, shards[band]), []).append((row[band], ids[i]))
        yield from out.items()


class _PairsFn(beam.DoFn):
    """((band, shard), [[(digest, doc_id), ...], ...]) → candidate pairs of every bucket (same digest)."""

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element):
        _key, lists = element
        buckets: dict[int, list[str]] = {}
        for entries in lists:
            for digest, doc_id in entries:
                buckets.setdefault(digest, []).append(doc_id)
        n = 0
        for members in buckets.values():
            if len(members) > 1:
                pairs = candidate_pairs(members)
                n += len(pairs)
                yield from pairs
        if n:
            self._counters.inc("candidate_pairs", n)


def _pair_ends(pair):
    yield pair[0], pair
    yield pair[1], pair


class _AttachSetsFn(beam.DoFn):
    """(doc_id, {'pair': [pairs], 'set': [set]}) → (pair, set) per pair; ('node_set', (doc_id, set)) once."""

    def process(self, element) -> Iterable[tuple[Any, Any]]:
        doc_id, g = element
        pairs = list(g["pair"])
        sets = list(g["set"])
        if not pairs or not sets:
            return
        for pair in pairs:
            yield pair, sets[0]
        yield TaggedOutput("node_set", (doc_id, sets[0]))


class _VerifyFn(beam.DoFn):
    """((a, b), [a_set, b_set]) → verified edge (a, b) when exact Jaccard >= threshold."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element):
        pair, sets = element
        sets = list(sets)
        if len(sets) != 2:
            return
        if jaccard(_arr(sets[0]), _arr(sets[1])) >= self.threshold:
            self._counters.inc("verified_pairs")
            yield pair


def _both_ways(edge):
    a, b = edge
    yield a, b
    yield b, a


def _large(element):
    node, nbs = element
    yield from large_star(node, set(nbs))


def _small(element):
    node, nbs = element
    yield from small_star(node, set(nbs))


class _ConnectedComponents(beam.PTransform):
    """Edges (a, b) → (node, component minimum) for every node on an edge."""

    def __init__(self, max_rounds: int):
        super().__init__()
        self.max_rounds = max_rounds

    def expand(self, edges):
        for r in range(self.max_rounds):
            edges = (
                edges
                | f"LargeOut{r}" >> beam.FlatMap(_both_ways)
                | f"LargeGroup{r}" >> beam.GroupByKey()
                | f"LargeStar{r}" >> beam.FlatMap(_large)
                | f"SmallOut{r}" >> beam.FlatMap(_both_ways)
                | f"SmallGroup{r}" >> beam.GroupByKey()
                | f"SmallStar{r}" >> beam.FlatMap(_small)
            )
        # Converged when one more large-star round changes nothing.
        check = (
            edges
            | "CheckOut" >> beam.FlatMap(_both_ways)
            | "CheckGroup" >> beam.GroupByKey()
            | "CheckStar" >> beam.FlatMap(_large)
        )
        norm = lambda e: (min(e), max(e))  # noqa: E731
        (
            {"a": edges | "NormA" >> beam.Map(lambda e: (norm(e), 1)),
             "b": check | "NormB" >> beam.Map(lambda e: (norm(e), 1))}
            | "CompareRounds" >> beam.CoGroupByKey()
            | "CountChanges" >> beam.ParDo(_CountNotConverged())
        )
        return (
            edges
            | "LabelOut" >> beam.FlatMap(lambda e: [(e[0], min(e)), (e[1], min(e))])
            | "Label" >> beam.CombinePerKey(min)
        )


class _CountNotConverged(beam.DoFn):
    def setup(self):
        self._counters = Counters(NS)

    def process(self, element):
        _edge, g = element
        if bool(list(g["a"])) != bool(list(g["b"])):
            self._counters.inc("cc_not_converged")
        return []


def _component_members(element):
    """(group rep, {'label': [l], 'rep': [(rank, weight, sig)]}) → (label or self, (doc_id, rank, weight))."""
    doc_id, g = element
    reps = list(g["rep"])
    if not reps:
        return
    labels = list(g["label"])
    rank, weight, _sig = reps[0]
    yield (labels[0] if labels else doc_id), (doc_id, tuple(rank), weight)


def _choose_rep(element):
    """(label, members) → 'single': (doc_id, (doc_id, weight, None)) for a cluster of one, else
    (kept doc_id, (member, cluster size)) for every member. Members are small (id, rank, weight): a
    cluster of a million documents is a few tens of MB here, and no shingle set travels with it."""
    _label, members = element
    best = None
    size = n = 0
    for doc_id, rank, weight in members:
        size += weight
        n += 1
        if best is None or rank < best[1]:
            best = (doc_id, rank)
    kept = best[0]
    if n == 1:
        yield TaggedOutput("single", (kept, (kept, size, None)))
        return
    for doc_id, _r, _w in members:
        yield kept, (doc_id, size)


class _AttachKeptSetFn(beam.DoFn):
    """(kept, {'m': [(member, size)], 'set': [kept set]}) → (member, (kept, size, kept set or None))."""

    def process(self, element) -> Iterable[tuple[Any, Any]]:
        kept, g = element
        sets = list(g["set"])
        kept_set = sets[0] if sets else None
        for member, size in g["m"]:
            yield member, (kept, size, None if member == kept else kept_set)


def _final_for_member(element):
    """(member, {'f': [(kept, size, kept set)], 'set': [own set]}) → (member, (kept, size, exact Jaccard))."""
    doc_id, g = element
    finals = list(g["f"])
    if not finals:
        return
    kept, size, kept_set = finals[0]
    own = list(g["set"])
    if doc_id == kept or kept_set is None or not own:
        yield doc_id, (kept, size, None)
        return
    yield doc_id, (kept, size, round(jaccard(_arr(own[0]), _arr(kept_set)), 4))


def _decisions(element):
    """(group rep, {'assign': [doc_id...], 'final': [(kept, size, j)]}) → (doc_id, decision)."""
    group_rep, g = element
    finals = list(g["final"])
    if not finals:  # no decision: _ApplyFn turns the missing decision into an errors/ record
        return
    kept, size, j = finals[0]
    for doc_id in g["assign"]:
        if doc_id == kept:
            yield doc_id, ("kept", kept, size, None)
        elif doc_id == group_rep:
            yield doc_id, (RejectReason.NEAR_DUPLICATE.value, kept, size, j)
        else:
            yield doc_id, (RejectReason.EXACT_DUPLICATE.value, kept, size, 1.0 if j is None else j)


class _ApplyFn(beam.DoFn):
    def setup(self):
        self._counters = Counters(NS)

    def process(self, element):
        doc_id, g = element
        recs = list(g["rec"])
        decisions = list(g["decision"])
        for rec in recs:
            rec = dict(rec)
            if not decisions:  # cannot happen unless a step lost it: never drop silently
                self._counters.inc("error:NoDecision")
                yield TaggedOutput(ERRORS, error_record(rec, Stage.DEDUP, NoDecision("no dedup decision reached")))
                continue
            what, kept, size, j = decisions[0]
            rec["dup_cluster_id"] = kept
            rec["dup_cluster_size"] = size
            rec["stages"] = list(rec.get("stages") or []) + [Stage.DEDUP.value]
            if what == "kept":
                self._counters.inc("kept")
                yield rec
                continue
            rec["dup_of"] = kept
            rec["dup_jaccard"] = j
            reason = RejectReason(what)
            self._counters.inc(f"dropped:{reason.value}")
            detail = (f"same content_hash as {kept}" if reason is RejectReason.EXACT_DUPLICATE
                      else f"jaccard={j:.3f} >= dedup.threshold with kept record {kept}")
            yield TaggedOutput(REJECTED, rejected_record(rec, Stage.DEDUP, Rejection(reason, detail)))


class DedupNearDuplicates(beam.PTransform):
    """Records → kept (one per duplicate cluster) / rejected (exact_duplicate, near_duplicate) / errors."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def expand(self, records):
        d = self.cfg.dedup
        sk = (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=32, max_batch_size=256)
            | "Sketch" >> beam.ParDo(_SketchFn(self.cfg)).with_outputs("sketch", ERRORS, main="rec")
        )
        # The shingle sets (the bulky part of a sketch) travel only where a comparison needs them:
        # once to the candidate pairs, and for the records on a verified edge to their cluster.
        sets = sk["sketch"] | "Sets" >> beam.Map(lambda kv: (kv[0], kv[1]["set"]))
        ex = (
            sk["sketch"]
            | "ByContentHash" >> beam.Map(lambda kv: (kv[1]["hash"], (kv[0], kv[1]["rank"], kv[1]["sig"])))
            | "ExactGroups" >> beam.GroupByKey()
            | "ExactReps" >> beam.FlatMap(_exact_groups).with_outputs("assign", main="reps")
        )
        reps = ex["reps"]  # (doc_id, (rank, weight, sig)) — one per exact group
        if d.near:
            bands, rows = lsh_params(d.threshold, d.num_perm)
            pairs = (
                reps
                | "BatchReps" >> beam.BatchElements(min_batch_size=64, max_batch_size=1024)
                | "Bands" >> beam.ParDo(_BandsFn(bands, rows, d.band_shards))
                | "Buckets" >> beam.GroupByKey()
                | "Pairs" >> beam.ParDo(_PairsFn())
                | "DistinctPairs" >> beam.Distinct()
            )
            with_sets = ({"pair": pairs | "PairEnds" >> beam.FlatMap(_pair_ends), "set": sets}
                         | "JoinSets" >> beam.CoGroupByKey()
                         | "AttachSets" >> beam.ParDo(_AttachSetsFn()).with_outputs("node_set", main="pairs"))
            edges = (with_sets["pairs"] | "PairSets" >> beam.GroupByKey()
                     | "Verify" >> beam.ParDo(_VerifyFn(d.threshold)))
            labels = edges | "Components" >> _ConnectedComponents(d.max_rounds)
            node_sets = with_sets["node_set"]
        else:
            labels = reps | "NoLabels" >> beam.FlatMap(lambda kv: [])
            node_sets = reps | "NoSets" >> beam.FlatMap(lambda kv: [])
        chosen = ({"label": labels, "rep": reps} | "JoinLabels" >> beam.CoGroupByKey()
                  | "Members" >> beam.FlatMap(_component_members)
                  | "GroupComponents" >> beam.GroupByKey()
                  | "ChooseRep" >> beam.FlatMap(_choose_rep).with_outputs("single", main="members"))
        # Clusters of two or more: the kept record's set goes to each member (keyed by the kept record),
        # then each member's own set joins it; only records on a verified edge have sets here.
        with_kept_set = ({"m": chosen["members"], "set": node_sets} | "JoinKeptSet" >> beam.CoGroupByKey()
                         | "AttachKeptSet" >> beam.ParDo(_AttachKeptSetFn()))
        multi = ({"f": with_kept_set, "set": node_sets} | "JoinOwnSet" >> beam.CoGroupByKey()
                 | "Final" >> beam.FlatMap(_final_for_member))
        finals = (chosen["single"], multi) | "AllFinals" >> beam.Flatten()
        assign_by_group = ex["assign"] | "ByGroupRep" >> beam.Map(lambda kv: (kv[1], kv[0]))
        decisions = ({"assign": assign_by_group, "final": finals} | "JoinDecisions" >> beam.CoGroupByKey()
                     | "Decisions" >> beam.FlatMap(_decisions))
        out = ({"rec": sk["rec"], "decision": decisions} | "JoinRecords" >> beam.CoGroupByKey()
               | "Apply" >> beam.ParDo(_ApplyFn()).with_outputs(REJECTED, ERRORS, main=KEPT))
        errors = (sk[ERRORS], out[ERRORS]) | "DedupErrors" >> beam.Flatten()
        return {KEPT: out[KEPT], REJECTED: out[REJECTED], ERRORS: errors}
