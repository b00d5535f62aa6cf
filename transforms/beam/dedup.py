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
chain_unresolved (of those, kept because the rounds ran out). Config: ``dedup.*``.
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
        for i, (rec, norm) in enumerate(zip(good, norms, strict=True)):
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
    """(content hash, [(doc_id, rank, sig)]) → ('assign', (doc_id, group rep)) and (rep, (rank, weight, sig, hash))."""
    h, members = element
    members = sorted(members, key=lambda m: m[1])
    rep_id, rank, sig = members[0]
    for doc_id, _r, _s in members:
        yield TaggedOutput("assign", (doc_id, rep_id))
    yield rep_id, (rank, len(members), sig, h)


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
    rank, weight = reps[0][0], reps[0][1]
    yield (labels[0] if labels else doc_id), (doc_id, tuple(rank), weight)


class _ChooseFn(beam.DoFn):
    """One chain-safe round, step 1: (label, undecided members) → the best-ranked member is kept
    ('final'); every other member goes to it, keyed by the kept record: (kept, (member, rank, label,
    cluster id, cluster size)). Members are small (id, rank, weight, cluster id, size): a cluster of a
    million documents is a few tens of MB here, and no shingle set travels with it.

    Round 0 also fixes the cluster's identity (its best-ranked record) and size (all its records,
    exact copies included); a cluster of one is simply kept."""

    def __init__(self, first: bool):
        self.first = first

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element) -> Iterable[Any]:
        label, members = element
        members = sorted(members, key=lambda m: (m[1], m[0]))
        best_id = members[0][0]
        if self.first:
            cid, size = best_id, sum(m[2] for m in members)
        else:
            cid, size = members[0][3], members[0][4]
            self._counters.inc("chain_kept")  # a transitive cluster would have removed it
        yield TaggedOutput("final", (best_id, ("kept", cid, size, None, None)))
        for doc_id, rank, _w, _c, _s in members[1:]:
            yield best_id, (doc_id, rank, label, cid, size)


class _AttachKeptSetFn(beam.DoFn):
    """(kept, {'m': [member info], 'set': [kept set]}) → (member, (kept, kept set, member info))."""

    def process(self, element) -> Iterable[tuple[Any, Any]]:
        kept, g = element
        sets = list(g["set"])
        kept_set = sets[0] if sets else None
        for info in g["m"]:
            yield info[0], (kept, kept_set, info)


class _JudgeFn(beam.DoFn):
    """(member, {'f': [(kept, kept set, info)], 'set': [own set]}) → 'final' (member, near_duplicate of
    kept, exact Jaccard) when the Jaccard is >= threshold; else (label, member) undecided, for the next
    round (main output)."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def process(self, element) -> Iterable[Any]:
        doc_id, g = element
        finals = list(g["f"])
        if not finals:
            return
        kept, kept_set, (_d, rank, label, cid, size) = finals[0]
        own = list(g["set"])
        j = jaccard(_arr(own[0]), _arr(kept_set)) if own and kept_set is not None else 0.0
        if j >= self.threshold:
            yield TaggedOutput("final", (doc_id, ("near", cid, size, kept, round(j, 4))))
        else:
            yield label, (doc_id, rank, 0, cid, size)


class _KeepUndecidedFn(beam.DoFn):
    """Members still undecided after the last round are kept: a missed removal, never a false one."""

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element):
        _label, (doc_id, _rank, _w, cid, size) = element
        self._counters.inc("chain_kept")
        self._counters.inc("chain_unresolved")
        yield doc_id, ("kept", cid, size, None, None)


class _ChainSafeDecisions(beam.PTransform):
    """(label, (doc_id, rank, weight)) for every exact-group representative → (doc_id, (status, cluster
    id, cluster size, dup_of, jaccard)), status 'kept' or 'near'.

    ``rounds`` unrolled rounds: the best-ranked undecided member of each cluster is kept, the undecided
    members whose exact Jaccard to it is >= threshold are removed naming it, the others stay undecided
    (they can only be removed as duplicates of a record kept in a later round, which they resemble).
    Same decisions as :func:`refinery.transforms.dedup.chain_safe_reference`."""

    def __init__(self, node_sets, threshold: float, rounds: int):
        super().__init__()
        self.node_sets, self.threshold, self.rounds = node_sets, threshold, rounds

    def expand(self, members):
        pending = members | "AsUndecided" >> beam.Map(lambda kv: (kv[0], (kv[1][0], kv[1][1], kv[1][2], None, None)))
        finals = []
        for r in range(self.rounds):
            chosen = (pending | f"GroupUndecided{r}" >> beam.GroupByKey()
                      | f"ChooseKept{r}" >> beam.ParDo(_ChooseFn(first=r == 0)).with_outputs("final", main="m"))
            finals.append(chosen["final"])
            with_kept = ({"m": chosen["m"], "set": self.node_sets} | f"JoinKeptSet{r}" >> beam.CoGroupByKey()
                         | f"AttachKeptSet{r}" >> beam.ParDo(_AttachKeptSetFn()))
            judged = ({"f": with_kept, "set": self.node_sets} | f"JoinOwnSet{r}" >> beam.CoGroupByKey()
                      | f"Judge{r}" >> beam.ParDo(_JudgeFn(self.threshold)).with_outputs("final", main="undecided"))
            finals.append(judged["final"])
            pending = judged["undecided"]
        finals.append(pending | "KeepUndecided" >> beam.ParDo(_KeepUndecidedFn()))
        return finals | "AllChainFinals" >> beam.Flatten()


def _decisions(element):
    """(group rep, {'assign': [doc_id...], 'final': [(status, cluster id, size, dup_of, j)]}) → (doc_id,
    (reason or 'kept', cluster id, size, dup_of, jaccard, group rep))."""
    group_rep, g = element
    finals = list(g["final"])
    if not finals:  # no decision: _ApplyFn turns the missing decision into an errors/ record
        return
    status, cid, size, dup_of, j, *prior = finals[0]
    run = prior[0] if prior else None  # the earlier run of dup_of (--dedup-against), else None
    for doc_id in g["assign"]:
        if doc_id == group_rep:
            if status == "kept":
                yield doc_id, ("kept", cid, size, None, None, group_rep, None)
            elif status == "prior_exact":
                yield doc_id, (RejectReason.EXACT_DUPLICATE.value, cid, size, dup_of, 1.0, dup_of, run)
            else:
                yield doc_id, (RejectReason.NEAR_DUPLICATE.value, cid, size, dup_of, j, group_rep, run)
        elif status == "kept":  # an exact copy of a kept record
            yield doc_id, (RejectReason.EXACT_DUPLICATE.value, cid, size, group_rep, 1.0, group_rep, None)
        else:  # an exact copy of a removed duplicate: it names the kept record, as that one does
            yield doc_id, (RejectReason.EXACT_DUPLICATE.value, cid, size, dup_of, j,
                           dup_of if status == "prior_exact" else group_rep, run)


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


def _split_prior(element) -> Iterable[Any]:
    """(rep, {'rep': [(rank, weight, sig, hash)], 'prior': [(status, prior, run, j)]}) → 'final' (rep,
    (status, prior, None, prior, j, run)) when an earlier run holds its duplicate, else the rep again."""
    doc_id, g = element
    reps = list(g["rep"])
    if not reps:
        return
    prior = list(g["prior"])
    if prior:
        status, pid, run, j = prior[0]
        yield TaggedOutput("final", (doc_id, (status, pid, None, pid, j, run)))
    else:
        yield doc_id, reps[0]


class _ApplyFn(beam.DoFn):
    """(doc_id, {'rec', 'decision', 'sig'}) → kept record (and its 'index' row) / rejected / errors."""

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
            what, cid, size, dup_of, j, group_rep, run = decisions[0]
            rec["dup_cluster_id"] = cid
            rec["dup_cluster_size"] = size
            rec["stages"] = list(rec.get("stages") or []) + [Stage.DEDUP.value]
            if what == "kept":
                self._counters.inc("kept")
                yield rec
                sigs = list(g["sig"])
                yield TaggedOutput("index", self._index_row(rec, sigs[0] if sigs else b""))
                continue
            if run:
                self._counters.inc("against_earlier_runs")
            rec["dup_of"] = dup_of
            rec["dup_jaccard"] = j
            reason = RejectReason(what)
            self._counters.inc(f"dropped:{reason.value}")
            yield TaggedOutput(REJECTED, rejected_record(rec, Stage.DEDUP, Rejection(
                reason, reject_detail(reason.value, dup_of, j, group_rep, run))))


class DedupNearDuplicates(beam.PTransform):
    """Records → kept (one per duplicate cluster) / rejected (exact_duplicate, near_duplicate) / errors."""

    def __init__(self, cfg, local_clusters: bool = False):
        super().__init__()
        self.cfg = cfg
        self.local_clusters = local_clusters  # the cluster step in one worker (refinery.transforms.beam.dedup_local)

    def expand(self, records):
        from refinery.transforms.beam.dedup_local import LocalChainSafe, LocalComponents

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
        reps = ex["reps"]  # (doc_id, (rank, weight, sig, content hash)) — one per exact group
        bands, rows = lsh_params(d.threshold, d.num_perm)
        prior_finals = []
        if d.against:
            # --dedup-against: a representative that duplicates an earlier run's record is decided here
            # (and its exact copies with it); only the others are deduplicated among this run's records.
            from refinery.transforms.beam.dedup_index import MatchPriors, prior_index_files, read_prior_index

            priors = read_prior_index(records.pipeline, prior_index_files(self.cfg))
            matched = reps | "MatchEarlierRuns" >> MatchPriors(priors, d.threshold, bands, rows, d.near)
            split = ({"rep": reps, "prior": matched} | "JoinEarlierMatches" >> beam.CoGroupByKey()
                     | "SplitEarlier" >> beam.FlatMap(_split_prior).with_outputs("final", main="reps"))
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
            with_sets = ({"pair": pairs | "PairEnds" >> beam.FlatMap(_pair_ends), "set": sets}
                         | "JoinSets" >> beam.CoGroupByKey()
                         | "AttachSets" >> beam.ParDo(_AttachSetsFn()).with_outputs("node_set", main="pairs"))
            edges = (with_sets["pairs"] | "PairSets" >> beam.GroupByKey()
                     | "Verify" >> beam.ParDo(_VerifyFn(d.threshold)))
            components = LocalComponents() if self.local_clusters else _ConnectedComponents(d.max_rounds)
            labels = edges | "Components" >> components
            node_sets = with_sets["node_set"]
        else:
            labels = reps | "NoLabels" >> beam.FlatMap(lambda kv: [])
            node_sets = reps | "NoSets" >> beam.FlatMap(lambda kv: [])
        members = ({"label": labels, "rep": reps} | "JoinLabels" >> beam.CoGroupByKey()
                   | "Members" >> beam.FlatMap(_component_members))
        chain_safe = LocalChainSafe if self.local_clusters else _ChainSafeDecisions
        finals = members | "ChainSafe" >> chain_safe(node_sets, d.threshold, d.chain_rounds)
        if prior_finals:
            finals = [finals, *prior_finals] | "WithEarlierFinals" >> beam.Flatten()
        assign_by_group = ex["assign"] | "ByGroupRep" >> beam.Map(lambda kv: (kv[1], kv[0]))
        decisions = ({"assign": assign_by_group, "final": finals} | "JoinDecisions" >> beam.CoGroupByKey()
                     | "Decisions" >> beam.FlatMap(_decisions))
        sigs = sk["sketch"] | "Sigs" >> beam.Map(lambda kv: (kv[0], kv[1]["sig"]))
        out = ({"rec": sk["rec"], "decision": decisions, "sig": sigs} | "JoinRecords" >> beam.CoGroupByKey()
               | "Apply" >> beam.ParDo(_ApplyFn(bands, rows)).with_outputs(REJECTED, ERRORS, "index", main=KEPT))
        errors = (sk[ERRORS], out[ERRORS]) | "DedupErrors" >> beam.Flatten()
        return {KEPT: out[KEPT], REJECTED: out[REJECTED], ERRORS: errors, "index": out["index"]}
