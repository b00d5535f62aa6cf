"""Dedup core (pure): the dedup key, content hash, sketches, LSH bands, cluster helpers.

- :func:`dedup_normalise`: NFKC, case-folded, whitespace collapsed, and (``fold_chinese_variants``)
  Traditional characters folded to Simplified, so one text published in both scripts has one key.
- :func:`content_hash`: sha256 of that key → exact duplicates.
- :func:`sketch_batch`: shingle hash sets and MinHash signatures for many records at once.
- :func:`band_keys`: LSH bands (bands × rows chosen by :func:`refinery.transforms.minhash.optimal_param`).
- :func:`rank_key`: the documented representative rule; :func:`star_rounds_reference` is the
  connected-components algorithm the Beam transform distributes, runnable locally for tests.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

import numpy as np

from refinery.transforms.minhash import minhash_batch, optimal_param, shingle_hashes

_WS = re.compile(r"\s+")


@functools.lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """Character-level Traditional → Simplified map from OpenCC's tables (only where unambiguous)."""
    from refinery.transforms.language import zh_variant_table

    import opencc

    marks = zh_variant_table()
    trad = [chr(c) for c in np.flatnonzero(marks == 1).tolist()]
    conv = opencc.OpenCC("t2s").convert("\n".join(trad)).split("\n")
    return {ord(t): s for t, s in zip(trad, conv) if len(s) == 1 and s != t}


def dedup_normalise(text: str, fold_chinese_variants: bool = True) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _WS.sub(" ", text).strip()
    if fold_chinese_variants and not text.isascii():
        text = text.translate(_t2s_table())
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


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[tuple[int, bytes]]:
    """(band index, band digest) per band; empty signatures (no shingles) get no bands."""
    if signature.size and int(signature[0]) == 0xFFFFFFFF and (signature == 0xFFFFFFFF).all():
        return []
    out = []
    for i in range(bands):
        chunk = signature[i * rows:(i + 1) * rows]
        out.append((i, hashlib.blake2b(chunk.tobytes(), digest_size=12).digest()))
    return out


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
