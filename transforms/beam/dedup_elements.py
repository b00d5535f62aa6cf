"""The elements that travel between the steps of ``DedupNearDuplicates`` (and ``MatchPriors``).

Each is a ``typing.NamedTuple``: the steps read and build them by field name, and the shape of an
element no longer changes silently from one step to the next. Keys stay plain strings (a doc_id,
an exact-group key) or plain tuples (a candidate pair, an LSH bucket), so grouping is unchanged.

Beam's ``FastPrimitivesCoder`` encodes a plain tuple natively but pickles any other type, a
NamedTuple included, which is several times slower per element (figures in the commit that
introduced these types). The elements therefore cross a shuffle as plain tuples: a step builds its element with
its type's constructor and emits ``tuple(element)`` through :func:`wire`; the step that receives it
reads it back with ``Type._make`` (:func:`rebuild`). Both are one C-level call.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

T = TypeVar("T", bound=tuple)

Pair = tuple[str, str]
"""A candidate pair or a verified edge: two doc_ids, the smaller first (a shuffle key)."""


def wire(element: tuple) -> tuple:
    """The element as Beam's fast coder encodes it: a plain tuple, in field order."""
    return tuple(element)


def rebuild(kind: type[T], value: tuple) -> T:
    """An element received from a shuffle, back under its field names."""
    return kind._make(value)  # type: ignore[attr-defined]


class Sketch(NamedTuple):
    """What dedup computes for one record (keyed by its doc_id)."""

    exact_key: str
    """Key of its exact group: ``content_hash`` (``dedup.exact``), else its own doc_id."""
    rank: tuple
    """Sort key of ``dedup.keep``: the smallest rank is the record a cluster keeps."""
    shingles: bytes
    """Its shingle hash set (sorted uint32, raw bytes); empty with ``dedup.near`` off."""
    signature: bytes
    """Its MinHash signature (uint32 × ``dedup.num_perm``, raw bytes); empty with ``dedup.near`` off."""


class ExactMember(NamedTuple):
    """A record in its exact group (keyed by the group's ``exact_key``)."""

    doc_id: str
    rank: tuple
    signature: bytes


class GroupRep(NamedTuple):
    """The best-ranked record of an exact group, which stands for the group (keyed by its doc_id)."""

    rank: tuple
    weight: int
    """Records in the exact group (the representative included)."""
    signature: bytes
    exact_key: str
    """The group's ``content_hash`` (or the doc_id with ``dedup.exact`` off)."""


class Member(NamedTuple):
    """An undecided exact-group representative in its cluster (keyed by the cluster label).

    ``cluster_id`` and ``cluster_size`` are None until round 0 of the chain-safe decision fixes them."""

    doc_id: str
    rank: tuple
    weight: int
    cluster_id: str | None = None
    cluster_size: int | None = None


class ToJudge(NamedTuple):
    """A member that a round did not keep, sent to the record it kept (keyed by the kept doc_id)."""

    doc_id: str
    rank: tuple
    label: str
    """The cluster label (component minimum) it is grouped under in the next round."""
    cluster_id: str
    cluster_size: int


class JudgeAgainst(NamedTuple):
    """A member to judge, with the kept record it is compared with (keyed by the member's doc_id)."""

    kept_id: str
    kept_shingles: bytes | None
    """The kept record's shingle set; None when it has none (no comparison: the member stays)."""
    member: tuple
    """The :class:`ToJudge` it came from (a plain tuple, as it travels)."""


FINAL_KEPT = "kept"
FINAL_NEAR = "near"
PRIOR_EXACT = "prior_exact"
PRIOR_NEAR = "prior_near"


class Final(NamedTuple):
    """The decision for an exact-group representative (keyed by its doc_id)."""

    status: str
    """``kept``, ``near`` (a near duplicate of ``dup_of`` in this run), ``prior_exact`` or ``prior_near``
    (a duplicate of ``dup_of`` of the earlier run ``prior_run``: ``--dedup-against``)."""
    cluster_id: str | None
    cluster_size: int | None
    dup_of: str | None = None
    jaccard: float | None = None
    prior_run: str | None = None


class Decision(NamedTuple):
    """The decision for one record (keyed by its doc_id), joined to the record by ``Apply``."""

    outcome: str
    """``kept``, or the reject reason (``exact_duplicate``, ``near_duplicate``)."""
    cluster_id: str | None
    cluster_size: int | None
    dup_of: str | None
    jaccard: float | None
    group_rep: str
    """The representative of its exact group (itself, for a representative)."""
    prior_run: str | None
    """The earlier run whose index holds ``dup_of`` (``--dedup-against``), else None."""
    signature: bytes | None = None
    """A kept record's MinHash signature (for its row of ``OUT/index/``); None for the others."""


class PriorMatch(NamedTuple):
    """A representative that duplicates a record of an earlier run's index (keyed by its doc_id)."""

    status: str
    """``prior_exact`` (same content hash) or ``prior_near`` (estimated Jaccard >= threshold)."""
    prior_id: str
    prior_run: str
    jaccard: float


class PriorRecord(NamedTuple):
    """An earlier run's record matched by content hash or by MinHash estimate (keyed by the new doc_id)."""

    prior_id: str
    prior_run: str
    jaccard: float = 1.0
