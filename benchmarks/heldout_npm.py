"""Build the npm licence sets: benchmarks/data/dev_npm.json (tuned on) and heldout_npm.json (never tuned on).

    mkdir /tmp/npm && cd /tmp/npm && npm pack $(python -m benchmarks.heldout_npm --names)
    python -m benchmarks.heldout_npm /tmp/npm

Source: npm package tarballs (``npm pack NAME``, latest version on 2026-12-02; the versions are kept
in each case), a source the project had not used before. Cases, per package:
- ``file``: each licence file at the package root (``LICENSE*``, ``LICENCE*``, ``COPYING*``), whole
  (cut at 40,000 characters);
- ``readme``: the README's licence section (a Markdown heading "License", "Licence", "Licensing",
  "Copyright and license", ..., up to the next heading of the same or a higher level), when it has
  at least 3 characters of text.

Label: the ``license`` field of the package's ``package.json``, written by the maintainer and
checked by npm to be an SPDX expression; its ids (AND / OR / WITH split, deprecated ids mapped:
GPL-2.0 -> GPL-2.0-only, GPL-2.0+ -> GPL-2.0-or-later, ...) are the expected set. Packages whose
field is missing, ``SEE LICENSE IN ...``, ``UNLICENSED`` or not made of SPDX ids are left out.

Weaknesses of the rule: the field labels the package, not the file; a licence file may hold
bundled third-party licences (extra ids counted as false positives) or only one branch of an
``OR`` / ``AND`` expression (the other branch counted as missed); a bare GPL text does not say
``-only`` or ``-or-later`` (scanners and this label say ``-only`` for npm's deprecated ``GPL-2.0``);
a README section may only point elsewhere ("see LICENSE"), which no detector can resolve from the
text; ids are compared as sets, so the operators of an expression are not scored.

Split: by the SHA-1 of the package name, first hex digit 0-4 -> development set, 5-f -> held-out;
texts identical (after whitespace collapsing) to a development text are dropped from the held-out
set, and exact duplicates within a set are kept once. The held-out set was built before any
detector change of this round and its misses were never looked at.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import re
import sys
import tarfile
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
KB = Path(__file__).resolve().parent.parent / "transforms" / "data" / "licence_kb.json.xz"

NAMES = """
sax yallist chownr fastq glob lru-cache semver rimraf minimatch once wrappy inherits tslib jackspeak path-scurry
package-json-from-dist esprima estraverse escodegen uglify-js terser webidl-conversions json-schema tweetnacl atob
caniuse-lite mdn-data spdx-license-ids spdx-exceptions spdx-correct validate-npm-package-license type-fest argparse
pako jszip node-forge sharp rxjs protobufjs long dompurify highlight.js source-map axe-core lightningcss ieee754 qs
tough-cookie diff sprintf-js hoist-non-react-statics rc json-stringify-safe mariadb pm2 @wordpress/element
@wordpress/i18n leaflet ol zrender nunjucks commonmark yaml @iarna/toml ini flatted esutils esquery eslint-scope
espree doctrine eslint-visitor-keys source-map-js electron-to-chromium detect-libc signal-exit which isexe abbrev
nopt proto-list graceful-fs JSONStream through pause-stream har-schema aws-sign2 forever-agent oauth-sign request
tunnel-agent caseless bcrypt-pbkdf uri-js jpeg-js entities domhandler domutils css-what nth-check boolbase saxes
xml-name-validator abab websocket-driver faye-websocket websocket-extensions less sjcl big-integer @fontsource/inter
@fortawesome/fontawesome-free font-awesome ua-parser-js jison npm @npmcli/arborist cli-table3 config-chain anymatch
xmldom dojo jquery-ui seedrandom node-rsa asn1.js jsrsasign mathjs ml-matrix gl-matrix spark-md5 js-sha3 buffer
base64-js regenerator-runtime json5 acorn ajv punycode lodash marked handlebars moment readable-stream core-js
""".split()

_DEPRECATED = {"GPL-1.0": "GPL-1.0-only", "GPL-2.0": "GPL-2.0-only", "GPL-3.0": "GPL-3.0-only",
               "LGPL-2.0": "LGPL-2.0-only", "LGPL-2.1": "LGPL-2.1-only", "LGPL-3.0": "LGPL-3.0-only",
               "AGPL-1.0": "AGPL-1.0-only", "AGPL-3.0": "AGPL-3.0-only", "GFDL-1.3": "GFDL-1.3-only"}
_HEAD = re.compile(r"^(#{1,6})\s*(?:\W+\s*)?(licen[cs]e|licen[cs]ing|copyright(?: (?:and|&) licen[cs]e)?|"
                   r"licen[cs]e (?:and|&) copyright)s?\b[^\n]*$", re.I | re.M)


def label_ids(expr, known: set[str]) -> list[str] | None:
    if not isinstance(expr, str) or not expr.strip() or expr.upper().startswith(("SEE ", "UNLICENSED")):
        return None
    ids = set()
    for tok in re.split(r"\s+(?:AND|OR|WITH)\s+|[()]", expr):
        tok = tok.strip()
        if not tok:
            continue
        plus = tok.endswith("+")
        tok = tok.rstrip("+")
        tok = _DEPRECATED.get(tok, tok)
        if plus:
            tok = tok.replace("-only", "") + ("-or-later" if "GPL" in tok or "GFDL" in tok else "+")
        if tok not in known:
            return None
        ids.add(tok)
    return sorted(ids) or None


def readme_section(text: str) -> str | None:
    m = _HEAD.search(text)
    if not m:
        return None
    level = len(m.group(1))
    rest = text[m.end():]
    nxt = re.search(rf"^#{{1,{level}}}\s", rest, re.M)
    sec = (rest[:nxt.start()] if nxt else rest).strip()
    return sec[:3000] if len(sec) >= 3 else None


def cases_of(tgz: Path, known: set[str]):
    with tarfile.open(tgz) as tf:
        members = {m.name.split("/", 1)[1]: m for m in tf.getmembers() if m.isfile() and "/" in m.name}

        def read(name):
            return tf.extractfile(members[name]).read().decode("utf-8", "replace")

        if "package.json" not in members:
            return None, []
        pj = json.loads(read("package.json"))
        want = label_ids(pj.get("license"), known)
        if not want:
            return pj.get("name"), []
        out = []
        for name in sorted(members):
            if "/" not in name and re.match(r"(licen[cs]e|copying)", name, re.I):
                out.append({"kind": "file", "file": name, "text": read(name)[:40000]})
        for name in sorted(members):
            if "/" not in name and re.fullmatch(r"readme(\.md|\.markdown)?", name, re.I):
                sec = readme_section(read(name))
                if sec:
                    out.append({"kind": "readme", "file": name, "text": sec})
        for c in out:
            c.update(package=pj["name"], version=pj.get("version"), license_field=pj["license"], want=want)
        return pj["name"], out


def main():
    if sys.argv[1:] == ["--names"]:
        print(" ".join(NAMES))
        return
    root = Path(sys.argv[1])
    with lzma.open(KB) as f:
        known = {k for k in json.loads(f.read())["licences"] if not k.startswith("LicenseRef-")}
    dev, held, seen = [], [], {"dev": set(), "held": set()}
    for tgz in sorted(root.glob("*.tgz")):
        name, cases = cases_of(tgz, known)
        if not name:
            continue
        split = "dev" if hashlib.sha1(name.encode()).hexdigest()[0] in "01234" else "held"
        for c in cases:
            key = re.sub(r"\s+", " ", c["text"]).strip()
            if key in seen[split] or (split == "held" and key in seen["dev"]):
                continue
            seen[split].add(key)
            (dev if split == "dev" else held).append(c)
    about = __doc__.split("\n\n", 1)[1].strip()
    for fname, cases, role in (("dev_npm.json", dev, "Development set (tuned on)."),
                               ("heldout_npm.json", held, "Held-out set (never tuned on).")):
        (DATA / fname).write_text(json.dumps({"about": role + " " + about, "cases": cases}, ensure_ascii=False,
                                             indent=0) + "\n", "utf-8")
        ids = {}
        for c in cases:
            for i in c["want"]:
                ids[i] = ids.get(i, 0) + 1
        print(f"{fname}: {len(cases)} cases ({sum(c['kind'] == 'file' for c in cases)} files), "
              f"{len({c['package'] for c in cases})} packages; ids {sorted(ids.items(), key=lambda t: -t[1])}")


if __name__ == "__main__":
    main()
