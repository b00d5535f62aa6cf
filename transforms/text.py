"""Text normalisation shared by every stage (pure functions, no Beam)."""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 control characters except tab and newline, plus DEL and the Unicode line/para separators
# (which become newlines), removed with one str.translate call.
_CONTROL_TABLE = {c: None for c in list(range(0x00, 0x20)) + [0x7F] + list(range(0x80, 0xA0)) if c not in (0x09, 0x0A)}
_CONTROL_TABLE.update({0x2028: "\n", 0x2029: "\n", 0xFEFF: None})
_NEWLINES = re.compile(r"\r\n?")
# str.translate with a dict costs per character even when nothing changes (most of ingest's time); a
# character-class search is much cheaper, so translate only text that has something to remove
# (docs/PERFORMANCE.md).
_CONTROL_CHARS = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_CONTROL_TABLE)) + "]")


def normalise_text(text: str) -> str:
    """NFC, newlines to ``\\n``, control characters (other than tab/newline) removed."""
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    if _CONTROL_CHARS.search(text):
        text = text.translate(_CONTROL_TABLE)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text


def visible_chars(text: str) -> int:
    """Number of non-whitespace characters."""
    return sum(map(len, text.split()))
