"""Licences, copyright statements and AI-training opt-outs (pure core).

- :func:`normalise_licence` — free text from metadata (``"Apache 2"``, ``"GPLv3"``, ``"CC BY-NC 4.0"``,
  a Creative Commons URL, ``"知识共享署名 4.0 国际许可协议"``) → SPDX expression, via the
  ``license-expression`` library for real SPDX expressions, a Creative Commons parser (English,
  Chinese, URLs, badges), a GNU family parser, and a curated alias table
  (``transforms/data/licence_aliases.json``). Unrecognised → ``LicenseRef-unknown``.
- :class:`LicenceIndex` — the SPDX License List as word 5-gram shingle sets (shipped compact index,
  ``transforms/data/spdx_index.npz``, built by ``scripts/build_spdx_index.py``); a document's shingles
  are looked up in one sorted array (vectorised), so matching costs the same whatever the list size.
- :func:`find_copyrights` — statements as written, holders, years; reservations
  ("All rights reserved", "版权所有", "未经许可，不得转载").
- :func:`find_opt_outs` — ``noai`` / ``noimageai`` robots values, TDMRep ``tdm-reservation``,
  explicit "not for AI training" statements (English and Chinese), in text and in metadata.
- :func:`category_of` — SPDX expression → permissive / weak-copyleft / copyleft / non-commercial /
  no-derivatives / public-domain / proprietary / unknown (``schemas/licence_categories.json``).

A cheap pre-filter (:func:`has_signal`, substring tests) skips every text detector on documents with
no licence-like word, so ordinary prose costs little more than one lower-casing.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import re
from importlib import resources

import numpy as np

from refinery.transforms.licence_kb import _PD_GRANT, KBMatch, LicenceKB, expression_of
from refinery.transforms.minhash import shingle_hashes

UNKNOWN = "LicenseRef-unknown"
PROPRIETARY = "LicenseRef-proprietary"
PUBLIC_DOMAIN = "LicenseRef-public-domain"

# Pre-filter: a document none of whose lower-cased text contains one of these has no licence,
# copyright or opt-out signal worth a regex. Substring tests run at memory speed, far faster than one
# alternation regex over the same words (docs/PERFORMANCE.md).
_SIGNAL_WORDS = ("licen", "copyright", "©", "(c)", "spdx", "permission is hereby", "redistribut", "warrant",
                 "creativecommons", "creative commons", "public domain", "rights reserved", "noai", "noimageai",
                 "tdm", "text and data mining", "training", "robots")
_SIGNAL_WORDS_CJK = ("版权", "版權", "许可", "許可", "著作权", "著作權", "授权", "授權", "转载", "轉載", "知识共享",
                     "知識共享", "人工智能", "人工智慧", "ai训练", "ai訓練", "创用", "創用")


# the common SPDX ids alone on a line (a README's licence section under its heading: "MIT")
_BARE_ID_SIGNALS = ("MIT", "ISC", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "Unlicense", "CC0-1.0",
                    "MPL-2.0", "BlueOak-1.0.0", "WTFPL", "Zlib")
_BARE_ID_LINE_RX = re.compile("\n(?:" + "|".join(re.escape(w) for w in _BARE_ID_SIGNALS) + ")\n")


def has_signal(text: str) -> bool:
    """Cheap pre-filter: could this text hold a licence, copyright or opt-out signal?"""
    low = text.lower()
    if any(w in low for w in _SIGNAL_WORDS):
        return True
    if _BARE_ID_LINE_RX.search("\n" + text if len(text) < 4096 else text) \
            or (len(text) < 40 and text.strip() in _BARE_ID_SIGNALS):
        return True
    return not text.isascii() and any(w in low for w in _SIGNAL_WORDS_CJK)


# --- metadata normalisation ---------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _licensing():
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@functools.lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    data = json.loads(resources.files("refinery.transforms").joinpath("data/licence_aliases.json").read_text("utf-8"))
    return {_alias_key(k): v for k, v in data["aliases"].items()}


def _alias_key(s: str) -> str:
    s = s.lower().replace("licence", "license")
    s = re.sub(r"[\s_,;:()\"'“”]+", " ", s).strip()
    return s


_LOOSE_WORDS = re.compile(r"\b(?:the|license|licensed|under|version|v|international|unported|generic|new|revised|"
                          r"simplified|agreement|public|or(?! later))\b|许可证|许可协议|国际|許可協議", re.IGNORECASE)


def _loose_key(s: str) -> str:
    """Alias key without parentheticals, quotes and filler words ("license", "version", "the", ...)."""
    s = re.sub(r"\([^)]*\)|（[^）]*）", " ", s.lower().replace("licence", "license"))
    s = _LOOSE_WORDS.sub(" ", s)
    s = re.sub(r"(?<=\D)v(?=\d)", " ", s)
    return re.sub(r"[\s_,;:\"'“”\-]+", " ", s).strip()


@functools.lru_cache(maxsize=1)
def _loose_aliases() -> dict[str, str]:
    data = json.loads(resources.files("refinery.transforms").joinpath("data/licence_aliases.json").read_text("utf-8"))
    out: dict[str, str] = {}
    for k, v in data["aliases"].items():
        out.setdefault(_loose_key(k), v)
    return out


_CC_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z\-]+)/(\d\.\d)", re.IGNORECASE)
_CC_TEXT = re.compile(
    r"(?:\bcc\b|creative\s*commons|知识共享|知識共享|創用\s*cc|创作共用)[\s\-:]*"
    r"(?P<parts>(?:(?:by|attribution|署名|姓名標示|nc|non-?commercial|noncommercial|非商业性使用|非商業性|sa|share-?alike|"
    r"相同方式共享|相同方式分享|nd|no-?deriv(?:ative)?s?|禁止演绎|禁止改作|zero|0)[\s\-–—/]*)*)"
    r"(?:(?:v|version|版本)?\s*(?P<ver>\d\.\d))?",
    re.IGNORECASE,
)
_GNU = re.compile(
    r"\b(?P<fam>a?gpl|lgpl|gnu (?:affero |lesser |library )?general public license|gnu gpl|gnu lgpl|gnu agpl)"
    r"[\s\-]*(?:v(?:ersion)?\.?\s*)?(?P<ver>[123](?:\.[01])?)?"
    r"(?P<plus>\+|\s*or\s*(?:\(at your option\)\s*)?(?:any\s*)?later(?:\s*version)?|-or-later)?"
    r"(?P<only>\s*only|-only)?",
    re.IGNORECASE,
)


def _cc_from_parts(parts: list[str], version: str | None) -> str | None:
    p = {x.lower() for x in parts}
    def has(*names):
        return any(n in p for n in names)
    if has("zero", "0"):
        return "CC0-1.0"
    comps = []
    if has("by", "attribution", "署名", "姓名標示") or has("nc", "sa", "nd"):
        comps.append("BY")
    if has("nc", "non-commercial", "noncommercial", "non commercial", "非商业性使用", "非商業性", "noncommercial"):
        comps.append("NC")
    if has("nd", "no-derivatives", "noderivatives", "no-derivs", "noderivs", "no derivatives", "禁止演绎", "禁止改作"):
        comps.append("ND")
    if has("sa", "share-alike", "sharealike", "相同方式共享", "相同方式分享"):
        comps.append("SA")
    if not comps:
        return None
    return "CC-" + "-".join(comps) + "-" + (version or "4.0")


def _cc_tokens(s: str) -> list[str]:
    toks = re.findall(r"non-?commercial|share-?alike|no-?deriv(?:ative)?s?|attribution|"
                      r"署名|姓名標示|非商业性使用|非商業性|相同方式共享|相同方式分享|禁止演绎|禁止改作|"
                      r"\bby\b|\bnc\b|\bsa\b|\bnd\b|\bzero\b", s, re.IGNORECASE)
    return [t.lower().replace(" ", "") for t in toks]


def creative_commons(s: str) -> str | None:
    """SPDX id of a Creative Commons licence named or linked in ``s``."""
    m = _CC_URL.search(s)
    if m:
        kind, code, ver = m.group(1).lower(), m.group(2).lower(), m.group(3)
        if kind == "publicdomain":
            return "CC0-1.0" if code == "zero" else ("CC-PDDC" if code == "mark" else None)
        return "CC-" + code.upper() + "-" + ver
    m = _CC_TEXT.search(s)
    if m is None and ("署名" in s or "姓名標示" in s):  # Chinese CC names often omit "知识共享"
        mv = re.search(r"(\d\.\d)", s)
        return _cc_from_parts(_cc_tokens(s), mv.group(1) if mv else None)
    if m:
        ver = m.group("ver")
        if ver is None:
            mv = re.search(r"(\d\.\d)", s[m.start():m.start() + 80])
            ver = mv.group(1) if mv else None
        return _cc_from_parts(_cc_tokens(s[m.start():m.end() + 40]), ver)
    return None


def gnu_family(s: str) -> str | None:
    m = _GNU.search(s)
    if not m:
        return None
    fam = m.group("fam").lower()
    base = "AGPL" if "affero" in fam or fam.startswith("agpl") or "agpl" in fam else \
        "LGPL" if ("lesser" in fam or "library" in fam or "lgpl" in fam) else "GPL"
    ver = m.group("ver")
    if ver is None:
        return None
    if "." not in ver:
        ver = {"LGPL": {"2": "2.0", "3": "3.0"}, "GPL": {"1": "1.0", "2": "2.0", "3": "3.0"},
               "AGPL": {"1": "1.0", "3": "3.0"}}[base].get(ver, ver + ".0")
    later = bool(m.group("plus"))
    return f"{base}-{ver}-{'or-later' if later else 'only'}"


def normalise_licence(raw) -> str | None:
    """Free-text licence → SPDX expression; ``LicenseRef-unknown`` if not understood; None if empty."""
    if raw is None:
        return None
    if isinstance(raw, (list, tuple)):
        parts = [p for p in (normalise_licence(x) for x in raw) if p]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else " AND ".join(sorted(set(parts)))
    if isinstance(raw, dict):
        for k in ("spdx_id", "spdx", "id", "name", "url"):
            if k in raw:
                return normalise_licence(raw[k])
        return UNKNOWN
    s = str(raw).strip()
    if not s:
        return None
    alias = _aliases().get(_alias_key(s))
    if alias:
        return alias
    expr = _spdx_expression(s)
    if expr is not None:
        return expr
    named = creative_commons(s) or gnu_family(s)
    if named:
        return named
    loose = _loose_licence(s)
    if loose is not None:
        return loose
    return _kb_name(s) or UNKNOWN


def _spdx_expression(s: str) -> str | None:
    """``s`` rendered as a valid SPDX expression, or None when it is not one."""
    try:
        expr = _licensing().parse(s, validate=True, strict=False)
        if expr is not None:
            return expr.render()
    except Exception:  # noqa: BLE001 - not an SPDX expression: the caller tries other parsers
        pass
    return None


def _loose_licence(s: str) -> str | None:
    """The known spellings again with parentheticals and filler words ("license", "version", "the")
    removed, and as SPDX ids with hyphens for spaces."""
    loose = _loose_key(s)
    alias = _loose_aliases().get(loose)
    if alias:
        return alias
    mv = re.fullmatch(r"(.*?)\s*(\d+(?:\.\d+)?)", loose)
    if mv:  # "boost software 1.0" -> the alias "boost software", if it names that very version
        alias = _loose_aliases().get(mv.group(1).strip())
        ver = mv.group(2) if "." in mv.group(2) else mv.group(2) + ".0"
        if alias and alias.endswith("-" + ver):
            return alias
    for candidate in (loose.replace(" ", "-"), re.sub(r" (\d)", r"-\1", loose)):
        expr = _spdx_expression(candidate)
        if expr is not None:
            return expr
    return None


def _kb_name(s: str) -> str | None:
    """A licence name, URL or notice the knowledge base knows: ScanCode's licence keys and names, licence
    page URLs, then its rules, when they explain the whole string."""
    kb = LicenceKB.load()
    got = kb.name_licence(s)
    if got:
        return got
    if re.match(r"(?:https?://)?[\w.\-]+\.[a-z]{2,}/", s.strip(), re.IGNORECASE):
        got = kb.url_licence(s)
        if got:
            return got
    matches = kb.match(s)
    if matches:
        covered = sum(m.end - m.start for m in matches)
        if covered >= 0.6 * len(s.strip()):
            return expression_of(matches, kb)
    return None


# --- categories ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _categories() -> tuple[dict[str, str], list[tuple[re.Pattern, str]]]:
    data = json.loads(resources.files("refinery.schemas").joinpath("licence_categories.json").read_text("utf-8"))
    return data["ids"], [(re.compile(p, re.IGNORECASE), c) for p, c in data["patterns"]]


_RESTRICTIVENESS = ["public-domain", "permissive", "weak-copyleft", "copyleft", "no-derivatives", "non-commercial",
                    "proprietary", "unknown"]


def category_of_id(spdx_id: str) -> str:
    """The project's table (``schemas/licence_categories.json``) first, then ScanCode's category for
    the ids it knows, else unknown."""
    ids, patterns = _categories()
    if spdx_id in ids:
        return ids[spdx_id]
    for rx, cat in patterns:
        if cat != "unknown" and rx.fullmatch(spdx_id):
            return cat
    info = LicenceKB.load().licences.get(spdx_id)
    if info and info["category"] != "unknown":
        return info["category"]
    return "unknown"


def category_of(expression: str | None) -> str:
    """Category of an SPDX expression: an OR takes the least restrictive option, an AND the most."""
    if not expression:
        return "unknown"
    if " OR " in expression and " AND " not in expression:
        cats = [category_of_id(x.strip("() ")) for x in expression.split(" OR ")]
        return min(cats, key=_RESTRICTIVENESS.index)
    ids = [x.strip("() ") for x in re.split(r" AND | OR | WITH ", expression)]
    ids = [i for i in ids if i and not i.endswith("-exception")]
    cats = [category_of_id(i) for i in ids] or ["unknown"]
    return max(cats, key=_RESTRICTIVENESS.index)


# --- licence texts ------------------------------------------------------------------------------

_SPDX_TAG = re.compile(r"SPDX[\s\-‐_]*License[\s\-‐_]*Identifier\s*[:=]\s*[\"']?([^\n\r*\"'#]+?)[\"']?\s*"
                       r"(?:\*/|-->|\*|$)", re.IGNORECASE | re.MULTILINE)
_NOTICES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"licensed under the apache license,? version 2\.0", re.I), "Apache-2.0"),
    (re.compile(r"apache license,? version 2\.0", re.I), "Apache-2.0"),
    (re.compile(r"licensed under the mit license|released under the mit license|mit licen[cs]ed", re.I), "MIT"),
    (re.compile(r"permission is hereby granted, free of charge, to any person obtaining a copy", re.I), "MIT"),
    (re.compile(r"mozilla public\s+(?:\*\s*)?license,? v(?:ersion|\.)?\s*2\.0", re.I), "MPL-2.0"),
    (re.compile(r"eclipse public license,? v(?:ersion|\.)?\s*2\.0", re.I), "EPL-2.0"),
    (re.compile(r"boost software license,? version 1\.0", re.I), "BSL-1.0"),
    (re.compile(r"this is free and unencumbered software released into the public domain", re.I), "Unlicense"),
]


_NOT_A_LICENCE = ("LicenseRef-scancode-warranty-disclaimer",)
_UNLICENSE = re.compile(r"this is free and unencumbered software released into the public domain", re.I)
_COMMENT_MARKS = re.compile(r"(?:\s+(?:\*+|#+|//+|;+|--)(?=\s))+")
_SPACES = re.compile(r"\s+")


# a line that is only an SPDX id, as README licence sections write it: "MIT", "ISC © Jane Doe",
# "License: Apache-2.0", "[BSD-3-Clause](LICENSE)", "MIT License"
_BARE_ID_LINE = re.compile(r"^[ \t>*_#`\-]*(?:licen[cs]e[ds]?[ \t]*(?:under[ \t]+)?[:\-]?[ \t]*)?(?:the[ \t]+)?\[?`?"
                           r"(?P<id>[A-Za-z0-9][A-Za-z0-9.\-+]{2,40})`?(?:\]\([^) \t\n]*\))?"
                           r"(?:[ \t]+licen[cs]e)?[ \t*_`.]*(?:(?:©|\(c\)|copyright\b).*)?$",
                           re.IGNORECASE | re.MULTILINE)
# a work put into the public domain, in the forms a dedication takes (no knowledge-base rule says it)
_PD_STATEMENT = re.compile(r"(?:,\s*|^\s*)public\s+domain\s*\.?\s*$", re.IGNORECASE | re.MULTILINE)


_ID_GRANT = re.compile(r"\b(?:licen[cs]e\s+is|licen[cs]ed\s+(?:under\s+)?|released\s+under|distributed\s+under|"
                       r"available\s+under|published\s+under|licen[cs]ed\s+as)\s+(?:the\s+(?:terms\s+of\s+the\s+)?)?"
                       r"\[?`?(?P<id>[A-Za-z0-9][A-Za-z0-9.\-+]{2,40}?)(?=[`\]\s,;:)]|\.?$|\.\s)",
                       re.IGNORECASE | re.MULTILINE)


_OR_LATER = re.compile(r"\bversion\s+\d(?:\.\d)?\s*(?:of\s+the\s+licen[cs]e\s*)?,?\s*or\s+"
                       r"(?:\(?at\s+your\s+option\)?\s*)?(?:any\s+)?(?:later|newer|higher|greater)\b", re.IGNORECASE)


def _own_paragraph(text: str, a: int, b: int) -> bool:
    """Is text[a:b] (one line) a paragraph of its own? ("Stanford\nMIT\nHarvard" is a list of names.)"""
    prev = text[:a].rstrip(" \t")
    prev_line = prev[:-1].rsplit("\n", 1)[-1] if prev.endswith("\n") else prev
    after = text[b:].split("\n", 2)
    return not prev_line.strip() and not (after[1] if len(after) > 1 else "").strip()


def _bare_ids(text: str, kb: LicenceKB) -> list[TextLicence]:
    """SPDX ids written alone on a line, or right after a grant ("licensed under ISC", "the license is
    MIT"), in the case the SPDX list writes them (``LicenseRef-`` never)."""
    out: list[TextLicence] = []
    lines = [m for m in _BARE_ID_LINE.finditer(text) if _own_paragraph(text, m.start(), m.end())]
    for m in sorted([*lines, *_ID_GRANT.finditer(text)], key=lambda m: m.start()):
        spdx = m.group("id")
        if spdx.startswith("LicenseRef") or spdx not in kb.licences or kb.is_exception(spdx) \
                or not any(c.isupper() for c in spdx):
            continue
        if not any(f.spdx == spdx for f in out):
            out.append(TextLicence(spdx, "tag", 0.9, f"bare-id line chars {m.start()}-{m.end()}", m.start(), m.end()))
    return out


@dataclasses.dataclass
class TextLicence:
    spdx: str
    how: str  # tag | notice | rule | creative-commons | full-text
    score: float = 1.0
    evidence: str = ""
    start: int = 0  # character span of the evidence in the text (0, 0: the whole text or unknown)
    end: int = 0


class LicenceIndex:
    """SPDX licence texts as shingle sets; query with a document's shingles."""

    def __init__(self, ids: list[str], sizes: np.ndarray, hashes: np.ndarray, owners: np.ndarray):
        self.ids = ids
        self.sizes = sizes
        self.hashes = hashes  # sorted
        self.owners = owners  # licence index per hash
        # distinct hashes and where each one's run starts in ``hashes``: one binary search per shingle
        first = np.concatenate(([True], hashes[1:] != hashes[:-1])) if hashes.size else np.zeros(0, dtype=bool)
        self._uniq = hashes[first]
        self._starts = np.append(np.flatnonzero(first), hashes.size)

    @classmethod
    @functools.lru_cache(maxsize=1)
    def load(cls) -> LicenceIndex:
        raw = resources.files("refinery.transforms").joinpath("data/spdx_index.npz").read_bytes()
        z = np.load(io.BytesIO(raw), allow_pickle=False)
        ids = json.loads(bytes(z["ids"]).decode())
        sizes = z["sizes"]
        owners = np.repeat(np.arange(len(ids), dtype=np.int32), sizes)
        hashes = z["hashes"]
        order = np.argsort(hashes, kind="stable")
        return cls(ids, sizes, hashes[order], owners[order])

    def match(self, text: str, min_hits: int = 12, top_n: int = 16) -> list[tuple[str, float, float, int]]:
        """[(spdx id, containment of the licence in the text, share of the text that is licence, hits)]
        best first, at most ``top_n``; only licences with at least ``min_hits`` shared shingles."""
        h = shingle_hashes(licence_normal(text), 5, "word")
        if h.size < min_hits:
            return []
        u = np.searchsorted(self._uniq, h, side="left")
        u = np.minimum(u, self._uniq.size - 1)
        found = self._uniq[u] == h
        lo = np.where(found, self._starts[u], 0)
        counts = np.where(found, self._starts[u + 1] - self._starts[u], 0)
        if not counts.any():
            return []
        idx = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        hits = np.bincount(self.owners[idx], minlength=len(self.ids))
        cand = np.flatnonzero(hits >= min_hits)
        if cand.size == 0:
            return []
        c = hits[cand] / self.sizes[cand]
        # best: most shingles found times the share of the licence found, so a longer near-identical licence
        # (BSD-3-Clause-No-Nuclear-License-2014 around BSD-3-Clause) wins only when its extra clause is there
        score = hits[cand] * c
        top = np.lexsort((-c, -score))[:top_n]
        out = [(self.ids[i], float(c[k]), float(hits[i] / h.size), int(hits[i]))
               for k, i in ((k, int(cand[k])) for k in top.tolist())]
        out.sort(key=lambda t: (-t[3] * t[1], -t[1], t[0]))
        return self._distinguished(out, h)

    def other_texts(self, matches: list[tuple[str, float, float, int]]) -> list[TextLicence]:
        """Besides the best licence text (``matches[0]``), the other licence texts that the document
        holds whole (containment >= 0.9) and that are not variants of one already taken (most of their
        shingles are their own): the second text of a dual-licence file."""
        taken = [matches[0][0]]
        out = []
        for spdx, contain, share, _hits in matches[1:]:
            if contain < 0.9 or "exception" in spdx.lower():
                continue
            mine = self._shingles_of(spdx)
            if all(np.isin(mine, self._shingles_of(t)).mean() < 0.4 for t in taken):
                taken.append(spdx)
                out.append(TextLicence(spdx, "full-text", round(contain, 3),
                                       f"spdx-text:{spdx} containment {contain:.2f} share {share:.2f} (second text)"))
        return out

    def _shingles_of(self, spdx: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_own", {})
        if spdx not in cache:
            if "_by_owner" not in self.__dict__:
                order = np.argsort(self.owners, kind="stable")
                self._by_owner = (self.hashes[order], np.searchsorted(self.owners[order], np.arange(len(self.ids) + 1)))
            h, starts = self._by_owner
            i = self.ids.index(spdx)
            cache[spdx] = np.unique(h[starts[i]:starts[i + 1]])
        return cache[spdx]

    def _distinguished(self, out: list[tuple[str, float, float, int]], doc: np.ndarray):
        """The best licence keeps first place only when the document holds what sets it apart from a
        runner-up that explains the document as well (Pixar is the Apache-2.0 text plus a clause, and
        Apache-2.0 without its appendix must not become Pixar): when less than a quarter of the best
        licence's own shingles (those the runner-up lacks) are in the document, the runner-up goes first."""
        if len(out) < 2 or out[0][1] < 0.5:
            return out
        best = out[0]
        mine = None
        for k, other in enumerate(out[1:4], 1):
            if other[2] < best[2] or other[1] < 0.8:
                continue
            mine = self._shingles_of(best[0]) if mine is None else mine
            own = np.setdiff1d(mine, self._shingles_of(other[0]), assume_unique=True)
            if own.size >= 8 and np.isin(own, doc).mean() < 0.25:
                return [other] + out[:k] + out[k + 1:]
        return out


_PUNCT = re.compile(r"[^\w\s]+")


def licence_normal(text: str) -> str:
    """Lower-case, punctuation and SPDX template markers removed, whitespace collapsed."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def licences_in_text(text: str, index: LicenceIndex | None, full_text_min: float = 0.5,
                     kb: LicenceKB | None = None) -> list[TextLicence]:
    """Licences declared in the text, strongest evidence first:

    1. the document *is* a licence text (≥ 90 % of an SPDX licence present, ≥ 80 % of the document);
    2. ``SPDX-License-Identifier`` tags (any spacing, quoted or in a comment);
    3. the licence knowledge base (:mod:`refinery.transforms.licence_kb`: ScanCode's notices,
       references, tags, URLs and short texts), chosen like a scanner; then GNU "either version N ... or
       any later version" notices, standard notices and Creative Commons links, badges and names that
       the rules did not already cover;
    4. a partial licence text (a header, a quoted licence) matched against the SPDX list.
    Exceptions (``*-exception``) are never a licence on their own. ``evidence`` says what matched where.
    """
    all_matches = index.match(text) if index is not None else []
    whole = _whole_licence_text(text, index, all_matches, kb) if all_matches else None
    if whole:
        return whole
    found = _spdx_tags(text)
    if found:
        return found
    kb = kb if kb is not None else LicenceKB.load()
    unlicense = _UNLICENSE.search(text)
    if unlicense:  # the Unlicense's own first sentence, which the public-domain rules also match
        found.append(TextLicence("Unlicense", "notice", 1.0, f"notice: {unlicense.group(0)!r}"))
    kb_found = _without_pointer_wording(text, [m for m in kb.match(text) if m.spdx not in _NOT_A_LICENCE])
    partial = [m for m in all_matches if "exception" not in m[0].lower()]
    own_text = _mostly_one_licence_text(partial, kb_found)
    if own_text:
        return [own_text]
    _add_kb_licences(text, kb_found, bool(unlicense), found)
    # notices are matched on the text without comment markers and line breaks ("# ", " * ", "// ")
    flat = _SPACES.sub(" ", _COMMENT_MARKS.sub(" ", text))
    _add_notices(text, flat, found)
    if found:
        return found
    found = _bare_ids(text, kb)
    if found:
        return found
    pd = _PD_STATEMENT.search(text) or _PD_GRANT.search(flat)
    if pd:
        return [TextLicence("LicenseRef-public-domain", "notice", 1.0, f"public-domain statement: {pd.group(0)!r}",
                            0, 0)]
    if partial:
        spdx, contain, share, _hits = partial[0]
        if contain >= full_text_min or share >= 0.6:
            return [TextLicence(spdx, "full-text", round(max(contain, share), 3),
                                f"spdx-text:{spdx} containment {contain:.2f} share {share:.2f} (partial)")]
    return []


def _whole_licence_text(text: str, index: LicenceIndex, all_matches: list, kb: LicenceKB | None
                        ) -> list[TextLicence] | None:
    """The licence(s) when the document is an SPDX licence text (``all_matches``: the index's, best first)."""
    spdx, contain, share, _hits = all_matches[0]
    if not (contain >= (0.85 if len(all_matches) > 1 and all_matches[1][1] > contain else 0.9) and share >= 0.8):
        return None
    # The document is that licence text (which may itself quote SPDX tags or other licences) --
    # unless part of it is missing (a clause that sets it apart from a near-identical licence) and
    # a knowledge-base text that the document supports more fully names another licence.
    if contain < 0.97:
        kb = kb if kb is not None else LicenceKB.load()
        better = [m for m in kb.match(text) if m.kind == "text" and m.coverage > contain and m.spdx != spdx
                  and m.end - m.start >= 0.6 * len(text.strip())]
        if better:
            m = better[0]
            return [TextLicence(m.spdx, "full-text", m.coverage, m.evidence() +
                                f" (over spdx-text:{spdx} containment {contain:.2f})", m.start, m.end)]
    out = [TextLicence(spdx, "full-text", round(min(contain, share), 3),
                       f"spdx-text:{spdx} containment {contain:.2f} share {share:.2f}")]
    if share < 0.97:  # room for a second licence text in the same file (a dual-licence LICENSE)
        out += index.other_texts(all_matches)
    return out


def _spdx_tags(text: str) -> list[TextLicence]:
    """The licences of the text's ``SPDX-License-Identifier`` tags, each once, in order."""
    found: list[TextLicence] = []
    for m in _SPDX_TAG.finditer(text):
        spdx = normalise_licence(m.group(1).strip())
        if spdx and spdx != UNKNOWN and not any(f.spdx == spdx for f in found):
            found.append(TextLicence(spdx, "tag", 1.0, f"spdx-tag chars {m.start()}-{m.end()}"))
    return found


def _mostly_one_licence_text(partial: list, kb_found: list) -> TextLicence | None:
    """The licence when the text is mostly one licence's own text (its title and first clauses, or the
    first pages of a long licence) and the knowledge base found only names: those are that licence's."""
    if not (partial and kb_found
            and ((partial[0][2] >= 0.6 and partial[0][1] >= 0.3) or (partial[0][2] >= 0.9 and partial[0][3] >= 200))
            and all(m.kind in ("reference", "tag") for m in kb_found)):
        return None
    spdx, contain, share, _hits = partial[0]
    if contain < 0.3:
        # only the first pages: near-identical variants cannot be told apart by what is missing, so the
        # licence the text names itself (its title, its URL) decides among the close candidates
        close = {p[0]: p for p in partial if p[2] >= 0.8}
        named = next((m.spdx for m in kb_found if m.spdx in close), None)
        if named:
            spdx, contain, share, _hits = close[named]
    return TextLicence(spdx, "full-text", round(max(contain, share), 3),
                       f"spdx-text:{spdx} containment {contain:.2f} share {share:.2f} (partial)")


_GNU_ID = re.compile(r"(A?L?GPL|GFDL)-(\d\.\d)-(?:only|or-later)$")
_OR_LATER_ID = re.compile(r"(A?L?GPL|GFDL)-(\d\.\d)-or-later$")
_COMMON_LICENCES = re.compile(r"/usr/share/common-licenses/(A?L?GPL|GFDL)\b(?:-\d+(?:\.\d+)?)?")


def _without_pointer_wording(text: str, kb_found: list) -> list:
    """``kb_found`` less the GNU references that only word a Debian pointer to a licence's file.

    A pointer ("the complete text of the GNU General Public License can be found in
    /usr/share/common-licenses/LGPL-2.1") names its licence by the file: a maintainer's looser name in
    the same sentence (the GPL for the LGPL's file) is not a second licence, nor is the file of a later
    version that an "or any later version" grant of the same family covers (Debian ships the GFDL-1.2
    file for a "GFDL 1.1 or any later version" document)."""
    if "/usr/share/common-licenses/" not in text:
        return kb_found
    grants = [(g.group(1), float(g.group(2))) for m in kb_found
              if (g := _OR_LATER_ID.match(m.spdx)) and m.kind != "reference"]
    drop = set()
    for path in _COMMON_LICENCES.finditer(text):
        start = max(text.rfind(". ", 0, path.start()), text.rfind("\n\n", 0, path.start()), 0)
        for i, m in enumerate(kb_found):
            ref = _GNU_ID.match(m.spdx)
            if m.kind != "reference" or not ref or not (start <= m.start and m.end <= path.end()):
                continue
            fam, ver = ref.group(1), float(ref.group(2))
            if fam != path.group(1) or any(f == fam and v <= ver for f, v in grants):
                drop.add(i)
    return [m for i, m in enumerate(kb_found) if i not in drop]


def _add_kb_licences(text: str, kb_found: list, unlicense: bool, found: list[TextLicence]) -> None:
    """The knowledge base's matches into ``found``, each licence once; a GNU "-only" becomes "-or-later"
    where the text's wording says so."""
    for m in kb_found:
        if unlicense and "public-domain" in m.spdx:
            continue
        if m.spdx.endswith("-only") and " " not in m.spdx and re.match(r"A?L?GPL|GFDL", m.spdx):
            # "-only" / "-or-later" from the text's wording: "[version 2 of the License, or any later version]"
            tail = _SPACES.sub(" ", text[m.start:m.end + 100].split("\n\n", 1)[0])
            later = _OR_LATER.search(tail)
            if later:
                m = dataclasses.replace(m, spdx=m.spdx[:-5] + "-or-later", rule=m.rule + " + " + repr(later.group(0)))
        if not any(f.spdx == m.spdx for f in found):
            found.append(TextLicence(m.spdx, "full-text" if m.kind == "text" else "rule", m.coverage, m.evidence(),
                                     m.start, m.end))


def _add_notices(text: str, flat: str, found: list[TextLicence]) -> None:
    """A GNU "any later version" notice (or, when nothing was found, a standard notice) and a Creative
    Commons name or link that ``found`` does not already cover, into ``found``."""
    known = {t for f in found for t in re.split(r"[\s()]+", f.spdx)}
    gnu_notice = re.search(r"(?:either )?version (\d(?:\.\d)?) of the license,? or \(?at your option\)? any later"
                           r" version", flat, re.I)
    if gnu_notice:
        fam = "LGPL" if re.search(r"lesser general public|library general public", flat, re.I) else \
            "AGPL" if re.search(r"affero general public", flat, re.I) else "GPL"
        ver = gnu_notice.group(1)
        ver = ver if "." in ver else ver + ".0"
        spdx = f"{fam}-{ver}-or-later"
        if not any(k.startswith(f"{fam}-{ver}") for k in known):
            found.append(TextLicence(spdx, "notice", 1.0, f"gnu-notice: {gnu_notice.group(0)!r}"))
    elif not found:
        for rx, spdx in _NOTICES:
            nm = rx.search(flat)
            if nm:
                found.append(TextLicence(spdx, "notice", 1.0, f"notice: {nm.group(0)!r}"))
                break
    cc = creative_commons(text)
    if cc and cc not in known and not any(f.spdx == cc for f in found):
        found.append(TextLicence(cc, "creative-commons", 1.0, "creative-commons name or link"))


def expression_from(found: list[TextLicence], kb: LicenceKB | None = None, text: str | None = None) -> str | None:
    """One SPDX expression for the licences found in one document (AND / WITH / OR, see
    :func:`refinery.transforms.licence_kb.expression_of`)."""
    if not found:
        return None
    kb = kb if kb is not None else LicenceKB.load()
    return expression_of([KBMatch(f.spdx, "", f.how, f.start, f.end, f.score, 0) for f in found], kb, text)


# --- copyright ----------------------------------------------------------------------------------

_YEARS = r"(?:1[89]\d\d|20\d\d)(?:\s*[-–—,]\s*(?:1[89]\d\d|20\d\d|\d\d|present|now))*"
_COPYRIGHT_EN = re.compile(
    rf"(?:copyright\s*(?:\(c\)|©)?|©|\(c\)(?=\s*{_YEARS}))\s*(?P<years>{_YEARS})?[\s,]*(?:by\s+)?"
    r"(?P<holder>[^\n。，；]*?)(?=\s*(?:[-–—|]\s*)?all rights reserved|\.\s|\.$|;|\n|$|\s{3}|[。，；]|\s*版[权權]所有)",
    re.IGNORECASE,
)
_COPYRIGHT_ZH = re.compile(
    rf"(?:版权所有|版權所有|著作权所有)\s*(?:©|\(c\)|（c）)?\s*(?P<years>{_YEARS})?\s*(?P<holder>[^\s。，,；;\n]{{0,40}})"
    r"|著作权归(?P<holder2>[^。，,；;\n]{1,30}?)所有|著作權歸(?P<holder3>[^。，,；;\n]{1,30}?)所有",
)
_RESERVED = re.compile(
    r"all rights reserved|版权所有|版權所有|保留所有权利|保留一切权利"
    r"|(?:未经|未經)(?:本\w{0,6}|作者|原作者|版权\w{0,3}|版權\w{0,3})?(?:书面|書面)?(?:许可|授权|同意|允许|許可|授權)[，,、]?\s*"
    r"(?:任何\w{0,6})?(?:不得|禁止|严禁|嚴禁)(?:以任何(?:形式|方式))?(?:转载|轉載|复制|複製|摘编|镜像|转贴|传播|刊登|翻印|抄袭|使用本)"
    r"|禁止转载|不得转载|严禁转载|禁止轉載|不得轉載",
    re.IGNORECASE,
)
_HOLDER_JUNK = re.compile(r"^(?:the\s+)?(?:author|authors|owner|holder|copyright holder)s?$|^\W*$", re.IGNORECASE)

# --- copyright statements as a small grammar --------------------------------------------------------
# statement := marker+ [years] [","] ["by"] holder [e-mail | url] ["." | ","] [all rights reserved]
# marker    := "Copyright" | "(c)" | "©" | "Copr." ; years := year (("-" | "," | "to") year | "present")*
_CR_NEEDLES = ("copyright", "©", "(c)", "copr.", "&copy;", "&#169;")
_CR_MARKER = re.compile(r"(?<![\w\-])(?:copyright\b|copr\.|©|\(c\)|&copy;|&#169;)", re.IGNORECASE)
_CR_YEAR = (r"(?:1[89]\d\d|20\d\d)(?:\s*[-–—/]\s*(?:1[89]\d\d|20\d\d|\d\d|present|now|today)"
            r"|\s*,\s*(?:1[89]\d\d|20\d\d)|\s+to\s+(?:1[89]\d\d|20\d\d))*")
_CR_HEAD = re.compile(
    rf"(?P<marks>(?:(?:copyright\b|copr\.|©|\(c\)|&copy;|&#169;)[\s:]*)+)(?P<years>{_CR_YEAR}(?:\s*[,;]?\s*{_CR_YEAR})*)?"
    r"[\s,:]*(?:by\s+)?", re.IGNORECASE)
_COMMENT_LINE = re.compile(r"^\s*(?:#+!?|//+|/\*+!?|\*+/?|;+|--+|%+|\.\.|rem\s|!+|'|\"{3}|dnl\s)?\s?")
_COMMENT_END = re.compile(r"\s*(?:\*+/|-->|\"{3}|'{3})\s*$")
# the holder ends at: another statement, "all rights reserved", licence text, code, a sentence end
_HOLDER_STOP = re.compile(
    r"\s*(?:[-–—|,.;]\s*)?all\s+rights\s+reserved"
    r"|\s+(?:licen[cs]ed|permission\s+is|redistribution|this\s+(?:program|file|library|software|code|work|module|package|"
    r"project|header|source)|see\s+(?:the\s+)?(?:file|licen|copying|readme|http|below|\")|use\s+of\s+this|released\s+under|"
    r"distributed\s+under|is\s+(?:free|licen|distributed|released|part)|under\s+the\s+(?:terms|licen|mit|apache|gnu|bsd)|"
    r"you\s+(?:may|can)|for\s+(?:details|more|licen)|version\s+\d|\ball\s+right)\b"
    r"|\s*[\"`{};=]|\s*\*/|\s*-->|\s*<(?!(?:[\w.+\-]+@|https?:))|\s{3,}|\s+-\s+(?=[A-Z])|\t"
    r"|(?<=\s)(?=(?:copyright\b|\(c\)\s*\d|©))|\s*\(\s*(?:the\s+)?\"|\s+and\s+licen|\s*版[权權]所有|[。，；]",
    re.IGNORECASE)
_ABBREVIATIONS = {"inc", "ltd", "llc", "co", "corp", "jr", "sr", "st", "bros", "dr", "mr", "ms", "mrs", "no", "vs",
                  "ag", "plc", "pty", "gmbh", "univ", "dept", "assoc", "intl", "prof", "et", "al", "etc", "u.s", "ph.d"}
_PLACEHOLDER = re.compile(r"%[-\d.]*[sdif]\b|\{\d*\}|\{\{|<\s*(?:year|name|owner|author|copyright|holder)[^>]*>|"
                          r"\[\s*(?:year|yyyy|name|fullname|owner)[^\]]*\]|\$\{|\byyyy\b|\bYEAR\b|\b(?:19|20)xx\b|"
                          r"\[(?:\w+\s){0,3}name", re.IGNORECASE)
_PROSE_AFTER = re.compile(r"(?:notice|notices|law|laws|holder|holders|owner|owners|act|office|infringement|protection|"
                          r"statement|statements|and\b|or\b|of\b|in\b|to\b|for\b|is\b|are\b|the\b|this\b|information|"
                          r"license|licence|licensing|disclaimer|date|year|years|line|text|terms|status|free|\()",
                          re.IGNORECASE)
_EMAIL = re.compile(r"\s*(?:<[^<>\s]+@[^<>\s]+>|\(?[\w.+\-]+(?:@|\s+-?at-?\s+)[\w\-]+(?:\.|\s+-?dot-?\s+)[\w.\-]+\)?|"
                    r"<https?://[^>]+>|\(?https?://\S+\)?)")


@dataclasses.dataclass
class CopyrightNotices:
    statements: list[str]
    holders: list[str]
    years: list[str]
    reserved: bool


def _clean_line(line: str) -> str:
    """A line without comment markers (``#``, ``//``, `` * ``, ``/*``, ``--``, ``;``) and markup tags."""
    line = _COMMENT_END.sub("", _COMMENT_LINE.sub("", line, count=1))
    if "<" in line and ">" in line:
        line = re.sub(r"</?(?:[a-z][a-z0-9]*)(?:\s[^<>]*)?/?>", " ", line, flags=re.IGNORECASE)
    return line.replace("&copy;", "©").replace("&#169;", "©").replace("&nbsp;", " ").replace("&amp;", "&")


class _CleanLines:
    """The text's lines, cleaned on first access (only lines near a copyright marker are ever read)."""

    def __init__(self, text: str):
        self._text = text
        self._raw = text.split("\n")
        self._done: dict[int, str] = {}

    def __len__(self):
        return len(self._raw)

    def __getitem__(self, i: int) -> str:
        got = self._done.get(i)
        if got is None:
            got = self._done[i] = _clean_line(self._raw[i].rstrip("\r"))
        return got

    def with_marker(self) -> list[int]:
        t, low = self._text, self._text.lower()
        starts = []
        for needle in _CR_NEEDLES:  # str.find runs at memory speed; a case-blind regex scan does not
            i = low.find(needle)
            while i >= 0:
                starts.append(i)
                i = low.find(needle, i + 1)
        out, line, at = [], 0, 0
        for pos in sorted(starts):
            line += t.count("\n", at, pos)
            at = pos
            if not out or out[-1] != line:
                out.append(line)
        return out


def _statement_at(lines: list[str], i: int, start: int) -> tuple[str, str, str, int] | None:
    """(statement, holder, years, last line index) of the statement whose marker starts at lines[i][start]."""
    line = lines[i]
    head = _CR_HEAD.match(line, start)
    if head is None:
        return None
    marks, years = head.group("marks"), (head.group("years") or "").strip()
    rest, years, j = _continued(lines, i, line[head.end():], years)
    if _only_the_word(line, start, marks, years, rest):
        return None
    holder_raw = _holder_part(rest)
    stmt = _statement_text(line, head, marks, years, holder_raw)
    if _PLACEHOLDER.search(stmt):
        return None
    holder = _EMAIL.sub(" ", holder_raw)
    holder = re.sub(r"\s+", " ", holder).strip(" ,;:-–—")
    holder = re.sub(r"^(?:by|the copyright holders?:?)\s+", "", holder, flags=re.I)
    if not years and not holder:
        return None
    if holder and (len(holder) > 150 or len(holder.split()) > 20 or not re.search(r"[^\W\d_]", holder)):
        return None
    return stmt, holder, years, j


def _continued(lines: list[str], i: int, rest: str, years: str) -> tuple[str, str, int]:
    """(rest, years, last line index) with continuation lines joined: a marker and years with the holder on
    the next line, or a holder list ending in "," / "and"."""
    j = i
    while (not rest.strip() or re.search(r"(?:,|\band|&)\s*$", rest)) and j + 1 < len(lines) and j - i < 3:
        nxt = lines[j + 1].strip()
        if not nxt or _CR_MARKER.match(nxt) or re.match(r"(?:all rights|licen|permission|redistribution|this )",
                                                        nxt, re.I):
            break
        if not years and not rest.strip():
            ym = re.match(rf"({_CR_YEAR})[\s,]*", nxt)
            if ym:
                years, nxt = ym.group(1), nxt[ym.end():]
        rest = (rest.rstrip() + " " + nxt).strip()
        j += 1
    return rest, years, j


def _only_the_word(line: str, start: int, marks: str, years: str, rest: str) -> bool:
    """Whether a marker without years is the word in prose rather than a statement: "Copyright" with
    neither (c) nor a year counts only in the form of one, "(c)" only before a name."""
    bare = marks.strip().lower().rstrip(":") in ("copyright", "copr.")
    if (bare and not years and not re.match(r"\s*(?:by\s)", line[start + len(marks.rstrip()):], re.I)
            and ((start > 0 and not re.fullmatch(r"[\s\"'(\[:_*#]*|.*(?:__copyright__|copyright)\s*[:=]\s*[\"']?\s*",
                                                 line[:start], re.I))
                 or not rest[:1].isupper() or _PROSE_AFTER.match(rest))):
        return True
    return bool(not years and re.match(r"\s*(?:\(c\)|©)", marks, re.I)
                and not (rest[:1].isupper() or not rest[:1].isascii()))


def _holder_part(rest: str) -> str:
    """The holder as written in ``rest``: up to a stop phrase or the end of its sentence (an abbreviation
    does not end it), trailing punctuation dropped except a company's "Inc."."""
    stop = _HOLDER_STOP.search(rest)
    holder_raw = rest[:stop.start()] if stop else rest
    for dot in re.finditer(r"\.(?=\s|$)", holder_raw):  # a sentence ends the holder, an abbreviation does not
        word = re.search(r"(\S+)$", holder_raw[:dot.start()])
        w = word.group(1).lower() if word else ""
        if not (w in _ABBREVIATIONS or len(w) == 1 or ("." in w and not w.endswith((">", ")")))):
            holder_raw = holder_raw[:dot.start()]
            break
    kept_dot = ""
    holder_raw = holder_raw.rstrip()
    if re.search(r"\b(?:inc|ltd|llc|co|corp|jr|sr|plc|bros|e\.v|b\.v|s\.a|n\.v)$", holder_raw, re.I) and \
            rest[len(holder_raw):len(holder_raw) + 1] == ".":
        kept_dot = "."
    return re.sub(r"[\s,:;\-–—]+$", "", holder_raw) + kept_dot


def _statement_text(line: str, head: re.Match, marks: str, years: str, holder_raw: str) -> str:
    """The statement as written: marker, years (and their comma, a "by"), holder; spaces collapsed."""
    stmt = (marks + (years + " " if years else "")).strip()
    if re.search(r"\bby\s*$", head.group(0), re.I):
        stmt += " by"
    if years and re.match(r"\s*,", line[head.start("years") + len(head.group("years") or ""):] if head.group("years")
                          else ""):
        stmt = stmt.rstrip() + ","
    stmt = (stmt + " " + holder_raw).strip()
    return re.sub(r"\s+", " ", stmt)


def copyright_notices(text: str) -> CopyrightNotices:
    """Copyright statements (as written, comment markers and tags dropped, continuation lines joined;
    without "All rights reserved"), holders, years and the rights-reserved flag, English and Chinese."""
    statements: list[str] = []
    holders: list[str] = []
    years_out: list[str] = []
    zh_statements, zh_holders = _chinese_copyrights(text)
    low = text.lower()
    if any(n in low for n in _CR_NEEDLES):
        lines = _CleanLines(text)
        done_to = -1
        for i in lines.with_marker():
            if i <= done_to:
                continue
            done_to = _statements_of_line(lines, i, zh_statements, statements, holders, years_out)
    for z in zh_statements:
        statements.append(z)
    for h in zh_holders:
        if h not in holders:
            holders.append(h)
    reserved = ("reserved" in low or not text.isascii()) and bool(_RESERVED.search(text))
    return CopyrightNotices(statements, holders, years_out, reserved)


def _statements_of_line(lines: _CleanLines, i: int, zh_statements: list[str], statements: list[str],
                        holders: list[str], years_out: list[str]) -> int:
    """The statements starting on line ``i`` into ``statements``, ``holders`` and ``years_out`` (each once);
    returns the index of the last line they take."""
    line = lines[i]
    last = i
    pos = 0
    while True:
        m = _CR_MARKER.search(line, pos)
        if m is None:
            break
        got = _statement_at(lines, i, m.start())
        if got is None:
            pos = m.end()
            continue
        stmt, holder, years, last_line = got
        if any(stmt in z or z in stmt for z in zh_statements):
            pos = m.end()
            continue
        if stmt not in statements:
            statements.append(stmt)
        if holder and not _HOLDER_JUNK.match(holder) and holder not in holders:
            holders.append(holder)
        if years and years not in years_out:
            years_out.append(years)
        last = max(last, last_line)
        if last_line > i:
            break
        # several statements on one line: go on after the marker's own statement
        nxt = _CR_MARKER.search(line, m.start() + len(stmt.split(" ", 1)[0]))
        pos = nxt.start() if nxt and nxt.start() > m.start() else len(line)
        if nxt is None:
            break
        # skip markers that are part of this statement ("Copyright (c)")
        head = _CR_HEAD.match(line, m.start())
        pos = max(pos, head.end() if head else m.end())
    return last


def _chinese_copyrights(text: str) -> tuple[list[str], list[str]]:
    statements: list[str] = []
    holders: list[str] = []
    if text.isascii():
        return statements, holders
    for m in _COPYRIGHT_ZH.finditer(text):
        stmt = m.group(0).strip()
        bare = not (m.group("holder") or m.group("years") or m.group("holder2") or m.group("holder3"))
        if bare and re.search(r"(?:copyright|©|\(c\))[^\n]{0,80}$", text[max(0, m.start() - 80):m.start()], re.I):
            continue  # "Copyright (c) 2018 X 版权所有": the 版权所有 is its "all rights reserved"
        end = m.end()
        tail = re.match(r"[。，,]?\s*(?:未经\w{0,8}(?:许可|授权|同意)[，,]?\s*(?:不得|禁止)\w{0,6}[。]?)",
                        text[end:end + 30])
        if tail:
            stmt = stmt + text[end:end + tail.end()]
        statements.append(stmt.strip())
        holder = m.group("holder") or m.group("holder2") or m.group("holder3")
        if holder:
            holder = holder.strip("：: ")
            if holder and holder not in holders and not re.fullmatch(r"[\d\s\-–]+", holder):
                holders.append(holder)
    return statements, holders


def find_copyrights(text: str) -> tuple[list[str], list[str], bool]:
    """(statements as written, holders, rights reserved) — see :func:`copyright_notices`."""
    c = copyright_notices(text)
    return c.statements, c.holders, c.reserved


# --- opt-outs -------------------------------------------------------------------------------------

_OPT_OUT_TEXT = re.compile(
    r"<meta[^>]+name=[\"']?(?:robots|googlebot|ccbot|gptbot)[\"']?[^>]+content=[\"'][^\"']*\bno(?:image)?ai\b"
    r"|<meta[^>]+content=[\"'][^\"']*\bno(?:image)?ai\b[^>]+name=[\"']?robots"
    r"|tdm-reservation[\"']?\s*(?:[:=]|content=)\s*[\"']?1"
    r"|\bnot (?:to be used )?for (?:ai|a\.i\.|artificial intelligence|machine learning)(?: model)? training"
    r"|\b(?:no|must not be used for|may not be used for|do not use (?:this|it|them|these) for) "
    r"(?:ai|a\.i\.|artificial intelligence|machine learning|generative ai) training"
    r"|\bopt(?:s|ed)?[- ]out of (?:ai|machine learning) training"
    r"|text and data mining (?:is |are )?(?:expressly )?reserved|tdm (?:rights )?reserved"
    r"|reserves? (?:the|its|their|our) rights? (?:to|of|for) text and data mining"
    r"|禁止用于(?:人工智能|AI|ai)(?:模型)?训练|不得用于(?:人工智能|AI|ai)(?:模型)?训练|禁止(?:使用|将)\w{0,6}用于(?:人工智能|AI)训练"
    r"|不得用於(?:人工智慧|AI)訓練|禁止用於(?:人工智慧|AI)訓練",
    re.IGNORECASE,
)


_OPT_OUT_WORDS = ("noai", "noimageai", "tdm", "training", "text and data mining", "训练", "訓練")


def find_opt_outs(text: str, meta: dict | None) -> list[str]:
    """Opt-out signals found: 'robots:noai', 'tdm-reservation', 'statement' (text), from text and meta."""
    signals: list[str] = []
    if meta:
        for key, value in _flatten(meta):
            k = key.lower().replace("_", "-")
            v = str(value).lower()
            if ("robots" in k or k.endswith("x-robots-tag")) and re.search(r"\bno(?:image)?ai\b", v):
                signals.append(f"meta:{k}:noai")
            elif "tdm-reservation" in k and v.strip() in ("1", "true", "yes"):
                signals.append("meta:tdm-reservation")
    low = text.lower()
    m = _OPT_OUT_TEXT.search(text) if any(w in low for w in _OPT_OUT_WORDS) else None
    if m:
        signals.append("text:" + ("robots-noai" if "meta" in m.group(0).lower() else
                                  "tdm-reservation" if "tdm-reservation" in m.group(0).lower() else "statement"))
    return signals


# IETF AIPREF vocabulary (draft-ietf-aipref-vocab: train-ai, ai-use, search; older drafts: train-genai)
_AIPREF_CATEGORIES = ("train-ai", "train-genai", "ai-use", "search", "automated-processing", "bulk", "ai", "genai",
                      "inference", "ai-inference")
_OPT_OUT_PREFS = ("train-ai", "train-genai", "ai-use")  # the default of licence.opt_out_preferences
_AIPREF_ITEM = re.compile(r"([a-z][a-z0-9\-]*)\s*(?:=\s*(\?[01]|[a-z]+|\"[^\"]*\"))?", re.IGNORECASE)
# where a meta key came from: the WARC reader keeps HTTP headers under plain keys, <meta> tags under html_*
_PREF_KEYS = {"content_usage": ("header", "content-usage"), "html_content_usage": ("html", "content-usage"),
              "content-usage": ("header", "content-usage"),
              "tdm_reservation": ("header", "tdm-reservation"), "tdm-reservation": ("header", "tdm-reservation"),
              "html_tdm_reservation": ("html", "tdm-reservation"), "tdm_policy": ("header", "tdm-policy"),
              "tdm-policy": ("header", "tdm-policy"), "html_tdm_policy": ("html", "tdm-policy")}
_CONTENT_USAGE_TEXT = re.compile(r"content-usage[\"']?\s*(?:[:=]|content=)\s*[\"']?([^\"'>\n]{1,200})", re.IGNORECASE)


def parse_content_usage(value: str) -> list[tuple[str, str]]:
    """``Content-Usage`` value (an HTTP structured-field dictionary: ``train-ai=n, search=y``) →
    [(category, y | n)] for the AIPREF categories; unknown keys and odd values are left out."""
    out = []
    for item in re.split(r"[,;]", value or ""):
        m = _AIPREF_ITEM.fullmatch(item.strip())
        if not m or m.group(1).lower() not in _AIPREF_CATEGORIES:
            continue
        v = (m.group(2) or "?1").strip('"').lower()
        v = {"?1": "y", "?0": "n", "yes": "y", "no": "n", "allow": "y", "disallow": "n", "deny": "n"}.get(v, v)
        if v in ("y", "n"):
            out.append((m.group(1).lower(), v))
    return out


def find_ai_preferences(meta: dict | None, text: str = "") -> list[str]:
    """AI-usage preferences with their source: ``<source>:content-usage:<category>=<y|n>`` (IETF AIPREF,
    from the HTTP ``Content-Usage`` header or an HTML ``<meta name="content-usage">``) and
    ``<source>:tdm-reservation=<0|1>`` / ``<source>:tdm-policy=<url>`` (W3C TDMRep); source is
    ``header``, ``html`` or ``text`` (a ``Content-Usage`` line in the text itself)."""
    out: list[str] = []
    if meta:
        for key, value in _flatten(meta):
            leaf = key.rsplit(".", 1)[-1].lower()
            if leaf not in _PREF_KEYS:
                continue
            src, what = _PREF_KEYS[leaf]
            if what == "content-usage":
                out += [f"{src}:content-usage:{c}={v}" for c, v in parse_content_usage(str(value))]
            else:
                v = str(value).strip()
                if v:
                    out.append(f"{src}:{what}={v[:200]}")
    if text and "content-usage" in text.lower():
        for m in _CONTENT_USAGE_TEXT.finditer(text):
            out += [f"text:content-usage:{c}={v}" for c, v in parse_content_usage(m.group(1))]
    return list(dict.fromkeys(out))


def _flatten(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten(v, f"{prefix}{k}.")
    elif isinstance(d, list):
        for v in d:
            yield from _flatten(v, prefix)
    else:
        yield prefix.rstrip("."), d


def metadata_licence(meta: dict | None, fields: list[str]):
    """First licence value found under the configured (dotted) field names."""
    if not meta:
        return None, None
    for field in fields:
        node = meta
        for part in field.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                node = None
                break
        if node not in (None, "", [], {}):
            return field, node
    return None, None


# --- decision -------------------------------------------------------------------------------------

@dataclasses.dataclass
class LicenceFindings:
    spdx: str | None
    source: str  # metadata | text | none
    category: str
    statements: list[str]
    holders: list[str]
    reserved: bool
    opt_outs: list[str]
    evidence: list[str] = dataclasses.field(default_factory=list)
    ai_preferences: list[str] = dataclasses.field(default_factory=list)
    years: list[str] = dataclasses.field(default_factory=list)


def _link_licence(url: str) -> str | None:
    """SPDX id of a licence link (Creative Commons deed, or a licence page the knowledge base lists)."""
    cc = creative_commons(url) if "creativecommons.org" in url.lower() else None
    return cc or LicenceKB.load().url_licence(url)


def analyse(text: str, meta: dict | None, cfg, index: LicenceIndex | None) -> LicenceFindings:
    """Every licence fact about one document (``cfg``: the ``licence`` config section).

    Order: the licence metadata (for a web page: the licence the page declares for itself, see
    :func:`refinery.transforms.webcrawl.html_signals`), then the text (:func:`licences_in_text`), then
    licence links in a page's body text (weak, ``source = text``). ``evidence`` says which signal gave
    the licence, and where; ``ai_preferences`` lists AIPREF / TDMRep signals with their source.
    """
    field, raw = metadata_licence(meta, cfg.metadata_fields)
    spdx = normalise_licence(raw) if raw is not None else None
    if spdx == UNKNOWN and isinstance(raw, str) and re.match(r"https?://", raw.strip()):
        spdx = _link_licence(raw) or UNKNOWN
    source = "metadata" if spdx else "none"
    evidence: list[str] = []
    if spdx:
        how = meta.get("license_evidence") if isinstance(meta, dict) and field == "license" else None
        evidence.append(f"metadata:{field}" + (f" ({how})" if how else "") + f" = {str(raw)[:200]!r}")
    statements: list[str] = []
    holders: list[str] = []
    years: list[str] = []
    reserved = False
    window = cfg.text_window_chars
    if len(text) > window:
        head = window * 4 // 5
        text = text[:head] + "\n" + text[-(window - head):]
    signal = has_signal(text)
    opt_outs = find_opt_outs(text if signal else "", meta) if (meta or signal) else []
    prefs = find_ai_preferences(meta, text if signal else "") if (meta or signal) else []
    for p in prefs:
        if p.endswith("=n") and p.split(":")[-1].split("=")[0] in getattr(cfg, "opt_out_preferences", _OPT_OUT_PREFS) \
                and p not in opt_outs:
            opt_outs.append(p)
    if cfg.detect_in_text and signal:
        cr = copyright_notices(text)
        statements, holders, years, reserved = cr.statements, cr.holders, cr.years, cr.reserved
        if spdx in (None, UNKNOWN):
            found = licences_in_text(text, index)
            if found:
                spdx = expression_from(found, text=text)
                source = "text"
                evidence += [f.evidence for f in found]
    if spdx in (None, UNKNOWN) and isinstance(meta, dict) and meta.get("body_licence_links"):
        ids = {i for i in (_link_licence(u) for u in meta["body_licence_links"]) if i}
        if len(ids) == 1:
            spdx, source = ids.pop(), "text"
            evidence.append(f"html:body-link (weak) = {meta['body_licence_links'][0][:200]!r}")
    if spdx == PROPRIETARY:
        reserved = True
    category = category_of(spdx) if spdx else "unknown"
    return LicenceFindings(spdx, source, category, statements, holders, reserved, opt_outs, evidence, prefs, years)


def decide(f: LicenceFindings, cfg) -> tuple[str, str]:
    """(allow | review | deny, why) — opt-out first, then per-id overrides, then the category."""
    if f.opt_outs:
        return cfg.opt_out, f"opt-out signal(s): {', '.join(f.opt_outs)} (licence.opt_out={cfg.opt_out})"
    if f.spdx:
        ids = [x.strip("() ") for x in re.split(r" AND | OR | WITH ", f.spdx)]
        overrides = [cfg.ids[i] for i in ids if i in cfg.ids]
        if overrides:
            worst = max(overrides, key=["allow", "review", "deny"].index)
            return worst, f"licence.ids override for {f.spdx}: {worst}"
    if f.source == "none" or f.spdx in (None, UNKNOWN):
        if f.reserved:
            return cfg.reserved_without_licence, ("rights reserved and no licence found "
                                                  f"(licence.reserved_without_licence={cfg.reserved_without_licence})")
        if f.spdx == UNKNOWN:
            return (cfg.policy["unknown"],
                    f"licence metadata not understood (licence.policy.unknown={cfg.policy['unknown']})")
        return cfg.no_licence, f"no licence information (licence.no_licence={cfg.no_licence})"
    return cfg.policy[f.category], f"{f.spdx} is {f.category} (licence.policy.{f.category}={cfg.policy[f.category]})"
