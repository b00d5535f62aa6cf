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
6. ``ChainSafe``: ``dedup.chain_rounds`` unrolled rounds per component: the best-ranked undecided
   member (``dedup.keep``) is kept; the kept record's set joins each undecided member (members
   travel as (id, rank, weight), never with their sets, and no step holds a component's members
   with their sets) and a member whose exact Jaccard to it is >= ``dedup.threshold`` is removed
   naming it; the others stay undecided for the next round; after the last round they are kept. A
   record is thus never removed as a near duplicate of a record it does not resemble, even when a
   chain A ~ B ~ C put both in one component.
7. ``Decide``: every record joins its decision: kept, ``exact_duplicate`` or ``near_duplicate``
   (``dup_of`` = the kept record, ``dup_jaccard`` = exact Jaccard to it; ``dup_cluster_id`` /
   ``dup_cluster_size``: the component's best-ranked record and its size).

Outputs: ``kept``, ``rejected``, ``errors``. Counters (namespace ``dedup``): seen, kept,
dropped:exact_duplicate, dropped:near_duplicate, error:<type>, candidate_pairs, verified_pairs,
cc_not_converged, chain_kept (records kept that the transitive component would have removed),
chain_unresolved (of those, kept because the rounds ran out), chain_set_missing (kept because a
shingle set did not reach the comparison: a bug if ever non-zero). Config: ``dedup.*``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindows

from refinery.schemas.reasons import RejectReason, Stage
from refinery.transforms.beam.bundles import JoinInBuckets, bucket_of
from refinery.transforms.beam.dedup_elements import (
    FINAL_KEPT,
    FINAL_NEAR,
    PRIOR_EXACT,
    Decision,
    ExactMember,
    Final,
    GroupRep,
    JudgeAgainst,
    Member,
    Pair,
    PriorMatch,
    Sketch,
    ToJudge,
    rebuild,
    wire,
)
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
from refinery.transforms.beam.staging import BundleFiles, StageRecords, read_staged
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
    """Batch of records → (doc_id, record) on main, (doc_id, :class:`Sketch`) on 'sketch', errors."""

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
        for i, (rec, norm) in enumerate(zip(good, norms, strict=True)):
            rec = dict(rec)
            rec["content_hash"] = content_hash(norm)
            quality = rec.get("quality_score")
            sketch = Sketch(
                exact_key=rec["content_hash"] if d.exact else rec["doc_id"],
                rank=rank_key(d.keep, rec["doc_id"], rec.get("n_chars") or len(rec["text"]), quality),
                shingles=sets[i].tobytes(),
                signature=sigs[i].tobytes() if sigs is not None else b"",
            )
            out.append((rec, sketch))
        self._clock.add(time.perf_counter() - t0)
        for rec, sketch in out:
            yield rec["doc_id"], rec
            yield TaggedOutput("sketch", (rec["doc_id"], wire(sketch)))


def by_exact_key(kv) -> tuple[str, tuple]:
    """(doc_id, Sketch) → (exact key, :class:`ExactMember`)."""
    doc_id, sketch = kv[0], rebuild(Sketch, kv[1])
    return sketch.exact_key, wire(ExactMember(doc_id, sketch.rank, sketch.signature))


def shingles_of(kv) -> tuple[str, bytes]:
    """(doc_id, Sketch) → (doc_id, shingle set)."""
    return kv[0], rebuild(Sketch, kv[1]).shingles


def exact_groups(element):
    """(exact key, [ExactMember]) → 'assign' (doc_id, group rep) per member; (rep, :class:`GroupRep`)."""
    key, members = element
    members = sorted((rebuild(ExactMember, m) for m in members), key=lambda m: m.rank)
    rep = members[0]
    for m in members:
        yield TaggedOutput("assign", (m.doc_id, rep.doc_id))
    yield rep.doc_id, wire(GroupRep(rep.rank, len(members), rep.signature, key))


class _BandsFn(beam.DoFn):
    """Batch of (doc_id, GroupRep) → ((band, shard), [(digest, doc_id), ...]).

    Band digests are computed for the whole batch at once, and a batch sends one element per
    (band, digest shard) rather than one per (document, band): ~16x fewer elements to shuffle. The
    LSH buckets themselves are unchanged (a bucket is one digest of one band, inside its shard)."""

    def __init__(self, bands: int, rows: int, shards: int):
        self.bands, self.rows, self.shards = bands, rows, shards

    def process(self, batch):
        ids = [doc_id for doc_id, _v in batch]
        sigs = np.stack([_arr(rebuild(GroupRep, v).signature) for _doc, v in batch])
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


def pair_ends(pair: Pair):
    """A candidate pair → (each end, pair): the pair meets each end's shingle set."""
    yield pair[0], pair
    yield pair[1], pair


class _AttachSetsFn(beam.DoFn):
    """(doc_id, {'pairs': [Pair], 'shingles': [set]}) → (pair, set) per pair it is on; 'node_set' (doc_id,
    set) once, for the Jaccard-to-kept step."""

    def process(self, element) -> Iterable[tuple[Any, Any]]:
        doc_id, g = element
        pairs = list(g["pairs"])
        sets = list(g["shingles"])
        if not pairs or not sets:
            return
        for pair in pairs:
            yield pair, sets[0]
        yield TaggedOutput("node_set", (doc_id, sets[0]))


class _VerifyFn(beam.DoFn):
    """(pair, [a_set, b_set]) → verified edge (a, b) when exact Jaccard >= threshold."""

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


def both_ways(edge: Pair):
    """An edge (a, b) → (a, b) and (b, a): each node meets its neighbours."""
    a, b = edge
    yield a, b
    yield b, a


def large_star_step(element):
    """(node, neighbours) → the large-star edges of the node."""
    node, nbs = element
    yield from large_star(node, set(nbs))


def small_star_step(element):
    """(node, neighbours) → the small-star edges of the node."""
    node, nbs = element
    yield from small_star(node, set(nbs))


def normalised_edge(edge: Pair) -> tuple[Pair, int]:
    """An edge, smaller end first, as a key to compare two rounds' edge sets."""
    return (min(edge), max(edge)), 1


def edge_labels(edge: Pair):
    """An edge → (each end, the smaller end): the component minimum is the least of these."""
    low = min(edge)
    yield edge[0], low
    yield edge[1], low


class _ConnectedComponents(beam.PTransform):
    """Edges (a, b) → (node, component minimum) for every node on an edge."""

    def __init__(self, max_rounds: int):
        super().__init__()
        self.max_rounds = max_rounds

    def expand(self, edges):
        for r in range(self.max_rounds):
            edges = (
                edges
                | f"LargeOut{r}" >> beam.FlatMap(both_ways)
                | f"LargeGroup{r}" >> beam.GroupByKey()
                | f"LargeStar{r}" >> beam.FlatMap(large_star_step)
                | f"SmallOut{r}" >> beam.FlatMap(both_ways)
                | f"SmallGroup{r}" >> beam.GroupByKey()
                | f"SmallStar{r}" >> beam.FlatMap(small_star_step)
            )
        # Converged when one more large-star round changes nothing.
        check = (
            edges
            | "CheckOut" >> beam.FlatMap(both_ways)
            | "CheckGroup" >> beam.GroupByKey()
            | "CheckStar" >> beam.FlatMap(large_star_step)
        )
        (
            {"last_round": edges | "NormA" >> beam.Map(normalised_edge),
             "one_more": check | "NormB" >> beam.Map(normalised_edge)}
            | "CompareRounds" >> beam.CoGroupByKey()
            | "CountChanges" >> beam.ParDo(_CountNotConverged())
        )
        return (
            edges
            | "LabelOut" >> beam.FlatMap(edge_labels)
            | "Label" >> beam.CombinePerKey(min)
        )


class _CountNotConverged(beam.DoFn):
    """(edge, {'last_round', 'one_more'}) → nothing; counts an edge found by only one of the two rounds."""

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element):
        _edge, g = element
        if bool(list(g["last_round"])) != bool(list(g["one_more"])):
            self._counters.inc("cc_not_converged")
        return []


def component_members(element):
    """(group rep, {'label': [component label], 'rep': [GroupRep]}) → (label, or the rep itself when it
    is on no edge, :class:`Member`)."""
    doc_id, g = element
    reps = list(g["rep"])
    if not reps:
        return
    labels = list(g["label"])
    rep = rebuild(GroupRep, reps[0])
    yield (labels[0] if labels else doc_id), wire(Member(doc_id, tuple(rep.rank), rep.weight))


class _ChooseFn(beam.DoFn):
    """One chain-safe round, step 1: (label, [Member]) → the best-ranked member is kept ('final': its
    :class:`Final`); every other member goes to it, keyed by the kept record: (kept, :class:`ToJudge`).
    Members are small (no shingle set travels with them): a cluster of a million documents is a few
    tens of MB here.

    Round 0 also fixes the cluster's identity (its best-ranked record) and size (all its records,
    exact copies included); a cluster of one is simply kept."""

    def __init__(self, first: bool):
        self.first = first

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element) -> Iterable[Any]:
        label, members = element
        members = sorted((rebuild(Member, m) for m in members), key=lambda m: (m.rank, m.doc_id))
        best = members[0]
        if self.first:
            cid, size = best.doc_id, sum(m.weight for m in members)
        else:
            cid, size = best.cluster_id, best.cluster_size
            self._counters.inc("chain_kept")  # a transitive cluster would have removed it
        yield TaggedOutput("final", (best.doc_id, wire(Final(FINAL_KEPT, cid, size))))
        for m in members[1:]:
            yield best.doc_id, wire(ToJudge(m.doc_id, m.rank, label, cid, size))


class _AttachKeptSetFn(beam.DoFn):
    """(kept, {'to_judge': [ToJudge], 'kept_shingles': [set]}) → (member, :class:`JudgeAgainst`)."""

    def process(self, element) -> Iterable[tuple[Any, Any]]:
        kept, g = element
        sets = list(g["kept_shingles"])
        kept_set = sets[0] if sets else None
        for member in g["to_judge"]:
            yield rebuild(ToJudge, member).doc_id, wire(JudgeAgainst(kept, kept_set, member))


class _JudgeFn(beam.DoFn):
    """(member, {'against': [JudgeAgainst], 'own_shingles': [set]}) → 'final' (member, near duplicate of
    the kept record) when their exact Jaccard is >= threshold; else (label, :class:`Member`) undecided,
    for the next round (main output)."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element) -> Iterable[Any]:
        doc_id, g = element
        against = list(g["against"])
        if not against:
            return
        judge = rebuild(JudgeAgainst, against[0])
        m = rebuild(ToJudge, judge.member)
        own = list(g["own_shingles"])
        if own and judge.kept_shingles is not None:
            j = jaccard(_arr(own[0]), _arr(judge.kept_shingles))
        else:  # every record on a verified edge has a node set: a missing one is a bug, kept and counted
            self._counters.inc("chain_set_missing")
            j = 0.0
        if j >= self.threshold:
            yield TaggedOutput("final", (doc_id, wire(Final(FINAL_NEAR, m.cluster_id, m.cluster_size,
                                                            judge.kept_id, round(j, 4)))))
        else:
            yield m.label, wire(Member(doc_id, m.rank, 0, m.cluster_id, m.cluster_size))


class _KeepUndecidedFn(beam.DoFn):
    """Members still undecided after the last round are kept: a missed removal, never a false one."""

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element):
        m = rebuild(Member, element[1])
        self._counters.inc("chain_kept")
        self._counters.inc("chain_unresolved")
        yield m.doc_id, wire(Final(FINAL_KEPT, m.cluster_id, m.cluster_size))


class _StageSetsFn(beam.DoFn):
    """(doc_id, shingle set) → nothing per element; when the bundle ends, its sets are written to one
    staging file per bucket of doc_id and (bucket, path) is emitted for each file."""

    def __init__(self, folder: str, buckets: int, label: str = "sets"):
        self.folder, self.buckets, self.label = folder, buckets, label

    def start_bundle(self):
        self._files = BundleFiles(self.folder, self.label)

    def process(self, kv):
        self._files.add(bucket_of(kv[0], self.buckets), kv)
        return []

    def finish_bundle(self):
        for bucket_path in self._files.write():
            yield GlobalWindows.windowed_value(bucket_path)


class _WithStagedSetsFn(beam.DoFn):
    """(bucket, {'items': [(key, value)], 'files': [path]}) → (key, {tag: [values], set_tag: [its set]})
    for every key of the bucket's items, as a CoGroupByKey with the node sets gives, the sets read from
    the bucket's staging files."""

    def __init__(self, tag: str, set_tag: str):
        self.tag, self.set_tag = tag, set_tag

    def process(self, element):
        _bucket, g = element
        by_key: dict[str, list] = {}
        for key, value in g["items"]:
            by_key.setdefault(key, []).append(value)
        if not by_key:
            return
        sets = {}
        for path in sorted(g["files"]):
            for doc_id, shingles in read_staged(path):
                if doc_id in by_key:
                    sets[doc_id] = shingles
        for key in sorted(by_key):
            yield key, {self.tag: by_key[key], self.set_tag: [sets[key]] if key in sets else []}


def join_staged_sets(pcoll, set_files, buckets: int, tag: str, set_tag: str, label: str):
    """(key, value) → (key, {tag: [values], set_tag: [its set]}), as a CoGroupByKey of ``pcoll`` with the
    sets gives, the sets read from the staging files ``set_files`` ((bucket, path) from
    :class:`_StageSetsFn`) of each key's bucket: only the small (bucket, path) items cross the shuffle
    beside ``pcoll``, not the sets."""
    return ({"items": pcoll | f"{label}Bucket" >> beam.Map(lambda kv: (bucket_of(kv[0], buckets), kv)),
             "files": set_files}
            | label >> beam.CoGroupByKey()
            | f"{label}Read" >> beam.ParDo(_WithStagedSetsFn(tag, set_tag)))


class _ChainSafeDecisions(beam.PTransform):
    """(label, :class:`Member`) for every exact-group representative → (doc_id, :class:`Final`), status
    ``kept`` or ``near``.

    ``rounds`` unrolled rounds: the best-ranked undecided member of each cluster is kept, the undecided
    members whose exact Jaccard to it is >= threshold are removed naming it, the others stay undecided
    (they can only be removed as duplicates of a record kept in a later round, which they resemble).
    Same decisions as :func:`refinery.transforms.dedup.chain_safe_reference`."""

    def __init__(self, node_sets, threshold: float, rounds: int, set_files=None, buckets: int | None = None):
        """``set_files``: (bucket, path) of the node sets staged by :class:`_StageSetsFn` (portable
        runners): the rounds then read the sets from those files instead of joining ``node_sets``. Each
        round joins the sets twice; as CoGroupByKeys on one collection, Beam fuses the 2 x rounds steps
        that tag it into one stage, and Flink hands every consumer of that stage all of its outputs (the
        node sets ~24 x 24 times with 6 rounds: docs/SCALING.md, "Dedup at 1M documents")."""
        super().__init__()
        self.node_sets, self.threshold, self.rounds = node_sets, threshold, rounds
        self.set_files, self.buckets = set_files, buckets

    def _with_sets(self, pcoll, tag: str, set_tag: str, label: str):
        if self.set_files is None:
            return {tag: pcoll, set_tag: self.node_sets} | label >> beam.CoGroupByKey()
        return join_staged_sets(pcoll, self.set_files, self.buckets, tag, set_tag, label)

    def expand(self, members):
        pending = members
        finals = []
        for r in range(self.rounds):
            chosen = (pending | f"GroupUndecided{r}" >> beam.GroupByKey()
                      | f"ChooseKept{r}" >> beam.ParDo(_ChooseFn(first=r == 0)).with_outputs("final", main="m"))
            finals.append(chosen["final"])
            against = (self._with_sets(chosen["m"], "to_judge", "kept_shingles", f"JoinKeptSet{r}")
                       | f"AttachKeptSet{r}" >> beam.ParDo(_AttachKeptSetFn()))
            judged = (self._with_sets(against, "against", "own_shingles", f"JoinOwnSet{r}")
                      | f"Judge{r}" >> beam.ParDo(_JudgeFn(self.threshold)).with_outputs("final", main="undecided"))
            finals.append(judged["final"])
            pending = judged["undecided"]
        finals.append(pending | "KeepUndecided" >> beam.ParDo(_KeepUndecidedFn()))
        return finals | "AllChainFinals" >> beam.Flatten()


def record_decisions(element):
    """(group rep, {'assign': [doc_id, ...], 'final': [Final], 'sig': [its signature]}) → (doc_id,
    :class:`Decision`) for every record of the exact group; a kept one carries the signature."""
    group_rep, g = element
    finals = list(g["final"])
    if not finals:  # no decision: _ApplyFn turns the missing decision into an errors/ record
        return
    f = rebuild(Final, finals[0])
    exact, near = RejectReason.EXACT_DUPLICATE.value, RejectReason.NEAR_DUPLICATE.value
    for doc_id in g["assign"]:
        if doc_id == group_rep:
            if f.status == FINAL_KEPT:
                sigs = list(g.get("sig", ()))
                d = Decision(FINAL_KEPT, f.cluster_id, f.cluster_size, None, None, group_rep, None,
                             sigs[0] if sigs else b"")
            elif f.status == PRIOR_EXACT:
                d = Decision(exact, f.cluster_id, f.cluster_size, f.dup_of, 1.0, f.dup_of, f.prior_run)
            else:
                d = Decision(near, f.cluster_id, f.cluster_size, f.dup_of, f.jaccard, group_rep, f.prior_run)
        elif f.status == FINAL_KEPT:  # an exact copy of a kept record
            d = Decision(exact, f.cluster_id, f.cluster_size, group_rep, 1.0, group_rep, None)
        else:  # an exact copy of a removed duplicate: it names the kept record, as that one does
            d = Decision(exact, f.cluster_id, f.cluster_size, f.dup_of, f.jaccard,
                         f.dup_of if f.status == PRIOR_EXACT else group_rep, f.prior_run)
        yield doc_id, wire(d)


def reject_detail(reason: str, dup_of: str, j: float | None, group_rep: str, run: str | None = None) -> str:
    """What ``reject_detail`` says for a removed duplicate: true to what was compared. ``run``: the
    earlier run (``--dedup-against``) whose index holds ``dup_of``; its Jaccard is a MinHash estimate."""
    kept = f"record {dup_of} of earlier run {run}" if run else f"kept record {dup_of}"
    if reason == RejectReason.NEAR_DUPLICATE.value:
        how = "estimated jaccard" if run else "jaccard"
        return f"{how}={j:.3f} >= dedup.threshold with {kept}"
    if dup_of == group_rep:
        return f"same content_hash as {kept}"
    how = "estimated jaccard" if run else "jaccard"
    return f"same content_hash as {group_rep}, itself a near_duplicate ({how}={j:.3f}) of {kept}"


def split_prior(element) -> Iterable[Any]:
    """(rep, {'rep': [GroupRep], 'prior': [PriorMatch]}) → 'final' (rep, :class:`Final` naming the earlier
    run's record) when an earlier run holds its duplicate, else (rep, GroupRep) again."""
    doc_id, g = element
    reps = list(g["rep"])
    if not reps:
        return
    prior = list(g["prior"])
    if prior:
        p = rebuild(PriorMatch, prior[0])
        yield TaggedOutput("final", (doc_id, wire(Final(p.status, p.prior_id, None, p.prior_id, p.jaccard,
                                                         p.prior_run))))
    else:
        yield doc_id, reps[0]


class _ApplyFn(beam.DoFn):
    """(doc_id, {'rec', 'decision'}) → kept record (and its 'index' row) / rejected / errors."""

    def __init__(self, bands: int, rows: int):
        self.bands, self.rows = bands, rows

    def setup(self):
        self._counters = Counters(NS)

    def _index_row(self, rec, sig: bytes) -> dict:
        s = _arr(sig)
        bands = (band_digests(s[None, :], self.bands, self.rows)[0].tolist()
                 if s.size and has_shingles(s[None, :])[0] else [])
        return {"doc_id": rec["doc_id"], "lang": rec.get("lang"), "content_hash": rec["content_hash"],
                "bands": bands, "signature": s.tolist()}

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
            d = rebuild(Decision, decisions[0])
            rec["dup_cluster_id"] = d.cluster_id
            rec["dup_cluster_size"] = d.cluster_size
            rec["stages"] = list(rec.get("stages") or []) + [Stage.DEDUP.value]
            if d.outcome == FINAL_KEPT:
                self._counters.inc("kept")
                yield rec
                yield TaggedOutput("index", self._index_row(rec, d.signature or b""))
                continue
            if d.prior_run:
                self._counters.inc("against_earlier_runs")
            rec["dup_of"] = d.dup_of
            rec["dup_jaccard"] = d.jaccard
            reason = RejectReason(d.outcome)
            self._counters.inc(f"dropped:{reason.value}")
            yield TaggedOutput(REJECTED, rejected_record(rec, Stage.DEDUP, Rejection(
                reason, reject_detail(reason.value, d.dup_of, d.jaccard, d.group_rep, d.prior_run))))


def no_elements(_element) -> list:
    """Nothing: an empty collection of a step that is off."""
    return []


def group_rep_of(kv: tuple[str, str]) -> tuple[str, str]:
    """'assign' (doc_id, group rep) → (group rep, doc_id): the group's records meet its decision."""
    return kv[1], kv[0]


class DedupNearDuplicates(beam.PTransform):
    """Records → kept (one per duplicate cluster) / rejected (exact_duplicate, near_duplicate) / errors."""

    def __init__(self, cfg, local_clusters: bool = False, bounded_buckets: int | None = None,
                 staging: str | None = None):
        super().__init__()
        if staging is not None and bounded_buckets is None:
            raise ValueError("staged records need the bucket count they are staged by (bounded_buckets)")
        self.cfg = cfg
        # The records decided on are staged there and their stubs are returned
        # (refinery.transforms.beam.staging): kept and rejected come out as stubs.
        self.staging = staging
        self.local_clusters = local_clusters  # the cluster step in one worker (refinery.transforms.beam.dedup_local)
        # A portable runner: records meet their decisions in this many buckets, a bucket per bundle
        # (refinery.transforms.beam.bundles.JoinInBuckets), else in a CoGroupByKey.
        self.bounded_buckets = bounded_buckets

    def expand(self, records):
        from refinery.transforms.beam.dedup_index import rep_signature
        from refinery.transforms.beam.dedup_local import LocalChainSafe, LocalComponents

        d = self.cfg.dedup
        sk = (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=32, max_batch_size=256)
            | "Sketch" >> beam.ParDo(_SketchFn(self.cfg)).with_outputs("sketch", ERRORS, main="rec")
        )
        # The shingle sets (the bulky part of a sketch) travel only where a comparison needs them:
        # once to the candidate pairs, and for the records on a verified edge to their cluster.
        sets = sk["sketch"] | "Sets" >> beam.Map(shingles_of)
        ex = (
            sk["sketch"]
            | "ByContentHash" >> beam.Map(by_exact_key)
            | "ExactGroups" >> beam.GroupByKey()
            | "ExactReps" >> beam.FlatMap(exact_groups).with_outputs("assign", main="reps")
        )
        reps = ex["reps"]  # (doc_id, GroupRep) — one per exact group
        bands, rows = lsh_params(d.threshold, d.num_perm)
        prior_finals = []
        if d.against:
            # --dedup-against: a representative that duplicates an earlier run's record is decided here
            # (and its exact copies with it); only the others are deduplicated among this run's records.
            from refinery.transforms.beam.dedup_index import MatchPriors, prior_index_files, read_prior_index

            priors = read_prior_index(records.pipeline, prior_index_files(self.cfg))
            matched = reps | "MatchEarlierRuns" >> MatchPriors(priors, d.threshold, bands, rows, d.near)
            split = ({"rep": reps, "prior": matched} | "JoinEarlierMatches" >> beam.CoGroupByKey()
                     | "SplitEarlier" >> beam.FlatMap(split_prior).with_outputs("final", main="reps"))
            reps = split["reps"]
            prior_finals = [split["final"]]
        if d.near:
            pairs = (
                reps
                | "BatchReps" >> beam.BatchElements(min_batch_size=64, max_batch_size=1024)
                | "Bands" >> beam.ParDo(_BandsFn(bands, rows, d.band_shards))
                | "Buckets" >> beam.GroupByKey()
                | "Pairs" >> beam.ParDo(_PairsFn())
                | "DistinctPairs" >> beam.Distinct()
            )
            ends = pairs | "PairEnds" >> beam.FlatMap(pair_ends)
            if self.staging is not None:
                # The shingle sets leave the sketch stage through staging files: on Flink every consumer
                # of that stage reads a copy of all its outputs, and the sets are the largest of them.
                set_files = sets | "StageShingleSets" >> beam.ParDo(
                    _StageSetsFn(self.staging, self.bounded_buckets, "shingles"))
                ends_with_sets = join_staged_sets(ends, set_files, self.bounded_buckets, "pairs", "shingles",
                                                  "JoinSets")
            else:
                ends_with_sets = {"pairs": ends, "shingles": sets} | "JoinSets" >> beam.CoGroupByKey()
            with_sets = ends_with_sets | "AttachSets" >> beam.ParDo(_AttachSetsFn()).with_outputs(
                "node_set", main="pairs")
            edges = (with_sets["pairs"] | "PairSets" >> beam.GroupByKey()
                     | "Verify" >> beam.ParDo(_VerifyFn(d.threshold)))
            components = LocalComponents() if self.local_clusters else _ConnectedComponents(d.max_rounds)
            labels = edges | "Components" >> components
            node_sets = with_sets["node_set"]
        else:
            labels = reps | "NoLabels" >> beam.FlatMap(no_elements)
            node_sets = reps | "NoSets" >> beam.FlatMap(no_elements)
        members = ({"label": labels, "rep": reps} | "JoinLabels" >> beam.CoGroupByKey()
                   | "Members" >> beam.FlatMap(component_members))
        if self.local_clusters:
            chain_safe = LocalChainSafe(node_sets, d.threshold, d.chain_rounds)
        elif self.staging is not None:
            # Staged in a stage of their own: the stage that attaches the sets also gives the pairs their
            # sets, and each of the rounds' joins reading its set files would read a copy of those too.
            set_files = (node_sets | "SpreadNodeSets" >> beam.Reshuffle()
                         | "StageNodeSets" >> beam.ParDo(_StageSetsFn(self.staging, self.bounded_buckets)))
            chain_safe = _ChainSafeDecisions(node_sets, d.threshold, d.chain_rounds, set_files, self.bounded_buckets)
        else:
            chain_safe = _ChainSafeDecisions(node_sets, d.threshold, d.chain_rounds)
        finals = members | "ChainSafe" >> chain_safe
        if prior_finals:
            finals = [finals, *prior_finals] | "WithEarlierFinals" >> beam.Flatten()
        assign_by_group = ex["assign"] | "ByGroupRep" >> beam.Map(group_rep_of)
        # A kept record's signature (its index row) comes with its decision, from its exact group's
        # representative: not from the sketch stage, whose every consumer reads a copy of all its outputs
        # on Flink.
        rep_sigs = ex["reps"] | "RepSignatures" >> beam.Map(rep_signature)
        decisions = ({"assign": assign_by_group, "final": finals, "sig": rep_sigs}
                     | "JoinDecisions" >> beam.CoGroupByKey()
                     | "Decisions" >> beam.FlatMap(record_decisions))
        recs = sk["rec"]
        if self.staging is not None:
            recs = (recs | "Records" >> beam.Values()
                    | "StageRecords" >> StageRecords(self.staging, self.bounded_buckets, "dedup")
                    | "StubByDocId" >> beam.Map(lambda stub: (stub["doc_id"], stub)))
        join = beam.CoGroupByKey() if self.bounded_buckets is None else JoinInBuckets(self.bounded_buckets)
        out = ({"rec": recs, "decision": decisions} | "JoinRecords" >> join
               | "Apply" >> beam.ParDo(_ApplyFn(bands, rows)).with_outputs(REJECTED, ERRORS, "index", main=KEPT))
        errors = (sk[ERRORS], out[ERRORS]) | "DedupErrors" >> beam.Flatten()
        return {KEPT: out[KEPT], REJECTED: out[REJECTED], ERRORS: errors, "index": out["index"]}
