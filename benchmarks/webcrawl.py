"""Web-crawl benchmark: WARC → text and WET reading on one core, next to the bare libraries.

    python -m benchmarks.webcrawl [--shared ../shared/data] [--copies 20]

Corpus: the real pages of the two dolma sample WARCs (semanticscholar.org, creativecommons.org,
allenai.org ..., captured with wget) written ``--copies`` times into one gzip WARC with warcio, and
a WET file of their extracted text. Rates are per compressed input byte.
"""

from __future__ import annotations

import glob
import io
import json
import tempfile
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from benchmarks._timing import benchmark_parser, rate
from refinery.pipelines.config import IngestConfig
from refinery.transforms.ingest import local_opener, read_crude
from refinery.transforms.webcrawl import decode_html, extract_text

ROOT = Path(__file__).resolve().parent.parent


def build(shared: Path, copies: int, work: Path) -> tuple[Path, Path, list[bytes]]:
    pages = []
    for f in sorted(glob.glob(str(shared / "warc-samples/raw/dolma/tests/data/warc/*.warc.gz"))):
        with open(f, "rb") as fh:
            for r in ArchiveIterator(fh):
                if r.rec_type == "response":
                    ctype = r.http_headers.get_header("Content-Type") or ""
                    pages.append((r.rec_headers.get_header("WARC-Target-URI"), ctype, r.content_stream().read()))
    warc, wet = work / "bench.warc.gz", work / "bench.warc.wet.gz"
    with open(warc, "wb") as f, open(wet, "wb") as g:
        w, v = WARCWriter(f, gzip=True), WARCWriter(g, gzip=True)
        for i in range(copies):
            for url, ctype, body in pages:
                http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
                w.write_record(w.create_warc_record(f"{url}?copy={i}", "response", payload=io.BytesIO(body),
                                                    http_headers=http))
                if "html" in ctype:
                    text = extract_text(decode_html(body, None)[0], "resiliparse").encode()
                    v.write_record(v.create_warc_record(f"{url}?copy={i}", "conversion", payload=io.BytesIO(text),
                                                        warc_content_type="text/plain"))
    return warc, wet, [b for _u, c, b in pages if "html" in c]


def main():
    ap = benchmark_parser(__doc__)
    ap.add_argument("--copies", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warc, wet, html_pages = build(Path(args.shared), args.copies, Path(tmp))
        cfg = IngestConfig()

        def run(path):
            return lambda: sum(1 for k, _i in read_crude(str(path), cfg, local_opener) if k == "record")

        warc_rps, warc_mbs = rate(run(warc), warc.stat().st_size)
        wet_rps, wet_mbs = rate(run(wet), wet.stat().st_size)

        def bare_extract():
            for body in html_pages:
                extract_text(decode_html(body, None)[0], "resiliparse")
            return len(html_pages)

        html_bytes = sum(map(len, html_pages))
        ext_rps, ext_mbs = rate(bare_extract, html_bytes)

        def bare_warcio():
            n = 0
            with open(warc, "rb") as fh:
                for r in ArchiveIterator(fh):
                    r.content_stream().read()
                    n += 1
            return n

        io_rps, io_mbs = rate(bare_warcio, warc.stat().st_size)
        from fastwarc.warc import ArchiveIterator as FastIterator

        def bare_fastwarc():
            n = 0
            with open(warc, "rb") as fh:
                for r in FastIterator(fh, parse_http=True):
                    r.reader.read()
                    n += 1
            return n

        fw_rps, fw_mbs = rate(bare_fastwarc, warc.stat().st_size)
        print(f"corpus: {len(html_pages)} real HTML pages x {args.copies}: WARC {warc.stat().st_size / 1e6:.1f} MB gz, "
              f"WET {wet.stat().st_size / 1e6:.1f} MB gz; one core")
        print(f"  refinery WARC -> text (read, decode, extract, meta)   {warc_rps:8.0f} records/s  "
              f"{warc_mbs:6.2f} MB/s")
        print(f"  refinery WET reading                                  {wet_rps:8.0f} records/s  {wet_mbs:6.2f} MB/s")
        print(f"  resiliparse extractor alone, same pages (HTML bytes)  {ext_rps:8.0f} pages/s    {ext_mbs:6.2f} MB/s")
        print(f"  warcio iteration alone (no extraction)                {io_rps:8.0f} records/s  {io_mbs:6.2f} MB/s")
        print(f"  fastwarc iteration alone (no extraction)              {fw_rps:8.0f} records/s  {fw_mbs:6.2f} MB/s")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "warc_to_text": {"records_s": warc_rps, "mb_s": warc_mbs},
                "wet": {"records_s": wet_rps, "mb_s": wet_mbs},
                "extractor_alone": {"pages_s": ext_rps, "mb_s": ext_mbs},
                "warcio": {"records_s": io_rps, "mb_s": io_mbs},
                "fastwarc": {"records_s": fw_rps, "mb_s": fw_mbs}}, indent=1))


if __name__ == "__main__":
    main()
