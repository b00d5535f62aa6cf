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

import codecs
import gzip
import hashlib
import io
import os
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


def _decompressing(stream: IO[bytes], compression: str | None) -> IO[bytes]:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
    return stream


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
    from charset_normalizer import from_bytes

    best = from_bytes(sample[:_SAMPLE_BYTES], cp_isolation=["gb18030", "big5", "utf_8"]).best()
    if best is not None and best.encoding in ("big5", "big5hkscs"):
        return "big5"
    return "gb18030"


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

    def record(self, line: int, text: str, original_id: Any, meta: dict | None) -> Item:
        self.records += 1
        text = normalise_text(text)
        return "record", {
            "doc_id": doc_id_for(self.uri, line),
            "text": text,
            "source_uri": self.uri,
            "source_line": line,
            "original_id": None if original_id is None else str(original_id),
            "meta": orjson.dumps(meta, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
            if meta else None,
            "n_chars": len(text),
            "stages": ["ingest"],
        }

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
        return self.record(line, text, obj.get(idf), meta)


def _iter_lines(stream: IO[bytes], encoding: str) -> Iterator[tuple[int, bytes]]:
    """(0-based line number, bytes without the newline) for every line, in any ASCII-compatible codec."""
    if encoding.startswith("utf-16"):
        # Newlines are two bytes wide here: decode the whole (rare, small) file and re-encode per line.
        data = stream.read()
        text = data.decode(encoding)
        enc = "utf-16-le" if encoding == "utf-16" else encoding
        for i, line in enumerate(text.split("\n")):
            yield i, line.rstrip("\r").encode(enc)
        return
    for i, line in enumerate(io.BufferedReader(stream, buffer_size=_CHUNK)):
        if line.endswith(b"\n"):
            line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        yield i, line


def _decode(raw: bytes, encoding: str) -> str:
    if encoding.startswith("utf-16"):
        return raw.decode("utf-16-le" if encoding == "utf-16" else encoding)
    return raw.decode(encoding)


def _read_jsonl(reader: _Reader, stream: IO[bytes], encoding: str) -> Iterator[Item]:
    utf8 = encoding in ("utf-8", "utf-8-sig")
    for i, raw in _iter_lines(stream, encoding):
        if i == 0 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        if not raw.strip():
            reader.blank += 1
            continue
        try:
            if utf8:
                obj = orjson.loads(raw)  # validates UTF-8 itself
            else:
                obj = orjson.loads(_decode(raw, encoding))
        except orjson.JSONDecodeError as exc:
            kind = "UnicodeDecodeError" if "utf-8" in str(exc).lower() else "JSONDecodeError"
            yield reader.error(i, raw, f"{kind}: {exc}")
            continue
        except UnicodeDecodeError as exc:
            yield reader.error(i, raw, f"UnicodeDecodeError: {encoding}: {exc.reason} at byte {exc.start}")
            continue
        yield reader.from_object(i, obj, raw)


def _read_text(reader: _Reader, stream: IO[bytes], encoding: str, mode: str) -> Iterator[Item]:
    if mode == "file":
        data = stream.read()
        if encoding == "utf-8-sig" or data.startswith(codecs.BOM_UTF8):
            data = data[3:] if data.startswith(codecs.BOM_UTF8) else data
            encoding = "utf-8"
        if not data.strip():
            reader.blank += 1
            return
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            yield reader.error(0, data, f"UnicodeDecodeError: {encoding}: {exc.reason} at byte {exc.start}")
            return
        yield reader.record(0, text, None, None)
        return
    for i, raw in _iter_lines(stream, encoding):
        if i == 0 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        if not raw.strip():
            reader.blank += 1
            continue
        try:
            text = _decode(raw, encoding)
        except UnicodeDecodeError as exc:
            yield reader.error(i, raw, f"UnicodeDecodeError: {encoding}: {exc.reason} at byte {exc.start}")
            continue
        yield reader.record(i, text, None, None)


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
            stream = _decompressing(hashing, compression)
            head = _read_exact(stream, _SAMPLE_BYTES)
            encoding = detect_encoding(head, cfg.encoding)
            reader.encoding = encoding
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


_READ_ERRORS = (EOFError, OSError, gzip.BadGzipFile, ValueError, UnicodeDecodeError, ImportError)


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
