"""Ingest findings of the reliability audit: truncated zstd, per-record decoding, caps, Parquet types."""

import datetime as dt
import decimal
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from refinery.pipelines.config import IngestConfig
from refinery.transforms.ingest import legacy_decode, local_opener, read_crude


def _read(path, **cfg):
    items = list(read_crude(str(path), IngestConfig(**cfg), local_opener))
    records = [i for k, i in items if k == "record"]
    errors = [i for k, i in items if k == "error"]
    (facts,) = [i for k, i in items if k == "file"]
    assert facts["records"] == len(records) + len(errors)  # what the reconciliation counts
    return records, errors, facts


def _jsonl(n):
    return b"".join(json.dumps({"text": f"record number {i} with some words"}).encode() + b"\n" for i in range(n))


def test_truncated_zstd_is_an_error_not_a_short_file(tmp_path):
    small = zstandard.ZstdCompressor().compress(_jsonl(100))
    p = tmp_path / "small.jsonl.zst"
    p.write_bytes(small[: len(small) // 2])
    records, errors, _f = _read(p)
    assert len(errors) == 1 and "cut short" in errors[0]["error"], errors
    big = zstandard.ZstdCompressor(level=3).compress(_jsonl(60_000))
    q = tmp_path / "big.jsonl.zst"
    q.write_bytes(big[: len(big) * 2 // 3])
    records, errors, _f = _read(q)
    assert 0 < len(records) < 60_000
    assert any("TruncatedStream" in e["error"] and "cut short" in e["error"] for e in errors)


def test_complete_multi_frame_zstd_reads_whole(tmp_path):
    c = zstandard.ZstdCompressor()
    p = tmp_path / "frames.jsonl.zst"
    p.write_bytes(c.compress(_jsonl(10)) + c.compress(_jsonl(5)))
    records, errors, _f = _read(p)
    assert errors == [] and len(records) == 15


def test_mostly_utf8_file_keeps_utf8_lines_and_refuses_mojibake(tmp_path):
    good = "Déclaration universelle des droits de l’homme".encode()
    latin1 = "Déclaration universelle des droits de l'homme".encode("latin-1")
    broken = good[:3] + b"\xff" + good[4:]
    lines = [json.dumps({"text": good.decode()}, ensure_ascii=False).encode()] * 3
    lines += [b'{"text": "' + latin1 + b'"}', b'{"text": "' + broken + b'"}']
    lines += [b'{"text": "' + latin1 + b'"}'] * 3  # more bad lines than good ones in the sample
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    records, errors, _f = _read(p)
    assert [r["text"] for r in records] == [good.decode()] * 3
    assert len(errors) == 5 and all(e["error"].startswith("UnicodeDecodeError") for e in errors)
    assert any("mojibake" in e["error"] for e in errors) and any("broken UTF-8" in e["error"] for e in errors)


def test_real_gb18030_and_big5_records_still_decode(tmp_path):
    zh = "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。"
    hant = "人人生而自由，在尊嚴和權利上一律平等。他們賦有理性和良心，並應以兄弟關係的精神相對待。"
    assert legacy_decode(zh.encode("gb18030"), "gb18030") == (zh, "")
    assert legacy_decode(hant.encode("big5"), "big5") == (hant, "")
    p = tmp_path / "gb.jsonl"
    p.write_bytes(b"".join(f'{{"text": "{zh} {i}"}}\n'.encode("gb18030") for i in range(50)))
    records, errors, facts = _read(p)
    assert errors == [] and len(records) == 50 and records[0]["text"].startswith(zh)
    # a UTF-8 line inside a GB18030 file stays UTF-8
    q = tmp_path / "gb_mixed.jsonl"
    q.write_bytes(p.read_bytes() + f'{{"text": "{hant}"}}\n'.encode())
    records, errors, _f = _read(q)
    assert errors == [] and records[-1]["text"] == hant


def test_overlong_line_is_an_error_and_never_held_whole(tmp_path):
    p = tmp_path / "long.jsonl.gz"
    with gzip.open(p, "wb") as f:
        f.write(b'{"text": "short one"}\n')
        f.write(b'{"text": "' + b"a" * 3_000_000 + b'"}\n')
        f.write(b'{"text": "after it"}\n')
    records, errors, _f = _read(p, max_record_bytes=1 << 20, max_error_bytes=100)
    assert [r["text"] for r in records] == ["short one", "after it"]
    assert len(errors) == 1 and "RecordTooLarge" in errors[0]["error"] and len(errors[0]["raw"]) == 100
    assert errors[0]["source_line"] == 1


def test_decompression_bomb_is_stopped(tmp_path):
    p = tmp_path / "bomb.jsonl.gz"
    with gzip.open(p, "wb", compresslevel=9) as f:
        chunk = b"\n" * (1 << 20)
        for _ in range(80):
            f.write(chunk)
    records, errors, _f = _read(p)
    assert records == [] and len(errors) == 1 and "DecompressionBomb" in errors[0]["error"]


def test_parquet_binary_decimal_timestamp_columns_are_kept_in_meta(tmp_path):
    table = pa.table({
        "text": ["one document", "another document"],
        "blob": pa.array([b"\x00\xffbin", b"plain"], pa.binary()),
        "price": pa.array([decimal.Decimal("1.50"), None], pa.decimal128(5, 2)),
        "ts": pa.array([dt.datetime(2024, 1, 2, 3, 4, 5), None], pa.timestamp("us")),
        "dur": pa.array([dt.timedelta(seconds=3), None], pa.duration("s")),
    })
    p = tmp_path / "typed.parquet"
    pq.write_table(table, p)
    records, errors, facts = _read(p)
    assert errors == [] and len(records) == 2 and facts["records"] == 2
    meta = json.loads(records[0]["meta"])
    assert meta["blob"] == "base64:AP9iaW4=" and meta["price"] == "1.50"
    assert meta["ts"].startswith("2024-01-02T03:04:05") and meta["dur"] == "0:00:03"
    assert json.loads(records[1]["meta"])["blob"] == "plain"


def _warc_record(i, body, content_length=None):
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=windows-1252\r\n\r\n" + body
    n = len(http) if content_length is None else content_length
    return (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.org/%d\r\n"
            b"WARC-Record-ID: <urn:uuid:%d>\r\nContent-Type: application/http; msgtype=response\r\n"
            b"Content-Length: %d\r\n\r\n" % (i, i, n)) + http + b"\r\n\r\n"


def test_warc_content_length_too_large_swallows_nothing_silently(tmp_path):
    page = b"<html><body><p>%s</p></body></html>"
    second = _warc_record(2, page % b"The second page, swallowed by the first one.")
    head = len(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=windows-1252\r\n\r\n")
    first_body = page % b"The first page says enough to be a page."
    first = _warc_record(1, first_body, content_length=head + len(first_body) + len(second))
    p = tmp_path / "bad.warc"
    p.write_bytes(first + second + _warc_record(3, page % b"The third page comes after both."))
    records, errors, _f = _read(p)
    assert [r["text"] for r in records] == ["The third page comes after both."]
    assert len(errors) == 2 and all("WarcLengthError" in e["error"] for e in errors)
    assert b"second page" in errors[1]["raw"]


def test_utf8_page_declared_windows_1252_is_read_as_utf8(tmp_path):
    text = "Überall grüßen die Menschen einander freundlich – auch heute."
    p = tmp_path / "page.warc"
    p.write_bytes(_warc_record(1, b"<html><body><p>" + text.encode() + b"</p></body></html>"))
    records, errors, _f = _read(p)
    assert errors == [] and records[0]["text"] == text
    assert json.loads(records[0]["meta"])["charset"] == "utf-8"


def test_a_text_file_over_64_kb_is_read_whole(tmp_path):
    text = "\n".join(f"Line {i} of a long plain-text document." for i in range(10_000))
    p = tmp_path / "long.txt"
    p.write_text(text)
    records, errors, _f = _read(p)
    assert errors == [] and records[0]["text"] == text


def test_a_text_file_bomb_is_an_error(tmp_path):
    p = tmp_path / "bomb.txt.gz"
    with gzip.open(p, "wb", compresslevel=9) as f:
        for _ in range(80):
            f.write(b"\0" * (1 << 20))
    records, errors, _f = _read(p)
    assert records == [] and len(errors) == 1 and "DecompressionBomb" in errors[0]["error"]
