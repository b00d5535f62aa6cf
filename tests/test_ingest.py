"""Pure-core tests of ingest: formats, encodings, malformed input, lineage fields."""

import gzip
import hashlib
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from refinery.pipelines.config import IngestConfig
from refinery.transforms.ingest import detect_encoding, detect_format, doc_id_for, local_opener, read_crude
from refinery.transforms.text import normalise_text


def _read(path, **cfg):
    items = list(read_crude(str(path), IngestConfig(**cfg), local_opener))
    records = [i for k, i in items if k == "record"]
    errors = [i for k, i in items if k == "error"]
    facts = [i for k, i in items if k == "file"]
    assert len(facts) == 1
    return records, errors, facts[0]


def test_jsonl_records_carry_lineage_and_meta(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"id": 7, "text": "hello", "license": "MIT", "meta": {"x": 1}}\n\n{"text": "second"}\n')
    records, errors, facts = _read(p)
    assert errors == []
    assert [r["text"] for r in records] == ["hello", "second"]
    r0 = records[0]
    assert r0["source_uri"] == str(p) and r0["source_line"] == 0 and r0["original_id"] == "7"
    assert json.loads(r0["meta"]) == {"license": "MIT", "meta": {"x": 1}}
    assert records[1]["source_line"] == 2  # the blank line keeps its number
    assert r0["doc_id"] == doc_id_for(str(p), 0)
    assert facts["records"] == 2 and facts["blank_lines"] == 1
    assert facts["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert facts["bytes"] == p.stat().st_size


@pytest.mark.parametrize(
    "line, message",
    [
        (b'{"text": "unterminated', "JSONDecodeError"),
        (b'{"text": "caf\xe9"}', "UnicodeDecodeError"),
        (b'{"body": "x"}', "KeyError: no text field 'text'"),
        (b'{"text": 42}', "TypeError: text field 'text' is int"),
        (b'["a"]', "ValueError: expected a JSON object, got list"),
    ],
)
def test_each_malformed_line_is_one_error_with_raw_bytes_and_location(tmp_path, line, message):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"text": "ok before"}\n' + line + b'\n{"text": "ok after"}\n')
    records, errors, facts = _read(p)
    assert [r["text"] for r in records] == ["ok before", "ok after"]
    assert len(errors) == 1
    assert errors[0]["source_line"] == 1 and errors[0]["raw"] == line
    assert message in errors[0]["error"]
    assert facts["records"] == 3


def test_gzip_and_zstd_are_read_and_hashed_as_stored(tmp_path):
    data = b"".join(json.dumps({"text": f"doc {i}"}).encode() + b"\n" for i in range(100))
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    zst = tmp_path / "a.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(data))
    for p in (gz, zst):
        records, errors, facts = _read(p)
        assert len(records) == 100 and not errors
        assert facts["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()


def test_truncated_gzip_keeps_what_was_read_and_adds_one_error(tmp_path):
    data = b"".join(json.dumps({"text": f"document number {i} " * 20}).encode() + b"\n" for i in range(2000))
    comp = gzip.compress(data)
    p = tmp_path / "trunc.jsonl.gz"
    p.write_bytes(comp[: len(comp) // 2])
    records, errors, facts = _read(p)
    assert 0 < len(records) < 2000
    assert len(errors) == 1 and errors[0]["source_line"] is None
    assert "rest of the file is unreadable" in errors[0]["error"]
    assert facts["records"] == len(records) + 1


def test_missing_file_is_an_error_not_a_crash(tmp_path):
    records, errors, facts = _read(tmp_path / "nope.jsonl")
    assert records == [] and len(errors) == 1 and "FileNotFoundError" in errors[0]["error"]


def test_gb18030_file_is_detected_and_decoded(tmp_path):
    text = "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n" * 20
    p = tmp_path / "poem.jsonl"
    p.write_bytes(b"".join(json.dumps({"text": line}, ensure_ascii=False).encode("gb18030") + b"\n"
                           for line in text.splitlines()))
    records, errors, facts = _read(p)
    assert not errors and facts["encoding"] == "gb18030"
    assert records[0]["text"] == "床前明月光，疑是地上霜。举头望明月，低头思故乡。"


def test_big5_text_file_is_detected(tmp_path):
    text = "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。這是一首著名的詩，學生們都會背誦。" * 10
    p = tmp_path / "poem.txt"
    p.write_bytes(text.encode("big5"))
    records, errors, facts = _read(p)
    assert facts["encoding"] == "big5" and records[0]["text"] == text


def test_utf16_with_bom(tmp_path):
    p = tmp_path / "u16.jsonl"
    p.write_bytes(('{"text": "Привет"}\n{"text": "κόσμε"}\n').encode("utf-16"))
    records, errors, facts = _read(p)
    assert facts["encoding"] == "utf-16" and [r["text"] for r in records] == ["Привет", "κόσμε"]


def test_utf8_file_with_one_bad_line_stays_utf8(tmp_path):
    lines = [json.dumps({"text": f"naïve café {i}"}, ensure_ascii=False).encode() for i in range(10)]
    lines.insert(5, b'{"text": "bad \xff"}')
    p = tmp_path / "mostly.jsonl"
    p.write_bytes(b"\n".join(lines) + b"\n")
    records, errors, facts = _read(p)
    assert facts["encoding"] == "utf-8" and len(records) == 10 and len(errors) == 1


def test_plain_text_per_file_and_per_line(tmp_path):
    p = tmp_path / "doc.txt"
    p.write_text("line one\n\nline two\n")
    records, _e, _f = _read(p)
    assert [r["text"] for r in records] == ["line one\n\nline two\n"]
    records, _e, facts = _read(p, text_mode="line")
    assert [(r["source_line"], r["text"]) for r in records] == [(0, "line one"), (2, "line two")]
    assert facts["blank_lines"] == 1


def test_parquet_rows(tmp_path):
    p = tmp_path / "x.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": ["one", None], "lang_hint": ["en", "fr"]}), p)
    records, errors, facts = _read(p)
    assert [(r["source_line"], r["text"], r["original_id"]) for r in records] == [(0, "one", "a")]
    assert errors[0]["source_line"] == 1 and "NoneType" in errors[0]["error"]
    assert json.loads(records[0]["meta"]) == {"lang_hint": "en"}
    assert facts["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()


def test_configurable_fields(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"uid": "u1", "content": "body"}\n')
    records, _e, _f = _read(p, text_field="content", id_field="uid")
    assert records[0]["text"] == "body" and records[0]["original_id"] == "u1"


def test_raw_bytes_are_capped_and_the_cut_is_said(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"text": "' + b"x" * 1000 + b"\n")
    _r, errors, _f = _read(p, max_error_bytes=100)
    assert len(errors[0]["raw"]) == 100 and "raw cut to 100 of 1010 bytes" in errors[0]["error"]


def test_normalise_text():
    assert normalise_text("a\r\nb\rc") == "a\nb\nc"
    assert normalise_text("a\x00b\x07c\td\x85e") == "ab" + "c\tde"
    assert normalise_text("e\u0301") == "\u00e9"  # NFC
    assert normalise_text("line\u2028sep\ufeff") == "line\nsep"


def test_normalise_text_skips_translate_only_when_nothing_to_remove():
    # The translate call is skipped when a character-class search finds nothing: every character of the
    # table must be found by it, alone and among CJK text, and text without them comes back unchanged.
    from refinery.transforms.text import _CONTROL_TABLE

    for code, repl in _CONTROL_TABLE.items():
        if code == 0x0D:  # a carriage return is a newline first (test above)
            continue
        assert normalise_text(f"中文{chr(code)}text") == "中文" + (repl or "") + "text", hex(code)
    clean = "Plain text,\ttabs and\nnewlines, 中文 and émigré (NFC)."
    assert normalise_text(clean) == clean


def test_formats_by_name():
    assert detect_format("x.jsonl.gz") == "jsonl"
    assert detect_format("x.json.zst") == "jsonl"
    assert detect_format("x.parquet") == "parquet"
    assert detect_format("x.txt") == "text"
    assert detect_format("CC-MAIN-x.warc.wet.gz") == "warc"
    assert detect_format("y.arc") == "warc"
    assert detect_format("CC-MAIN-2024-22.warc.paths.gz") == "warc_paths"


def test_detect_encoding_bom_and_utf8():
    assert detect_encoding(b"\xef\xbb\xbf{}") == "utf-8-sig"
    assert detect_encoding("héllo".encode()) == "utf-8"
    assert detect_encoding(b"\xff\xfe" + "hi".encode("utf-16-le")) == "utf-16"
    assert detect_encoding(b"abc", "gb18030") == "gb18030"
