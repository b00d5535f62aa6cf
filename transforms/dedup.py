"""Dedup core (pure): the dedup key, content hash, sketches, LSH bands, cluster helpers.

- :func:`dedup_normalise`: NFKC, case-folded, whitespace collapsed, and (``fold_chinese_variants``)
  Traditional characters folded to Simplified, so one text published in both scripts has one key.
- :func:`content_hash`: sha256 of that key → exact duplicates.
- :func:`sketch_batch`: shingle hash sets and MinHash signatures for many records at once.
- :func:`band_digests`: LSH band digests of many signatures at once (bands × rows chosen by
  :func:`refinery.transforms.minhash.optimal_param`).
- :func:`rank_key`: the documented representative rule; :func:`star_rounds_reference` is the
  connected-components algorithm the Beam transform distributes, runnable locally for tests.
- :func:`chain_safe_reference`: the chain-safe decision inside a component (the rounds the Beam
  transform distributes), runnable locally for tests.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata

import numpy as np

from refinery.transforms.minhash import minhash_batch, optimal_param, shingle_hashes


@functools.lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """Character-level Traditional → Simplified map from OpenCC's tables (only where unambiguous)."""
    import opencc

    from refinery.transforms.language import zh_variant_table

    marks = zh_variant_table()
    trad = [chr(c) for c in np.flatnonzero(marks == 1).tolist()]
    conv = opencc.OpenCC("t2s").convert("\n".join(trad)).split("\n")
    return {ord(t): s for t, s in zip(trad, conv, strict=True) if len(s) == 1 and s != t}


_T2S_LIMIT = 0x30000


@functools.lru_cache(maxsize=1)
def _t2s_array() -> np.ndarray:
    """The same map as a code-point lookup table (faster than str.translate with a dict: docs/PERFORMANCE.md)."""
    table = np.arange(_T2S_LIMIT, dtype=np.uint32)
    for trad, simp in _t2s_table().items():
        table[trad] = ord(simp)
    table.setflags(write=False)
    return table


def fold_traditional(text: str) -> str:
    """Traditional → Simplified, character by character (``_t2s_table``)."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = _t2s_array()
    out = np.where(cps < _T2S_LIMIT, table[np.minimum(cps, _T2S_LIMIT - 1)], cps)
    return out.tobytes().decode("utf-32-le", "surrogatepass")


def dedup_normalise(text: str, fold_chinese_variants: bool = True) -> str:
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.casefold().split())  # str.split: the same whitespace as the regex \s+, faster
    if fold_chinese_variants and not text.isascii():
        text = fold_traditional(text)
    return text


def content_hash(norm_text: str) -> str:
    return hashlib.sha256(norm_text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """Bands × rows for candidate generation. Every candidate is verified on exact Jaccard, so
    false positives only cost a comparison while false negatives are lost duplicates: the search
    weighs a miss 99× a false candidate (at 0.8 and 128 permutations: 18 bands × 7 rows; a pair at
    Jaccard 0.8 becomes a candidate with probability 0.986, one at 0.5 with 0.13)."""
    return optimal_param(threshold, num_perm, fp_weight=0.01, fn_weight=0.99)


def sketch_batch(texts: list[str], cfg) -> tuple[list[np.ndarray], np.ndarray]:
    """(unique shingle hash sets, signatures) for the dedup-normalised texts of a batch."""
    sets = [shingle_hashes(t, cfg.ngram, cfg.unit) for t in texts]
    return sets, minhash_batch(sets, cfg.num_perm, cfg.seed)


_BAND_MULT = np.random.default_rng(0x5EED).integers(1, 2**63, size=1024, dtype=np.uint64) | np.uint64(1)


def band_digests(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """64-bit digest of every band of every signature at once: (documents, bands) uint64.

    A multiply-add hash over the band's rows (random odd multipliers, wrapping): two different bands
    collide with probability ~2^-64, and a collision would only add a candidate pair, which the
    exact-Jaccard verification then rejects."""
    x = signatures[:, : bands * rows].reshape(len(signatures), bands, rows).astype(np.uint64)
    with np.errstate(over="ignore"):
        return (x * _BAND_MULT[:rows]).sum(axis=2, dtype=np.uint64)


def has_shingles(signatures: np.ndarray) -> np.ndarray:
    """False for the signature of an empty shingle set (all 0xFFFFFFFF): such records get no bands."""
    return ~(signatures == 0xFFFFFFFF).all(axis=1)


def rank_key(rule: str, doc_id: str, n_chars: int, quality: float | None) -> tuple:
    """Sort key: the smallest is the record a cluster keeps.

    ``quality_longest``: highest quality score (when present), then longest, then smallest doc_id;
    ``longest``: longest, then smallest doc_id; ``smallest_id``: smallest doc_id.
    """
    if rule == "smallest_id":
        return (doc_id,)
    if rule == "longest":
        return (-n_chars, doc_id)
    return (-(quality if quality is not None else -1.0), -n_chars, doc_id)


def candidate_pairs(members: list[str], full_limit: int = 64, window: int = 8) -> list[tuple[str, str]]:
    """Pairs to verify inside one LSH bucket (members sorted). All pairs for small buckets; for large
    ones each member with its ``window`` successors and with the first, bounding the work."""
    members = sorted(set(members))
    n = len(members)
    if n < 2:
        return []
    if n <= full_limit:
        return [(members[i], members[j]) for i in range(n) for j in range(i + 1, n)]
    pairs = set()
    for i in range(n):
        for j in range(i + 1, min(n, i + 1 + window)):
            pairs.add((members[i], members[j]))
        if i:
            pairs.add((members[0], members[i]))
    return sorted(pairs)


# --- connected components: one round of large-star / small-star (Kiveris et al., SoCC 2014) -----

def large_star(node: str, neighbours: set[str]) -> list[tuple[str, str]]:
    """Connect every larger neighbour of ``node`` to the minimum of its closed neighbourhood."""
    m = min(neighbours | {node})
    return [(v, m) for v in neighbours if v > node]


def small_star(node: str, neighbours: set[str]) -> list[tuple[str, str]]:
    """Connect ``node`` and its smaller neighbours to the minimum of them."""
    smaller = {v for v in neighbours if v < node}
    m = min(smaller | {node})
    return [(v, m) for v in smaller | {node} if v != m]


def _adjacency(edges):
    adj: dict[str, set[str]] = {}
    for a, b in edges:
        if a == b:
            continue
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    return adj


def star_rounds_reference(edges: list[tuple[str, str]], max_rounds: int = 50) -> tuple[dict[str, str], int]:
    """Local reference of the distributed algorithm: node → component minimum, and rounds used."""
    edges = {tuple(e) for e in edges}
    rnd = 0
    while rnd < max_rounds:
        rnd += 1
        adj = _adjacency(edges)
        large = {e for n, nb in adj.items() for e in large_star(n, nb)}
        adj = _adjacency(large)
        small = {e for n, nb in adj.items() for e in small_star(n, nb)}
        if small == edges:
            break
        edges = small
    labels: dict[str, str] = {}
    for a, b in edges:
        lo = min(a, b)
        labels[a] = min(labels.get(a, lo), lo)
        labels[b] = min(labels.get(b, lo), lo)
    return labels, rnd


# --- chain-safe decisions inside a component ------------------------------------------------------

def chain_safe_reference(members: dict[str, tuple], sets: dict[str, np.ndarray], threshold: float,
                         rounds: int) -> dict[str, tuple[str | None, float | None]]:
    """Local reference of the chain-safe rule the Beam transform distributes, for one component.

    ``members``: doc_id → rank key; ``sets``: doc_id → shingle hash set. Round r: the best-ranked
    undecided member is kept; every other undecided member whose exact Jaccard to it is at or above
    ``threshold`` is removed naming it; the rest stay undecided for round r+1. After ``rounds``
    rounds the undecided are kept (a missed removal, never a false one). Returns doc_id → (dup_of,
    jaccard), (None, None) for kept records. Records kept in a later round have Jaccard below the
    threshold to every record kept before them."""
    from refinery.transforms.minhash import jaccard_sets

    undecided = sorted(members, key=lambda d: members[d])
    out: dict[str, tuple[str | None, float | None]] = {}
    for _ in range(rounds):
        if not undecided:
            break
        kept, rest = undecided[0], undecided[1:]
        out[kept] = (None, None)
        undecided = []
        for m in rest:
            j = jaccard_sets(sets[m], sets[kept])
            if j >= threshold:
                out[m] = (kept, round(j, 4))
            else:
                undecided.append(m)
    for m in undecided:
        out[m] = (None, None)
    return out
