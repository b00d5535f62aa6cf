"""Ingest: crude files in, normalised records (and errors) out.

Pure core. :func:`read_crude` reads one input file through a file opener (Beam's FileSystems in the
pipeline, ``open`` in tests) and yields tagged items:

- ``("record", dict)``: a parsed document (doc_id, text, source_uri, source_line, original_id, meta,
  n_chars, stages);
- ``("error", dict)``: something that could not be parsed or decoded: raw bytes, location, error;
- ``("file", dict)``: once, at the end: uri, bytes, sha256, records, blank_lines, encoding, format.

Every non-blank line (JSONL, text per line), row (Parquet) or WARC record is exactly one ``record``
or one ``error``: that is what the run's reconciliation counts. A file that cannot be opened, or whose
compressed stream is truncated, adds one ``error`` for the part that could not be read.

The file is read once, as a stream: the sha256 of its stored bytes is computed as they pass through.
"""

from __future__ import annotations

import base64
import codecs
import gzip
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from refinery.transforms.text import normalise_text

Opener = Callable[[str], IO[bytes]]
Item = tuple[str, dict]

_SAMPLE_BYTES = 1 << 16
_CHUNK = 1 << 20
_FORMATS_BY_SUFFIX = [
    (".paths.gz", "warc_paths"),
    (".jsonl", "jsonl"), (".json", "jsonl"), (".ndjson", "jsonl"),
    (".parquet", "parquet"), (".pq", "parquet"),
    (".warc.txt", "warc"), (".wet.txt", "warc"),
    (".txt", "text"), (".text", "text"), (".md", "text"),
    (".warc", "warc"), (".wet", "warc"), (".wat", "warc"), (".arc", "warc"),
]
_COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bad": None}


def doc_id_for(source_uri: str, source_line: int) -> str:
    """Stable id of one input record: sha256 of its location, first 16 bytes as hex."""
    return hashlib.sha256(f"{source_uri}\n{source_line}".encode()).hexdigest()[:32]


def detect_compression(uri: str) -> str | None:
    name = uri.lower()
    for suffix, comp in _COMPRESSION_SUFFIXES.items():
        if name.endswith(suffix):
            return comp
    return None


def detect_format(uri: str, configured: str = "auto") -> str:
    """Input format from config or from the file name (compression suffix ignored)."""
    if configured != "auto":
        return configured
    name = uri.lower()
    for suffix in (".gz", ".gzip", ".zst", ".zstd", ".bad"):
        if name.endswith(suffix) and not name.endswith(".paths.gz"):
            name = name[: -len(suffix)]
            break
    for suffix, fmt in _FORMATS_BY_SUFFIX:
        if name.endswith(suffix):
            return fmt
    if ".warc" in name or name.endswith(".arc"):
        return "warc"
    return "jsonl"


class TapReader(io.RawIOBase):
    """A read-only stream passing ``raw`` through and showing every chunk to :meth:`observe`."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.observe(data)
        return n

    def observe(self, data: bytes) -> None:  # overridden
        """See the bytes that went through."""


class HashingReader(TapReader):
    """A read-only stream that hashes (sha256) and counts the bytes read through it."""

    def __init__(self, raw: IO[bytes]):
        super().__init__(raw)
        self.sha = hashlib.sha256()
        self.nbytes = 0

    def observe(self, data: bytes) -> None:
        self.sha.update(data)
        self.nbytes += len(data)

    def drain(self) -> None:
        """Read (and hash) whatever the decompressor left unread."""
        while True:
            data = self._raw.read(_CHUNK)
            if not data:
                return
            self.sha.update(data)
            self.nbytes += len(data)

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            super().close()


class _Prefixed(io.RawIOBase):
    """Serves ``head`` first, then the rest of ``stream`` (to read lines after sniffing a sample)."""

    def __init__(self, head: bytes, stream: IO[bytes]):
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class TruncatedStream(EOFError):
    """A compressed stream that ends before its last frame / member does."""


class DecompressionBomb(ValueError):
    """A compressed stream that expands beyond ``ingest.max_decompression_ratio``."""


class _ZstdStream(io.RawIOBase):
    """zstd frames, decompressed one after another; a stream cut inside a frame raises TruncatedStream.

    zstandard's ``stream_reader`` returns end-of-file where a truncated frame stops, which read a cut
    file as a shorter (or empty) one. Compressed input is fed in small pieces, so one call's output
    stays bounded (zstd's largest expansion is ~32,000x: 8 KB in, 256 MB out at worst).
    """

    _FEED = 8192

    def __init__(self, raw: IO[bytes]):
        import zstandard

        self._new = zstandard.ZstdDecompressor().decompressobj
        self._raw = raw
        self._obj = self._new()
        self._in_frame = False
        self._buf = memoryview(b"")
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._buf:
            if not self._pending:
                self._pending = self._raw.read(_CHUNK)
                if not self._pending:
                    if self._in_frame:
                        raise TruncatedStream("the zstd stream ends inside a frame: the file was cut short")
                    return 0
            piece, self._pending = self._pending[: self._FEED], self._pending[self._FEED:]
            self._buf = memoryview(self._feed(piece))
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def _feed(self, data: bytes) -> bytes:
        out = []
        while data:
            self._in_frame = True
            out.append(self._obj.decompress(data))
            if not self._obj.eof:
                break
            data = self._obj.unused_data
            self._obj = self._new()
            self._in_frame = False
        return b"".join(out)


class _ExpansionLimit(io.RawIOBase):
    """Raises DecompressionBomb once more than ``ratio`` x the compressed bytes read have come out (and
    at least ``floor`` bytes: small, very regular files are not bombs)."""

    def __init__(self, stream: IO[bytes], compressed: HashingReader, ratio: float, floor: int = 64 << 20):
        self._stream = stream
        self._compressed = compressed
        self._ratio = ratio
        self._floor = floor
        self.out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.out += n
        if self.out > self._floor and self.out > self._ratio * max(self._compressed.nbytes, 1):
            raise DecompressionBomb(
                f"{self.out:,} bytes came out of {self._compressed.nbytes:,} compressed bytes, more than "
                f"ingest.max_decompression_ratio={self._ratio:g}x (a decompression bomb?)")
        return n


def _decompressing(stream: HashingReader, compression: str | None, max_ratio: float | None = None) -> IO[bytes]:
    if compression == "gzip":
        out = gzip.GzipFile(fileobj=stream, mode="rb")
    elif compression == "zstd":
        out = _ZstdStream(stream)
    else:
        return stream
    return _ExpansionLimit(out, stream, max_ratio) if max_ratio else out


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        data = stream.read(n - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _utf8_mostly_valid(sample: bytes) -> bool:
    """True if the sample is UTF-8 apart from a few bad lines (those become errors, not mojibake)."""
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.start >= len(sample) - 4:
            return True
    good = bad = 0
    for line in sample.split(b"\n")[:-1] or [sample]:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad += 1
    return good >= bad * 3 and good > 0


_HAN = "\u4e00-\u9fff\u3400-\u4dbf"
_SANDWICH = re.compile(f"[A-Za-z][{_HAN}][a-z]")


def _rare_share(text: str, codec: str) -> float:
    """Share of the non-ASCII characters outside the codec's common core: GB2312 for GB18030/GBK, the
    frequently used block (lead bytes 0xA1-0xC6) for Big5. Real Chinese text stays near 0; bytes of
    another encoding read this way land mostly on rare characters."""
    wide = [ch for ch in text if ord(ch) > 0x7F]
    if not wide:
        return 0.0
    rare = 0
    for ch in wide:
        if codec.startswith("big5"):
            try:
                rare += ch.encode("big5")[0] > 0xC6
            except UnicodeEncodeError:
                rare += 1
        else:
            try:
                ch.encode("gb2312")
            except UnicodeEncodeError:
                rare += 1
    return rare / len(wide)


def legacy_decode(raw: bytes, codec: str) -> tuple[str | None, str]:
    """(text, "") when ``raw`` (not UTF-8) reads as plausible ``codec`` text, else (None, why).

    Refused as mojibake: bytes that are mostly valid UTF-8 (broken UTF-8, not another encoding);
    a Han character inside a Latin word (``D茅claration``: UTF-8 or Latin-1 accents read as GBK);
    more than a fifth of the non-ASCII characters outside the codec's common characters."""
    as_utf8 = raw.decode("utf-8", "replace")
    bad = as_utf8.count("\ufffd")
    wide = sum(1 for ch in as_utf8 if ord(ch) > 0x7F) - bad
    if wide and wide >= 2 * bad:
        return None, f"broken UTF-8 ({bad} invalid of {wide + bad} non-ASCII sequences)"
    try:
        text = raw.decode(codec)
    except (UnicodeDecodeError, LookupError) as exc:
        return None, f"not {codec} either ({getattr(exc, 'reason', exc)})"
    m = _SANDWICH.search(text)
    if m:
        return None, f"reads as mojibake in {codec} ({m.group(0)!r})"
    share = _rare_share(text, codec)
    if share > 0.2:
        return None, f"reads as mojibake in {codec} ({share:.0%} rare characters)"
    return text, ""


def legacy_codec(sample: bytes) -> str:
    """GB18030 or Big5 for bytes that are not UTF-8, as charset-normalizer judges."""
    from charset_normalizer import from_bytes

    best = from_bytes(sample[:_SAMPLE_BYTES], cp_isolation=["gb18030", "big5", "utf_8"]).best()
    if best is not None and best.encoding in ("big5", "big5hkscs"):
        return "big5"
    return "gb18030"


def detect_encoding(sample: bytes, configured: str = "auto") -> str:
    """Codec for a file from its first bytes: BOM, else UTF-8, else GB18030 or Big5."""
    if configured != "auto":
        return {"utf-16": "utf-16", "utf-8": "utf-8"}.get(configured, configured)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _utf8_mostly_valid(sample):
        return "utf-8"
    # Without a BOM, UTF-16 text shows NUL bytes in every other position.
    if sample[1::2].count(0) > len(sample) // 4:
        return "utf-16-le"
    if sample[0::2].count(0) > len(sample) // 4:
        return "utf-16-be"
    return legacy_codec(sample)


class _Reader:
    """State for reading one file: location, counters, record construction."""

    def __init__(self, uri: str, cfg, fmt: str):
        self.uri = uri
        self.cfg = cfg
        self.fmt = fmt
        self.records = 0
        self.blank = 0
        self.encoding = ""
        self.extra: dict = {}
        self.auto_decode = getattr(cfg, "encoding", "auto") == "auto"
        self.legacy: str | None = None  # GB18030 or Big5: tried on records that are not UTF-8
        self.max_record_bytes = getattr(cfg, "max_record_bytes", 64 << 20)

    def record(self, line: int, text: str, original_id: Any, meta: dict | None) -> Item:
        text = normalise_text(text)
        rec = {
            "doc_id": doc_id_for(self.uri, line),
            "text": text,
            "source_uri": self.uri,
            "source_line": line,
            "original_id": None if original_id is None else str(original_id),
            "meta": orjson.dumps(meta, default=_json_default,
                                 option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
            if meta else None,
            "n_chars": len(text),
            "stages": ["ingest"],
        }
        self.records += 1  # counted once built: a record that fails here is one error, not two items
        return "record", rec

    def decode(self, raw: bytes) -> tuple[str | None, str]:
        """A record's bytes as text: UTF-8 if they are UTF-8; else (auto) the file's legacy codec if the
        result is not mojibake. (None, why) when neither."""
        try:
            return raw.decode("utf-8"), ""
        except UnicodeDecodeError as exc:
            why = f"not UTF-8 ({exc.reason} at byte {exc.start})"
        if not self.auto_decode:
            return None, why
        if self.legacy is None:
            self.legacy = legacy_codec(raw)
        text, also = legacy_decode(raw, self.legacy)
        return (text, "") if text is not None else (None, f"{why}; {also}")

    def too_long(self, line: int | None, head: bytes, size: int) -> Item:
        return self.error(line, head, f"RecordTooLarge: {size:,} bytes > ingest.max_record_bytes="
                                      f"{self.max_record_bytes:,}")

    def error(self, line: int | None, raw: bytes | None, error: str) -> Item:
        self.records += 1
        limit = self.cfg.max_error_bytes
        if raw is not None and len(raw) > limit:
            error = f"{error} [raw cut to {limit} of {len(raw)} bytes]"
            raw = raw[:limit]
        return "error", {"source_uri": self.uri, "source_line": line, "raw": raw, "error": error,
                         "error_stage": "ingest", "doc_id": None}

    def from_object(self, line: int, obj: Any, raw: bytes | None) -> Item:
        if not isinstance(obj, dict):
            return self.error(line, raw, f"ValueError: expected a JSON object, got {type(obj).__name__}")
        tf, idf = self.cfg.text_field, self.cfg.id_field
        if tf not in obj:
            return self.error(line, raw, f"KeyError: no text field {tf!r} (ingest.text_field)")
        text = obj[tf]
        if not isinstance(text, str):
            return self.error(line, raw, f"TypeError: text field {tf!r} is {type(text).__name__}, not a string")
        meta = {k: v for k, v in obj.items() if k != tf and k != idf}
        try:
            return self.record(line, text, obj.get(idf), meta)
        except (TypeError, ValueError) as exc:  # orjson: a value it cannot write even with _json_default
            return self.error(line, raw, f"TypeError: a field cannot be kept in meta: {exc}")


def _json_default(value: Any):
    """meta values JSON has no type for (Parquet binary, decimal, duration ...): exact, readable text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)  # Decimal, timedelta, UUID, ...


class TooLong:
    """A line over ``ingest.max_record_bytes``: its first bytes and its full size (the rest was skipped)."""

    __slots__ = ("head", "size")

    def __init__(self, head: bytes, size: int):
        self.head = head
        self.size = size


def _iter_lines(stream: IO[bytes], encoding: str, max_bytes: int = 64 << 20,
                keep: int = 65536) -> Iterator[tuple[int, bytes | TooLong]]:
    """(0-based line number, bytes without the newline) for every line, in any ASCII-compatible codec.
    A line longer than ``max_bytes`` is never held whole: it comes as :class:`TooLong` (its first
    ``keep`` bytes and its size)."""
    if encoding.startswith("utf-16"):
        # Newlines are two bytes wide here: decode the whole (rare, small) file and re-encode per line.
        data = stream.read()
        text = data.decode(encoding)
        enc = "utf-16-le" if encoding == "utf-16" else encoding
        for i, line in enumerate(text.split("\n")):
            yield i, line.rstrip("\r").encode(enc)
        return
    readline = io.BufferedReader(stream, buffer_size=_CHUNK).readline
    i = 0
    while True:
        line = readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            size = len(line)
            head = line[:keep]
            del line
            while True:  # skip the rest of the line, a chunk at a time
                more = readline(_CHUNK)
                size += len(more)
                if not more or more.endswith(b"\n"):
                    break
            yield i, TooLong(head, size)
            i += 1
            continue
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        yield i, line
        i += 1


def _decode(raw: bytes, encoding: str) -> str:
    if encoding.startswith("utf-16"):
        return raw.decode("utf-16-le" if encoding == "utf-16" else encoding)
    return raw.decode(encoding)


def _per_record(reader: _Reader, encoding: str) -> bool:
    """Records decoded one by one (UTF-8 if they are, else the legacy codec), not by one file codec."""
    return reader.auto_decode and not encoding.startswith("utf-16")


def _lines(reader: _Reader, stream: IO[bytes], encoding: str) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines (BOM dropped); blank ones counted, overlong ones turned into errors here."""
    for i, raw in _iter_lines(stream, encoding, reader.max_record_bytes, reader.cfg.max_error_bytes):
        if type(raw) is TooLong:
            yield i, reader.too_long(i, raw.head, raw.size)
            continue
        if i == 0 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        if not raw.strip():
            reader.blank += 1
            continue
        yield i, raw


def _read_jsonl(reader: _Reader, stream: IO[bytes], encoding: str) -> Iterator[Item]:
    per_record = _per_record(reader, encoding)
    utf8 = per_record or encoding in ("utf-8", "utf-8-sig")
    for i, raw in _lines(reader, stream, encoding):
        if type(raw) is tuple:  # an error already
            yield raw
            continue
        try:
            obj = orjson.loads(raw if utf8 else _decode(raw, encoding))  # orjson validates UTF-8 itself
        except orjson.JSONDecodeError as exc:
            if "utf-8" not in str(exc).lower():
                yield reader.error(i, raw, f"JSONDecodeError: {exc}")
                continue
            text, why = reader.decode(raw) if per_record else (None, str(exc))
            if text is None:
                yield reader.error(i, raw, f"UnicodeDecodeError: {why}")
                continue
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError as exc2:
                yield reader.error(i, raw, f"JSONDecodeError: {exc2} (read as {reader.legacy})")
                continue
        except UnicodeDecodeError as exc:
            yield reader.error(i, raw, f"UnicodeDecodeError: {encoding}: {exc.reason} at byte {exc.start}")
            continue
        yield reader.from_object(i, obj, raw)


def _text_of(reader: _Reader, raw: bytes, encoding: str) -> tuple[str | None, str]:
    if _per_record(reader, encoding):
        return reader.decode(raw)
    try:
        return _decode(raw, encoding), ""
    except UnicodeDecodeError as exc:
        return None, f"{encoding}: {exc.reason} at byte {exc.start}"


def _read_text(reader: _Reader, stream: IO[bytes], encoding: str, mode: str) -> Iterator[Item]:
    if mode == "file":
        data = _read_exact(stream, reader.max_record_bytes + 1)
        if len(data) > reader.max_record_bytes:
            size = len(data)
            head = data[: reader.cfg.max_error_bytes]
            del data
            while more := stream.read(_CHUNK):
                size += len(more)
            yield reader.too_long(0, head, size)
            return
        if encoding == "utf-8-sig" or data.startswith(codecs.BOM_UTF8):
            data = data[3:] if data.startswith(codecs.BOM_UTF8) else data
            encoding = "utf-8"
        if not data.strip():
            reader.blank += 1
            return
        text, why = _text_of(reader, data, encoding)
        yield reader.record(0, text, None, None) if text is not None else reader.error(
            0, data, f"UnicodeDecodeError: {why}")
        return
    for i, raw in _lines(reader, stream, encoding):
        if type(raw) is tuple:
            yield raw
            continue
        text, why = _text_of(reader, raw, encoding)
        yield reader.record(i, text, None, None) if text is not None else reader.error(
            i, raw, f"UnicodeDecodeError: {why}")


def _read_parquet(reader: _Reader, raw_stream: IO[bytes]) -> Iterator[Item]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(raw_stream)
    row = 0
    for batch in pf.iter_batches(batch_size=4096, use_threads=False):
        for obj in batch.to_pylist():
            yield reader.from_object(row, obj, None if obj is None else
                                     orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS))
            row += 1


def read_crude(uri: str, cfg, opener: Opener, size_hint: int | None = None) -> Iterator[Item]:
    """Read one crude file; yields ("record"|"error"|"file", dict). Never raises for bad content."""
    fmt = detect_format(uri, cfg.format)
    compression = detect_compression(uri)
    reader = _Reader(uri, cfg, fmt)
    hashing: HashingReader | None = None
    try:
        hashing = HashingReader(opener(uri))
        if fmt == "parquet":
            # Parquet needs random access: read the stored bytes once (hashed), parse from memory.
            data = hashing.read()
            reader.encoding = "binary"
            yield from _read_parquet(reader, io.BytesIO(data))
        elif fmt in ("warc", "warc_paths"):
            from refinery.transforms.webcrawl import read_warc

            # warcio handles gzip members itself; a malformed WET may be re-read leniently (reopen)
            yield from read_warc(reader, hashing, compression, fmt, reopen=lambda: opener(uri))
        else:
            stream = _decompressing(hashing, compression, getattr(cfg, "max_decompression_ratio", None))
            head = _read_exact(stream, _SAMPLE_BYTES)
            encoding = detect_encoding(head, cfg.encoding)
            reader.encoding = encoding
            if encoding in ("gb18030", "big5"):
                reader.legacy = encoding
            body = _Prefixed(head, stream)
            if fmt == "text":
                yield from _read_text(reader, body, encoding, cfg.text_mode)
            else:
                yield from _read_jsonl(reader, body, encoding)
        hashing.drain()
    except Exception as exc:  # noqa: BLE001 - one error for the unread part; what was read before it is kept
        yield reader.error(None, None, _unread_message(reader, exc))
        hashing = _drain_or_none(hashing)
    yield "file", _facts(uri, fmt, compression, reader, hashing, size_hint)


_READ_ERRORS = (EOFError, OSError, gzip.BadGzipFile, ValueError, UnicodeDecodeError, ImportError, TruncatedStream,
                DecompressionBomb)


def _unread_message(reader: _Reader, exc: Exception) -> str:
    """Truncated stream, unreadable file or corrupt container — or, for anything else, a reader bug."""
    where = f"after record {reader.records}" if reader.records else "before any record"
    known = isinstance(exc, _READ_ERRORS) or type(exc).__name__ in ("ArchiveLoadFailed",
                                                                    "StatusAndHeadersParserException")
    tail = "the rest of the file is unreadable" if known else "reader failed; rest of file unread"
    return f"{type(exc).__name__}: {exc} ({where}; {tail})"


def _drain_or_none(hashing: HashingReader | None) -> HashingReader | None:
    """Hash what the reader left unread; None (sha256 unknown, and null in the facts) if that fails too."""
    if hashing is None:
        return None
    try:
        hashing.drain()
        return hashing
    except Exception:  # noqa: BLE001
        return None


def _facts(uri, fmt, compression, reader, hashing, size_hint) -> dict:
    return {
        "uri": uri,
        "format": fmt,
        "compression": compression or "none",
        "encoding": reader.encoding,
        "bytes": hashing.nbytes if hashing is not None else size_hint,
        "sha256": hashing.sha.hexdigest() if hashing is not None else None,
        "records": reader.records,
        "blank_lines": reader.blank,
        **reader.extra,
    }


def local_opener(uri: str) -> IO[bytes]:
    return open(os.fspath(uri), "rb")
