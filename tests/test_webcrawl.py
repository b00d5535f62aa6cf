"""Web-crawl input: WARC / WET / ARC readers, HTML extraction, charsets, metadata, malformations."""

import gzip
import io
import json
from pathlib import Path

import pytest
from conftest import run_refinery
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from refinery.pipelines.config import IngestConfig
from refinery.transforms.ingest import local_opener, read_crude
from refinery.transforms.licence import find_opt_outs

WARC = Path(__file__).resolve().parent / "fixtures" / "warc"
ARTICLE = ("<p>The river rises in the hills to the north of the town and flows slowly through the valley. "
           "In spring the water is high and the farmers wait for the floods to recede before they plant.</p>")


def _read(path, **ingest):
    items = list(read_crude(str(path), IngestConfig(**ingest), local_opener))
    recs = [i for k, i in items if k == "record"]
    errs = [i for k, i in items if k == "error"]
    facts = [i for k, i in items if k == "file"][0]
    return recs, errs, facts


def _html(body: str, head: str = "") -> str:
    return (f"<html><head>{head}<title>t</title></head><body><nav><a href='/'>Home</a> | <a href='/a'>About</a>"
            f"</nav><article>{body}</article><footer>Contact us</footer></body></html>")


def _write_warc(path, pages, gz=True):
    """pages: (url, status, content_type, body bytes, extra http headers)."""
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=gz)
        w.write_record(w.create_warcinfo_record("test.warc", {"software": "refinery-tests"}))
        for url, status, ctype, body, extra in pages:
            http = StatusAndHeaders(status, [("Content-Type", ctype)] + list(extra), protocol="HTTP/1.1")
            rec = w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
            w.write_record(rec)
            req = w.create_warc_record(url, "request", payload=io.BytesIO(b""),
                                       http_headers=StatusAndHeaders("GET / HTTP/1.1", [], is_http_request=True))
            w.write_record(req)


@pytest.fixture
def crafted(tmp_path):
    gbk = _html("<h1>新闻</h1><p>" + "这条河发源于城北的山丘，缓缓流过山谷。"
                "春天河水上涨，农民们要等洪水退去以后才开始播种。" * 3 + "</p>",
                '<meta charset="gbk">').encode("gbk")
    big5 = _html("<p>" + ("這條河發源於城北的山丘，緩緩流過山谷。"
                          "春天河水上漲，農民們要等洪水退去以後才開始播種。") * 3 + "</p>").encode("big5")
    pages = [
        ("http://example.org/en", "200 OK", "text/html; charset=utf-8", _html(ARTICLE).encode(), []),
        ("http://example.cn/gbk", "200 OK", "text/html", gbk, []),
        ("http://example.tw/big5", "200 OK", "text/html; charset=big5", big5, []),
        ("http://example.org/logo.png", "200 OK", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, []),
        ("http://example.org/missing", "404 Not Found", "text/html", _html("<p>Not found</p>").encode(), []),
        ("http://example.org/empty", "200 OK", "text/html", b"<html><body></body></html>", []),
        ("http://example.org/noai", "200 OK", "text/html", _html(ARTICLE, '<meta name="robots" content="noai">'
                                                                 '<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">').encode(),
         [("X-Robots-Tag", "noai, noimageai"), ("tdm-reservation", "1")]),
    ]
    path = tmp_path / "crafted.warc.gz"
    _write_warc(path, pages)
    return path


def test_response_records_become_pages_with_metadata(crafted):
    recs, errs, facts = _read(crafted)
    assert not errs
    by_url = {json.loads(r["meta"])["url"]: r for r in recs}
    assert len(recs) == 6 and facts["records"] == 6  # the PNG is no document: counted, not refined
    assert facts["non_document_records"] == {"warcinfo": 1, "request": 7}
    assert facts["non_text_payloads"] == {"image/png": 1}
    en = by_url["http://example.org/en"]
    meta = json.loads(en["meta"])
    assert "The river rises" in en["text"] and "Home" not in en["text"] and "Contact us" not in en["text"]
    assert meta["http_status"] == 200 and meta["content_type"].startswith("text/html") and meta["warc_record_id"]
    assert en["source_line"] == 1  # record index in the file (0 is warcinfo)
    assert en["original_id"] == meta["warc_record_id"]


def test_declared_and_detected_charsets(crafted):
    recs, _e, _f = _read(crafted)
    by_url = {json.loads(r["meta"])["url"]: r for r in recs}
    assert "这条河发源于城北的山丘" in by_url["http://example.cn/gbk"]["text"]
    assert json.loads(by_url["http://example.cn/gbk"]["meta"])["charset"] == "gb18030"
    assert "這條河發源於城北的山丘" in by_url["http://example.tw/big5"]["text"]


def test_pages_decided_against_at_ingest(crafted):
    recs, _e, facts = _read(crafted)
    by_url = {json.loads(r["meta"])["url"]: r for r in recs}
    assert "http://example.org/logo.png" not in by_url and facts["non_text_payloads"] == {"image/png": 1}
    assert by_url["http://example.org/missing"]["_reject"][0].value == "http_status_not_ok"
    assert by_url["http://example.org/empty"]["_reject"][0].value == "empty_page"
    assert "_reject" not in by_url["http://example.org/en"]


def test_non_text_payloads_can_be_kept_as_rejected_rows(crafted):
    recs, _e, facts = _read(crafted, non_text_payloads="reject")
    by_url = {json.loads(r["meta"])["url"]: r for r in recs}
    assert by_url["http://example.org/logo.png"]["_reject"][0].value == "non_text_payload"
    assert len(recs) == 7 and facts["records"] == 7 and "non_text_payloads" not in facts


def test_opt_out_and_licence_signals_are_kept_in_meta(crafted):
    recs, _e, _f = _read(crafted)
    r = next(r for r in recs if "noai" in r["meta"])
    meta = json.loads(r["meta"])
    assert meta["x_robots_tag"] == "noai, noimageai" and meta["tdm_reservation"] == "1"
    assert "noai" in meta["robots"] and meta["license"] == "https://creativecommons.org/licenses/by/4.0/"
    signals = find_opt_outs(r["text"], meta)
    assert "meta:x-robots-tag:noai" in signals and "meta:tdm-reservation" in signals


def test_real_common_crawl_warc_and_wet():
    recs, errs, facts = _read(WARC / "whirlwind.warc.gz")
    assert not errs and len(recs) == 1
    meta = json.loads(recs[0]["meta"])
    assert meta["url"] == "https://an.wikipedia.org/wiki/Escopete" and meta["http_status"] == 200
    assert "Escopete" in recs[0]["text"] and facts["non_document_records"] == {"warcinfo": 1, "request": 1,
                                                                               "metadata": 1}
    recs, errs, facts = _read(WARC / "whirlwind.warc.wet.gz")
    meta = json.loads(recs[0]["meta"])
    assert not errs and len(recs) == 1 and meta["warc_type"] == "conversion" and meta["cc_language"] == "spa"


def test_arc_file():
    recs, errs, _f = _read(WARC / "example.arc.gz")
    assert not errs and len(recs) == 1 and json.loads(recs[0]["meta"])["url"].startswith("http://example.com")


def test_wet_with_wrong_content_lengths_is_read_leniently():
    recs, errs, facts = _read(WARC / "sample.warc.txt")
    assert not errs and facts["encoding"] == "wet-lenient"
    assert [json.loads(r["meta"])["url"] for r in recs] == ["http://sample_english.com", "http://sample_chinese.zh",
                                                           "http://sample_russian.ru"]


@pytest.mark.parametrize("name, records_before_error", [
    ("example-bad-non-chunked.warc.gz", 0),  # one gzip member for many records: not seekable, unreadable
    ("example-wrong-chunks.warc.gz", 1),  # a broken record after a good one
])
def test_malformed_files_keep_what_was_read_and_say_where(name, records_before_error):
    recs, errs, facts = _read(WARC / name)
    assert len(recs) == records_before_error and len(errs) == 1
    assert errs[0]["source_line"] is None and "ArchiveLoadFailed" in errs[0]["error"]
    assert facts["records"] == records_before_error + 1


def test_truncated_gzip_member(tmp_path, crafted):
    data = crafted.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    recs, errs, facts = _read(cut)
    assert 0 < len(recs) < 7 and len(errs) == 1
    assert facts["records"] == len(recs) + 1


def test_paths_list_expands_and_unreachable_files_are_errors(tmp_path, crafted):
    lst = tmp_path / "CC-TEST.warc.paths.gz"
    lst.write_bytes(gzip.compress(f"{crafted.name}\ncrawl-data/missing.warc.gz\n".encode()))
    out = tmp_path / "out"
    from refinery.pipelines.config import load_config

    cfg = load_config(None, [f"ingest.commoncrawl_prefix={tmp_path}", "quality.enabled=false",
                             "dedup.enabled=false", "language.enabled=false", "licence.enabled=false"])
    res = run_refinery([lst], out, cfg)
    m = res.manifest
    # the missing file is one error row, every record of that file: the run fails as a whole, naming it
    assert res.exit_code == 1 and "missing.warc.gz is an error" in m["error"] and m["reconciliation"]["ok"]
    by_uri = {i["uri"]: i for i in m["inputs"]}
    assert by_uri[str(lst)]["records"] == 0 and by_uri[str(crafted)]["records"] == 6
    assert by_uri[str(tmp_path / "crawl-data/missing.warc.gz")]["records"] == 1  # the error
    assert m["totals"]["errors"] == 1 and m["totals"]["refined"] + m["totals"]["rejected"] == 6


# --- the licence of the page, not of any link on it -------------------------------------------------

def _signals(body: str, head: str = "", url: str = "https://creativecommons.org/"):
    from refinery.transforms.webcrawl import html_signals

    return html_signals(f"<html><head>{head}</head><body>{body}</body></html>", base_url=url)


def test_footer_licence_beats_an_example_link_in_the_body():
    # creativecommons.org's home page: an example licence in the body, the site's own in the footer
    s = _signals("<main><p>Try <a href='/licenses/by-nc-sa/4.0/'>BY-NC-SA</a> for your work.</p></main>"
                 "<footer><p>Except where noted, content on this site is licensed under a "
                 "<a href='/licenses/by/4.0/'>CC BY 4.0</a> licence.</p></footer>")
    assert s["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert s["license_evidence"] == "html:footer-link"
    assert s["body_licence_links"] == ["https://creativecommons.org/licenses/by-nc-sa/4.0/"]


def test_rel_license_first_then_meta_then_footer():
    s = _signals("<p><a rel='license' href='https://creativecommons.org/licenses/by-sa/4.0/'>cc</a></p>"
                 "<footer><a href='https://creativecommons.org/licenses/by/3.0/'>x</a></footer>",
                 "<meta name='dc.rights' content='https://creativecommons.org/licenses/by-nd/4.0/'>")
    assert (s["license"], s["license_evidence"]) == ("https://creativecommons.org/licenses/by-sa/4.0/",
                                                      "html:rel=license")
    s = _signals("<footer><a href='https://creativecommons.org/licenses/by/3.0/'>x</a></footer>",
                 "<meta name='dcterms.license' content='https://creativecommons.org/licenses/by-nd/4.0/'>")
    assert (s["license"], s["license_evidence"]) == ("https://creativecommons.org/licenses/by-nd/4.0/",
                                                     "html:meta:dcterms.license")


def test_relative_footer_link_is_resolved_against_the_page_url():
    s = _signals("<div id='site-footer'><a href='/licenses/by/4.0/'>CC BY 4.0</a></div>",
                 url="https://creativecommons.org/about/")
    assert s["license"] == "https://creativecommons.org/licenses/by/4.0/"


def test_body_link_alone_is_not_the_page_licence():
    s = _signals("<p>This photo is <a href='https://creativecommons.org/licenses/by-nc/2.0/'>CC BY-NC</a>.</p>")
    assert "license" not in s and s["body_licence_links"] == ["https://creativecommons.org/licenses/by-nc/2.0/"]


def test_aipref_and_tdmrep_from_header_and_meta(tmp_path):
    page = _html(ARTICLE, '<meta name="content-usage" content="train-ai=n"><meta name="tdm-reservation" content="1">')
    path = tmp_path / "p.warc.gz"
    _write_warc(path, [("http://example.org/p", "200 OK", "text/html", page.encode(),
                        [("Content-Usage", "train-genai=n, search=y")])])
    recs, _errs, _facts = _read(path)
    meta = json.loads(recs[0]["meta"]) if isinstance(recs[0]["meta"], str) else recs[0]["meta"]
    assert meta["content_usage"] == "train-genai=n, search=y"
    assert meta["html_content_usage"] == "train-ai=n" and meta["html_tdm_reservation"] == "1"
    from refinery.transforms.licence import find_ai_preferences

    assert find_ai_preferences(meta) == ["header:content-usage:train-genai=n", "header:content-usage:search=y",
                                         "html:content-usage:train-ai=n", "html:tdm-reservation=1"]


def test_resource_records_are_counted_not_refined(tmp_path):
    path = tmp_path / "wget.warc.gz"
    _write_warc(path, [("http://example.org/en", "200 OK", "text/html", _html("<p>" + "A page of text. " * 20
                                                                              + "</p>").encode(), [])])
    with open(path, "ab") as f:
        w = WARCWriter(f, gzip=True)
        for name in ("wget.log", "wget_arguments.txt"):
            w.write_record(w.create_warc_record(f"metadata://gnu.org/software/wget/warc/{name}", "resource",
                                                payload=io.BytesIO(b"--2024-01-01-- Saving to: index.html\n"),
                                                warc_content_type="text/plain"))
    recs, errs, facts = _read(path)
    assert not errs and [json.loads(r["meta"])["url"] for r in recs] == ["http://example.org/en"]
    assert facts["non_document_records"] == {"warcinfo": 1, "request": 1, "resource": 2}
