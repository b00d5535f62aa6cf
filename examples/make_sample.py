"""Rebuild the bundled sample corpus (examples/sample/) from ../shared/data, deterministically.

    python examples/make_sample.py [--shared ../shared/data]

The output is committed; this script documents exactly how it was made and what was planted.
Every planted document has an ``id`` starting with ``plant-`` (see examples/README.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "sample"

UDHR_VARIANTS = ["eng", "fra", "deu", "spa", "ita", "nld", "swe", "pol", "rus", "ukr", "tur", "ind", "vie",
                 "arb", "heb", "hin", "ben", "tam", "tha", "kat", "hye", "jpn", "kor", "cmn_hans", "cmn_hant"]
LICENCE_SPELLINGS = ["public domain", "CC0", "Public Domain", "CC0 1.0 Universal", "cc0-1.0", None]


def _jsonl(path: Path, rows: list[dict]) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    if path.suffix == ".gz":
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(data)
    else:
        path.write_bytes(data)


def udhr_rows(shared: Path) -> list[dict]:
    docs = {}
    with open(shared / "udhr" / "docs.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["source"] == "udhr2" and d["variant"] in UDHR_VARIANTS:
                docs[d["variant"]] = d
    rows = []
    for i, variant in enumerate(UDHR_VARIANTS):
        paras = [p.strip() for p in docs[variant]["text"].split("\n") if p.strip()]
        # Three documents per language: consecutive blocks of paragraphs.
        n = len(paras)
        for part in range(3):
            block = paras[part * n // 3:(part + 1) * n // 3]
            rows.append({
                "id": f"udhr-{variant}-{part}",
                "text": "\n".join(block),
                "license": LICENCE_SPELLINGS[(i + part) % len(LICENCE_SPELLINGS)],
                "source": "UDHR (unicode.org via NLTK), public domain",
                "variant": variant,
            })
    return rows


def poetry_rows(shared: Path) -> list[dict]:
    import opencc

    rng = random.Random(20261128)
    with open(shared / "cjk-poetry.jsonl", encoding="utf-8") as fh:
        poems = [json.loads(line) for line in fh]
    long = [p for p in poems if 150 <= len(p["text"]) <= 600]
    picked = rng.sample(long, 240)
    rows = [{"id": p["id"], "text": p["text"], "title": p.get("title"), "author": p.get("author"),
             "license": "MIT"} for p in picked]
    # Planted: exact duplicates (same text, new id), re-formatted copies (whitespace), near duplicates
    # (one character changed), a chain A ~ B ~ C where A and C differ more, and one poem published in
    # the other script (Traditional <-> Simplified).
    for k in range(3):
        src = rows[k]
        rows.append({**src, "id": f"plant-exact-dup-{k}", "license": "MIT License"})
    src = rows[3]
    rows.append({**src, "id": "plant-reformatted-dup", "text": "  " + src["text"].replace("，", "， ") + "\n\n"})
    for k in range(4, 7):
        t = rows[k]["text"]
        pos = len(t) // 2
        rows.append({**rows[k], "id": f"plant-near-dup-{k - 4}", "text": t[:pos] + "風" + t[pos + 1:]})
    base = rows[7]["text"]
    third = len(base) // 3
    b = base[:third] + "春" + base[third + 1:]
    c = b[: 2 * third] + "秋" + b[2 * third + 1:]
    rows.append({**rows[7], "id": "plant-chain-b", "text": b})
    rows.append({**rows[7], "id": "plant-chain-c", "text": c})
    conv = opencc.OpenCC("t2s")
    rows.append({**rows[8], "id": "plant-script-variant", "text": conv.convert(rows[8]["text"])})
    return rows


JUNK = [
    ("plant-lorem", "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
                    "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco "
                    "laboris nisi ut aliquip ex ea commodo consequat. " * 3),
    ("plant-repeated-lines", "\n".join(["Click here to subscribe to our newsletter!"] * 40)),
    ("plant-keyword-list", " ".join(["cheap", "flights", "hotel", "deals", "best", "price", "online", "buy",
                                     "discount", "travel"] * 30)),
    ("plant-symbol-soup", " ".join(["#### ###", "…", "## # ###", "$$$ %%% &&&", "#"] * 60)),
    ("plant-cookie-boilerplate", "\n".join([
        "Home | About | Contact | Login", "We use cookies to improve your experience.",
        "By using this site you agree to our terms of use and privacy policy.",
        "Accept all cookies", "Javascript is disabled in your browser.", "Please enable JavaScript to continue.",
        "Copyright © 2024 Example Corp. All rights reserved."])),
    ("plant-very-short", "Hi."),
    ("plant-empty-text", "   \n\t  "),
]

NOTICES = [
    ("plant-copyright-en", "Copyright (c) 2019-2021 Foo Inc. All rights reserved.\n\nThis report describes the "
                           "quarterly results of the company. Revenue grew by four percent over the year, driven "
                           "by strong demand in the services business and a recovery in hardware sales. "
                           "Operating costs were flat, and the board proposes an unchanged dividend.",
     {"license": "Proprietary"}),
    ("plant-copyright-zh", "版权所有 © 2020 某某公司。未经许可，不得转载。\n\n"
                           "本公司今年的研究报告显示，城市居民的阅读习惯正在发生变化。"
                           "越来越多的人选择在通勤途中阅读电子书，而纸质书的销量则保持稳定。"
                           "报告还指出，年轻读者更喜欢短篇作品和科普读物。",
     {"licence": "保留所有权利"}),
    ("plant-noai", "<meta name=\"robots\" content=\"noai, noimageai\">\nThe artist's statement: these essays are "
                   "published for human readers. They are not for AI training, and text and data mining is "
                   "reserved under Article 4 of the DSM Directive. The essays discuss landscape painting, "
                   "the use of colour in winter scenes, and the history of the studio.", {"license": "CC BY-NC 4.0"}),
    ("plant-spdx-header", "# SPDX-License-Identifier: Apache-2.0\n# Copyright 2023 The Example Authors\n"
                          "\nThis module reads configuration files and validates every key before the "
                          "program starts, so that a typo is reported with its line number instead of "
                          "failing later in production. It also checks that the types of the values are "
                          "the ones the program expects. When a value is out of range, the message names "
                          "the key and the allowed range. The tests cover every key of the default file.",
     {"meta": {"license": "Apache 2"}}),
    ("plant-cc-link", "This article is available under the Creative Commons Attribution-ShareAlike licence "
                      "(https://creativecommons.org/licenses/by-sa/4.0/). It explains how rivers shape valleys "
                      "over thousands of years, why meanders form on flat plains, and how floods renew the "
                      "soil of the surrounding farmland. The last part of the article looks at the dams that "
                      "were built in the last century. They changed the way the water and the soil move. "
                      "Some of the old meanders are now dry, and the farmers have turned them into fields.",
     {}),
    ("plant-gpl-text", None, {"license": "GNU GPL v2 or later"}),
    ("plant-pii-en", "For questions about the survey write to maria.lopez@example.org or call +44 20 7946 0958. "
                     "Our office (IP 81.2.69.160 is the public gateway) is open on weekdays. Payment can be made "
                     "with the card 4111 1111 1111 1111. The survey closes on 2024-05-31 and costs $25.",
     {"license": "CC-BY-4.0"}),
    ("plant-pii-zh", "如有疑问，请联系张先生，手机 13812345678，邮箱 zhang.san@example.cn。"
                     "身份证号 11010519491231002X 仅用于登记。活动时间为2024年5月31日，票价为120元。",
     {"license": "知识共享署名 4.0 国际许可协议"}),
]


def write_web_sample(shared: Path) -> None:
    """web.warc.gz: UDHR pages as HTML (one GBK-encoded, one with a noai header, an image, a 404) and
    the real Common Crawl WET record of whirlwind-python as web.warc.wet.gz."""
    import io
    import shutil

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    docs = {}
    with open(shared / "udhr" / "docs.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            if d["source"] == "udhr2" and d["variant"] in ("eng", "cmn_hans", "fra"):
                docs[d["variant"]] = [p.strip() for p in d["text"].split("\n") if len(p.strip()) > 20][5:25]

    def page(paras, head=""):
        body = "".join(f"<p>{p}</p>" for p in paras)
        return (f"<html><head>{head}<title>UDHR</title></head><body><nav><a href='/'>Home</a> | <a href='/about'>"
                f"About</a></nav><main>{body}</main><footer>Site map | Contact</footer></body></html>")

    pages = [
        ("https://example.org/udhr/en", "200 OK", "text/html; charset=utf-8", page(docs["eng"]).encode(), []),
        ("https://example.cn/udhr/zh", "200 OK", "text/html",
         page(docs["cmn_hans"], '<meta charset="gbk">').encode("gbk"), []),
        ("https://example.fr/udhr/fr", "200 OK", "text/html; charset=utf-8",
         page(docs["fra"], '<meta name="robots" content="index, noai">').encode(), [("X-Robots-Tag", "noai")]),
        ("https://example.org/logo.png", "200 OK", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64), []),
        ("https://example.org/gone", "404 Not Found", "text/html", page(["Not found."]).encode(), []),
    ]
    with open(OUT / "web.warc.gz", "wb") as f:
        w = WARCWriter(f, gzip=True)
        for url, status, ctype, body, extra in pages:
            http = StatusAndHeaders(status, [("Content-Type", ctype)] + extra, protocol="HTTP/1.1")
            rec = w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                       warc_headers_dict={"WARC-Date": "2026-01-01T00:00:00Z",
                                                          "WARC-Record-ID": f"<urn:refinery-sample:{url}>"})
            w.write_record(rec)
    shutil.copyfile(shared / "warc-samples/raw/whirlwind-python/whirlwind.warc.wet.gz", OUT / "web.warc.wet.gz")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(HERE.parent.parent / "shared" / "data"))
    args = ap.parse_args()
    shared = Path(args.shared)
    OUT.mkdir(parents=True, exist_ok=True)
    for f in OUT.iterdir():
        f.unlink()

    udhr = udhr_rows(shared)
    # A very long document (~120 KB): the whole UDHR in ten Latin-script languages, one after another.
    long_text = "\n\n".join(r["text"] for r in udhr if r["variant"] in (
        "eng", "fra", "deu", "spa", "ita", "nld", "swe", "pol", "tur", "ind"))
    udhr.append({"id": "plant-very-long", "text": long_text, "license": "public domain"})
    _jsonl(OUT / "udhr.jsonl", udhr)

    _jsonl(OUT / "poetry.jsonl.gz", poetry_rows(shared))

    with open(shared / "spdx-licenses" / "data.jsonl") as fh:
        spdx = {json.loads(line)["spdx_id"]: json.loads(line) for line in fh}
    notice_rows = []
    for doc_id, text, extra in NOTICES:
        if text is None:
            gpl2 = "GPL-2.0-or-later" if "GPL-2.0-or-later" in spdx else "GPL-2.0"
            text = spdx[gpl2]["text"][:3000]
        notice_rows.append({"id": doc_id, "text": text, **extra})
    for doc_id, text in JUNK:
        notice_rows.append({"id": doc_id, "text": text})
    _jsonl(OUT / "web_notices.jsonl", notice_rows)

    # Malformed lines: bad JSON, invalid UTF-8, missing text field, text not a string, not an object.
    good = json.dumps({"id": "plant-good-among-bad", "text": "This line is fine and must survive its neighbours."})
    (OUT / "malformed.jsonl").write_bytes(b"\n".join([
        good.encode(),
        b'{"id": "plant-bad-json", "text": "unterminated',
        b'{"id": "plant-invalid-utf8", "text": "caf\xe9 au lait"}',
        b'{"id": "plant-no-text", "body": "the text is under another key"}',
        b'{"id": "plant-text-not-string", "text": 42}',
        b'["plant-not-an-object"]',
        b"",
        json.dumps({"id": "plant-good-after-bad", "text": "Records after the bad lines still go through."}).encode(),
    ]) + b"\n")

    # A GB18030 file (plain text, one document per file) and a UTF-16 (BOM) JSONL file.
    with open(shared / "cjk-poetry.jsonl", encoding="utf-8") as fh:
        poems = [json.loads(line) for line in fh]
    gb_text = "\n".join(p["text"] for p in poems[5000:5012])
    (OUT / "gb18030_poems.txt").write_bytes(gb_text.encode("gb18030"))
    utf16_rows = [
        {"id": "plant-utf16-0", "text": "Документ в кодировке UTF-16: каждый имеет право на образование."},
        {"id": "plant-utf16-1", "text": "Ελληνικό κείμενο σε UTF-16: όλοι οι άνθρωποι γεννιούνται ελεύθεροι."}]
    (OUT / "utf16.jsonl").write_bytes(("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in utf16_rows))
                                      .encode("utf-16"))
    write_web_sample(shared)
    total = sum(f.stat().st_size for f in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total / 1e6:.2f} MB to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
