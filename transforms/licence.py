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

from refinery.transforms.minhash import shingle_hashes

UNKNOWN = "LicenseRef-unknown"
PROPRIETARY = "LicenseRef-proprietary"
PUBLIC_DOMAIN = "LicenseRef-public-domain"

# Pre-filter: a document none of whose lower-cased text contains one of these has no licence,
# copyright or opt-out signal worth a regex. Substring tests run at memory speed; one alternation
# regex over the same words ran at 7 MB/s.
_SIGNAL_WORDS = ("licen", "copyright", "©", "(c)", "spdx", "permission is hereby", "redistribut", "warrant",
                 "creativecommons", "creative commons", "public domain", "rights reserved", "noai", "noimageai",
                 "tdm", "text and data mining", "training", "robots")
_SIGNAL_WORDS_CJK = ("版权", "版權", "许可", "許可", "著作权", "著作權", "授权", "授權", "转载", "轉載", "知识共享",
                     "知識共享", "人工智能", "人工智慧", "ai训练", "ai訓練", "创用", "創用")


def has_signal(text: str) -> bool:
    """Cheap pre-filter: could this text hold a licence, copyright or opt-out signal?"""
    low = text.lower()
    if any(w in low for w in _SIGNAL_WORDS):
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
    r"[\s\-]*(?:v(?:ersion)?\.?\s*)?(?P<ver>[123](?:\.[01])?)?(?P<plus>\+|\s*or\s*(?:\(at your option\)\s*)?(?:any\s*)?later"
    r"(?:\s*version)?|-or-later)?(?P<only>\s*only|-only)?",
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
    toks = re.findall(r"non-?commercial|share-?alike|no-?deriv(?:ative)?s?|attribution|署名|姓名標示|非商业性使用|非商業性|"
                      r"相同方式共享|相同方式分享|禁止演绎|禁止改作|\bby\b|\bnc\b|\bsa\b|\bnd\b|\bzero\b", s, re.IGNORECASE)
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
    try:
        expr = _licensing().parse(s, validate=True, strict=False)
        if expr is not None:
            return expr.render()
    except Exception:  # noqa: BLE001 - not an SPDX expression: try the parsers below
        pass
    cc = creative_commons(s)
    if cc:
        return cc
    gnu = gnu_family(s)
    if gnu:
        return gnu
    # the same spellings with parentheticals and filler words ("license", "version", "the") removed
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
        try:
            expr = _licensing().parse(candidate, validate=True, strict=False)
            if expr is not None:
                return expr.render()
        except Exception:  # noqa: BLE001
            pass
    return UNKNOWN


# --- categories ---------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _categories() -> tuple[dict[str, str], list[tuple[re.Pattern, str]]]:
    data = json.loads(resources.files("refinery.schemas").joinpath("licence_categories.json").read_text("utf-8"))
    return data["ids"], [(re.compile(p, re.IGNORECASE), c) for p, c in data["patterns"]]


_RESTRICTIVENESS = ["public-domain", "permissive", "weak-copyleft", "copyleft", "no-derivatives", "non-commercial",
                    "proprietary", "unknown"]


def category_of_id(spdx_id: str) -> str:
    ids, patterns = _categories()
    if spdx_id in ids:
        return ids[spdx_id]
    for rx, cat in patterns:
        if rx.fullmatch(spdx_id):
            return cat
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

_SPDX_TAG = re.compile(r"SPDX-License-Identifier:\s*([^\n\r*]+?)\s*(?:\*/|-->|$)", re.IGNORECASE | re.MULTILINE)
_NOTICES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"licensed under the apache license,? version 2\.0", re.I), "Apache-2.0"),
    (re.compile(r"apache license,? version 2\.0", re.I), "Apache-2.0"),
    (re.compile(r"licensed under the mit license|released under the mit license|mit licen[cs]ed", re.I), "MIT"),
    (re.compile(r"permission is hereby granted, free of charge, to any person obtaining a copy", re.I), "MIT"),
    (re.compile(r"mozilla public\s+(?:\*\s*)?license,? v(?:ersion|\.)?\s*2\.0", re.I), "MPL-2.0"),
    (re.compile(r"eclipse public license,? v(?:ersion|\.)?\s*2\.0", re.I), "EPL-2.0"),
    (re.compile(r"boost software license,? version 1\.0", re.I), "BSL-1.0"),
    (re.compile(r"this is free and unencumbered software released into the public domain", re.I), "Unlicense"),
    (re.compile(r"(?:released|dedicated|placed) (?:in)?to the public domain|is in the public domain", re.I),
     PUBLIC_DOMAIN),
]


_COMMENT_MARKS = re.compile(r"(?:\s+(?:\*+|#+|//+|;+|--)(?=\s))+")
_SPACES = re.compile(r"\s+")


@dataclasses.dataclass
class TextLicence:
    spdx: str
    how: str  # tag | notice | creative-commons | full-text
    score: float = 1.0


class LicenceIndex:
    """SPDX licence texts as shingle sets; query with a document's shingles."""

    def __init__(self, ids: list[str], sizes: np.ndarray, hashes: np.ndarray, owners: np.ndarray):
        self.ids = ids
        self.sizes = sizes
        self.hashes = hashes  # sorted
        self.owners = owners  # licence index per hash

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

    def match(self, text: str, min_hits: int = 12) -> list[tuple[str, float, float, int]]:
        """[(spdx id, containment of the licence in the text, share of the text that is licence, hits)]
        best first; only licences with at least ``min_hits`` shared shingles."""
        h = shingle_hashes(licence_normal(text), 5, "word")
        if h.size < min_hits:
            return []
        lo = np.searchsorted(self.hashes, h, side="left")
        hi = np.searchsorted(self.hashes, h, side="right")
        counts = hi - lo
        if not counts.any():
            return []
        idx = np.repeat(lo, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        hits = np.bincount(self.owners[idx], minlength=len(self.ids))
        cand = np.flatnonzero(hits >= min_hits)
        out = []
        for i in cand.tolist():
            c = hits[i] / self.sizes[i]
            p = hits[i] / h.size
            out.append((self.ids[i], float(c), float(p), int(hits[i])))
        # best: the licence text most completely present, then the one that explains most of the text
        out.sort(key=lambda t: (-(t[1] * t[2]) ** 0.5, -t[3], t[0]))
        return out


def licence_normal(text: str) -> str:
    """Lower-case, punctuation and SPDX template markers removed, whitespace collapsed."""
    text = text.lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def licences_in_text(text: str, index: LicenceIndex | None, full_text_min: float = 0.5) -> list[TextLicence]:
    """Licences declared in the text, strongest evidence first:

    1. the document *is* a licence text (≥ 90 % of the licence present, ≥ 80 % of the document);
    2. ``SPDX-License-Identifier`` tags;
    3. standard notices (Apache, GNU "either version N ... or any later version", MPL, MIT, public
       domain ...) and Creative Commons links, badges and names;
    4. a partial licence text (a header, a quoted licence) matched against the SPDX list.
    Exceptions (``*-exception``) are never a licence on their own.
    """
    all_matches = index.match(text) if index is not None else []
    if all_matches:
        spdx, contain, share, _hits = all_matches[0]
        if contain >= 0.9 and share >= 0.8:
            # The document is that licence text (which may itself quote SPDX tags or other licences).
            return [TextLicence(spdx, "full-text", round(min(contain, share), 3))]
    found = [TextLicence(spdx, "tag") for spdx in (normalise_licence(m.group(1).strip())
                                                   for m in _SPDX_TAG.finditer(text)) if spdx]
    if found:
        return found
    # notices are matched on the text without comment markers and line breaks ("# ", " * ", "// ")
    flat = _SPACES.sub(" ", _COMMENT_MARKS.sub(" ", text))
    gnu_notice = re.search(r"(?:either )?version (\d(?:\.\d)?) of the license,? or \(?at your option\)? any later"
                           r" version", flat, re.I)
    if gnu_notice:
        fam = "LGPL" if re.search(r"lesser general public|library general public", flat, re.I) else \
            "AGPL" if re.search(r"affero general public", flat, re.I) else "GPL"
        ver = gnu_notice.group(1)
        ver = ver if "." in ver else ver + ".0"
        found.append(TextLicence(f"{fam}-{ver}-or-later", "notice"))
    else:
        for rx, spdx in _NOTICES:
            if rx.search(flat):
                found.append(TextLicence(spdx, "notice"))
                break
    cc = creative_commons(text)
    if cc and not any(f.spdx == cc for f in found):
        found.append(TextLicence(cc, "creative-commons"))
    if found:
        return found
    matches = [m for m in all_matches if "exception" not in m[0].lower()]
    if matches:
        spdx, contain, share, _hits = matches[0]
        if contain >= full_text_min or share >= 0.6:
            return [TextLicence(spdx, "full-text", round(max(contain, share), 3))]
    return []


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
    r"all rights reserved|版权所有|版權所有|保留所有权利|保留一切权利|未经(?:本\w{0,6})?(?:许可|授权|同意|允许)[，,、]?\s*(?:任何\w{0,4})?"
    r"(?:不得|禁止|严禁)|禁止转载|不得转载|严禁转载|未經(?:許可|授權|同意)[，,]?\s*(?:不得|禁止)",
    re.IGNORECASE,
)
_HOLDER_TRIM = re.compile(r"^[\s,:;\-–—]+|[\s,:;\-–—]+$")
_HOLDER_JUNK = re.compile(r"^(?:the\s+)?(?:author|authors|owner|holder)s?$|^\W*$", re.IGNORECASE)


def find_copyrights(text: str) -> tuple[list[str], list[str], bool]:
    """(statements as written, holders, rights reserved)."""
    statements: list[str] = []
    holders: list[str] = []
    spans: list[tuple[int, int]] = []
    en_ends = [m.end() for m in _COPYRIGHT_EN.finditer(text)]
    for m in _COPYRIGHT_ZH.finditer(text):
        stmt = m.group(0).strip()
        bare = not (m.group("holder") or m.group("years") or m.group("holder2") or m.group("holder3"))
        if bare and any(0 <= m.start() - e <= 2 for e in en_ends):
            continue  # "Copyright (c) 2018 X 版权所有": the 版权所有 is its "all rights reserved"
        spans.append((m.start(), m.end()))
        end = m.end()
        tail = re.match(r"[。，,]?\s*(?:未经\w{0,8}(?:许可|授权|同意)[，,]?\s*(?:不得|禁止)\w{0,6}[。]?)", text[end:end + 30])
        if tail:
            stmt = stmt + text[end:end + tail.end()]
        statements.append(stmt.strip())
        holder = m.group("holder") or m.group("holder2") or m.group("holder3")
        if holder:
            holder = holder.strip("：: ")
            if holder and holder not in holders and not re.fullmatch(r"[\d\s\-–]+", holder):
                holders.append(holder)
    for m in _COPYRIGHT_EN.finditer(text):
        if any(s <= m.start() < e or m.start() <= s < m.end() for s, e in spans):
            continue  # inside a Chinese statement already taken ("版权所有 © 2020 ...")
        holder = _HOLDER_TRIM.sub("", m.group("holder") or "")
        years = m.group("years")
        # a bare "copyright" word in prose ("copyright law") is not a statement
        if not years and not re.match(r"\s*(?:\(c\)|©)", text[m.start() + 9:m.start() + 14] or "") \
                and m.group(0).lower().startswith("copyright") and "©" not in m.group(0) and "(c)" not in m.group(0).lower():
            continue
        if not years and not holder:
            continue
        stmt = text[m.start():m.end()].strip()
        after = text[m.end():m.end() + 30]
        rr = re.match(r"\s*(?:[-–—|]\s*)?all rights reserved\.?", after, re.IGNORECASE)
        if rr:
            stmt = (stmt + after[:rr.end()]).strip()
        elif text[m.end():m.end() + 1] == ".":
            stmt += "."
        if holder and holder.lower().endswith((" inc", " ltd", " co", " corp", " llc", " gmbh", " s.a", " b.v")) \
                and text[m.end():m.end() + 1] == ".":
            holder += "."
        statements.append(stmt)
        if holder and not _HOLDER_JUNK.match(holder) and holder not in holders:
            holders.append(holder)
    reserved = bool(_RESERVED.search(text))
    return statements, holders, reserved


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
    m = _OPT_OUT_TEXT.search(text)
    if m:
        signals.append("text:" + ("robots-noai" if "meta" in m.group(0).lower() else
                                  "tdm-reservation" if "tdm-reservation" in m.group(0).lower() else "statement"))
    return signals


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


def analyse(text: str, meta: dict | None, cfg, index: LicenceIndex | None) -> LicenceFindings:
    """Every licence fact about one document (``cfg``: the ``licence`` config section)."""
    field, raw = metadata_licence(meta, cfg.metadata_fields)
    spdx = normalise_licence(raw) if raw is not None else None
    source = "metadata" if spdx else "none"
    statements: list[str] = []
    holders: list[str] = []
    reserved = False
    window = cfg.text_window_chars
    if len(text) > window:
        head = window * 4 // 5
        text = text[:head] + "\n" + text[-(window - head):]
    signal = has_signal(text)
    opt_outs = find_opt_outs(text if signal else "", meta) if (meta or signal) else []
    if cfg.detect_in_text and signal:
        statements, holders, reserved = find_copyrights(text)
        if spdx in (None, UNKNOWN):
            found = licences_in_text(text, index)
            if found:
                ids = sorted({f.spdx for f in found})
                spdx = ids[0] if len(ids) == 1 else " AND ".join(ids)
                source = "text"
    if spdx == PROPRIETARY:
        reserved = True
    category = category_of(spdx) if spdx else "unknown"
    return LicenceFindings(spdx, source, category, statements, holders, reserved, opt_outs)


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
            return cfg.policy["unknown"], f"licence metadata not understood (licence.policy.unknown={cfg.policy['unknown']})"
        return cfg.no_licence, f"no licence information (licence.no_licence={cfg.no_licence})"
    return cfg.policy[f.category], f"{f.spdx} is {f.category} (licence.policy.{f.category}={cfg.policy[f.category]})"
