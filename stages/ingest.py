"""Stage ``ingest``: read crude inputs into records (``ReadCrude``, the pipeline's source).

Decode, normalise, give each record a stable doc_id and its source lineage; count and redact PII
(``quality.pii``) before any stage routes a record. Unparseable input goes to ``errors/``; web pages
that hold no text are rejected here.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field

from refinery.schemas.quality import PII_KINDS
from refinery.stages.spec import Column, Reason, Section, StageSpec


class IngestConfig(Section):
    """Reading and decoding crude inputs."""

    format: Literal["auto", "jsonl", "parquet", "text", "warc"] = Field(
        "auto",
        description="Input format. auto: by extension (.jsonl/.json/.ndjson[.gz|.zst], .parquet, "
        ".txt[.gz], .warc/.wet/.arc[.gz], *.paths.gz lists).",
    )
    text_field: str = Field("text", description="Field holding the document text (JSONL and Parquet).")
    id_field: str = Field("id", description="Field holding the input's own id; kept as original_id.")
    text_mode: Literal["file", "line"] = Field(
        "file", description="Plain-text inputs: one document per file, or one per non-empty line."
    )
    encoding: Literal["auto", "utf-8", "gb18030", "big5", "utf-16"] = Field(
        "auto",
        description="Input encoding. auto: BOM, else UTF-8 if the first 64 KB decode, "
        "else GB18030 or Big5 as charset-normalizer judges.",
    )
    min_chars: int = Field(
        1, ge=0, le=1_000_000, description="Records with fewer non-whitespace characters are rejected as empty_text."
    )
    max_error_bytes: int = Field(
        65536, ge=0, le=1 << 30, description="Raw bytes kept per errors/ record (the rest is cut, and the cut noted)."
    )
    max_record_bytes: int = Field(
        64 << 20, ge=1024, le=1 << 31,
        description="Largest record (a line of JSONL or text, a text file, a WARC payload) read, in bytes. A larger "
        "one is an errors/ row holding its first ingest.max_error_bytes bytes; it is never held in memory whole.",
    )
    max_decompression_ratio: float = Field(
        200.0, ge=2, le=100_000,
        description="A .gz/.zst stream that expands to more than this many times its compressed size (past the "
        "first 64 MB) is a decompression bomb: the rest of the file is one errors/ row. Text compresses 3-10x.",
    )
    keep_undecodable_raw: bool = Field(
        False,
        description="Keep errors' raw bytes that decode in no known encoding (UTF-8/16, GB18030, Big5, "
        "Windows-1252). Off: they are dropped (raw null, the error says so), because PII in them cannot be "
        "found and redacted. On: kept for debugging, checked byte by byte for the ASCII kinds only.",
    )
    non_text_payloads: Literal["count", "reject"] = Field(
        "count",
        description="WARC responses whose content type is not text or HTML (images, PDFs, ...). count: not "
        "documents; counted per content type in the manifest's inputs (non_text_payloads). reject: each one a "
        "rejected/ row with reason non_text_payload.",
    )
    html_extractor: Literal["resiliparse", "resiliparse-full", "trafilatura"] = Field(
        "resiliparse",
        description="WARC HTML to text. resiliparse: main content, boilerplate (navigation, footers) removed; "
        "resiliparse-full: all visible text; trafilatura: needs `pip install trafilatura`.",
    )
    commoncrawl_prefix: str = Field(
        "https://data.commoncrawl.org/",
        description="Prefix for the relative paths in Common Crawl *.paths.gz lists. Beam reads gs:// and local "
        "paths (not https): point this at a mirror (gs://bucket/, /data/cc/) to read listed files.",
    )


_PII_TYPE = pa.struct([pa.field(kind, pa.int32()) for kind in PII_KINDS])

COLUMNS = (
    Column("doc_id", pa.string(),
           "Stable record id: first 16 bytes (hex) of sha256(source_uri, source_line). Same input, same id.",
           nullable=False),
    Column("text", pa.string(),
           "Document text: decoded to Unicode, NFC, control characters removed, newlines normalised; "
           "PII redacted at ingest (quality.pii.redact; every kind by default).", nullable=False),
    Column("source_uri", pa.string(), "URI of the input file the record was read from.", nullable=False),
    Column("source_line", pa.int64(),
           "0-based position in the source: line for JSONL/text, row for Parquet, record index for WARC.",
           nullable=False),
    Column("source_sha256", pa.string(), "sha256 of the source file's bytes (as stored)."),
    Column("original_id", pa.string(), "The input's own id field (ingest.id_field), if any."),
    Column("meta", pa.string(),
           "JSON object with every input field other than the text and id fields (WARC headers for web input)."),
    Column("n_chars", pa.int64(), "Length of text in Unicode code points.", nullable=False),
    Column("pii_counts", _PII_TYPE,
           "Number of PII spans found in the text, per kind (counted at ingest, before redaction).",
           after="quality_model_label"),
)

EMPTY_TEXT = Reason("empty_text", "fewer than ingest.min_chars non-whitespace characters")
NON_TEXT_PAYLOAD = Reason("non_text_payload", "a web record whose payload is not text (image, PDF, ...); only with "
                          "ingest.non_text_payloads: reject")
EMPTY_PAGE = Reason("empty_page", "a web page with no text once its HTML is extracted")
HTTP_STATUS_NOT_OK = Reason("http_status_not_ok", "a web response whose HTTP status is not 2xx")


def explain(r: dict) -> list[str]:
    return [f"pii:      {r['pii_counts']}"] if r.get("pii_counts") else []


SPEC = StageSpec(
    name="ingest",
    role="source",
    summary="decode, normalise, stable doc_id, source lineage, PII redaction; unparseable input to errors/",
    section="ingest",
    config=IngestConfig,
    columns=COLUMNS,
    reasons=(EMPTY_TEXT, NON_TEXT_PAYLOAD, EMPTY_PAGE, HTTP_STATUS_NOT_OK),
    label="ReadCrude",
    explain=explain,
)
