"""Build the Debian held-out licence set: benchmarks/data/heldout_debian.json.

    python -m benchmarks.heldout_debian [/usr/share/doc [OUT.json]]

(The same script, run on the copyright files of other packages, fetched with ``apt-get download``,
built the development set benchmarks/data/dev_debian.json that the detectors were tuned on.)

Source: the machine-readable (DEP-5) ``copyright`` files that Debian packages install under
``/usr/share/doc/<package>/copyright``. Each ``License:`` field with a body is one case: the text is
the body (what the maintainer wrote: a full licence text, a notice, or a reference such as "On Debian
systems the full text ... can be found in /usr/share/common-licenses/GPL-2"), the label is the
field's short name, written by the Debian maintainer (not by us), mapped to SPDX ids with the table
below. Short names that have no SPDX id (``other``, ``permissive``, package-specific names) are left
out. Each ``Copyright:`` field line gives a holder case: the text ``Copyright (C) <line>`` and the
holder the maintainer wrote.

This set is held out: it is used to measure, never to tune the detectors. The copyright files are
Debian's (each under its own package's terms; only short excerpts, per case, are kept: the first
4,000 characters of a licence body).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "heldout_debian.json"

# Debian short names (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/#license-specification)
_DEB = {
    "expat": "MIT", "mit": "MIT", "isc": "ISC", "zlib": "Zlib", "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause", "bsd-4-clause": "BSD-4-Clause", "apache-2.0": "Apache-2.0",
    "apache-1.1": "Apache-1.1", "mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0", "artistic": "Artistic-1.0",
    "artistic-1.0": "Artistic-1.0", "artistic-2.0": "Artistic-2.0", "public-domain": "LicenseRef-public-domain",
    "cc0-1.0": "CC0-1.0", "cc0": "CC0-1.0", "unlicense": "Unlicense", "psf-2": "PSF-2.0", "psf-2.0": "PSF-2.0",
    "python-2.0": "Python-2.0", "openssl": "OpenSSL", "ssleay": "SSLeay", "x11": "X11", "curl": "curl",
    "zope-2.1": "ZPL-2.1", "zpl-2.1": "ZPL-2.1", "bsl-1.0": "BSL-1.0", "boost-1.0": "BSL-1.0", "epl-1.0": "EPL-1.0",
    "epl-2.0": "EPL-2.0", "ofl-1.1": "OFL-1.1", "sil-ofl-1.1": "OFL-1.1", "wtfpl": "WTFPL", "cc-by-3.0": "CC-BY-3.0",
    "cc-by-4.0": "CC-BY-4.0", "cc-by-sa-3.0": "CC-BY-SA-3.0", "cc-by-sa-4.0": "CC-BY-SA-4.0", "libpng": "Libpng",
    "libpng-2.0": "libpng-2.0", "ntp": "NTP", "hpnd": "HPND", "mit-0": "MIT-0", "0bsd": "0BSD",
    "bzip2-1.0.6": "bzip2-1.0.6",
    "gpl": "GPL-1.0-or-later", "gpl+": "GPL-1.0-or-later", "lgpl": "LGPL-2.0-or-later", "ftl": "FTL",
    "ijg": "IJG", "tcl": "TCL", "unicode-dfs-2016": "Unicode-DFS-2016", "sleepycat": "Sleepycat",
}


def deb_to_spdx(name: str) -> list[str] | None:
    """SPDX ids for one Debian short name, or None when it has none."""
    n = name.strip().lower()
    n = re.sub(r"\s+", " ", n)
    if n in _DEB:
        return [_DEB[n]]
    m = re.fullmatch(r"(a?gpl|lgpl|gfdl)-?(\d(?:\.\d)?)(\+?)(?: with .*)?", n)
    if m:
        fam, ver, plus = m.groups()
        if " with " in n:
            return None  # exceptions have no agreed spelling across packages
        fam = fam.upper()
        ver = ver if "." in ver else ver + ".0"
        if fam == "GFDL" and ver == "1.0":
            return None
        return [f"{fam}-{ver}-{'or-later' if plus else 'only'}"]
    return None


def parse_dep5(text: str):
    """Paragraphs as lists of (field, value lines)."""
    paras, cur, field = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                paras.append(cur)
            cur, field = {}, None
            continue
        if line[0] in " \t" and field:
            cur[field].append(line[1:] if line[0] == " " else line.lstrip("\t"))
            continue
        m = re.match(r"([A-Za-z-]+):\s?(.*)", line)
        if m:
            field = m.group(1).lower()
            cur[field] = [m.group(2)]
    if cur:
        paras.append(cur)
    return paras


def body(lines: list[str]) -> str:
    return "\n".join("" if ln.strip() == "." else ln for ln in lines).strip()


def add_licence_case(field: list[str], package: str, seen: set, names_seen: dict, licences: list) -> None:
    """A ``License:`` field: its names' SPDX ids into ``names_seen``; its text, once, into ``licences``
    when every name maps to SPDX."""
    name, rest = field[0], field[1:]
    b = body(rest)
    names = [x for x in re.split(r"\s+(?:or|and)\s+", name.strip()) if x]
    ids = [deb_to_spdx(x) for x in names]
    for x, i in zip(names, ids, strict=True):
        if i:
            names_seen[x] = i
    if b and names and all(ids) and len(b) > 40:
        key = hashlib.sha1(b.encode()).hexdigest()
        if key not in seen:
            seen.add(key)
            licences.append({"package": package, "text": b[:4000], "want": sorted({i for x in ids for i in x})})


def add_holder_cases(field: list[str], package: str, seen: set, holders: list) -> None:
    """A ``Copyright:`` field: each "years holder" line, once, into ``holders`` (600 at most)."""
    for ln in [field[0]] + field[1:]:
        ln = ln.strip()
        m = re.fullmatch(r"(?:copyright\s*)?(?:\(c\)|©)?\s*((?:\d{4}(?:\s*[-,]\s*\d{2,4})*,?\s+))"
                         r"([^\d<>@]{3,}?)\s*(?:<[^>]*>)?", ln, re.I)
        if m and "copyright" not in m.group(2).lower():
            holder = m.group(2).strip().rstrip(",")
            key = "h" + hashlib.sha1(ln.encode()).hexdigest()
            if key not in seen and len(holders) < 600:
                seen.add(key)
                holders.append({"package": package, "text": f"Copyright (C) {ln}", "want_holder": holder})


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/doc")
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else OUT
    licences, holders, seen, names_seen = [], [], set(), {}
    for f in sorted(root.glob("*/copyright")):
        try:
            text = f.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not text.startswith("Format:") or "copyright-format" not in text.splitlines()[0]:
            continue
        for para in parse_dep5(text):
            if "license" in para:
                add_licence_case(para["license"], f.parent.name, seen, names_seen, licences)
            if "copyright" in para:
                add_holder_cases(para["copyright"], f.parent.name, seen, holders)
    out.write_text(json.dumps({"about": __doc__.split("\n\n", 2)[1], "licences": licences, "holders": holders,
                               "names": [{"name": k, "want": v} for k, v in sorted(names_seen.items())]},
                              ensure_ascii=False, indent=0) + "\n", "utf-8")
    names = {}
    for c in licences:
        for i in c["want"]:
            names[i] = names.get(i, 0) + 1
    print(f"{len(names_seen)} names, {len(licences)} licence cases, {len(holders)} holder cases -> {out} "
          f"({out.stat().st_size / 1e6:.2f} MB)")
    print(sorted(names.items(), key=lambda t: -t[1])[:40])


if __name__ == "__main__":
    main()
