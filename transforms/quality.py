"""Quality signals (one compiled pass over the text, plus str methods) and the rule presets that decide on them.

Pure core. :func:`quality_signals` returns every field of the ``quality`` struct
(``refinery.schemas.quality.QUALITY_FIELDS``); :func:`apply_rules` turns signals into at most one
rejection, named after the rule that fired, with the observed value and the threshold.

Script-aware units: a CJK (Han, kana, Hangul) character is one "word", so a Chinese article has a
word count comparable to its English translation; sentences also end in 。！？; stop words come
from per-language lists (``transforms/data/stopwords.json``; the 8 English words are Gopher's own).
CJK punctuation separates words and is not one. Hangul text is spaced, so its words are
whitespace words. For text that is mostly CJK — or written without spaces (Thai, Lao, Khmer,
Myanmar) — the mean-word-length rule does not apply; for CJK, FineWeb's "short line" is 10 characters
instead of 30 and Gopher's word n-grams are n × 2 characters (a Chinese word averages ~2 characters).
Sentence ends include 。！？, the danda ।, Armenian ։, Urdu ۔ and Arabic ؟. Thai, Lao, Khmer and
Myanmar mark sentences with spaces, not punctuation: the sentence and line-punctuation rules skip them,
and their word count is estimated as one word per 4 characters of those scripts.

Thresholds and their sources
----------------------------
gopher_quality — Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from
Training Gopher", Appendix A.1.1 (quality filters): 50 ≤ words ≤ 100,000; 3 ≤ mean word length ≤ 10;
symbol-to-word ratio ≤ 0.1; ≤ 90 % of lines start with a bullet; ≤ 30 % end with an ellipsis;
≥ 80 % of words contain a letter; ≥ 2 of the stop words.
gopher_repetition — same paper, Table A1: duplicate lines ≤ 0.30 (fraction of lines) and ≤ 0.20
(of characters); duplicate paragraphs ≤ 0.30 / ≤ 0.20; top 2-, 3-, 4-gram character fraction
≤ 0.20 / 0.18 / 0.16; duplicated 5- … 10-gram character fraction ≤ 0.15, 0.14, 0.13, 0.12, 0.11, 0.10.
c4 — Raffel et al. 2020, "Exploring the Limits of Transfer Learning" (T5), Section 2.2, with the
constants of its reference implementation (TFDS c4_utils): only lines ending in terminal punctuation
with at least 5 words are kept, lines with "javascript" or cookie/terms/privacy-policy phrases are
dropped, and a page with fewer than 3 sentences in what remains is removed; pages with "lorem ipsum"
or a curly brace are removed. Refinery does not cut lines out of the text (it annotates, then
decides): ``n_sentences`` counts sentences in the lines C4 would keep, and a page more than half of
whose lines are javascript or policy lines is rejected for it. C4's line rules are line filters, so
they judge lines only where a document has lines: a line with a sentence end inside it (a paragraph
on one line whose last sentence has no mark) is kept with its sentences; c4_terminal_punct and
fineweb_line_punct need 2+ lines and skip documents whose lines hold a sentence each on average.
Sentence ends are the marks of every script (。！？… ។ ။ । ؟ ۔ ...), with closing quotes after them.
fineweb — Penedo et al. 2024, "The FineWeb Datasets", Section 3.3 (custom filters): fraction of
lines ending in punctuation ≥ 0.12; fraction of characters in duplicated lines ≤ 0.1; fraction of
lines of ≤ 30 characters ≤ 0.67; and the list-like filter (newlines per word ≤ 0.3) from datatrove's
FineWebQualityFilter defaults.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

from refinery.schemas.reasons import RejectReason as R
from refinery.transforms import quality_kernel as K

_SEP = rf"\s{K.CJK_PUNCT_RANGES}"
_CJK = K.CJK_RANGES
# Words of text with CJK (the kernel counts them; stop words need them as strings): each CJK
# character, or a run of anything but whitespace, CJK punctuation and CJK.
_WORD_RE = re.compile(rf"[{_CJK}]|[^{_SEP}{_CJK}]+")
# At least five words at the start of a line (possessive: a word is never split to reach five).
_FIVE_WORDS_RE = re.compile(rf"(?:[{_SEP}]*+(?:[{_CJK}]|[^{_SEP}{_CJK}]++)){{5}}")
_EDGE_PUNCT = "\"'“”‘’()[]{}<>,.;:!?…*«»"
_PARA_RE = re.compile(r"\n\s*\n")
_BULLETS = ("•", "‣", "●", "▪", "◦", "·", "-", "*", "–", "—", "○", "■", "□", "➢", "►", "✓", "✔")
# Line ends C4 counts as terminal (TFDS c4_utils: . ? ! and the quotes; the CJK ones), as they always were ...
_TERMINAL = (".", "!", "?", '"', "”", "'", "’", "。", "！", "？", "…", "」", "』", "）", ")", "।", "॥", "։", "۔", "؟")
# ... and the full stops of other scripts, or any of them followed by closing quotes and brackets
# (”。」, .», !“, ?»): the same marks as the kernel's sentence ends.
_MARKS = tuple(".!?…" + K.SENT_MARKS)
_CLOSERS = K.SENT_CLOSERS + " \u00a0\u202f"  # French sets a (narrow) no-break space before » and ?


def ends_sentence(line: str) -> bool:
    """``line`` (stripped) ends in a terminal mark of any script, possibly followed by closing quotes
    or brackets."""
    return line.endswith(_TERMINAL) or line.rstrip(_CLOSERS).endswith(_MARKS)
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


@functools.lru_cache(maxsize=1)
def stopwords() -> dict[str, frozenset[str]]:
    data = json.loads(resources.files("refinery.transforms").joinpath("data/stopwords.json").read_text("utf-8"))
    return {lang: frozenset(words) for lang, words in data["languages"].items()}


def _stop_list(lang: str | None) -> frozenset[str] | None:
    if not lang:
        return None
    lists = stopwords()
    if lang in lists:
        return lists[lang]
    return lists.get(lang.split("-")[0])


# Languages written without spaces between words: a listed term matches as a substring there.
_SUBSTRING_LANGS = frozenset({"zh", "ja", "th"})
_WORD_TOKEN_RE = re.compile(r"\w+")


@functools.lru_cache(maxsize=64)
def badword_matcher(lang: str | None):
    """(single-word terms, multi-word terms as regexes, substring?) for ``lang`` (exact tag, else its
    base language), or None without a list. Lists: transforms/data/badwords (LDNOOBW, CC-BY-4.0)."""
    if not lang:
        return None
    root = resources.files("refinery.transforms").joinpath("data/badwords")
    for code in (lang, lang.split("-")[0]):
        f = root.joinpath(f"{code}.txt")
        if f.is_file():
            terms = sorted({t.strip().lower() for t in f.read_text("utf-8").splitlines() if t.strip()})
            if code.split("-")[0] in _SUBSTRING_LANGS:
                return (), tuple(terms), True
            single = frozenset(t for t in terms if _WORD_TOKEN_RE.fullmatch(t))
            # a multi-word term is looked for only when its first word is in the text
            multi = tuple((_first_word(t), t, re.compile(rf"(?<!\w){re.escape(t)}(?!\w)"))
                          for t in terms if t not in single)
            return single, multi, False
    return None


def count_badwords(low: str, lang: str | None) -> int | None:
    """Occurrences of listed terms in lower-cased text ``low``: whole words for spaced scripts,
    substrings for Chinese, Japanese and Thai; None for a language without a list."""
    m = badword_matcher(lang)
    if m is None:
        return None
    single, multi, substring = m
    if substring:
        return sum(low.count(t) for t in multi)
    tokens = _WORD_TOKEN_RE.findall(low)
    present = set(tokens)
    hits = single.intersection(present)
    n = sum(tokens.count(h) for h in hits) if hits else 0
    for first, term, rx in multi:
        if (first in present if first else term in low):
            n += len(rx.findall(low))
    return n


def _first_word(term: str) -> str | None:
    """The first \\w+ word of ``term`` if the term starts with it, else None."""
    m = _WORD_TOKEN_RE.match(term)
    return m.group(0) if m else None


def _dup_stats(items: list[str]) -> tuple[int, int]:
    """(number of items that repeat an earlier one, characters in them)."""
    seen: set[str] = set()
    n = chars = 0
    for it in items:
        if it in seen:
            n += 1
            chars += len(it)
        else:
            seen.add(it)
    return n, chars


def _c4_sentences(lines: list[str], simple: bool, screen: bool = True) -> int:
    """Sentences in the lines C4's line filter keeps: at least 5 words (CJK: characters), no
    "javascript", no cookie/terms/privacy-policy phrase (TFDS c4_utils), and a sentence end of its
    own — at the end of the line (C4's rule), or inside it: a paragraph written on one line whose
    last sentence has no mark (a cut-off byline, a closing quote C4 does not know) is prose, not a
    menu item, and keeps its sentences. The unterminated tail of such a line counts as one more
    sentence when it has 5 words itself. A line without a sentence end of any script is dropped, as
    in C4. ``screen=False``: the text has neither phrase, so no line is lower-cased to look for them."""
    kept, cut = [], []
    for ln in lines:
        if simple:
            if ln.count(" ") < 4 or len(ln.split()) < 5:
                continue
        elif not _FIVE_WORDS_RE.match(ln):
            continue
        if screen:
            low = ln.lower()
            if "javascript" in low or any(p in low for p in _POLICY):
                continue
        # C4 drops a line ending in an ellipsis; its earlier sentences stay (and its tail does not count)
        kept.append(ln.rstrip(".…") if ln.endswith(("...", "…")) else ln)
        cut.append(len(kept[-1]) < len(ln))
    count = 0
    for ln, was_cut, (n, last) in zip(kept, cut, K.line_sentence_ends(kept), strict=True):
        count += n
        if n and not was_cut and last < len(ln) and not ends_sentence(ln) and _five_words(ln[last:], simple):
            count += 1
    return count


def _five_words(text: str, simple: bool) -> bool:
    return len(text.split()) >= 5 if simple else bool(_FIVE_WORDS_RE.match(text.lstrip()))


def quality_signals(text: str, lang: str | None = None) -> dict:
    """Every quality signal of ``text`` (see refinery.schemas.quality.QUALITY_FIELDS).

    Token counts, scripts and n-gram fractions come from one compiled pass
    (:mod:`refinery.transforms.quality_kernel`); lines, paragraphs and phrases from ``str`` methods.
    """
    res, grams = K.scan(text)
    n_cjk, n_hangul, n_spaceless = int(res[K.N_CJK]), int(res[K.N_HANGUL]), int(res[K.N_SPACELESS])
    simple = n_cjk == 0 and res[K.N_CJK_PUNCT] == 0  # words are whitespace words
    n_tokens = int(res[K.N_TOKENS])
    # Tokens made of symbols only ("»", "###") are not words (Gopher's word count and mean length).
    n_words = n_tokens - int(res[K.N_SYMBOLS])
    if n_spaceless:  # Thai, Lao, Khmer, Myanmar: about one word per 4 characters
        n_words = max(n_words, n_words - int(res[K.SPACELESS_WORDS]) + n_spaceless // 4)
    word_chars = int(res[K.TOKEN_CHARS] - res[K.SYMBOL_CHARS])
    lines = [ln.strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    n_lines = len(lines)
    paras = [p.strip() for p in _PARA_RE.split(text) if p.strip()] if n_lines > 1 else lines
    total_chars = max(1, len(text))
    if not n_tokens:
        letters = alpha_frac = 0
    elif simple:
        # "80 % of words have a letter" over word-tokenizer tokens ("word," is two of them)
        letters = int(res[K.WT_LETTER_TOKENS])
        alpha_frac = letters / int(res[K.WT_TOKENS])
    else:
        letters = int(res[K.LETTER_WORDS])
        alpha_frac = letters / n_tokens
    stop = _stop_list(lang)
    low = text.lower()
    if stop is None:
        stop_count = None
    else:
        # distinct stop words, as the paper words it ("at least two of the following words")
        stop_count = len(stop.intersection(low.split() if simple else _WORD_RE.findall(low)))
        if simple and stop_count < 2:  # "the," and "(and" still count: strip edge punctuation
            stop_count = len(stop.intersection(w.strip(_EDGE_PUNCT) for w in low.split()))
    dup_lines, dup_line_chars = _dup_stats(lines)
    dup_paras, dup_para_chars = _dup_stats(paras)
    cjk_frac = n_cjk / max(1, letters) if letters else 0.0
    cjk = bool(res[K.NGRAM_SCALE] == 2)  # cjk_frac >= 0.5, decided once, in the kernel (n-gram length)
    short_len = 10 if cjk else 30
    terminal = sum(1 for ln in lines if ends_sentence(ln))
    javascript = "javascript" in low
    policy = any(p in low for p in _POLICY)
    sig = {
        "n_words": n_words,
        "mean_word_length": word_chars / n_words if n_words else 0.0,
        "symbol_word_ratio": (text.count("#") + text.count("...") + text.count("…")) / n_words if n_words else 0.0,
        "bullet_lines_frac": sum(1 for ln in lines if ln.startswith(_BULLETS)) / n_lines if n_lines else 0.0,
        "ellipsis_lines_frac": sum(1 for ln in lines if ln.endswith(("...", "…"))) / n_lines if n_lines else 0.0,
        "alpha_words_frac": alpha_frac,
        "stop_words": stop_count,
        "dup_line_frac": dup_lines / n_lines if n_lines else 0.0,
        "dup_para_frac": dup_paras / len(paras) if paras else 0.0,
        "dup_line_char_frac": dup_line_chars / total_chars,
        "dup_para_char_frac": dup_para_chars / total_chars,
        "terminal_punct_lines_frac": terminal / n_lines if n_lines else 0.0,
        "n_sentences": _c4_sentences(lines, simple, javascript or policy),
        "has_lorem_ipsum": "lorem ipsum" in low,
        "has_curly_brace": "{" in text,
        "javascript_lines": sum(1 for ln in lines if "javascript" in ln.lower()) if javascript else 0,
        "policy_lines": sum(1 for ln in lines if any(p in ln.lower() for p in _POLICY)) if policy else 0,
        "line_punct_ratio": terminal / n_lines if n_lines else 0.0,
        "short_line_ratio": sum(1 for ln in lines if len(ln) <= short_len) / n_lines if n_lines else 0.0,
        "newline_ratio": text.count("\n") / n_words if n_words else 0.0,
        "n_lines": n_lines,
        "badwords": count_badwords(low, lang),
        "cjk_frac": cjk_frac,
    }
    sig.update(zip(K.NGRAM_FIELDS, grams.tolist(), strict=True))
    # Scripts without spaces (Thai...) or written in syllable blocks (Hangul): word length there
    # cannot mean what Gopher meant by it.
    spaceless = n_spaceless > 0.3 * total_chars and not cjk
    sig["spaceless_script"] = spaceless
    sig["syllabic_script"] = spaceless or n_hangul > 0.3 * total_chars
    return sig


# --- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Reject when ``signal`` is below (``min``) / above (``max``) threshold ``param``, or is true (``flag``)."""

    reason: R
    signal: str
    op: str
    param: str | None = None
    skip_cjk: bool = False  # not for CJK, spaceless (Thai...) or syllable-block (Hangul) text
    skip_spaceless: bool = False  # not for scripts without spaces or sentence punctuation (Thai...)
    per_line: bool = False  # signal is a line count: compare its share of the lines
    # A line-layout rule applies only where the document has lines to judge: one paragraph on one line
    # (much CJK news, any text whose lines were joined) has no line ends to count.
    min_lines: int = 0
    unless: str | None = None  # skip when this signal is non-zero
    # skip when the lines are paragraphs: C4's line filter found at least one sentence per line
    unless_prose: bool = False

    def value(self, sig: dict):
        v = sig.get(self.signal)
        if self.per_line and v is not None:
            v = v / max(1, sig["n_lines"])
        return v


PRESETS: dict[str, list[Rule]] = {
    "gopher_quality": [
        Rule(R.GOPHER_SHORT_DOC, "n_words", "min", "min_words"),
        Rule(R.GOPHER_LONG_DOC, "n_words", "max", "max_words"),
        Rule(R.GOPHER_MEAN_WORD_LENGTH, "mean_word_length", "min", "min_mean_word_length", skip_cjk=True),
        Rule(R.GOPHER_MEAN_WORD_LENGTH, "mean_word_length", "max", "max_mean_word_length", skip_cjk=True),
        Rule(R.GOPHER_SYMBOL_RATIO, "symbol_word_ratio", "max", "max_symbol_word_ratio"),
        Rule(R.GOPHER_BULLET_LINES, "bullet_lines_frac", "max", "max_bullet_lines_frac"),
        Rule(R.GOPHER_ELLIPSIS_LINES, "ellipsis_lines_frac", "max", "max_ellipsis_lines_frac"),
        Rule(R.GOPHER_ALPHA_WORDS, "alpha_words_frac", "min", "min_alpha_words_frac"),
        Rule(R.GOPHER_STOP_WORDS, "stop_words", "min", "min_stop_words"),
    ],
    "gopher_repetition": [
        Rule(R.DUP_LINE_FRAC, "dup_line_frac", "max", "max_dup_line_frac"),
        Rule(R.DUP_PARA_FRAC, "dup_para_frac", "max", "max_dup_para_frac"),
        Rule(R.DUP_LINE_CHAR_FRAC, "dup_line_char_frac", "max", "max_dup_line_char_frac"),
        Rule(R.DUP_PARA_CHAR_FRAC, "dup_para_char_frac", "max", "max_dup_para_char_frac"),
        *[Rule(R.TOP_NGRAM_CHAR_FRAC, f"top_{n}gram_char_frac", "max", f"max_top_{n}gram_char_frac")
          for n in (2, 3, 4)],
        *[Rule(R.DUP_NGRAM_CHAR_FRAC, f"dup_{n}gram_char_frac", "max", f"max_dup_{n}gram_char_frac")
          for n in range(5, 11)],
    ],
    "c4": [
        Rule(R.C4_LOREM_IPSUM, "has_lorem_ipsum", "flag"),
        Rule(R.C4_CURLY_BRACE, "has_curly_brace", "flag"),
        Rule(R.C4_TOO_FEW_SENTENCES, "n_sentences", "min", "min_sentences", skip_spaceless=True),
        Rule(R.C4_TERMINAL_PUNCT, "terminal_punct_lines_frac", "min", "min_terminal_punct_lines_frac",
             skip_spaceless=True, min_lines=2, unless="n_sentences"),
        Rule(R.C4_JAVASCRIPT, "javascript_lines", "max", "max_javascript_lines_frac", per_line=True),
        Rule(R.C4_POLICY, "policy_lines", "max", "max_policy_lines_frac", per_line=True),
        Rule(R.C4_BADWORDS, "badwords", "max", "max_badwords"),
    ],
    "fineweb": [
        Rule(R.FINEWEB_LINE_PUNCT, "line_punct_ratio", "min", "min_line_punct_ratio", skip_spaceless=True,
             min_lines=2, unless_prose=True),
        Rule(R.FINEWEB_SHORT_LINES, "short_line_ratio", "max", "max_short_line_ratio"),
        Rule(R.FINEWEB_DUP_LINE_CHARS, "dup_line_char_frac", "max", "max_fineweb_dup_line_char_frac"),
        Rule(R.FINEWEB_NEWLINE_RATIO, "newline_ratio", "max", "max_newline_ratio"),
    ],
}


def rule_name(rule: Rule) -> str:
    """Unique, stable name of a rule (for quality.disabled_rules)."""
    return f"{rule.reason.value}:{rule.op}:{rule.signal}"


# Built-in per-language thresholds (FineWeb-2 style), fitted from clean reference text by
# scripts/fit_quality_thresholds.py into transforms/data/quality_thresholds.json (method there): Gopher's
# English-tuned word-length, alphabetic-ratio, stop-word and top-n-gram bounds, relaxed where the
# language's own clean text sits elsewhere (Malayalam words average 12 code points, Russian prose has
# fewer alphabetic tokens than English). The configuration shows them as quality.fitted_per_language.
@functools.lru_cache(maxsize=1)
def fitted_thresholds() -> dict[str, dict[str, float]]:
    data = json.loads(resources.files("refinery.transforms").joinpath("data/quality_thresholds.json")
                      .read_text("utf-8"))
    return data["languages"]


LANGUAGE_DEFAULTS = fitted_thresholds()


def thresholds_for(lang: str | None, base: dict[str, float], per_language: dict[str, dict[str, float]],
                   fitted: dict[str, dict[str, float]] | None = None) -> dict:
    """The thresholds that apply to a record in ``lang``: ``base``, then the fitted ones (``fitted``,
    default :data:`LANGUAGE_DEFAULTS`), then the configured overrides for the base language ('zh') and
    for the exact tag ('zh-Hant')."""
    t = dict(base)
    if lang:
        root = lang.split("-")[0]
        fitted = LANGUAGE_DEFAULTS if fitted is None else fitted
        t.update(fitted.get(root, {}))
        t.update(fitted.get(lang, {}))
        t.update(per_language.get(root, {}))
        t.update(per_language.get(lang, {}))
    return t


@functools.lru_cache(maxsize=64)
def _active_rules(rules: tuple[str, ...], disabled: frozenset[str]) -> tuple[tuple[str, Rule], ...]:
    """(preset, rule) in order, less the disabled ones — worked out once per configuration."""
    return tuple((preset, rule) for preset in rules for rule in PRESETS[preset]
                 if rule.reason.value not in disabled and rule_name(rule) not in disabled)


def _applies(rule: Rule, sig: dict, not_alphabetic: bool, spaceless: bool) -> bool:
    """Whether ``rule`` is meant for a record with signals ``sig`` (script and layout conditions)."""
    if (rule.skip_cjk and not_alphabetic) or (rule.skip_spaceless and spaceless):
        return False
    if (rule.min_lines and (sig.get("n_lines") or 0) < rule.min_lines) or (rule.unless and sig.get(rule.unless)):
        return False
    return not (rule.unless_prose and (sig.get("n_sentences") or 0) >= (sig.get("n_lines") or 0))


def apply_rules(sig: dict, rules: list[str], thresholds: dict[str, float], disabled: set[str] = frozenset()):
    """First rule (in preset order) that fires → (reason, detail); None if the record passes."""
    not_alphabetic = (sig.get("cjk_frac") or 0.0) >= 0.5 or sig.get("syllabic_script")
    spaceless = sig.get("spaceless_script")
    for preset, rule in _active_rules(tuple(rules), frozenset(disabled)):
        if not _applies(rule, sig, not_alphabetic, spaceless):
            continue
        v = rule.value(sig)
        if v is None:
            continue
        if rule.op == "flag":
            if v:
                return rule.reason, f"{rule.signal}=true ({preset})"
            continue
        t = thresholds[rule.param]
        if (rule.op == "min" and v < t) or (rule.op == "max" and v > t):
            cmp = "<" if rule.op == "min" else ">"
            shown = f"{v:.4g}" if isinstance(v, float) else str(v)
            return rule.reason, f"{rule.signal}={shown} {cmp} {rule.param}={t:g} ({preset})"
    return None


# --- quality score: what dedup.keep=quality_longest ranks by ------------------------------------

SCORE_FULL_MARGIN = 0.5  # a rule passed by half its threshold or more earns full credit


def quality_score(sig: dict, rules: list[str], thresholds: dict[str, float],
                  disabled: set[str] = frozenset()) -> float | None:
    """``quality_score``: mean credit over the active rules that apply to the record (same rules,
    skips and thresholds as :func:`apply_rules`), 0-1, rounded to 4 decimals; None when no rule applies.

    A rule's credit: 0 when it fires; when it passes, 0.5 plus 0.5 × the relative margin by which it
    passes, ``|value - threshold| / threshold``, capped at :data:`SCORE_FULL_MARGIN` (so passing by
    50 % of the threshold or more earns 1.0; a flag rule that does not fire earns 1.0; a threshold of
    0 passed earns 1.0). A record that every rule passes by a wide margin scores 1.0; one that
    scrapes past several thresholds scores near 0.5. Rejected records score below kept ones only in
    so far as a rule fired."""
    not_alphabetic = (sig.get("cjk_frac") or 0.0) >= 0.5 or sig.get("syllabic_script")
    spaceless = sig.get("spaceless_script")
    total = 0.0
    n = 0
    for _preset, rule in _active_rules(tuple(rules), frozenset(disabled)):
        if not _applies(rule, sig, not_alphabetic, spaceless):
            continue
        v = rule.value(sig)
        if v is None:
            continue
        n += 1
        if rule.op == "flag":
            total += 0.0 if v else 1.0
            continue
        t = thresholds[rule.param]
        margin = (v - t) if rule.op == "min" else (t - v)
        if margin < 0:
            continue  # fired: no credit
        rel = 1.0 if t == 0 else min(1.0, margin / abs(t) / SCORE_FULL_MARGIN)
        total += 0.5 + 0.5 * rel
    return round(total / n, 4) if n else None


# --- per-source presets -------------------------------------------------------------------------

# Named bundles over the configured quality settings, for sources that are not web pages. "web" is
# the configuration as it stands. Each other preset replaces the rules, adds disabled reasons and
# sets thresholds (the fitted and configured per-language values still apply over them).
SOURCE_PRESETS: dict[str, dict] = {
    "web": {},
    # Classical poetry and verse: a quatrain is 20 characters, refrains repeat lines and n-grams, and
    # a line of verse has no sentence punctuation; the web-layout rules (c4, fineweb) do not apply.
    "books": {
        "rules": ["gopher_quality", "gopher_repetition"],
        "disabled": ["gopher_stop_words", "gopher_bullet_lines", "gopher_ellipsis_lines"],
        "thresholds": {"min_words": 10, "max_dup_line_frac": 0.6, "max_dup_line_char_frac": 0.6,
                       "max_dup_para_frac": 0.6, "max_dup_para_char_frac": 0.6, "max_top_2gram_char_frac": 0.4,
                       "max_top_3gram_char_frac": 0.4, "max_top_4gram_char_frac": 0.4,
                       **{f"max_dup_{n}gram_char_frac": 0.6 for n in range(5, 11)}},
    },
    # News and papers: edited prose with headlines, bylines, datelines and captions (short lines without
    # sentence ends); the document-level Gopher and C4 rules still apply, FineWeb's line rules do not.
    "edited": {
        "rules": ["gopher_quality", "gopher_repetition", "c4"],
        "disabled": ["c4_terminal_punct"],
        "thresholds": {"min_words": 30},
    },
}
SOURCE_PRESETS["literature"] = SOURCE_PRESETS["books"]


def preset_settings(name: str, rules: list[str], thresholds: dict[str, float], disabled: set[str]):
    """(rules, thresholds, disabled reasons) of source preset ``name`` over the configured ones."""
    p = SOURCE_PRESETS[name]
    return (list(p.get("rules", rules)), {**thresholds, **p.get("thresholds", {})},
            set(disabled) | set(p.get("disabled", ())))


def preset_for(source_uri: str, by_input: dict[str, str], default: str = "web") -> str:
    """The preset of the first pattern of ``by_input`` (glob, matched on the source URI and on its
    file name) that matches, else ``default``."""
    import fnmatch

    name = source_uri.rsplit("/", 1)[-1]
    for pattern, preset in by_input.items():
        if fnmatch.fnmatchcase(source_uri, pattern) or fnmatch.fnmatchcase(name, pattern) \
                or fnmatch.fnmatchcase(source_uri, "*/" + pattern.lstrip("./")):
            return preset
    return default
