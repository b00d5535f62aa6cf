"""Build transforms/data/licence_kb.json.xz from ScanCode's licence rules and licence database.

    pip download --no-deps scancode-toolkit-mini -d /tmp/sc      # the wheel holds the data (CC-BY-4.0)
    python scripts/build_licence_kb.py /tmp/sc/scancode_toolkit_mini-*.whl

Reads, straight from the wheel (a zip; nothing of ScanCode is imported or installed):
- ``licensedcode/data/licenses/*.LICENSE``: key, names (key, short name, name, other SPDX keys), its
  text when short, SPDX id (``spdx_license_key``; ScanCode's own
  ``LicenseRef-scancode-*`` when SPDX has none), category, exception flag, licence-text URLs;
- ``licensedcode/data/rules/*.RULE``: the rule's licence expression (ScanCode keys, rewritten here
  as an SPDX expression), its kind (text / notice / reference / tag / false positive), relevance,
  minimum coverage, and its text, normalised the way documents are (:func:`kb_tokens`) and stored as
  one space-joined token string.

Left out: deprecated rules and licences, licence intros and clues (they name no licence), rules of
``unknown*`` licences (they say "some licence", which the policy already treats as no licence),
and rules longer than ``MAX_TOKENS`` tokens (whole licence texts: the SPDX index covers those).
The output is one xz-compressed JSON file; attribution in transforms/data/SCANCODE-LICENSEDB.md.
"""

from __future__ import annotations

import json
import lzma
import re
import sys
import zipfile
from pathlib import Path

import yaml

from refinery.transforms.licence_kb import kb_tokens, name_key

HERE = Path(__file__).resolve().parent.parent
OUT = HERE / "transforms/data/licence_kb.json.xz"
MAX_TOKENS = 400

_CATEGORY = {"Permissive": "permissive", "Public Domain": "public-domain", "Copyleft": "copyleft",
             "Copyleft Limited": "weak-copyleft", "Proprietary Free": "proprietary", "Commercial": "proprietary",
             "Source-available": "proprietary", "Free Restricted": "non-commercial", "Patent License": "permissive",
             "CLA": "unknown", "Unstated License": "unknown"}


# ScanCode ids that the project already spells its own way (schemas/licence_categories.json)
_SAME = {"LicenseRef-scancode-public-domain": "LicenseRef-public-domain"}


def front_matter(raw: str) -> tuple[dict, str]:
    if not raw.startswith("---"):
        return {}, raw
    _, fm, body = raw.split("---", 2)
    return (yaml.safe_load(fm) or {}), body


def spdx_expression(expr: str, keys: dict[str, str]) -> str | None:
    """ScanCode expression ("gpl-2.0-plus WITH classpath-exception-2.0") → SPDX ids; None if a key is unknown."""
    out = []
    for tok in re.findall(r"\(|\)|[^\s()]+", expr):
        low = tok.lower()
        if low in ("and", "or", "with"):
            out.append(low.upper())
        elif tok in "()":
            out.append(tok)
        elif low in keys:
            out.append(keys[low])
        else:
            return None
    return " ".join(out).replace("( ", "(").replace(" )", ")")


def read_licences(wheel: zipfile.ZipFile, names: list[str]):
    """(licences, keys, urls, texts, names) of the LicenseDB's .LICENSE files: per SPDX id its category and
    exception flag, ScanCode key → SPDX id, URL and name → SPDX ids, and the short texts as rules."""
    licences, keys, urls, texts, lic_names = {}, {}, {}, [], {}
    for n in names:
        if not (n.startswith("licensedcode/data/licenses/") and n.endswith(".LICENSE")):
            continue
        fm, body = front_matter(wheel.read(n).decode("utf-8", "replace"))
        key = fm.get("key")
        if not key or fm.get("is_deprecated"):
            continue
        spdx = fm.get("spdx_license_key") or f"LicenseRef-scancode-{key}"
        spdx = _SAME.get(spdx, spdx)
        toks = kb_tokens(body)
        if toks and len(toks) <= MAX_TOKENS and not key.startswith("unknown"):
            texts.append([f"{key}.LICENSE", spdx, "text", 100, 0, " ".join(toks)])
        keys[key.lower()] = spdx
        licences[spdx] = {"category": _CATEGORY.get(fm.get("category", ""), "unknown"),
                          "exception": bool(fm.get("is_exception"))}
        for nm in [key, fm.get("short_name"), fm.get("name")] + list(fm.get("other_spdx_license_keys") or []):
            if nm:
                lic_names.setdefault(name_key(str(nm)), set()).add(spdx)
        for u in (fm.get("text_urls") or []) + (fm.get("other_urls") or []) + [fm.get("osi_url")]:
            if u:
                u = re.sub(r"^https?://(?:www\.)?", "", str(u).strip()).rstrip("/").lower()
                urls.setdefault(u, set()).add(spdx)
    return licences, keys, urls, texts, lic_names


def read_rules(wheel: zipfile.ZipFile, names: list[str], keys: dict[str, str]) -> tuple[list, dict[str, int]]:
    """(rules, skipped per reason) of the .RULE files, in name order."""
    rules, skipped = [], {}
    for n in sorted(names):
        if not (n.startswith("licensedcode/data/rules/") and n.endswith(".RULE")):
            continue
        fm, body = front_matter(wheel.read(n).decode("utf-8", "replace"))
        name = n.rsplit("/", 1)[1][:-5]
        kind = "false-positive" if fm.get("is_false_positive") else \
            next((k for k in ("text", "notice", "reference", "tag") if fm.get(f"is_license_{k}")), "notice")
        expr, why = rule_expression(fm, kind, keys)
        toks = kb_tokens(body.replace("{{", " ").replace("}}", " "))
        if why is None and not toks:
            why = "empty"
        if why is None and len(toks) > MAX_TOKENS:
            why = "long-text"
        if why:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        rules.append([name, expr, kind, int(fm.get("relevance", 100)), int(fm.get("minimum_coverage", 0)),
                      " ".join(toks)])
    return rules, skipped


def rule_expression(fm: dict, kind: str, keys: dict[str, str]) -> tuple[str | None, str | None]:
    """(SPDX expression, None) of a rule, or (None, why it is skipped); a false positive has no expression."""
    if fm.get("is_deprecated"):
        return None, "deprecated"
    if fm.get("is_license_intro") or fm.get("is_license_clue"):
        return None, "intro-or-clue"
    if kind == "false-positive":
        return None, None
    raw_expr = fm.get("license_expression") or ""
    if "unknown" in raw_expr:
        return None, "unknown-licence"
    expr = spdx_expression(raw_expr, keys)
    return expr, None if expr else "unmapped-key"


def main():
    wheel = zipfile.ZipFile(sys.argv[1])
    names = wheel.namelist()
    licences, keys, urls, texts, lic_names = read_licences(wheel, names)
    rules, skipped = read_rules(wheel, names, keys)
    rules = texts + rules
    data = {"about": "Compiled from ScanCode LicenseDB and licence rules (nexB/aboutcode-org scancode-toolkit, "
                     "licensedcode/data), CC-BY-4.0; see SCANCODE-LICENSEDB.md.",
            "source": Path(sys.argv[1]).name, "licences": licences,
            "urls": {u: next(iter(s)) for u, s in sorted(urls.items()) if len(s) == 1},
            "names": {n: next(iter(s)) for n, s in sorted(lic_names.items()) if len(s) == 1 and n},
            "rules": rules}
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    OUT.write_bytes(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
    print(f"{len(licences)} licences, {len(data['names'])} names, {len(data['urls'])} URLs, {len(rules)} rules "
          f"(skipped {skipped}); {len(raw) / 1e6:.1f} MB JSON -> {OUT.stat().st_size / 1e6:.2f} MB xz")


if __name__ == "__main__":
    main()
