"""``DedupNearDuplicates``: exact then near-duplicate removal, with no single-machine step.

Graph (every step keyed, so no worker ever holds the corpus or all its signatures):

1. ``Sketch`` (batched, vectorised): dedup key, ``content_hash``, shingle hash set, MinHash signature.
2. ``Exact``: group by content_hash; the best-ranked record of each group stands for it.
3. ``Candidates``: LSH bands of the group representatives (GroupByKey on (band, band digest)),
   candidate pairs inside each bucket.
4. ``Verify``: exact Jaccard of the two shingle sets (two keyed joins bring the sets together); a
   pair is an edge only at or above ``dedup.threshold``.
5. ``Components``: ``dedup.max_rounds`` unrolled rounds of large-star / small-star over the edges,
   then a convergence check (counter ``cc_not_converged`` must stay 0); node → component minimum.
6. ``Representatives``: per component, the record kept by the rank rule (``dedup.keep``).
7. ``Decide``: every record joins its decision: kept (cluster id/size), ``exact_duplicate`` or
   ``near_duplicate`` (``dup_of`` = the kept record, ``dup_jaccard`` = exact Jaccard to it).

Outputs: ``kept``, ``rejected``, ``errors``. Counters (namespace ``dedup``): seen, kept,
dropped:exact_duplicate, dropped:near_duplicate, error:<type>, candidate_pairs, verified_pairs,
cc_not_converged. Config: ``dedup.*``.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
from apache_beam.pvalue import TaggedOutput
from refinery.schemas.reasons import RejectReason, Stage
from refinery.transforms.beam.stage import (
    ERRORS,
    KEPT,
    REJECTED,
    Counters,
    Rejection,
    error_record,
    rejected_record,
)
from refinery.transforms.dedup import (
    band_keys,
    candidate_pairs,
    content_hash,
    dedup_normalise,
    large_star,
    lsh_params,
    rank_key,
    sketch_batch,
    small_star,
)
from refinery.transforms.minhash import jaccard_sets as jaccard

NS = Stage.DEDUP.value


def _arr(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.uint32)


class _SketchFn(beam.DoFn):
    """Batch of records → (doc_id, record) on main, (doc_id, sketch) on 'sketch', errors."""

    def __init__(self, cfg):
        self.cfg = cfg

    def setup(self):
        self._counters = Counters(NS)

    def process(self, batch):
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
            yield rec["doc_id"], rec
            yield TaggedOutput("sketch", (rec["doc_id"], sketch))


def _exact_groups(element):
    """(content hash, [(doc_id, sketch)]) → ('assign', (doc_id, group rep)) and ('rep', rep sketch)."""
    _h, members = element
    members = sorted(members, key=lambda m: m[1]["rank"])
    rep_id, rep = members[0]
    for doc_id, _s in members:
        yield TaggedOutput("assign", (doc_id, rep_id))
    yield rep_id, {**rep, "weight": len(members)}


def _bands(element, bands, rows):
    doc_id, sketch = element
    for band, digest in band_keys(_arr(sketch["sig"]), bands, rows):
        yield (band, digest), doc_id


class _PairsFn(beam.DoFn):
    def setup(self):
        self._counters = Counters(NS)

    def process(self, element):
        _key, members = element
        pairs = candidate_pairs(list(members))
        if pairs:
            self._counters.inc("candidate_pairs", len(pairs))
        yield from pairs


def _attach_left(element):
    """(a, {'pair': [b...], 'sk': [sketch]}) → (b, (a, a_set))."""
    a, grouped = element
    sketches = list(grouped["sk"])
    if not sketches:
        return
    a_set = sketches[0]["set"]
    for b in grouped["pair"]:
        yield b, (a, a_set)


class _VerifyFn(beam.DoFn):
    """(b, {'left': [(a, a_set)], 'sk': [b sketch]}) → verified edges (a, b, jaccard)."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element):
        b, grouped = element
        sketches = list(grouped["sk"])
        if not sketches:
            return
        b_set = _arr(sketches[0]["set"])
        for a, a_set in grouped["left"]:
            j = jaccard(_arr(a_set), b_set)
            if j >= self.threshold:
                self._counters.inc("verified_pairs")
                yield (a, b) if a < b else (b, a)


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
    """(rep_sketch_id, {'label': [l], 'sk': [sketch]}) → (label or self, (doc_id, rank, weight))."""
    doc_id, g = element
    sketches = list(g["sk"])
    if not sketches:
        return
    labels = list(g["label"])
    label = labels[0] if labels else doc_id
    s = sketches[0]
    yield label, (doc_id, tuple(s["rank"]), s["weight"])


def _choose_rep(element):
    """(label, members) → (member, (kept doc_id, cluster size))."""
    _label, members = element
    members = list(members)
    rep = min(members, key=lambda m: m[1])[0]
    size = sum(m[2] for m in members)
    for doc_id, _rank, _w in members:
        yield doc_id, (rep, size)


def _to_rep_key(element):
    doc_id, (rep, size) = element
    yield rep, (doc_id, size)


def _attach_rep_set(element):
    """(rep, {'m': [(member, size)], 'sk': [rep sketch]}) → (member, (rep, size, rep_set))."""
    rep, g = element
    sk = list(g["sk"])
    rep_set = sk[0]["set"] if sk else b""
    for member, size in g["m"]:
        yield member, (rep, size, rep_set if member != rep else None)


def _final_for_group_rep(element):
    """(group rep, {'f': [(rep, size, rep_set)], 'sk': [own sketch]}) → (group rep, (kept, size, jaccard))."""
    doc_id, g = element
    finals = list(g["f"])
    if not finals:
        return
    rep, size, rep_set = finals[0]
    if rep == doc_id:
        yield doc_id, (rep, size, None)
        return
    own = list(g["sk"])[0]["set"]
    yield doc_id, (rep, size, round(jaccard(_arr(own), _arr(rep_set)), 4))


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
                yield TaggedOutput(ERRORS, error_record(rec, Stage.DEDUP, RuntimeError("no dedup decision reached")))
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
        sketches = sk["sketch"]
        ex = (
            sketches
            | "ByContentHash" >> beam.Map(lambda kv: (kv[1]["hash"], kv))
            | "ExactGroups" >> beam.GroupByKey()
            | "ExactReps" >> beam.FlatMap(_exact_groups).with_outputs("assign", main="reps")
        )
        reps = ex["reps"]  # (doc_id, sketch with weight) — one per exact group
        if d.near:
            bands, rows = lsh_params(d.threshold, d.num_perm)
            pairs = (
                reps
                | "Bands" >> beam.FlatMap(_bands, bands, rows)
                | "Buckets" >> beam.GroupByKey()
                | "Pairs" >> beam.ParDo(_PairsFn())
                | "DistinctPairs" >> beam.Distinct()
            )
            left = ({"pair": pairs, "sk": reps} | "JoinLeft" >> beam.CoGroupByKey()
                    | "AttachLeft" >> beam.FlatMap(_attach_left))
            edges = ({"left": left, "sk": reps} | "JoinRight" >> beam.CoGroupByKey()
                     | "Verify" >> beam.ParDo(_VerifyFn(d.threshold)))
            labels = edges | "Components" >> _ConnectedComponents(d.max_rounds)
        else:
            labels = reps | "NoLabels" >> beam.FlatMap(lambda kv: [])
        members = ({"label": labels, "sk": reps} | "JoinLabels" >> beam.CoGroupByKey()
                   | "Members" >> beam.FlatMap(_component_members))
        chosen = members | "GroupComponents" >> beam.GroupByKey() | "ChooseRep" >> beam.FlatMap(_choose_rep)
        with_rep_set = ({"m": chosen | "ByRep" >> beam.FlatMap(_to_rep_key), "sk": reps}
                        | "JoinRepSet" >> beam.CoGroupByKey() | "AttachRepSet" >> beam.FlatMap(_attach_rep_set))
        finals = ({"f": with_rep_set, "sk": reps} | "JoinOwnSet" >> beam.CoGroupByKey()
                  | "Final" >> beam.FlatMap(_final_for_group_rep))
        assign_by_group = ex["assign"] | "ByGroupRep" >> beam.Map(lambda kv: (kv[1], kv[0]))
        decisions = ({"assign": assign_by_group, "final": finals} | "JoinDecisions" >> beam.CoGroupByKey()
                     | "Decisions" >> beam.FlatMap(_decisions))
        out = ({"rec": sk["rec"], "decision": decisions} | "JoinRecords" >> beam.CoGroupByKey()
               | "Apply" >> beam.ParDo(_ApplyFn()).with_outputs(REJECTED, ERRORS, main=KEPT))
        errors = (sk[ERRORS], out[ERRORS]) | "DedupErrors" >> beam.Flatten()
        return {KEPT: out[KEPT], REJECTED: out[REJECTED], ERRORS: errors}
