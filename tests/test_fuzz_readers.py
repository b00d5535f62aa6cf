"""Property test over the readers: whatever the bytes, read_crude never raises and every input record is
exactly one record or one error (records in = records + errors, what the run's reconciliation counts).

REFINERY_FUZZ_EXAMPLES raises the number of inputs per property (default 120)."""

import gzip
import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refinery.pipelines.config import IngestConfig
from refinery.transforms.ingest import read_crude

EXAMPLES = int(os.environ.get("REFINERY_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
CFG = IngestConfig(max_record_bytes=4096, max_error_bytes=256)

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
junk = st.binary(max_size=40)


def _read(name: str, data: bytes, cfg=CFG):
    items = list(read_crude(name, cfg, lambda _u: io.BytesIO(data)))
    (facts,) = [i for k, i in items if k == "file"]
    n = sum(1 for k, _i in items if k in ("record", "error"))
    assert facts["records"] == n
    return items, facts


def _mutate(data: bytes, draw) -> bytes:
    op = draw(st.sampled_from(["none", "cut", "insert", "flip"]))
    if not data or op == "none":
        return data
    at = draw(st.integers(0, len(data)))
    if op == "cut":
        return data[:at]
    if op == "insert":
        return data[:at] + draw(junk) + data[at:]
    at = min(at, len(data) - 1)
    return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]


@FUZZ
@given(st.data(), st.lists(st.one_of(texts.map(lambda t: {"text": t}), st.dictionaries(texts, texts, max_size=3)),
                           max_size=12),
       st.sampled_from(["", ".gz", ".zst"]))
def test_jsonl_any_bytes(data, objs, comp):
    lines = [json.dumps(o, ensure_ascii=data.draw(st.booleans())).encode() for o in objs]
    raw = b"\n".join(lines) + data.draw(st.sampled_from([b"", b"\n", b"\r\n"]))
    if comp == ".gz":
        raw = gzip.compress(raw)
    elif comp == ".zst":
        raw = zstandard.ZstdCompressor().compress(raw)
    raw = _mutate(raw, data.draw)
    items, facts = _read(f"/fuzz/f.jsonl{comp}", raw)
    if not comp:  # uncompressed: one item per non-blank line exactly
        lines = raw.split(b"\n")
        lines[0] = lines[0].removeprefix(b"\xef\xbb\xbf")
        assert facts["records"] == sum(1 for line in lines if line.strip())


@FUZZ
@given(st.data(), st.lists(texts, max_size=10), st.sampled_from(["line", "file"]))
def test_text_any_bytes(data, lines, mode):
    codec = data.draw(st.sampled_from(["utf-8", "utf-16", "gb18030"]))
    raw = _mutate("\n".join(lines).encode(codec), data.draw)
    _read("/fuzz/f.txt", raw, IngestConfig(text_mode=mode, max_record_bytes=4096))


@FUZZ
@given(st.data(), st.lists(st.tuples(texts, junk), max_size=8))
def test_parquet_any_bytes(data, rows):
    table = pa.table({"text": [t for t, _b in rows], "blob": pa.array([b for _t, b in rows], pa.binary())})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    raw = _mutate(buf.getvalue(), data.draw)
    items, facts = _read("/fuzz/f.parquet", raw)
    if raw == buf.getvalue():
        assert facts["records"] == len(rows) and all(k != "error" for k, _i in items)


def _warc(i: int, body: bytes, length_delta: int) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
    return (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://f/%d\r\nWARC-Record-ID: <urn:%d>\r\n"
            b"Content-Length: %d\r\n\r\n" % (i, i, max(0, len(http) + length_delta))) + http + b"\r\n\r\n"


@FUZZ
@given(st.data(), st.lists(st.tuples(texts, st.integers(-8, 8)), max_size=5), st.booleans())
def test_warc_any_bytes(data, pages, gz):
    members = [_warc(i, b"<html><body><p>" + t.encode() + b"</p></body></html>", d)
               for i, (t, d) in enumerate(pages)]
    raw = b"".join(gzip.compress(m) for m in members) if gz else b"".join(members)
    _read("/fuzz/f.warc.gz" if gz else "/fuzz/f.warc", _mutate(raw, data.draw))
