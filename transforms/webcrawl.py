"""Web-crawl crude: WARC (``response`` records with HTML or text), WET (``conversion``
records) and ARC files, gzip or plain, read with warcio; HTML to text with resiliparse.

Pure core, called by :func:`refinery.transforms.ingest.read_crude` for ``warc`` inputs.

- One crude record per page; ``source_line`` is the record's index in the file (every WARC record
  counts, so the index matches ``warcio index``). ``request``, ``warcinfo``, ``metadata`` and
  ``resource`` (crawler logs and files such as wget.log) records are not documents: they are counted
  in the file facts (``non_document_records``), not dropped silently.
- HTML: the charset declared in the HTTP ``Content-Type`` header or the page's ``<meta charset>`` is
  honoured, else detected (resiliparse), so GB2312/GBK/Big5 pages decode; boilerplate is removed by
  resiliparse's main-content extraction (``ingest.html_extractor``).
- ``meta`` keeps: url, warc_date, warc_record_id, warc_type, content_type, http_status,
  cc_language (``WARC-Identified-Content-Language``), charset, and the signals the licence stage reads:
  ``x_robots_tag`` (HTTP), ``robots`` (``<meta name="robots">``), ``tdm_reservation`` / ``tdm_policy``
  (TDMRep header or meta), ``content_usage`` (IETF AIPREF ``Content-Usage`` header or meta), ``license``
  and ``license_evidence`` (the page's own licence: see :func:`html_signals`), ``body_licence_links`` and
  ``cc_links``.
- Non-text payloads (images, PDFs, ...) are no documents either: counted per content type in the file
  facts (``non_text_payloads``), or, with ``ingest.non_text_payloads: reject``, rejected as
  ``non_text_payload``.
- Decisions at ingest: pages whose text
  is empty after extraction (redirects, empty bodies) → ``empty_page``; non-2xx HTTP status →
  ``http_status_not_ok``. A malformed record or a truncated gzip member ends the readable part of the
  file: one ``errors/`` record says where, and everything read before it is kept.
"""

from __future__ import annotations

import re
import zlib
from typing import IO

from refinery.schemas.reasons import RejectReason
from refinery.transforms.ingest import TapReader

_TEXT_TYPES = ("text/html", "application/xhtml", "text/plain", "application/xml", "text/xml")
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", re.IGNORECASE)
_CC_LINK = re.compile(r"https?://creativecommons\.org/(?:licenses|publicdomain)/[a-z\-]+/\d\.\d/?", re.IGNORECASE)
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "big5hkscs"}


def _charset_from_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = re.search(r"charset=[\"']?([A-Za-z0-9_\-]+)", content_type, re.IGNORECASE)
    return m.group(1).lower() if m else None


def decode_html(body: bytes, declared: str | None) -> tuple[str, str]:
    """(text, charset used): UTF-8 when the bytes are UTF-8 (a declared charset that contradicts valid
    UTF-8 loses: such pages decoded as windows-1252 were mojibake), else the HTTP charset, then
    <meta charset>, then detection."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    if not body.isascii():
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    candidates = []
    if declared:
        candidates.append(declared)
    m = _META_CHARSET.search(body[:4096])
    if m:
        candidates.append(m.group(1).decode("ascii", "ignore").lower())
    for cs in candidates:
        cs = _CHARSET_ALIASES.get(cs, cs)
        try:
            return body.decode(cs), cs
        except (LookupError, UnicodeDecodeError):
            continue
    enc = detect_encoding(body)
    return bytes_to_str(body, enc), enc


def parse_html(html: str):
    from resiliparse.parse.html import HTMLTree

    return HTMLTree.parse(html)


_LICENCE_META = ("dc.rights", "dcterms.rights", "dc.license", "dcterms.license", "license", "licence", "rights",
                 "dc.rights.license", "dcterms.accessrights")
# an href that names a licence (Creative Commons deeds, GNU / OSI / SPDX licence pages, a LICENSE file)
_LICENCE_HREF = re.compile(r"creativecommons\.org/(?:licenses|publicdomain)/|gnu\.org/(?:licenses|copyleft)/"
                           r"|opensource\.org/licen[cs]es?/|spdx\.org/licenses/|/licen[cs]es?/[a-z]|/LICEN[CS]E(?:\.\w+)?$"
                           r"|/COPYING$|/licen[cs]e(?:\.html?)?$", re.IGNORECASE)
# where a page says its own licence: the footer, a licence or copyright block
_BLOCK_LINKS = ", ".join(f"{sel} a[href]" for sel in (
    "footer", "[role=contentinfo]", "[id*=footer]", "[class*=footer]", "[id*=licen]", "[class*=licen]",
    "[id*=copyright]", "[class*=copyright]", "[id*=rights]", "[class*=rights]"))


def _resolve(href: str, base_url: str | None) -> str:
    href = href.strip()
    if base_url and not re.match(r"[a-z][a-z0-9+.\-]*:", href, re.IGNORECASE):
        from urllib.parse import urljoin

        try:
            return urljoin(base_url, href)
        except ValueError:
            return href
    return href


def html_signals(html: str, tree=None, base_url: str | None = None) -> dict:
    """robots / TDMRep / AI-preference meta values and the licence a page declares for itself.

    ``robots``, ``html_tdm_reservation`` / ``html_tdm_policy`` (TDMRep ``<meta>``) and
    ``html_content_usage`` (IETF AIPREF ``<meta name="content-usage">``); the HTTP headers of the same
    names are kept by the reader under ``tdm_reservation``, ``tdm_policy`` and ``content_usage``.

    The page licence (``license``, with ``license_evidence`` saying where it came from), strongest first:
    ``rel="license"`` links (``<link>`` or ``<a>``), then ``<meta name="dc.rights|dcterms.license|license">``,
    then a licence link inside the page's footer or licence / copyright block. Relative links are resolved
    against ``base_url`` (the page URL). Licence links anywhere else in the body (an example, a citation)
    are not the page's licence: they are kept in ``body_licence_links``, a weak signal. ``cc_links``: every
    Creative Commons link on the page, sorted (for inspection).
    """
    out: dict = {}
    tree = tree if tree is not None else parse_html(html)
    doc = tree.document
    meta_licence = _meta_signals(doc, base_url, out)
    rel_links = []
    for el in doc.query_selector_all("link[rel], a[rel]"):
        href = el.getattr("href")
        if href and "license" in (el.getattr("rel") or "").lower().split():
            rel_links.append(_resolve(href, base_url))
    block_links = _licence_links(doc, _BLOCK_LINKS, base_url, set())
    if rel_links:
        out["license"], out["license_evidence"] = rel_links[0], "html:rel=license"
    elif meta_licence:
        out["license"], out["license_evidence"] = meta_licence[1], f"html:meta:{meta_licence[0]}"
    elif block_links:
        out["license"], out["license_evidence"] = block_links[-1], "html:footer-link"
    body = _licence_links(doc, "a[href]", base_url, set(rel_links) | set(block_links))
    if body:
        out["body_licence_links"] = body[:20]
    links = sorted({m.group(0) for m in _CC_LINK.finditer(html)})
    if links:
        out["cc_links"] = links
    return out


def _meta_signals(doc, base_url: str | None, out: dict) -> tuple[str, str] | None:
    """robots, TDMRep and AI-preference ``<meta>`` values into ``out``; returns the first licence
    ``<meta>`` as (name, value), a licence link in it resolved against ``base_url``."""
    meta_licence = None
    for el in doc.query_selector_all("meta[name], meta[property], meta[http-equiv]"):
        name = (el.getattr("name") or el.getattr("property") or el.getattr("http-equiv") or "").strip().lower()
        content = (el.getattr("content") or "").strip()
        if not content:
            continue
        if name in ("robots", "googlebot", "ccbot", "gptbot"):
            out["robots"] = (out.get("robots", "") + " " + content).strip()
        elif name in ("tdm-reservation", "tdm-policy"):
            out["html_" + name.replace("-", "_")] = content
        elif name in ("content-usage", "ai-usage", "aipref"):
            out["html_content_usage"] = (out.get("html_content_usage", "") + ", " + content).strip(", ")
        elif name in _LICENCE_META and meta_licence is None:
            meta_licence = (name, _resolve(content, base_url) if _LICENCE_HREF.search(content) else content)
    return meta_licence


def _licence_links(doc, selector: str, base_url: str | None, taken: set[str]) -> list[str]:
    """Licence links of the elements ``selector`` picks, resolved, each once in page order, none of ``taken``."""
    found: list[str] = []
    for el in doc.query_selector_all(selector):
        href = _resolve(el.getattr("href") or "", base_url)
        if href not in taken and _LICENCE_HREF.search(href) and href not in found:
            found.append(href)
    return found


def extract_text(html, extractor: str) -> str:
    """Main text of a page (``html``: markup, or a tree from :func:`parse_html` for resiliparse)."""
    if extractor == "trafilatura":
        try:
            import trafilatura
        except ImportError as exc:  # the config said so: say what to install
            raise ImportError("ingest.html_extractor=trafilatura needs `pip install trafilatura`") from exc
        return trafilatura.extract(html if isinstance(html, str) else str(html.document.html)) or ""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=(extractor == "resiliparse"), alt_texts=False, links=False,
                              form_fields=False, noscript=False)


def _page(reader, idx: int, text: str, meta: dict, reject=None):
    kind, rec = reader.record(idx, text, meta.get("warc_record_id"), meta)
    if reject is not None:
        rec["_reject"] = reject
    return kind, rec


def read_warc(reader, stream: IO[bytes], compression: str | None, fmt: str, reopen=None):
    """Yield ("record" | "error", dict) per page of a WARC / WET / ARC file; counts the rest.

    A WET file whose Content-Length headers are wrong (hand-made or truncated copies) defeats warcio
    before its first page; such a file is re-read with :func:`read_wet_lenient`, which splits records
    on their ``WARC/1.0`` lines as Common Crawl's own tooling does.
    """
    from warcio.exceptions import ArchiveLoadFailed

    if fmt == "warc_paths":
        raise ValueError("a *.paths list is expanded before reading; it has no pages of its own")
    reader.encoding = "warc"
    reader.extra = {"non_document_records": {}}
    watch = _GzipWatch(stream) if compression == "gzip" else None
    try:
        yield from _read_warcio(reader, watch if watch is not None else stream)
        if watch is not None:
            watch.finish()
            if watch.truncated:
                # warcio stops quietly at a cut gzip member: say so, or the lost pages would be silent
                yield reader.error(None, None, f"EOFError: the file ends inside a gzip member (after record "
                                               f"{reader.records}); the pages after that point are lost")
    except ArchiveLoadFailed:
        if reader.records or reopen is None:
            raise
        with reopen() as raw:
            data = raw.read()
        if compression == "gzip":
            import gzip

            data = gzip.decompress(data)
        if b"WARC-Type: conversion" not in data:
            raise
        reader.encoding = "wet-lenient"
        reader.extra = {"non_document_records": {}}
        yield from read_wet_lenient(reader, data)


class _GzipWatch(TapReader):
    """Passes bytes through and follows the gzip members in them, to tell a complete file from a cut one."""

    def __init__(self, raw):
        super().__init__(raw)
        self._d = zlib.decompressobj(31)
        self._in_member = False
        self.truncated = False

    def observe(self, data: bytes) -> None:
        while data:
            self._in_member = True
            try:
                self._d.decompress(data)  # the output is warcio's business; only the member boundaries matter
            except zlib.error:
                return  # not gzip after all: warcio decides what the file is
            if not self._d.eof:
                return
            data = self._d.unused_data
            self._d = zlib.decompressobj(31)
            self._in_member = False

    def finish(self) -> None:
        self.observe(self._raw.read())
        self.truncated = self._in_member


_WARC_LINE = re.compile(rb"^WARC/1\.[01]\r?$", re.MULTILINE)


def read_wet_lenient(reader, data: bytes):
    """WET records split on ``WARC/1.x`` lines, headers up to the first blank line, Content-Length ignored."""
    starts = [m.start() for m in _WARC_LINE.finditer(data)]
    for idx, (a, b) in enumerate(zip(starts, starts[1:] + [len(data)], strict=True)):
        block = data[a:b]
        head, _sep, body = block.partition(b"\n\n") if b"\r\n\r\n" not in block[:4096] else block.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").splitlines()[1:]:
            k, _c, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        rtype = headers.get("warc-type", "")
        if rtype != "conversion":
            nd = reader.extra["non_document_records"]
            nd[rtype or "unknown"] = nd.get(rtype or "unknown", 0) + 1
            continue
        meta = {"url": headers.get("warc-target-uri"), "warc_date": headers.get("warc-date"),
                "warc_record_id": headers.get("warc-record-id"), "warc_type": rtype,
                "content_type": headers.get("content-type"),
                "cc_language": headers.get("warc-identified-content-language")}
        text = body.decode("utf-8", "replace").strip("\r\n")
        reject = None if text.strip() else (RejectReason.EMPTY_PAGE, "conversion record with no text")
        yield _page(reader, idx, text, {k: v for k, v in meta.items() if v is not None}, reject)


def _read_warcio(reader, stream):
    from warcio.archiveiterator import ArchiveIterator

    extractor = getattr(reader.cfg, "html_extractor", "resiliparse")
    it = ArchiveIterator(stream, arc2warc=True)
    for idx, rec in enumerate(it):
        rtype = rec.rec_type
        # ``resource`` records are files the crawler kept (wget.log, wget_arguments.txt, an image
        # fetched whole), not pages: counted with the other non-document records, never refined.
        if rtype not in ("response", "conversion"):
            nd = reader.extra["non_document_records"]
            nd[rtype] = nd.get(rtype, 0) + 1
            continue
        h = rec.rec_headers
        meta = {
            "url": h.get_header("WARC-Target-URI"),
            "warc_date": h.get_header("WARC-Date"),
            "warc_record_id": h.get_header("WARC-Record-ID"),
            "warc_type": rtype,
            "cc_language": h.get_header("WARC-Identified-Content-Language"),
        }
        try:
            body = rec.content_stream().read(reader.max_record_bytes + 1)
        except Exception as exc:  # noqa: BLE001 - chunked-encoding or decompression error in this record
            yield reader.error(idx, None,
                               f"{type(exc).__name__}: record {idx} ({meta['url']}): payload unreadable: {exc}")
            continue
        if len(body) > reader.max_record_bytes:
            yield reader.too_long(idx, body[: reader.cfg.max_error_bytes], len(body))
            continue
        inner = _embedded_records(body)
        if inner:
            # A Content-Length too large: this record's block ran over the records after it. They are not
            # dropped silently: the overrunning record and each one inside it become errors/ rows.
            yield reader.error(idx, body, f"WarcLengthError: record {idx} ({meta['url']}): its Content-Length "
                                          f"overruns {len(inner)} following WARC record(s) (first at byte "
                                          f"{inner[0]} of its payload)")
            for k, (a, b) in enumerate(zip(inner, inner[1:] + [len(body)], strict=True)):
                yield reader.error(None, body[a:b], f"WarcLengthError: WARC record {k + 1} inside record {idx} "
                                                    f"({meta['url']}), swallowed by its Content-Length")
            continue
        if rtype == "conversion":  # WET: already text
            meta["content_type"] = h.get_header("Content-Type")
            text = body.decode("utf-8", "replace")
            reject = None if text.strip() else (RejectReason.EMPTY_PAGE, "conversion record with no text")
            yield _page(reader, idx, text, {k: v for k, v in meta.items() if v is not None}, reject)
            continue
        meta, content_type = _http_meta(rec, meta)
        ctype = content_type.split(";")[0].strip().lower()
        if ctype and not ctype.startswith(_TEXT_TYPES):
            if getattr(reader.cfg, "non_text_payloads", "count") == "count":  # not a document: counted per type
                nt = reader.extra.setdefault("non_text_payloads", {})
                nt[ctype] = nt.get(ctype, 0) + 1
                continue
            yield _page(reader, idx, "", meta, (RejectReason.NON_TEXT_PAYLOAD, f"content type {ctype!r}"))
            continue
        status = meta.get("http_status")
        if isinstance(status, int) and not 200 <= status < 300:
            yield _page(reader, idx, "", meta, (RejectReason.HTTP_STATUS_NOT_OK, f"HTTP status {status}"))
            continue
        try:
            if ctype.startswith("text/plain"):
                text, charset = decode_html(body, _charset_from_type(content_type))
            else:
                html, charset = decode_html(body, _charset_from_type(content_type))
                tree = parse_html(html)  # parsed once: meta signals and extraction share it
                meta.update(html_signals(html, tree, meta.get("url")))
                text = extract_text(tree if extractor != "trafilatura" else html, extractor)
            meta["charset"] = charset
        except Exception as exc:  # noqa: BLE001 - a page the parser cannot handle is an error, not a crash
            yield reader.error(idx, body, f"{type(exc).__name__}: record {idx} ({meta.get('url')}): {exc}")
            continue
        reject = None if text.strip() else (RejectReason.EMPTY_PAGE, "no text after HTML extraction")
        yield _page(reader, idx, text, meta, reject)


def _http_meta(rec, meta: dict) -> tuple[dict, str]:
    """A response record's HTTP facts added to ``meta`` (content type, status, the opt-out headers):
    (meta without empty values, the Content-Type)."""
    http = rec.http_headers
    content_type = (http.get_header("Content-Type") if http else None) or rec.rec_headers.get_header(
        "Content-Type") or ""
    meta["content_type"] = content_type
    if http is not None:
        status = http.get_statuscode()
        meta["http_status"] = int(status) if status and status.isdigit() else status
        for name, key in (("X-Robots-Tag", "x_robots_tag"), ("tdm-reservation", "tdm_reservation"),
                          ("tdm-policy", "tdm_policy"), ("Content-Usage", "content_usage")):
            v = http.get_header(name)
            if v:
                meta[key] = v
    return {k: v for k, v in meta.items() if v is not None}, content_type


_EMBEDDED_WARC = re.compile(rb"\nWARC/1\.[01]\r?\nWARC-[A-Za-z-]+: ")


def _embedded_records(body: bytes) -> list[int]:
    """Offsets of WARC record headers inside a payload (a record whose Content-Length was too large)."""
    if b"\nWARC/1." not in body:
        return []
    return [m.start() + 1 for m in _EMBEDDED_WARC.finditer(body)]


def expand_paths_list(data: bytes, prefix: str) -> list[str]:
    """URIs listed in a Common Crawl ``*.paths`` file (one relative path per line), under ``prefix``."""
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line if "://" in line or line.startswith("/") else prefix.rstrip("/") + "/" + line)
    return out
