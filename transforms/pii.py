"""PII detection and redaction (pure), and the ingest pass that applies it to every item.

Kinds (``refinery.schemas.quality.PII_KINDS``), checked in this order; a span claimed by an earlier
kind is not counted again:

- ``email``: RFC-5322-ish local@domain.tld;
- ``id_number``: national identity numbers —
  PRC resident identity numbers (18 characters, a plausible birth date, and the ISO 7064 MOD 11-2
  check character verified: a wrong checksum is not counted), and US Social Security numbers
  written ``AAA-GG-SSSS`` (area 001-899 but not 666, group 01-99, serial 0001-9999; written with
  spaces or as nine bare digits only right after "SSN" / "social security number");
- ``payment_card``: 13-19 digits (spaces/dashes allowed between groups), a known issuer prefix, and
  the Luhn checksum verified;
- ``ip_address``: IPv4/IPv6 addresses that are globally routable (private, loopback, link-local and
  documentation ranges are not personal data);
- ``phone``: by the grammar of Google's libphonenumber (the ``phonenumbers`` package: the numbering
  plan of every country, leniency STRICT_GROUPING: valid, and grouped as the region writes it):
  numbers with ``+`` and a country code, and national numbers of the regions in
  ``quality.pii.phone_regions`` (``206-543-9196``, ``1-800-555-0199``, ``030 12345678``,
  ``010-12345678`` ...). The grammar is only asked about digit runs of 7+ digits with a separator in
  them (or a ``+`` before); a bare digit run is not a phone, except a mainland-China mobile
  (1[3-9] + 9 digits), so dates, prices, years, counts, order numbers and ZIP+4 codes are not matched.

Redaction replaces each span with a typed placeholder: ``<EMAIL>``, ``<ID_NUMBER>``,
``<PAYMENT_CARD>``, ``<IP_ADDRESS>``, ``<PHONE>``.

:class:`PiiScrubber` is the ingest pass: every record's ``text``, ``meta`` and ``original_id``, and
every error's raw bytes and message, before any stage can route them anywhere.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import orjson

PLACEHOLDER = {"email": "<EMAIL>", "id_number": "<ID_NUMBER>", "payment_card": "<PAYMENT_CARD>",
               "ip_address": "<IP_ADDRESS>", "phone": "<PHONE>"}
# Regions whose national phone formats are recognised (numbers with + and a country code always are).
PHONE_REGIONS = ("US", "GB", "DE", "FR", "CN", "JP", "IN")

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])")
_ID = re.compile(r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                 r"(?![\dA-Za-z])")
_SSN = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_SSN_NAMED = re.compile(r"(?i)(?:\bssn|\bss#|\bsocial[ -]security(?:[ -](?:number|no\.?|#))?)[ :#.]*"
                        r"(\d{3})[ -]?(\d{2})[ -]?(\d{4})(?!\d)")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
                   r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|[0-9A-Fa-f]{1,4})?(?:[0-9A-Fa-f]{0,4}:){0,5}"
                   r"[0-9A-Fa-f]{0,4}(?![\w:])")
# A phone candidate: 7+ digits, with at most one separator between two digits (a space, dash, dot,
# slash, or a parenthesis with a space beside it): ". " or ", " ends a candidate, so the numbers of
# neighbouring sentences or list items are never read as one.
_PHONE_RUN = re.compile(r"\d(?:(?:[ .\-/\u00a0]|\) ?| ?\()?\d){6,}")
# Where _PHONE_RUN can match: one character class repeated, which the regex engine scans far faster
# than the grouped pattern; most such stretches are bare digit runs (ids, counts), decided at once.
_PHONE_STRETCH = re.compile(r"\d[\d .\-/\u00a0()]{5,}\d")
_PHONE_SEPARATOR = re.compile(r"[^\d]")
# Shapes that are common in prose, never a phone, and would each cost the grammar one call per
# region: dates (2024-05-31, 31.05.2024, 2024/5/31), year ranges (1990-2000), ISBN-13 (978-...).
_NOT_PHONE = re.compile(r"(?:1[5-9]|20)\d\d[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])"
                        r"|(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|1[0-2])[-./](?:1[5-9]|20)\d\d"
                        r"|(?:1[5-9]|20)\d\d[-/](?:1[5-9]|20)\d\d"
                        r"|97[89][- ]\d{1,5}[- ]\d{1,7}[- ]\d{1,7}[- ]\d")
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_PHONE_CONTEXT = 4  # characters either side of a candidate the grammar sees (a "+", "(", a letter)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def prc_id_valid(s: str) -> bool:
    if len(s) != 18:
        return False
    total = sum(int(d) * w for d, w in zip(s[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == s[17].upper()


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(span: str) -> bool:
    digits = re.sub(r"[ -]", "", span)
    if not 13 <= len(digits) <= 19:
        return False
    issuer = digits[0] == "4" or digits[:2] in ("34", "37", "62", "65", "35") or "51" <= digits[:2] <= "55" \
        or "2221" <= digits[:4] <= "2720" or digits[:4] == "6011"
    return issuer and luhn_valid(digits)


def _ip_ok(span: str) -> bool:
    try:
        return ipaddress.ip_address(span).is_global
    except ValueError:
        return False


def _ssn_ok(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return 0 < a < 900 and a != 666 and int(group) > 0 and int(serial) > 0


def _regex_spans(rx, ok=None):
    def spans(text: str, _regions, _taken=()) -> Iterator[tuple[int, int]]:
        for m in rx.finditer(text):
            if ok is None or ok(m.group()):
                yield m.span()
    return spans


def _ssn_spans(text: str, _regions, _taken=()) -> Iterator[tuple[int, int]]:
    for m in _SSN.finditer(text):
        if _ssn_ok(*m.groups()):
            yield m.span()


def _named_ssn_spans(text: str, _regions, _taken=()) -> Iterator[tuple[int, int]]:
    for m in _SSN_NAMED.finditer(text):
        if _ssn_ok(*m.groups()):
            yield m.start(1), m.end(3)


_matcher = None


def _phone_matcher():
    global _matcher
    if _matcher is None:
        import phonenumbers

        # STRICT_GROUPING: valid for the region and grouped as the region writes its numbers, so a
        # ZIP+4 code (02110-1301) or a digit run split anywhere is not a phone.
        leniency = phonenumbers.Leniency.STRICT_GROUPING
        _matcher = lambda text, region: phonenumbers.PhoneNumberMatcher(text, region, leniency)  # noqa: E731
    return _matcher


def _phone_spans(text: str, regions, taken=()) -> Iterator[tuple[int, int]]:
    """Digit runs that may be phones (the cheap hint), then the numbering-plan grammar on each; a run
    inside a span already ``taken`` by another kind (a card, an address) is not asked about."""
    for stretch in _PHONE_STRETCH.finditer(text):
        runs = (stretch,) if stretch.group().isdigit() else _PHONE_RUN.finditer(text, *stretch.span())
        yield from _phone_runs(text, runs, regions, taken)


def _phone_runs(text: str, runs, regions, taken) -> Iterator[tuple[int, int]]:
    for m in runs:
        s, e = m.span()
        if any(ts <= s and e <= te for ts, te, _k in taken):
            continue
        run = m.group()
        plus = text[s - 1:s] == "+"
        if run.isdigit() and not plus:  # a bare digit run: only a mainland-China mobile
            if len(run) == 11 and _CN_MOBILE.match(run):
                yield s, e
            continue
        if not plus and _NOT_PHONE.fullmatch(run):
            continue
        ws = max(0, s - _PHONE_CONTEXT)
        window = text[ws:e + _PHONE_CONTEXT]
        match = _phone_matcher()
        for region in regions:
            # A bare digit run inside the window is not a phone here either.
            found = [(ws + pm.start, ws + pm.end) for pm in match(window, region)
                     if pm.raw_string[0] == "+" or _PHONE_SEPARATOR.search(pm.raw_string)]
            if found:
                yield from found
                break


# (kind, spans(text, phone_regions, spans taken so far), hint): the hint is a necessary condition, one cheap search: a
# detector whose hint is absent cannot match, so its regex (whose leading lookbehind defeats the regex
# engine's fast scan) never runs on that text. None: the detector is its own cheap scan.
_D17 = re.compile(r"\d{17}")
_SSN_HINT = re.compile(r"-\d\d-\d{4}")  # starts with a literal: the regex engine's fast scan applies


def _ssn_named_hint(t: str) -> bool:
    return "SSN" in t or "ssn" in t or "Ssn" in t or "SS#" in t or "ecurity" in t or "ECURITY" in t

_CARD_HINT = re.compile(r"\d[\d -]{11,}\d")
_IPV4_HINT = re.compile(r"\d\.\d{1,3}\.\d")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_DETECTORS = [
    ("email", _regex_spans(_EMAIL), lambda t: "@" in t),
    ("id_number", _regex_spans(_ID, prc_id_valid), _D17.search),
    ("id_number", _ssn_spans, _SSN_HINT.search),
    ("id_number", _named_ssn_spans, _ssn_named_hint),
    ("payment_card", _regex_spans(_CARD, _card_ok), _CARD_HINT.search),
    ("ip_address", _regex_spans(_IPV4, _ip_ok), _IPV4_HINT.search),
    ("ip_address", _regex_spans(_IPV6, _ip_ok), _IPV6_HINT.search),
    ("phone", _phone_spans, None),
]
_QUICK = re.compile(r"[@\d]")


def find_pii(text: str, phone_regions=PHONE_REGIONS) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) spans, in text order."""
    if not _QUICK.search(text):
        return []
    taken: list[tuple[int, int, str]] = []
    for kind, spans, hint in _DETECTORS:
        if hint is not None and not hint(text):
            continue
        for s, e in spans(text, phone_regions, taken):
            if any(s < te and ts < e for ts, te, _k in taken):
                continue
            taken.append((s, e, kind))
    return sorted(taken)


def redact(text: str, spans: list[tuple[int, int, str]], kinds: set[str]) -> str:
    """Replace the spans of the given kinds with their placeholders."""
    if not spans:
        return text
    out, pos = [], 0
    for s, e, kind in spans:
        if kind not in kinds:
            continue
        out.append(text[pos:s])
        out.append(PLACEHOLDER[kind])
        pos = e
    out.append(text[pos:])
    return "".join(out)


def count_kinds(spans) -> dict[str, int]:
    counts = {k: 0 for k in PLACEHOLDER}
    for _s, _e, kind in spans:
        counts[kind] += 1
    return counts


def _bom_or_nul_codecs(data: bytes) -> tuple[str, ...]:
    """UTF-16 first where the bytes say so (a BOM, or NULs in every other byte): read as UTF-8 or a
    single-byte code page, UTF-16 text hides every address behind its NULs."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return ("utf-16-le",) if data[:2] == b"\xff\xfe" else ("utf-16-be",)
    if len(data) >= 4 and data.count(0) > len(data) // 4:
        odd_nuls = data[1::2].count(0)
        return ("utf-16-le", "utf-16-be") if odd_nuls >= data[0::2].count(0) else ("utf-16-be", "utf-16-le")
    return ()


# How errors' raw bytes are read to be checked: the encodings ingest reads, then Windows-1252 (most
# text that is not UTF-8 in a Western corpus). Bytes none of them decodes are "undecodable".
_RAW_CODECS = ("utf-8", "gb18030", "big5", "cp1252")
RAW_DROPPED_NOTE = (" [raw bytes dropped: they decode in no known encoding, so they could not be checked "
                    "for PII; ingest.keep_undecodable_raw keeps them]")


class PiiScrubber:
    """The ingest PII pass: redaction of every record and error before anything routes or writes it.

    ``record(rec)``: counts the kinds in ``text`` (``pii_counts``, before redaction; None when counting
    is off), then redacts ``text`` (``n_chars`` follows), ``original_id`` and every string (and
    integer, and key) inside the ``meta`` JSON. ``error(err)``: redacts the message and the raw bytes
    where they decode (UTF-16 by BOM or NUL pattern, UTF-8 — a character cut at the end of a capped
    payload is kept as is —, GB18030, Big5, Windows-1252), re-encoded in the same encoding so that
    everything else stays byte-identical; raw bytes that decode in none are dropped (None) unless
    ``keep_undecodable_raw`` (then still checked byte-per-character for the ASCII kinds).
    """

    def __init__(self, count: bool = True, kinds=tuple(PLACEHOLDER), phone_regions=PHONE_REGIONS,
                 keep_undecodable_raw: bool = False):
        self.count = count
        self.kinds = frozenset(kinds)
        self.phone_regions = tuple(phone_regions)
        self.keep_undecodable_raw = keep_undecodable_raw
        self.active = count or bool(self.kinds)

    @classmethod
    def from_config(cls, cfg) -> PiiScrubber:
        """From a RunConfig: ``quality.pii`` (detect, redact, phone_regions), ``ingest.keep_undecodable_raw``."""
        p = cfg.quality.pii
        return cls(p.detect, p.redact, p.phone_regions, cfg.ingest.keep_undecodable_raw)

    def text(self, s: str) -> str:
        """``s`` with the configured kinds redacted."""
        if not self.kinds or not _QUICK.search(s):
            return s
        return redact(s, find_pii(s, self.phone_regions), self.kinds)

    def record(self, rec: dict) -> dict | None:
        """Redact one ingest record in place; returns its counts (None when counting is off)."""
        if not self.active:
            rec["pii_counts"] = None
            return None
        text = rec["text"]
        spans = find_pii(text, self.phone_regions)
        counts = count_kinds(spans) if self.count else None
        rec["pii_counts"] = counts
        if not self.kinds:
            return counts
        if spans:
            red = redact(text, spans, self.kinds)
            if red != text:
                rec["text"] = red
                rec["n_chars"] = len(red)
        oid = rec.get("original_id")
        if oid:
            rec["original_id"] = self.text(oid)
        meta = rec.get("meta")
        if meta:
            rec["meta"] = self._meta(meta)
        return counts

    def _meta(self, meta: str) -> str:
        # The serialised object is checked first (one pass); it is parsed only when it holds something.
        if not any(kind in self.kinds for _s, _e, kind in find_pii(meta, self.phone_regions)):
            return meta
        obj = self._value(orjson.loads(meta))
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()

    def _value(self, v):
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {self.text(k): self._value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self._value(x) for x in v]
        if isinstance(v, int) and not isinstance(v, bool):
            s = str(v)
            red = self.text(s)
            return v if red == s else red
        return v

    def error(self, err: dict) -> bool:
        """Redact one error record in place; False when its raw bytes were dropped as undecodable."""
        if not self.kinds:
            return True
        if err.get("error"):
            err["error"] = self.text(err["error"])
        raw = err.get("raw")
        if not raw:
            return True
        red = self.raw(raw)
        if red is None:
            err["raw"] = None
            err["error"] = (err.get("error") or "") + RAW_DROPPED_NOTE
            return False
        err["raw"] = red
        return True

    def raw(self, data: bytes) -> bytes | None:
        """``data`` redacted, in its own encoding; None when it decodes in none and is not to be kept."""
        for codec in _bom_or_nul_codecs(data) + _RAW_CODECS:
            red = self._raw_as(data, codec)
            if red is not None:
                return red
        if not self.keep_undecodable_raw:
            return None
        s = data.decode("latin-1")  # one character per byte: the ASCII kinds are still found
        red = self.text(s)
        return data if red == s else red.encode("latin-1")

    def _raw_as(self, data: bytes, codec: str) -> bytes | None:
        tail = b""
        try:
            s = data.decode(codec)
        except UnicodeDecodeError as exc:
            # A UTF-8 payload capped by ingest.max_error_bytes may end inside a character.
            if codec != "utf-8" or exc.reason != "unexpected end of data" or len(data) - exc.start > 3:
                return None
            try:
                s = data[:exc.start].decode(codec)
            except UnicodeDecodeError:
                return None
            tail = data[exc.start:]
        red = self.text(s)
        if red == s:
            return data
        try:
            return red.encode(codec) + tail
        except UnicodeEncodeError:
            return None
