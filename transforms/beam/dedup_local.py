"""Dedup's cluster step in one worker, for a runner that runs the whole pipeline in one process.

The distributed cluster step (:mod:`refinery.transforms.beam.dedup`) unrolls ``dedup.max_rounds``
rounds of large-star / small-star and ``dedup.chain_rounds`` chain-safe rounds into the job graph:
about 45 shuffles and 150 transforms, each of which Beam's in-process DirectRunner executes as its
own stage, whatever the corpus size. On that runner every PCollection already lives in the one
process's memory, so nothing is gained by spreading the step: here the verified edges meet in one
element (union-find labels each node with its component's minimum), and each component's members
meet their shingle sets (a side input) in one group, where the chain-safe rounds run in a loop.

The decisions, counters and cluster identities are the distributed step's, element for element
(``tests/test_dedup.py`` runs both on the same records): ``dedup.cluster_step`` chooses; ``auto``
takes this one only for the in-process DirectRunner.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import numpy as np

from refinery.schemas.reasons import Stage
from refinery.transforms.beam.dedup_elements import FINAL_KEPT, FINAL_NEAR, Final, Member, rebuild, wire
from refinery.transforms.beam.stage import Counters
from refinery.transforms.minhash import jaccard_sets as jaccard

NS = Stage.DEDUP.value


def component_minimums(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Node → the smallest node of its connected component, for every node on an edge (union-find
    with path halving; the root of a set is always its minimum, so no second pass is needed)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = root(a), root(b)
        if ra != rb:
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            parent[hi] = lo
    return {node: root(node) for node in parent}


def _labels(edges: list[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    yield from component_minimums(edges).items()


class LocalComponents(beam.PTransform):
    """Edges (a, b) → (node, component minimum) for every node on an edge: the output of the
    distributed ``_ConnectedComponents``, which always converges here (no ``cc_not_converged``)."""

    def expand(self, edges):
        return edges | "AllEdges" >> beam.combiners.ToList() | "UnionFind" >> beam.FlatMap(_labels)


def chain_safe_rounds(members: list[tuple], sets: dict[str, Any], threshold: float,
                      rounds: int) -> tuple[list[tuple[str, tuple]], int, int]:
    """One cluster's chain-safe decisions, as the distributed rounds make them.

    ``members``: :class:`Member` tuples of the cluster's exact-group representatives; ``sets``:
    doc_id → shingle set (bytes of uint32). Returns ((doc_id, :class:`Final`) for every member,
    records kept in a later round than the first, records kept because the rounds ran out).
    Cluster id: the best-ranked member; size: all its records."""
    ordered = sorted((rebuild(Member, m) for m in members), key=lambda m: (m.rank, m.doc_id))
    cid, size = ordered[0].doc_id, sum(m.weight for m in ordered)
    undecided = [m.doc_id for m in ordered]
    out: list[tuple[str, tuple]] = []
    kept_later = 0
    for r in range(rounds):
        if not undecided:
            break
        kept, rest = undecided[0], undecided[1:]
        out.append((kept, wire(Final(FINAL_KEPT, cid, size))))
        kept_later += r > 0
        kept_set = sets.get(kept)
        undecided = []
        for doc_id in rest:
            own = sets.get(doc_id)
            j = (jaccard(np.frombuffer(own, dtype=np.uint32), np.frombuffer(kept_set, dtype=np.uint32))
                 if own is not None and kept_set is not None else 0.0)
            if j >= threshold:
                out.append((doc_id, wire(Final(FINAL_NEAR, cid, size, kept, round(j, 4)))))
            else:
                undecided.append(doc_id)
    out.extend((doc_id, wire(Final(FINAL_KEPT, cid, size))) for doc_id in undecided)
    return out, kept_later + len(undecided), len(undecided)


class _DecideClusterFn(beam.DoFn):
    """(label, [(doc_id, rank, weight)]) with the shingle sets as a side input → the decisions."""

    def __init__(self, threshold: float, rounds: int):
        self.threshold, self.rounds = threshold, rounds

    def setup(self):
        self._counters = Counters(NS)

    def process(self, element, sets) -> Iterable[Any]:
        _label, members = element
        decisions, chain_kept, unresolved = chain_safe_rounds(list(members), sets, self.threshold, self.rounds)
        if chain_kept:
            self._counters.inc("chain_kept", chain_kept)
        if unresolved:
            self._counters.inc("chain_unresolved", unresolved)
        yield from decisions


class LocalChainSafe(beam.PTransform):
    """(label, (doc_id, rank, weight)) → (doc_id, (status, cluster id, cluster size, dup_of, jaccard)):
    the distributed ``_ChainSafeDecisions`` with its rounds as a loop over each cluster."""

    def __init__(self, node_sets, threshold: float, rounds: int):
        super().__init__()
        self.node_sets, self.threshold, self.rounds = node_sets, threshold, rounds

    def expand(self, members):
        return (members
                | "GroupClusters" >> beam.GroupByKey()
                | "DecideClusters" >> beam.ParDo(_DecideClusterFn(self.threshold, self.rounds),
                                                 beam.pvalue.AsDict(self.node_sets)))
