"""PII detection and redaction (pure).

Kinds (``refinery.schemas.quality.PII_KINDS``), checked in this order; a span claimed by an earlier
kind is not counted again:

- ``email``: RFC-5322-ish local@domain.tld;
- ``id_number``: PRC resident identity numbers — 18 characters, a plausible birth date, and the
  ISO 7064 MOD 11-2 check character verified (a wrong checksum is not counted);
- ``payment_card``: 13-19 digits (spaces/dashes allowed between groups), a known issuer prefix, and
  the Luhn checksum verified;
- ``ip_address``: IPv4/IPv6 addresses that are globally routable (private, loopback, link-local and
  documentation ranges are not personal data);
- ``phone``: international numbers written with ``+`` and a country code, mainland-China mobiles
  (1[3-9] + 9 digits), and North-American ``(NNN) NNN-NNNN``. Bare digit runs are not phones, so
  dates, prices, years and counts are never matched.

Redaction replaces each span with a typed placeholder: ``<EMAIL>``, ``<ID_NUMBER>``,
``<PAYMENT_CARD>``, ``<IP_ADDRESS>``, ``<PHONE>``.
"""

from __future__ import annotations

import ipaddress
import re

PLACEHOLDER = {"email": "<EMAIL>", "id_number": "<ID_NUMBER>", "payment_card": "<PAYMENT_CARD>",
               "ip_address": "<IP_ADDRESS>", "phone": "<PHONE>"}

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])")
_ID = re.compile(r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                 r"(?![\dA-Za-z])")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}(?::|[0-9A-Fa-f]{1,4})?(?:[0-9A-Fa-f]{0,4}:){0,5}"
                   r"[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE = re.compile(
    r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\d])"  # international, with +
    r"|(?<!\d)1[3-9]\d{9}(?!\d)"  # mainland China mobile
    r"|(?<!\d)\(\d{3}\) ?\d{3}-\d{4}(?!\d)"  # North America
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def prc_id_valid(s: str) -> bool:
    if len(s) != 18:
        return False
    total = sum(int(d) * w for d, w in zip(s[:17], _ID_WEIGHTS))
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


def _phone_ok(span: str) -> bool:
    digits = sum(ch.isdigit() for ch in span)
    return 8 <= digits <= 15


# Necessary conditions, one cheap search each: a detector whose hint is absent cannot match, so its
# regex (whose leading lookbehind defeats the regex engine's fast scan) never runs on that text.
_D11, _D17 = re.compile(r"\d{11}"), re.compile(r"\d{17}")
_CARD_HINT = re.compile(r"\d(?:[ -]?\d){12}")
_IPV4_HINT = re.compile(r"\d\.\d{1,3}\.\d")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_DETECTORS = [
    ("email", _EMAIL, None, lambda t: "@" in t),
    ("id_number", _ID, prc_id_valid, _D17.search),
    ("payment_card", _CARD, _card_ok, _CARD_HINT.search),
    ("ip_address", _IPV4, _ip_ok, _IPV4_HINT.search),
    ("ip_address", _IPV6, _ip_ok, _IPV6_HINT.search),
    ("phone", _PHONE, _phone_ok, lambda t: "+" in t or "(" in t or _D11.search(t)),
]
_QUICK = re.compile(r"[@\d]")


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) spans, in text order."""
    if not _QUICK.search(text):
        return []
    taken: list[tuple[int, int, str]] = []
    for kind, rx, ok, hint in _DETECTORS:
        if not hint(text):
            continue
        for m in rx.finditer(text):
            s, e = m.span()
            if ok is not None and not ok(m.group()):
                continue
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
