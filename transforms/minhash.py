"""Vectorised shingling and MinHash, bit-for-bit equal to datasketch's ``affine32`` MinHash.

Pure core (numpy only). For a batch of documents:

1. **Tokens** from the code points of the dedup-normalised text: in ``word`` mode runs of word
   characters, except that every CJK / Thai character is a token of its own (so a Chinese sentence
   is never one giant "word"); in ``char`` mode every word character is a token.
2. **Token hash** ``w = Σ cp_j · B^(len-1-j) mod 2^64`` (computed for all tokens at once from
   prefix sums with B's modular inverse).
3. **Shingle hash** of n consecutive tokens ``g = Σ w_k · C^(n-1-k) mod 2^64``, then the 64-bit
   MurmurHash3 finaliser, top 32 bits. A document with fewer than n tokens has one shingle of all of
   them. :func:`shingle_hash32` is the same function for one shingle (a tuple of token strings): pass
   it to ``datasketch.MinHash(hashfunc=...)`` and the signatures are identical (tested).
4. **MinHash** exactly as datasketch 2.x ``affine32``: ``h ← fmix32(h)``, then ``a_k·h + b_k`` in
   uint32 with permutations drawn from ``RandomState(seed)`` as datasketch draws them, minimum per
   document — vectorised over all shingles of a batch of documents, one permutation at a time.
"""

from __future__ import annotations

import functools

import numpy as np

MASK64 = (1 << 64) - 1
_B = 0x100000001B3  # FNV-64 prime (odd, so invertible mod 2^64)
_C = 0x9E3779B97F4A7C15  # golden-ratio constant (odd)
_B_INV = pow(_B, -1, 1 << 64)

_U64 = np.uint64
_U32 = np.uint32


@functools.lru_cache(maxsize=1)
def _char_classes() -> tuple[np.ndarray, np.ndarray]:
    """(is_word_char, is_cjk_or_thai) lookup tables over all code points."""
    word = np.zeros(0x110000, dtype=bool)
    for cp in range(0x30000):
        ch = chr(cp)
        if ch.isalnum() or ch == "_":
            word[cp] = True
    word[0x30000:0x3134F] = True  # CJK extension G
    cjk = np.zeros(0x110000, dtype=bool)
    for lo, hi in ((0x2E80, 0x2FDF), (0x3040, 0x30FF), (0x3100, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
                   (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0x20000, 0x3134F), (0x0E00, 0x0E7F), (0x1100, 0x11FF),
                   (0xFF66, 0xFF9F)):
        cjk[lo:hi + 1] = True
    cjk &= word
    word.setflags(write=False)
    cjk.setflags(write=False)
    return word, cjk


def _power_series(base: int, n: int) -> np.ndarray:
    """[1, base, base^2, ...] mod 2^64 (uint64 arithmetic wraps, which is the modulo)."""
    steps = np.full(n, base, dtype=_U64)
    steps[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(steps, dtype=_U64)


class _Powers:
    """Cached powers of the hash bases, grown on demand."""

    def __init__(self):
        self.n = 0
        self.b = self.binv = self.c = np.zeros(0, dtype=_U64)
        self.grow(1 << 16)

    def grow(self, n: int) -> None:
        if n <= self.n:
            return
        n = max(n, 2 * self.n)
        self.b = _power_series(_B, n)
        self.binv = _power_series(_B_INV, n)
        self.c = _power_series(_C, 64)
        self.n = n


_POW = _Powers()


def _fmix64(h: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = h ^ (h >> _U64(33))
        h = h * _U64(0xFF51AFD7ED558CCD)
        h = h ^ (h >> _U64(33))
        h = h * _U64(0xC4CEB9FE1A85EC53)
        return h ^ (h >> _U64(33))


def _fmix32(h: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = h ^ (h >> _U32(16))
        h = h * _U32(0x85EBCA6B)
        h = h ^ (h >> _U32(13))
        h = h * _U32(0xC2B2AE35)
        return h ^ (h >> _U32(16))


def token_bounds(cps: np.ndarray, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the tokens of a code-point array."""
    word, cjk = _char_classes()
    capped = np.minimum(cps, 0x10FFFF)
    is_word = word[capped]
    if unit == "char":
        idx = np.flatnonzero(is_word)
        return idx, idx + 1
    is_cjk = cjk[capped]
    prev_word = np.concatenate([[False], is_word[:-1]])
    prev_cjk = np.concatenate([[False], is_cjk[:-1]])
    starts = np.flatnonzero(is_word & (~prev_word | is_cjk | prev_cjk))
    nxt_word = np.concatenate([is_word[1:], [False]])
    nxt_cjk = np.concatenate([is_cjk[1:], [False]])
    ends = np.flatnonzero(is_word & (~nxt_word | is_cjk | nxt_cjk)) + 1
    return starts, ends


def cjk_share(cps: np.ndarray) -> float:
    word, cjk = _char_classes()
    capped = np.minimum(cps, 0x10FFFF)
    n_word = int(np.count_nonzero(word[capped]))
    return float(np.count_nonzero(cjk[capped])) / n_word if n_word else 0.0


def choose_unit(cps: np.ndarray, unit: str) -> str:
    """``auto``: characters when most word characters are CJK or Thai, words otherwise."""
    if unit != "auto":
        return unit
    return "char" if cjk_share(cps) >= 0.5 else "word"


def shingle_hashes(text: str, ngram: int, unit: str) -> np.ndarray:
    """Unique 32-bit shingle hashes of ``text`` (already dedup-normalised)."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(_U64)
    if cps.size == 0:
        return np.zeros(0, dtype=_U32)
    unit = choose_unit(cps, unit)
    starts, ends = token_bounds(cps, unit)
    if starts.size == 0:
        return np.zeros(0, dtype=_U32)
    _POW.grow(cps.size + 1)
    with np.errstate(over="ignore"):
        if unit == "char":
            w = cps[starts]
        else:
            g = cps * _POW.binv[: cps.size]
            prefix = np.concatenate([np.zeros(1, dtype=_U64), np.cumsum(g, dtype=_U64)])
            w = (prefix[ends] - prefix[starts]) * _POW.b[ends - 1]
        n = min(ngram, w.size)
        m = w.size - n + 1
        acc = np.zeros(m, dtype=_U64)
        for k in range(n):
            acc += w[k:k + m] * _POW.c[n - 1 - k]
    h32 = np.sort((_fmix64(acc) >> _U64(32)).astype(_U32))
    if h32.size > 1:  # unique (sorted): cheaper than np.unique's hash path on small arrays
        h32 = h32[np.concatenate(([True], h32[1:] != h32[:-1]))]
    return h32


def shingle_hash32(tokens: tuple[str, ...]) -> int:
    """Scalar reference of one shingle's hash (a tuple of token strings); datasketch ``hashfunc``."""
    g = 0
    n = len(tokens)
    for k, tok in enumerate(tokens):
        w = 0
        for ch in tok:
            w = (w * _B + ord(ch)) & MASK64
        g = (g + w * pow(_C, n - 1 - k, 1 << 64)) & MASK64
    h = np.array([g], dtype=_U64)
    return int((_fmix64(h) >> _U64(32))[0])


def shingles(text: str, ngram: int, unit: str) -> list[tuple[str, ...]]:
    """The shingles as token tuples (slow path, for tests and for datasketch comparisons)."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(_U64)
    unit = choose_unit(cps, unit)
    starts, ends = token_bounds(cps, unit)
    toks = [text[s:e] for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    n = min(ngram, len(toks))
    return [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)] if toks else []


@functools.lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) exactly as datasketch 2.x draws them for the affine32 scheme."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=_U32) * _U32(2) + _U32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=_U32)
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


EMPTY = np.uint32(0xFFFFFFFF)


def minhash_batch(hash_sets: list[np.ndarray], num_perm: int, seed: int, docs_per_pass: int = 512) -> np.ndarray:
    """Signatures (len(hash_sets) × num_perm, uint32) for many documents in one pass.

    Permutation-major: for each permutation k, one vectorised ``a_k·h + b_k`` over the shingles of
    all documents of the pass and one ``minimum.reduceat`` by document — contiguous arrays that stay
    in cache (faster than a shingles × permutations matrix: docs/PERFORMANCE.md). A document with no shingles gets
    datasketch's empty signature (all 2^32-1).
    """
    a, b = permutations(num_perm, seed)
    out = np.full((len(hash_sets), num_perm), EMPTY, dtype=_U32)
    for first in range(0, len(hash_sets), docs_per_pass):
        part = hash_sets[first:first + docs_per_pass]
        lengths = np.array([h.size for h in part], dtype=np.int64)
        nonempty = np.flatnonzero(lengths)
        if nonempty.size == 0:
            continue
        allh = _fmix32(np.concatenate([part[i] for i in nonempty]).astype(_U32))
        starts = np.concatenate(([0], np.cumsum(lengths[nonempty])[:-1]))
        tmp = np.empty_like(allh)
        sig = np.empty((num_perm, nonempty.size), dtype=_U32)
        with np.errstate(over="ignore"):
            for k in range(num_perm):
                np.multiply(allh, a[k], out=tmp)
                np.add(tmp, b[k], out=tmp)
                sig[k] = np.minimum.reduceat(tmp, starts)
        out[first + nonempty] = sig.T
    return out


def jaccard_sets(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted unique hash arrays."""
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


# numpy 2 renamed trapz to trapezoid; Beam 2.56 (pinned for its Flink runner) needs numpy < 1.27.
_trapezoid = getattr(np, "trapezoid", None) or np.trapz


def optimal_param(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false-positive / false-negative areas under the LSH
    S-curve, the same objective as datasketch's MinHashLSH parameter search."""
    xs_lo = np.linspace(0.0, threshold, 201)
    xs_hi = np.linspace(threshold, 1.0, 201)
    best, opt = float("inf"), (1, num_perm)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            p_lo = 1 - (1 - xs_lo ** rows) ** bands
            p_hi = 1 - (1 - xs_hi ** rows) ** bands
            fp = _trapezoid(p_lo, xs_lo)
            fn = _trapezoid(1 - p_hi, xs_hi)
            err = fp_weight * fp + fn_weight * fn
            if err < best:
                best, opt = err, (bands, rows)
    return opt
