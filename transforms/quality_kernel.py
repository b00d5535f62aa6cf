"""The token-level quality signals in one compiled pass over a document's code points.

Pure core, used by :func:`refinery.transforms.quality.quality_signals`. One call per document
tokenizes the text (words, Gopher's word-tokenizer tokens), counts scripts, hashes every word and
computes the top- and duplicated-n-gram character fractions — work that as regexes, Python lists
and per-document numpy calls cost an order of magnitude more (docs/PERFORMANCE.md).

numba compiles the loops to machine code on first use (cached on disk); the character classes are
a lookup table built once per process from the very regex classes that define them (``\\s``, ``\\w``,
``\\d``, ``[^\\W\\d_]`` and the ranges below), so the kernel and Python's ``re`` agree on every code
point. ``tests/test_quality_kernel.py`` checks the kernel against regex reference implementations.

Tokens (all counted in code points):

* words: each CJK character (Han, kana) is a word; otherwise a word is a maximal run of characters
  that are not whitespace, CJK punctuation or CJK. In text without CJK this is ``str.split()``.
* symbols: words with no word character (``»``, ``###``) — not words for Gopher's count and mean.
* word-tokenizer tokens (for the alphabetic-word ratio of text without CJK), in the order a regex
  alternation tries them: URLs and e-mail addresses whole and ``'s`` apart (with a letter); numbers
  with their ``.,:`` groups when not followed by a word character, runs of 2+ of one of ``-=_*~#.``
  and single punctuation marks (without a letter); else a run of non-space, non-punctuation
  characters with ``.``-joined continuations (with a letter).
"""

from __future__ import annotations

import functools
import re

import numpy as np
from numba import njit

# Han and kana: a "word" each (Hangul is written with spaces between words). Extensions B-H.
CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"
# CJK and fullwidth punctuation stands alone (no spaces around it): a separator, not a "word".
CJK_PUNCT_RANGES = ("\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2018-\u201f\u2026"
                    "\u00b7")
# Punctuation and symbols for the word tokenizer: listed (ASCII, Latin-1, general punctuation,
# currency, arrows, shapes...), not "not a word character" — combining vowel signs (Thai,
# Devanagari) are not \w but are letters.
PUNCT_RANGES = (r"!-/:-@\[-`{-~\u00a1-\u00bf\u00d7\u00f7\u2010-\u205e\u20a0-\u20bf\u2190-\u2bff\u3000-\u303f"
                r"\uff01-\uff0f")
# Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer).
NO_SPACE_RANGES = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
HANGUL_RANGES = "\uac00-\ud7af"

SP, CJK, CJKP, W, D, L, P, NS, HANGUL = 1, 2, 4, 8, 16, 32, 64, 128, 256
_CLASSES = ((SP, r"\s"), (CJK, f"[{CJK_RANGES}]"), (CJKP, f"[{CJK_PUNCT_RANGES}]"), (W, r"\w"), (D, r"\d"),
            (L, r"[^\W\d_]"), (P, f"[{PUNCT_RANGES}]"), (NS, f"[{NO_SPACE_RANGES}]"), (HANGUL, f"[{HANGUL_RANGES}]"))

# result slots of scan()
(N_CJK, N_HANGUL, N_SPACELESS, N_CJK_PUNCT, N_TOKENS, N_SYMBOLS, TOKEN_CHARS, SYMBOL_CHARS,
 SPACELESS_WORDS, LETTER_WORDS, WT_TOKENS, WT_LETTER_TOKENS, NGRAM_SCALE) = range(13)
N_RESULTS = 13
NGRAM_FIELDS = ("top_2gram_char_frac", "top_3gram_char_frac", "top_4gram_char_frac", "dup_5gram_char_frac",
                "dup_6gram_char_frac", "dup_7gram_char_frac", "dup_8gram_char_frac", "dup_9gram_char_frac",
                "dup_10gram_char_frac")


def _jit(fn):
    """Compiled, GIL-free, cached on disk; without a writable cache location (a read-only install and no
    writable home) numba refuses ``cache=True`` at import, so compile in each process instead."""
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:
        return njit(nogil=True)(fn)


@functools.lru_cache(maxsize=1)
def char_table() -> np.ndarray:
    """Class bits of every code point (0..0x10FFFF), from the regex classes themselves (~0.25 s, then
    read from the table cache)."""
    import sys
    import unicodedata

    from refinery.transforms.table_cache import cached_table

    depends = repr(("v1", _CLASSES, sys.version, unicodedata.unidata_version, _build_char_table.__code__.co_code))
    return cached_table("quality-char-classes", depends, _build_char_table)


def _build_char_table() -> np.ndarray:
    every = "".join(map(chr, range(0x110000)))
    table = np.zeros(0x110000, dtype=np.uint16)
    for bit, pattern in _CLASSES:
        hits = np.fromiter((m.start() for m in re.finditer(pattern, every)), dtype=np.int64)
        table[hits] |= bit
    return table


_U64 = np.uint64
_FNV_OFFSET = _U64(0xCBF29CE484222325)
_FNV_PRIME = _U64(0x100000001B3)
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)
_ROLL = _U64(0x9E3779B97F4A7C15)
_EMPTY = -1


@_jit
def _finish(h):
    h ^= h >> _U64(30)
    h *= _MIX1
    h ^= h >> _U64(27)
    h *= _MIX2
    return h ^ (h >> _U64(31))


@_jit
def _is(table, cps, i, bits):
    return i < cps.size and (table[cps[i]] & bits) != 0


@_jit
def _starts_with(cps, i, pattern):
    if i + pattern.size > cps.size:
        return False
    for k in range(pattern.size):  # noqa: SIM110 - numba's nopython mode compiles no generator into all()
        if cps[i + k] != pattern[k]:
            return False
    return True


_HTTP = np.array([ord(c) for c in "http"], dtype=np.uint32)
_SCHEME_END = np.array([ord(c) for c in "://"], dtype=np.uint32)
_WWW = np.array([ord(c) for c in "www."], dtype=np.uint32)


@_jit
def _letter_token_end(cps, table, i):
    """End of a URL, e-mail address or "'s" token starting at i, or -1."""
    n = cps.size
    # https?://\S+
    if _starts_with(cps, i, _HTTP):
        j = i + 4
        if j < n and cps[j] == 115:  # s
            j += 1
        if _starts_with(cps, j, _SCHEME_END) and j + 3 < n and not (table[cps[j + 3]] & SP):
            j += 3
            while j < n and not (table[cps[j]] & SP):
                j += 1
            return j
    # www\.\S+
    if _starts_with(cps, i, _WWW) and i + 4 < n and not (table[cps[i + 4]] & SP):
        j = i + 4
        while j < n and not (table[cps[j]] & SP):
            j += 1
        return j
    # [\w.+-]+@[\w-]+\.[\w.]+
    j = i
    while j < n and ((table[cps[j]] & W) or cps[j] == 46 or cps[j] == 43 or cps[j] == 45):
        j += 1
    if j > i and j < n and cps[j] == 64:  # @
        k = j + 1
        while k < n and ((table[cps[k]] & W) or cps[k] == 45):
            k += 1
        if k > j + 1 and k + 1 < n and cps[k] == 46 and ((table[cps[k + 1]] & W) or cps[k + 1] == 46):
            k += 1
            while k < n and ((table[cps[k]] & W) or cps[k] == 46):
                k += 1
            return k
    # ['’][^\W\d_]\w*
    if (cps[i] == 39 or cps[i] == 0x2019) and _is(table, cps, i + 1, L):
        j = i + 2
        while j < n and (table[cps[j]] & W):
            j += 1
        return j
    return -1


@_jit
def _other_token_end(cps, table, i):
    """End of a number, a run of one repeated mark or a single punctuation mark at i, or -1."""
    n = cps.size
    c = cps[i]
    # \d+(?:[.,:]\d+)*(?!\w): the longest chain end not followed by a word character
    if table[c] & D:
        j = i
        while j < n and (table[cps[j]] & D):
            j += 1
        last = j
        prev = -1
        while j + 1 < n and (cps[j] == 46 or cps[j] == 44 or cps[j] == 58) and (table[cps[j + 1]] & D):
            j += 1
            while j < n and (table[cps[j]] & D):
                j += 1
            prev = last
            last = j
        if last == n or not (table[cps[last]] & W):
            return last
        if prev >= 0:
            return prev  # followed by one of .,: (not a word character)
    # -{2,} ={2,} _{2,} \*{2,} ~{2,} #{2,} \.{2,}
    if (c == 45 or c == 61 or c == 95 or c == 42 or c == 126 or c == 35 or c == 46) and i + 1 < n and cps[i + 1] == c:
        j = i + 2
        while j < n and cps[j] == c:
            j += 1
        return j
    if table[c] & P:
        return i + 1
    return -1


@_jit
def _word_tokenizer_counts(cps, table):
    """(tokens, tokens with a letter) of the word tokenizer (module docstring)."""
    n = cps.size
    total = letters = 0
    i = 0
    while i < n:
        f = table[cps[i]]
        if f & SP:
            i += 1
            continue
        total += 1
        j = _letter_token_end(cps, table, i)
        if j >= 0:
            letters += 1
            i = j
            continue
        j = _other_token_end(cps, table, i)
        if j >= 0:
            i = j
            continue
        # [^\s PUNCT]+(?:\.[^\s PUNCT]+)*
        letters += 1
        j = i
        while True:
            while j < n and not (table[cps[j]] & (SP | P)):
                j += 1
            if j + 1 < n and cps[j] == 46 and not (table[cps[j + 1]] & (SP | P)):
                j += 1
                continue
            break
        i = j
    return total, letters


@_jit
def _ngram_fractions(hashes, lens, total_chars, scale, out):
    """Top 2-4-gram and duplicated 5-10-gram character fractions (Gopher repetition) into ``out``.

    An n-gram is ``n * scale`` tokens. The top n-gram is the most frequent one, ties going to the
    one that occurs first; its characters times its count over ``total_chars``. The duplicated
    fraction is the share of characters inside any later occurrence of a repeated n-gram.
    """
    for k in range(9):
        out[k] = 0.0
    nw = hashes.size
    if nw < 2 or total_chars == 0:
        return
    cum = np.zeros(nw + 1, dtype=np.int64)
    for i in range(nw):
        cum[i + 1] = cum[i] + lens[i]
    h = hashes.copy()
    size = 8
    while size < 2 * nw:
        size *= 2
    keys = np.empty(size, dtype=np.uint64)
    first = np.empty(size, dtype=np.int64)
    count = np.empty(size, dtype=np.int64)
    cover = np.empty(nw + 1, dtype=np.int64)
    mask = _U64(size - 1)
    n = 1
    for n_words in range(2, 11):
        target = n_words * scale
        while n < target and nw - n > 0:
            for i in range(nw - n):
                h[i] = h[i] * _ROLL + hashes[i + n]
            n += 1
        if n < target:
            break
        m = nw - n + 1
        if m <= 0:
            break
        top = n_words <= 4
        first[:] = _EMPTY
        if not top:
            cover[:] = 0
        repeats, best_count, best_first = _count_ngrams(h, m, n, top, keys, first, count, cover, mask)
        if not repeats:
            break  # nothing of this length repeats, so nothing longer does either
        if top:
            chars = (cum[best_first + n] - cum[best_first]) * best_count
            out[n_words - 2] = min(1.0, chars / total_chars)
        else:
            out[n_words - 2] = _covered_chars(cover, lens) / total_chars


@_jit
def _count_ngrams(h, m, n, top, keys, first, count, cover, mask):
    """Count the ``m`` n-gram hashes ``h[:m]`` in the open-addressing table (``keys``, ``first``,
    ``count``; ``first`` cleared by the caller). ``top``: track the most frequent n-gram (ties to the
    first), else mark each later occurrence's ``n`` tokens in ``cover`` (+1 at its start, -1 past its
    end). Returns (any repeat, best count, best n-gram's first index)."""
    repeats = False
    best_count = 1
    best_first = -1
    for i in range(m):
        slot = _finish(h[i]) & mask
        while first[slot] != _EMPTY and keys[slot] != h[i]:
            slot = (slot + _U64(1)) & mask
        if first[slot] == _EMPTY:
            keys[slot] = h[i]
            first[slot] = i
            count[slot] = 1
            continue
        repeats = True
        count[slot] += 1
        if top:
            c = count[slot]
            if c > best_count or (c == best_count and first[slot] < best_first):
                best_count = c
                best_first = first[slot]
        else:
            cover[i] += 1
            cover[i + n] -= 1
    return repeats, best_count, best_first


@_jit
def _covered_chars(cover, lens):
    """Characters of the tokens inside a marked run of ``cover`` (the running sum is positive)."""
    run = 0
    covered = 0
    for i in range(lens.size):
        run += cover[i]
        if run > 0:
            covered += lens[i]
    return covered


@_jit
def _scan(cps, table, res, grams):
    n = cps.size
    for k in range(res.size):
        res[k] = 0
    _count_scripts(cps, table, res)
    simple = res[N_CJK] == 0 and res[N_CJK_PUNCT] == 0
    hashes = np.empty(n, dtype=np.uint64)
    lens = np.empty(n, dtype=np.int64)
    nw = _tokens(cps, table, res, hashes, lens)
    res[N_TOKENS] = nw
    chars = 0
    for k in range(nw):
        chars += lens[k]
    res[TOKEN_CHARS] = chars
    if simple and nw:
        total, letters = _word_tokenizer_counts(cps, table)
        res[WT_TOKENS] = total
        res[WT_LETTER_TOKENS] = letters
    letters = res[WT_LETTER_TOKENS] if simple else res[LETTER_WORDS]
    scale = 2 if letters and res[N_CJK] / letters >= 0.5 else 1
    res[NGRAM_SCALE] = scale
    _ngram_fractions(hashes[:nw], lens[:nw], max(1, chars), scale, grams)


@_jit
def _count_scripts(cps, table, res):
    """CJK characters, CJK punctuation, other spaceless-script and Hangul characters into ``res``."""
    for i in range(cps.size):
        f = table[cps[i]]
        if f & CJK:
            res[N_CJK] += 1
        elif f & CJKP:
            res[N_CJK_PUNCT] += 1
        elif f & NS:
            res[N_SPACELESS] += 1
        elif f & HANGUL:
            res[N_HANGUL] += 1


@_jit
def _tokens(cps, table, res, hashes, lens):
    """Tokens (a CJK character each, else a run between spaces, CJK punctuation and CJK characters):
    their hashes and lengths into ``hashes`` and ``lens``, the word and symbol counts into ``res``.
    Returns the number of tokens."""
    n = cps.size
    nw = 0
    i = 0
    while i < n:
        f = table[cps[i]]
        if f & (SP | CJKP):
            i += 1
            continue
        if f & CJK:
            hashes[nw] = _finish((_FNV_OFFSET ^ _U64(cps[i])) * _FNV_PRIME)
            lens[nw] = 1
            nw += 1
            res[LETTER_WORDS] += 1
            i += 1
            continue
        start = i
        h = _FNV_OFFSET
        word = 0
        while i < n:
            g = table[cps[i]]
            if g & (SP | CJKP | CJK):
                break
            word |= g
            h = (h ^ _U64(cps[i])) * _FNV_PRIME
            i += 1
        hashes[nw] = _finish(h)
        lens[nw] = i - start
        nw += 1
        if not (word & W):
            res[N_SYMBOLS] += 1
            res[SYMBOL_CHARS] += i - start
        if word & L:
            res[LETTER_WORDS] += 1
        if table[cps[start]] & NS:
            res[SPACELESS_WORDS] += 1
    return nw


def scan(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(integer results, indexed by the slot constants above; the nine n-gram fractions)."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    res = np.empty(N_RESULTS, dtype=np.int64)
    grams = np.empty(9, dtype=np.float64)
    _scan(cps, char_table(), res, grams)
    return res, grams


# What may follow a run of ``.!?…`` that ends a sentence: closing quotes and brackets of every script
# (" ' ” ’ “ ‘ » › ) ] 」 』 》 〉 】 ）) — German and Russian close with “ and ‘, French with ».
SENT_CLOSERS = "\"'”’“‘»›)]」』》〉】）"
# Full stops that end a sentence wherever they stand (no space follows them in these scripts): CJK
# 。！？｡, Devanagari danda । ॥, Bengali ৷ (written for the danda in much Bengali text), Armenian ։,
# Urdu ۔, Arabic question mark ؟, Myanmar ။, Khmer ។, Ethiopic ።, Tibetan །.
SENT_MARKS = "。！？｡।॥৷։۔؟။។።།"
_SENT_FOLLOW = np.array([ord(c) for c in SENT_CLOSERS], dtype=np.uint32)
_SENT_CJK = np.array([ord(c) for c in SENT_MARKS], dtype=np.uint32)


@_jit
def _in(c, chars):
    for k in range(chars.size):  # noqa: SIM110 - numba's nopython mode compiles no generator into any()
        if chars[k] == c:
            return True
    return False


@_jit
def _is_latin_end(c):
    return c == 46 or c == 33 or c == 63 or c == 0x2026  # . ! ? …


@_jit
def _count_sentences(cps, table):
    """(sentence ends, index just after the last one, closers included; 0 if none)."""
    n = cps.size
    count = 0
    last = 0
    i = 0
    while i < n:
        c = cps[i]
        if _is_latin_end(c):  # a run of . ! ? … ends a sentence before a space, quote or bracket
            j = i + 1
            while j < n and _is_latin_end(cps[j]):
                j += 1
            if j == n or (table[cps[j]] & SP) or _in(cps[j], _SENT_FOLLOW):
                count += 1
                while j < n and _in(cps[j], _SENT_FOLLOW):
                    j += 1
                last = j
            i = j
        elif _in(c, _SENT_CJK):  # 。！？, danda, Armenian, Urdu, Arabic, Myanmar, Khmer... end one anywhere
            j = i + 1
            while j < n and _in(cps[j], _SENT_CJK):
                j += 1
            count += 1
            while j < n and _in(cps[j], _SENT_FOLLOW):
                j += 1
            last = j
            i = j
        else:
            i += 1
    return count, last


@_jit
def _line_sentence_ends(cps, table, counts, lasts):
    """Per ``\n``-separated line: sentence ends and the end of the last one (offset in the line), as
    :func:`_count_sentences` gives for each line alone (a newline is whitespace, and neither a mark nor
    a closer, so no run crosses it)."""
    n = cps.size
    line = 0
    start = 0
    counts[0] = 0
    lasts[0] = 0
    i = 0
    while i < n:
        c = cps[i]
        if c == 10:
            line += 1
            start = i + 1
            counts[line] = 0
            lasts[line] = 0
            i += 1
        elif _is_latin_end(c):
            j = i + 1
            while j < n and _is_latin_end(cps[j]):
                j += 1
            if j == n or (table[cps[j]] & SP) or _in(cps[j], _SENT_FOLLOW):
                counts[line] += 1
                while j < n and _in(cps[j], _SENT_FOLLOW):
                    j += 1
                lasts[line] = j - start
            i = j
        elif _in(c, _SENT_CJK):
            j = i + 1
            while j < n and _in(cps[j], _SENT_CJK):
                j += 1
            counts[line] += 1
            while j < n and _in(cps[j], _SENT_FOLLOW):
                j += 1
            lasts[line] = j - start
            i = j
        else:
            i += 1


def line_sentence_ends(lines: list[str]) -> list[tuple[int, int]]:
    """:func:`sentence_ends` of each line (lines without ``\n``), in one compiled pass."""
    if not lines:
        return []
    cps = np.frombuffer("\n".join(lines).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    counts = np.zeros(len(lines), dtype=np.int64)
    lasts = np.zeros(len(lines), dtype=np.int64)
    _line_sentence_ends(cps, char_table(), counts, lasts)
    return list(zip(counts.tolist(), lasts.tolist(), strict=True))


def sentence_ends(text: str) -> tuple[int, int]:
    """(sentence ends in ``text``, index just after the last one and the closing quotes or brackets
    that follow it; 0 when there is none). A sentence ends at a run of ``.!?…`` followed by
    whitespace, a closing quote or bracket (:data:`SENT_CLOSERS`) or the end, and at a run of
    :data:`SENT_MARKS` anywhere."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    count, last = _count_sentences(cps, char_table())
    return int(count), int(last)


def count_sentences(text: str) -> int:
    """Sentence ends in ``text`` (see :func:`sentence_ends`)."""
    return sentence_ends(text)[0]
