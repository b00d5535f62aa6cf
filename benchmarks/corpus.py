"""Deterministic multilingual benchmark corpus of a requested size, for the scale harness.

    python -m benchmarks.corpus --mb 50 --out /tmp/corpus50      # writes shard-*.jsonl + corpus.json

Composition by bytes (about half CJK, as the issue asks), every document built from real text in
``../shared/data`` so that every stage does its real work:

- 45 % Chinese: runs of 2-8 classical poems (cjk-poetry.jsonl), 0.6-4 KB each;
- 5 % Japanese / Korean / Chinese UDHR paragraphs;
- 35 % other languages: 4-10 UDHR paragraphs of one language (udhr2): 85 % of them in one of the
  languages Refinery identifies (langdetect's 55), 15 % in the long tail of ~300 others;
- 3 % licence-bearing: SPDX licence texts (whole or head), copyright headers on prose,
  ``license`` metadata (MIT, CC-BY-4.0, "All rights reserved", CC-BY-NC ...);
- 5 % junk: boilerplate, lorem ipsum, keyword lists, repeated-line spam, symbol soup, link lists
  (the generators of benchmarks/quality.py);
- then duplicates injected over the whole stream: 8 % exact copies, 6 % near copies (3 % token
  or character edits) of earlier documents.

Records are ``{"id", "text", ["license"], ["url"]}``, written round-robin to ``--shards`` JSONL files
(so several workers can read in parallel). Same arguments → byte-identical files.
"""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path

from benchmarks.dedup import edit

CJK_LANGS = ("cmn_hans", "cmn_hant", "jpn", "kor")
LICENCE_META = ["MIT", "Apache-2.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "cc-by-nc-4.0",
                "All rights reserved", "GPL-3.0-or-later", "public domain", "署名-相同方式共享 4.0"]


class _Sources:
    def __init__(self, shared: Path):
        with open(shared / "cjk-poetry.jsonl", encoding="utf-8") as fh:
            self.poems = [json.loads(line)["text"] for line in fh]
        self.poems = [p for p in self.poems if len(p) >= 20]
        from refinery.transforms.language import COMMON_LANGUAGES

        self.paras: dict[str, list[str]] = {}
        iso: dict[str, str] = {}
        with open(shared / "udhr" / "data.jsonl", encoding="utf-8") as fh:
            for line in fh:
                d = json.loads(line)
                if d["source"] == "udhr2" and len(d["text"]) >= 40:
                    self.paras.setdefault(d["variant"], []).append(d["text"])
                    iso[d["variant"]] = d.get("lang_iso639_1") or ""
        self.cjk_paras = [p for v in CJK_LANGS for p in self.paras.get(v, [])]
        langs = sorted(v for v, ps in self.paras.items() if len(ps) >= 20 and v not in CJK_LANGS)
        self.major = [v for v in langs if iso[v] in COMMON_LANGUAGES]
        self.tail = [v for v in langs if iso[v] not in COMMON_LANGUAGES]
        with open(shared / "spdx-licenses" / "data.jsonl", encoding="utf-8") as fh:
            self.licences = [json.loads(line)["text"].lstrip("\ufeff") for line in fh]
        from benchmarks.quality import junk_docs

        self.junk = [t for _k, t in junk_docs(shared, random.Random(5))]

    def lang(self, rng: random.Random) -> list[str]:
        return self.paras[rng.choice(self.major if rng.random() < 0.85 else self.tail)]


def _document(src: _Sources, rng: random.Random, serial: int) -> dict:
    r = rng.random()
    rec: dict = {}
    if r < 0.45:
        text = "\n".join(rng.sample(src.poems, rng.randint(2, 8)))
    elif r < 0.50:
        text = "\n".join(rng.sample(src.cjk_paras, rng.randint(3, 8)))
    elif r < 0.85:
        ps = src.lang(rng)
        text = "\n".join(rng.sample(ps, min(len(ps), rng.randint(4, 10))))
    elif r < 0.88:
        lic = rng.choice(src.licences)
        if rng.random() < 0.5:
            text = "\n".join(lic.splitlines()[:20])
        else:
            ps = src.lang(rng)
            text = (f"Copyright (c) {rng.randint(1990, 2025)} Example Holder {serial % 97}. All rights reserved.\n\n"
                    + "\n".join(rng.sample(ps, min(len(ps), 5))))
        rec["license"] = rng.choice(LICENCE_META)
    elif r < 0.93:
        text = rng.choice(src.junk)
    else:
        ps = src.lang(rng)
        text = "\n".join(rng.sample(ps, min(len(ps), rng.randint(4, 10))))
        rec["license"] = rng.choice(LICENCE_META)
        rec["url"] = f"https://example.org/{serial}"
    rec["text"] = text
    return rec


def generate(shared: Path, mb: float, out: Path, shards: int = 8, seed: int = 2026) -> dict:
    """Write ``shards`` JSONL files totalling about ``mb`` MB of text under ``out``; returns the facts."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    src = _Sources(shared)
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(open(out / f"shard-{i:03d}.jsonl", "w", encoding="utf-8"))
                 for i in range(shards)]
        counts = _write_shards(src, files, rng, int(mb * 1e6))
    facts = {"mb": mb, "seed": seed, "shards": shards, **counts}
    (out / "corpus.json").write_text(json.dumps(facts, indent=1))
    return facts


def _write_shards(src, files, rng, target: int) -> dict:
    """Documents written round-robin into ``files`` until ``target`` bytes; returns the counts."""
    shards = len(files)
    recent: list[str] = []
    n = nbytes = text_bytes = exact = near = cjk_docs = 0
    while nbytes < target:
        r = rng.random()
        if r < 0.08 and recent:
            rec = {"text": rng.choice(recent)}
            exact += 1
        elif r < 0.14 and recent:
            base = rng.choice(recent)
            cjk = sum(1 for c in base[:200] if "\u3000" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af") > 50
            rec = {"text": edit(base, 0.03, rng, cjk)}
            near += 1
        else:
            rec = _document(src, rng, n)
            recent.append(rec["text"])
            if len(recent) > 5000:
                recent.pop(rng.randrange(len(recent)))
        rec = {"id": f"doc-{n:09d}", **rec}
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        files[n % shards].write(line)
        size = len(rec["text"].encode())
        text_bytes += size
        cjk_docs += sum(1 for c in rec["text"][:200] if "\u3000" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af") > 50
        nbytes += len(line.encode())
        n += 1
    return {"docs": n, "file_bytes": nbytes, "text_bytes": text_bytes, "exact_copies": exact, "near_copies": near,
            "cjk_docs": cjk_docs}


if __name__ == "__main__":
    from benchmarks._timing import benchmark_parser

    ap = benchmark_parser(__doc__)
    ap.add_argument("--mb", type=float, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shards", type=int, default=8)
    args = ap.parse_args()
    print(json.dumps(generate(Path(args.shared), args.mb, Path(args.out), args.shards)))
