"""The compiled quality kernel against regex reference implementations of the same definitions.

The references are the readable specification (what the kernel's docstring says, as Python ``re``
patterns and numpy); the kernel must agree with them on every input: hand-picked edge cases,
prose in many scripts and seeded random strings over a nasty alphabet.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from refinery.transforms import quality_kernel as K

_CJK, _SEP, _PUNCT = K.CJK_RANGES, rf"\s{K.CJK_PUNCT_RANGES}", K.PUNCT_RANGES
WORD_RE = re.compile(rf"[{_CJK}]|[^{_SEP}{_CJK}]+")
SYMBOL_RE = re.compile(rf"(?<![^{_SEP}{_CJK}])[^\w{_SEP}{_CJK}]+(?![^{_SEP}{_CJK}])")
LETTER_WORD_RE = re.compile(rf"[{_CJK}]|[^{_SEP}{_CJK}]*[^\W\d_{_CJK}][^{_SEP}{_CJK}]*")
NO_SPACE_RE = re.compile(f"[{K.NO_SPACE_RANGES}]")
TOKEN_RE = re.compile(
    rf"(?:https?://\S+|www\.\S+|[\w.+-]+@[\w-]+\.[\w.]+|['’][^\W\d_]\w*)"
    rf"|(\d+(?:[.,:]\d+)*(?![\w])|-{{2,}}|={{2,}}|_{{2,}}|\*{{2,}}|~{{2,}}|#{{2,}}|\.{{2,}}|[{_PUNCT}])"
    rf"|[^\s{_PUNCT}]+(?:\.[^\s{_PUNCT}]+)*")
_CLOSE = re.escape(K.SENT_CLOSERS)
SENT_RE = re.compile(rf"(?:[.!?…]+(?=[\s{_CLOSE}]|$)|[{K.SENT_MARKS}]+)[{_CLOSE}]*")


def reference_ngrams(words: list[str], total_chars: int, scale: int) -> list[float]:
    out = [0.0] * 9
    nw = len(words)
    if nw < 2 or total_chars == 0:
        return out
    lens = [len(w) for w in words]
    for k, n_words in enumerate(range(2, 11)):
        n = n_words * scale
        grams = [tuple(words[i:i + n]) for i in range(nw - n + 1)]
        if not grams:
            break
        counts: dict[tuple, int] = {}
        first: dict[tuple, int] = {}
        for i, g in enumerate(grams):
            counts[g] = counts.get(g, 0) + 1
            first.setdefault(g, i)
        if max(counts.values()) < 2:
            break
        if n_words <= 4:
            top = max(counts, key=lambda g: (counts[g], -first[g]))
            out[k] = min(1.0, sum(lens[first[top]:first[top] + n]) * counts[top] / total_chars)
        else:
            covered = [False] * nw
            for i, g in enumerate(grams):
                if first[g] < i:
                    covered[i:i + n] = [True] * n
            out[k] = sum(ln for ln, c in zip(lens, covered, strict=True) if c) / total_chars
    return out


def reference(text: str) -> dict:
    cjk = len(re.findall(f"[{_CJK}]", text))
    simple = cjk == 0 and not re.search(f"[{K.CJK_PUNCT_RANGES}]", text)
    words = WORD_RE.findall(text)
    symbols = SYMBOL_RE.findall(text)
    if simple:
        tokens = TOKEN_RE.findall(text) if words else []
        letters = tokens.count("")
    else:
        tokens = []
        letters = len(LETTER_WORD_RE.findall(text))
    scale = 2 if letters and cjk / letters >= 0.5 else 1
    chars = sum(map(len, words))
    return {
        "n_cjk": cjk, "tokens": len(words), "symbols": len(symbols), "token_chars": chars,
        "symbol_chars": sum(map(len, symbols)), "spaceless_words": sum(1 for w in words if NO_SPACE_RE.match(w)),
        "letters": letters, "wt_tokens": len(tokens), "scale": scale,
        "ngrams": reference_ngrams(words, max(1, chars), scale),
    }


def kernel(text: str) -> dict:
    res, grams = K.scan(text)
    simple = res[K.N_CJK] == 0 and res[K.N_CJK_PUNCT] == 0
    return {
        "n_cjk": int(res[K.N_CJK]), "tokens": int(res[K.N_TOKENS]), "symbols": int(res[K.N_SYMBOLS]),
        "token_chars": int(res[K.TOKEN_CHARS]), "symbol_chars": int(res[K.SYMBOL_CHARS]),
        "spaceless_words": int(res[K.SPACELESS_WORDS]),
        "letters": int(res[K.WT_LETTER_TOKENS] if simple else res[K.LETTER_WORDS]),
        "wt_tokens": int(res[K.WT_TOKENS]), "scale": int(res[K.NGRAM_SCALE]), "ngrams": grams.tolist(),
    }


def assert_agree(text: str):
    ours, ref = kernel(text), reference(text)
    assert ours.pop("ngrams") == pytest.approx(ref.pop("ngrams")), repr(text)
    assert ours == ref, repr(text)


EDGE_CASES = [
    "", " ", "\n\n", "word", "a b c d e f", "»  ###  —  ... …", "e.g. the U.S.A. and www.example.org/x?y=1",
    "see https://example.com/a(b) or http://x — mail john.doe+tag@mail.example.co.uk. or @handle",
    "http:// https://a www. www.a a@b a@b. a@b.c _a@b.c -x@y.z", "can't it's l’homme 's '2 ’x 'É",
    "3rd 1.5x 1,000 1,2,3a 12:30pm 2024. 3.14159 1..2 1.,2 ٣٤٥ ² ½", "-- == __ ** ~~ ## .. ... ---- a--b _ -",
    "x.y.z a. .a a.b. a..b 1.a a.1", "C++ and C# are languages; so is F#.", "“quoted” ‘single’ «guillemets»",
    "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心。", "日本語のテキスト、カタカナ・ひらがな。",
    "한국어 텍스트입니다. 모든 사람은 자유롭다.",
    "ทุกคนมีสิทธิในการมีชีวิต เสรีภาพ และความมั่นคงแห่งตัว", "हर व्यक्ति को स्वतंत्रता का अधिकार है। वह स्वतंत्र है॥",
    "Mixed 中文 and English 文字 text. 句子。", "ＡＢＣ１２３ fullwidth ！？", "ideographic\u3000space and\xa0nbsp",
    "to be or not to be " * 20, "我爱你" * 30, "the cat sat on the mat. " * 10 + "the dog sat on the log. " * 10,
    "a b a b a b c c c c", "\ud800 lone surrogate", "emoji 😀😀 and 𠀀𠀁 ext-B and \U00030000 ext-G",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_kernel_matches_reference_on_edge_cases(text):
    assert_agree(text)


def test_kernel_matches_reference_on_random_strings():
    rng = random.Random(7)
    alphabet = list("ab cd\n\n.,:;!?'’\"-=_*~#@/+httpswww.x0123456789½²٣中文。，！？한국ไทย»…·"
                    "\u3000\t«()[]{}$%&é\u0301")
    pieces = ["http://a.b/c", "www.x.y", "a@b.co", "john.doe@x.com.", "'s", "3rd", "1.5x", "1,000", "1,2,3a", "--",
              "...", "x.y.z", "can't", "2024.", "12:30pm", "中文", "。", "the", "of", "and"]
    for _ in range(1500):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        else:
            text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        assert_agree(text)


@pytest.mark.parametrize("text", EDGE_CASES + [
    "One. Two! Three? Four... Five.\" Six.) Seven.x 8.5 end.", "一。二！三？？四", "क। ख॥ Ա։ ب۔ ج؟", "end!",
    "「一。」二。』」三", "Er sagte: „Ja.“ Dann ging er…", "« Oui. » Non ?» Fin…x", "ဒါ။ នេះ។ ሰላም። བོད།", "",
])
def test_sentence_count_matches_reference(text):
    ends = [m.end() for m in SENT_RE.finditer(text)]
    assert K.sentence_ends(text) == (len(ends), ends[-1] if ends else 0)
    assert K.count_sentences(text) == len(ends)


def test_sentence_ends_match_reference_on_random_text():
    rng = random.Random(17)
    alphabet = list("ab .!?…\"'”’“‘»›)]」』》〉】）。！？｡।॥։۔؟။។።།\n中x")
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        ends = [m.end() for m in SENT_RE.finditer(text)]
        assert K.sentence_ends(text) == (len(ends), ends[-1] if ends else 0), text


def test_top_ngram_ties_go_to_the_first_occurring():
    # every 2-gram but "dd a" occurs twice; "a b" (4 characters in all) occurs first, "cc dd" (8) last
    _res, grams = K.scan("a b cc dd a b cc dd")
    assert grams[0] == pytest.approx(4 / 12)


def test_char_table_follows_python_re():
    table = K.char_table()
    for ch in ["a", "É", "中", "。", " ", "\u3000", "\xa0", "5", "٣", "²", "_", "-", "€", "ไ", "한", "\u0301"]:
        bits = int(table[ord(ch)])
        assert bool(bits & K.SP) == bool(re.match(r"\s", ch)), ch
        assert bool(bits & K.W) == bool(re.match(r"\w", ch)), ch
        assert bool(bits & K.D) == bool(re.match(r"\d", ch)), ch
        assert bool(bits & K.L) == bool(re.match(r"[^\W\d_]", ch)), ch
        assert bool(bits & K.P) == bool(re.match(f"[{_PUNCT}]", ch)), ch
    assert not np.asarray(table).flags.writeable


def test_kernel_works_where_numba_has_no_cache_location():
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_LOCATOR_CLASSES="no.such.Locator")  # numba then refuses cache=True
    code = ("from refinery.transforms import quality_kernel as K; "
            "print(K.count_sentences('One. Two! Three?'), int(K.scan('a b a b')[0][K.N_TOKENS]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "4"]


def test_line_sentence_ends_equal_each_line_alone():
    rng = random.Random(23)
    alphabet = list("ab .!?…\"'”’“‘»›)]」』。！？।৷။។\u3000中x")
    for _ in range(300):
        lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(rng.randint(1, 8))]
        assert K.line_sentence_ends(lines) == [K.sentence_ends(ln) for ln in lines], lines
    assert K.line_sentence_ends([]) == []
