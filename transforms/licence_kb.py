"""Licence knowledge base: ScanCode's licence rules (notices, references, tags, URLs, short texts),
compiled by ``scripts/build_licence_kb.py`` into ``transforms/data/licence_kb.json.xz`` (pure core).

A document is cut into tokens (:func:`kb_tokens`: lower-cased words and numbers, ``+`` after a word
kept as its own token, so "GPL-2.0+" differs from "GPL-2.0"). Two indexes answer:

- rules of at most ``SHORT`` tokens are matched exactly, token for token, by one Aho-Corasick
  automaton (``pyahocorasick``) over the document's space-joined tokens;
- longer rules are matched approximately: their token 5-grams (64-bit hashes) sit in one sorted
  array; a rule is a candidate when enough of its 5-grams occur in the document (its coverage).

Candidates are then chosen the way a scanner does (:meth:`LicenceKB.match`): by matched length times
coverage, so the rule that the text supports completely beats a longer near-identical one whose extra
clause is missing (BSD-3-Clause over BSD-3-Clause-No-Nuclear-License-2014), and a match is kept only
where it does not mostly overlap one already kept. Short references ("MIT", "GPLv2") count only near
a licence word; a public-domain reference only in the form a dedication takes. Each kept match is a
:class:`KBMatch` with its span (characters), rule, kind and coverage: the evidence.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import lzma
import re
from importlib import resources

import numpy as np

SHORT = 12  # rules up to this many tokens: exact automaton; longer: 5-gram coverage
_NGRAM = 5
_TOKEN = re.compile(r"[^\W_]+|(?<=[^\W_])\+")
_MIN_COVERAGE = 0.8  # long rules: share of the rule's 5-grams found (ScanCode's minimum_coverage can raise it)
_MIN_COVERAGE_LONG = 0.6  # rules of 100 tokens and more (a header cut short still names its licence)
_CONTEXT = re.compile(r"licen[cs]|spdx|copyright|distributed under|released under|redistribut|\bterms\b|\blicen",
                      re.IGNORECASE)
_PD_GRANT = re.compile(
    r"(?:released|dedicated|placed|put|contributed|given|committed|granted)\s+(?:\w+\s+){0,3}(?:in|into|to)\s+the\s+"
    r"public\s+domain"
    r"|\b(?:files?|code|software|works?|data|program|library|sources?|documents?|contents?|module|package|"
    r"implementation|script|header|fonts?|tables?|algorithm)\b(?:[^.;]|\.(?=\w)){0,80}?\b(?:is|are|was|were|be|being)\s+(?:hereby\s+)?"
    r"(?:in\s+the\s+)?public[\s-]+domain"
    r"|\bconsider\s+(?:it|this|them)\s+(?:being\s+|as\s+|to\s+be\s+)?(?:in\s+the\s+)?public[\s-]+domain"
    r"|(?:^|[,;:(]\s*)public[\s-]+domain\s*[.)]?\s*$"
    r"|public[\s-]+domain\s+(?:dedication|software|licen[cs]e|mark)|licen[cs]e\s*[:=]\s*public[\s-]+domain"
    r"|free\s+and\s+unencumbered\s+software|\bno\s+copyright\b|disclaims?\s+(?:all\s+)?copyright",
    re.IGNORECASE | re.MULTILINE)
_P = np.uint64(0x100000001B3)
_COMMON = frozenset("""the a an of and or in on for to by with as is be this that license licence licensed public
general free software open source agreement terms use notice copyright version v any new original standard common
document documentation data content non commercial works work code program library file files you your may not no all
rights de la le du des und der die das""".split())


def name_key(name: str) -> str:
    """Lookup key of a licence name: its tokens, space-joined ("GPL 2.0 or later" → "gpl 2 0 or later")."""
    return " ".join(kb_tokens(name.replace("licence", "license")))


def kb_tokens(text: str) -> list[str]:
    """Tokens the knowledge base is matched on: lower-cased words, numbers, and a ``+`` after a word."""
    return _TOKEN.findall(text.lower())


@dataclasses.dataclass(frozen=True)
class KBMatch:
    spdx: str  # SPDX expression of the rule
    rule: str  # ScanCode rule name (e.g. "apache-2.0_7")
    kind: str  # text | notice | reference | tag
    start: int  # character span in the document
    end: int
    coverage: float  # share of the rule found in the document (1.0: exact)
    tokens: int  # length of the matched rule, in tokens

    def evidence(self) -> str:
        return f"kb:{self.rule} ({self.kind}) chars {self.start}-{self.end} coverage {self.coverage:.2f} -> {self.spdx}"


def _ngram_hashes(ids: np.ndarray) -> np.ndarray:
    """64-bit hash of each token 5-gram (len(ids) - 4 values)."""
    m = ids.size - _NGRAM + 1
    if m <= 0:
        return np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        acc = np.zeros(m, dtype=np.uint64)
        for k in range(_NGRAM):
            acc = acc * _P + ids[k:k + m]
        acc ^= acc >> np.uint64(29)
        acc *= np.uint64(0xBF58476D1CE4E5B9)
        acc ^= acc >> np.uint64(32)
    return acc


def _rule_ngram_index(long_ids: list[np.ndarray], long_owner: list[int],
                      n_rules: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes, owners, sizes) of the long rules: every distinct 5-gram hash of each rule
    (:func:`_ngram_hashes`) with the rule it belongs to, sorted by hash then rule, and the number of
    distinct hashes per rule (0 for the short ones). Computed over all rules at once: the n-grams
    of the concatenated token ids, less those that cross from one rule into the next."""
    sizes = np.zeros(n_rules, dtype=np.int32)
    if not long_ids:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int32), sizes
    lens = np.array([x.size for x in long_ids], dtype=np.int64)
    hashes = _ngram_hashes(np.concatenate(long_ids))
    owner = np.repeat(np.asarray(long_owner, dtype=np.int32), lens)[:hashes.size]
    offset = np.arange(hashes.size) - np.repeat(np.cumsum(lens) - lens, lens)[:hashes.size]
    inside = offset <= np.repeat(lens, lens)[:hashes.size] - _NGRAM  # the n-gram ends in its own rule
    h, o = hashes[inside], owner[inside]
    order = np.lexsort((o, h))
    h, o = h[order], o[order]
    first = np.ones(h.size, dtype=bool)
    first[1:] = (h[1:] != h[:-1]) | (o[1:] != o[:-1])
    h, o = h[first], o[first]
    sizes += np.bincount(o, minlength=n_rules).astype(np.int32)
    return h, o, sizes


class LicenceKB:
    """Rules, licences (SPDX id → category, exception flag) and licence URLs of the shipped knowledge base."""

    def __init__(self, data: dict):
        import ahocorasick

        self.licences: dict[str, dict] = data["licences"]
        self.urls: dict[str, str] = data["urls"]
        self.names: dict[str, str] = data.get("names", {})
        rules = data["rules"]
        self.rule_names = [r[0] for r in rules]
        self.exprs = [r[1] for r in rules]
        self.kinds = [r[2] for r in rules]
        self.relevance = np.array([r[3] for r in rules], dtype=np.int16)
        toks = [r[5].split(" ") for r in rules]
        self.ntok = np.array([len(t) for t in toks], dtype=np.int32)
        # references and tags are names, not prose: matched nearly word for word, or not at all
        self._exactish = np.array([r[2] in ("reference", "tag") for r in rules], dtype=bool)
        self.min_cov = np.array([max(r[4] / 100, _MIN_COVERAGE if len(t) < 100 else _MIN_COVERAGE_LONG)
                                 for r, t in zip(rules, toks, strict=True)])
        self._versioned = np.array([any(map(str.isdigit, r[5])) for r in rules], dtype=bool)
        self._auto = ahocorasick.Automaton()
        vocab: dict[str, int] = {}
        long_ids, long_owner = [], []
        for i, t in enumerate(toks):
            if len(t) <= SHORT:
                key = " " + " ".join(t) + " "
                prev = self._auto.get(key, None)
                # one pattern, several rules: a false positive wins (it exists to silence the others)
                if prev is None or self.kinds[i] == "false-positive":
                    self._auto.add_word(key, (i, len(t)))
            else:
                ids = np.array([vocab.setdefault(w, len(vocab) + 1) for w in t], dtype=np.uint64)
                long_ids.append(ids)
                long_owner.append(i)
        self._auto.make_automaton()
        self.vocab = vocab
        self._rule_ids = dict(zip(long_owner, (np.unique(x).astype(np.uint32) for x in long_ids), strict=True))
        # tokens that tell one licence from another (names, versions): a long rule whose text the
        # document supports except for one of these ("Perl" where the text says "Ruby") is not matched
        distinct = np.zeros(len(vocab) + 1, dtype=bool)
        for name in self.names:
            for t in name.split(" "):
                if t in vocab and t not in _COMMON:
                    distinct[vocab[t]] = True
        self._distinct = distinct
        self._hashes, self._owners, self._sizes = _rule_ngram_index(long_ids, long_owner, len(rules))

    @classmethod
    @functools.lru_cache(maxsize=1)
    def load(cls) -> LicenceKB:
        raw = resources.files("refinery.transforms").joinpath("data/licence_kb.json.xz").read_bytes()
        return cls(json.loads(lzma.decompress(raw)))

    def is_exception(self, spdx: str) -> bool:
        info = self.licences.get(spdx)
        return bool(info and info["exception"]) or spdx.endswith("-exception") or "-exception-" in spdx

    def name_licence(self, name: str) -> str | None:
        """SPDX id of a licence named by ScanCode's key, short name or full name (any case or punctuation)."""
        return self.names.get(name_key(name))

    def url_licence(self, url: str) -> str | None:
        """SPDX id of a licence page URL (opensource.org, gnu.org, apache.org ... as ScanCode lists them)."""
        u = re.sub(r"^https?://(?:www\.)?", "", url.strip()).split("#")[0].rstrip("/").lower()
        return self.urls.get(u) or self.urls.get(re.sub(r"\.(?:html?|php|txt)$", "", u))

    def match(self, text: str) -> list[KBMatch]:
        """Rules found in ``text``, chosen like a scanner (see the module docstring), in text order."""
        spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text.lower())]
        n = len(spans)
        if n == 0:
            return []
        low = text.lower()
        toks = [low[a:b] for a, b in spans]
        cands = self._exact_candidates(toks)  # (score, tokens, coverage, rule, tok_start, tok_end)
        if n >= _NGRAM and self._hashes.size:
            cands += self._ngram_candidates(toks)
        if not cands:
            return []
        return self._choose(cands, text, spans)

    def _exact_candidates(self, toks: list[str]) -> list[tuple]:
        """Rules found word for word (the Aho-Corasick automaton over the space-joined tokens)."""
        cands = []
        joined = " " + " ".join(toks) + " "
        bounds = np.cumsum([len(t) + 1 for t in toks])  # index just past each token's trailing space
        for end, (rule, k) in self._auto.iter(joined):
            t_end = int(np.searchsorted(bounds, end, side="left")) + 1
            if not self._versioned[rule] and _VERSION_AFTER.match(" ".join(toks[t_end:t_end + 3])):
                continue  # "Academic Free License" + "v1.1": a version-less rule says too little here
            cands.append((float(k), k, 1.0, rule, t_end - k, t_end))
        return cands

    def _ngram_candidates(self, toks: list[str]) -> list[tuple]:
        """Long rules whose token n-grams the text holds enough of (and no token that sets them apart)."""
        cands = []
        ids = np.array([self.vocab.get(t, 0) for t in toks], dtype=np.uint64)
        dh = _ngram_hashes(ids)
        uh, first = np.unique(dh, return_index=True)
        lo = np.searchsorted(self._hashes, uh, side="left")
        hi = np.searchsorted(self._hashes, uh, side="right")
        cnt = hi - lo
        sel = np.flatnonzero(cnt)
        if not sel.size:
            return cands
        c = cnt[sel]
        idx = np.repeat(lo[sel], c) + (np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c))
        owner = self._owners[idx]
        pos = np.repeat(first[sel], c)
        hits = np.bincount(owner, minlength=len(self.rule_names))
        cov = hits / np.maximum(self._sizes, 1)
        ok = np.flatnonzero((cov >= np.where(self._exactish, np.maximum(self.min_cov, 0.95), self.min_cov))
                            & (hits >= 3) & (self._sizes > 0))
        if not ok.size:
            return cands
        ok = ok[np.argsort(-(hits[ok] * cov[ok]), kind="stable")][:64]
        for r in ok.tolist():
            p = pos[owner == r]
            k = int(self.ntok[r])
            a, b = int(p.min()), int(p.max()) + _NGRAM
            rid = self._rule_ids[r]
            missing = rid[~np.isin(rid, ids[max(0, a - 8):b + 8])]
            if missing.size and self._distinct[missing].any():
                continue  # the rule names a licence or version that this text does not
            cands.append((float(hits[r] + _NGRAM - 1) * float(cov[r]), k, float(cov[r]), r, a, b))
        return cands

    def _choose(self, cands: list[tuple], text: str, spans: list[tuple[int, int]]) -> list[KBMatch]:
        """The candidates a scanner keeps: best first, none mostly inside a kept one, short ones only in a
        licence context; in text order."""
        # longest well-supported first; at equal score the exact (short) rule, then the rule name
        cands.sort(key=lambda c: (-c[0], -c[2], self.rule_names[c[3]]))
        covered = np.zeros(len(spans) + 1, dtype=bool)
        out = []
        for _score, k, cov, r, a, b in cands:
            if b <= a or covered[a:b].mean() > 0.5:
                continue
            kind = self.kinds[r]
            if kind == "false-positive":
                covered[a:b] = True
                continue
            expr = self.exprs[r]
            start, end = spans[a][0], spans[b - 1][1]
            if "public-domain" in expr and k < SHORT * 2:
                # "X is in the public domain" about something else is not this text's licence
                ctx = text[max(0, start - 120):end + 120]
                if not (_PD_GRANT.search(ctx) or _PD_GRANT.search(_flat(ctx))):
                    continue
            elif k < 3 or (kind == "reference" and k < 5 and self.relevance[r] < 100):
                ctx = text[max(0, start - 80):end + 80]
                if not _CONTEXT.search(ctx):
                    continue
            covered[a:b] = True
            out.append(KBMatch(expr, self.rule_names[r], kind, start, end, round(cov, 3), k))
        out.sort(key=lambda m: m.start)
        return out


def _flat(s: str) -> str:
    return re.sub(r"\s+(?:[*#;]+|//+|--)\s+|\s+", " ", s)


_ALTERNATIVE = re.compile(r"^[\s,;:()\-]*(?:or|and/or)\b", re.IGNORECASE)
_CHOICE = re.compile(r"dual[\s\-]*licen[cs]|\bat\s+your\s+(?:option|choice)(?!\)?\s*any\s+later)|your\s+choice|"
                     r"choose\s+(?:between|either|one|any)|\bor\s+alternatively\b", re.IGNORECASE)
_NOT_A_LICENCE = ("LicenseRef-scancode-warranty-disclaimer",)
_VERSION_AFTER = re.compile(r"^(?:v|version|ver|rev)?\s*\d")


def _family(spdx: str) -> str:
    m = re.match(r"([A-Za-z\-]+?)-?\d", spdx)
    return m.group(1) if m else spdx


def _subsumed(matches: list[KBMatch], text: str | None) -> list[KBMatch]:
    """Drop what another match already says: a reference "GPL-2" next to the notice "version 2 or any later
    version" (one licence, two wordings); a version-less mention ("the GNU Free Documentation License",
    the GNU warranty paragraph) next to a versioned one of the same family; a bare warranty disclaimer."""
    ids = {m.spdx for m in matches}
    out = []
    for m in matches:
        if m.spdx.endswith("-only") and m.spdx[:-5] + "-or-later" in ids:
            continue
        if m.spdx in _NOT_A_LICENCE:
            continue
        if text is not None and m.end > m.start and " " not in m.spdx and not re.search(r"\d", text[m.start:m.end]):
            fam = _family(m.spdx)
            if any(o is not m and " " not in o.spdx and _family(o.spdx) == fam and o.spdx != m.spdx
                   and re.search(r"\d", text[o.start:o.end]) for o in matches):
                continue
        out.append(m)
    return out


def expression_of(matches: list[KBMatch], kb: LicenceKB, text: str | None = None) -> str | None:
    """One SPDX expression for the licences matched: separate notices → AND; an exception next to
    one licence → WITH; OR where a rule says so (a dual-licence notice) or where the text offers a
    choice between two matches ("dual licensed under MIT or Apache-2.0", "MIT or Apache-2.0 at your
    option"). What another match already says is dropped first (:func:`_subsumed`)."""
    exprs: list[str] = []
    ordered = _subsumed(sorted(matches, key=lambda m: m.start), text)
    if text is not None and len(ordered) > 1:
        merged = [ordered[0]]
        for m in ordered[1:]:
            prev = merged[-1]
            gap = text[prev.end:m.start]
            sentence = text[max(0, prev.start - 120):m.end + 60]
            if m.spdx != prev.spdx and len(gap) < 60 and re.search(r"\bor\b", gap, re.IGNORECASE) \
                    and (_ALTERNATIVE.search(gap) or _CHOICE.search(sentence)
                         or (len(gap) < 40 and not re.search(r"\.\s|\band\b(?!/)|\n\s*\n", gap))) \
                    and not kb.is_exception(m.spdx) and not kb.is_exception(prev.spdx):
                a = prev.spdx if " AND " not in prev.spdx else f"({prev.spdx})"
                b = m.spdx if " AND " not in m.spdx else f"({m.spdx})"
                merged[-1] = dataclasses.replace(prev, spdx=f"{a} OR {b}", end=m.end)
            else:
                merged.append(m)
        ordered = merged
    for m in ordered:
        if m.spdx not in exprs:
            exprs.append(m.spdx)
    if not exprs:
        return None
    # an id already inside a compound expression found elsewhere adds nothing
    singles = [e for e in exprs if " " not in e]
    compound = [e for e in exprs if " " in e]
    inside = {t for e in compound for t in re.split(r"[\s()]+", e)}
    singles = [e for e in singles if e not in inside]
    exc = [e for e in singles if kb.is_exception(e)]
    lic = [e for e in singles if not kb.is_exception(e)]
    parts = sorted(lic)
    if exc and len(parts) == 1 and not compound:
        return f"{parts[0]} WITH {exc[0]}" if len(exc) == 1 else \
            " AND ".join([f"{parts[0]} WITH {exc[0]}"] + sorted(exc[1:]))
    parts += sorted(compound) + sorted(exc)
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(f"({p})" if " OR " in p else p for p in parts)
