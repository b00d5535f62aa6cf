"""Explicit Parquet schemas for ``refined/``, ``rejected/`` and ``errors/``.

Every column is declared here with its type and a one-line description. The pipeline never infers a
schema from a record: rows are converted with ``pa.Table.from_pylist(rows, schema=...)``, so a
missing key becomes a null and a wrong type is an error in the writer, not a new shard layout.

Columns a stage owns are null when that stage is disabled.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1.0"

# One struct of quality signals; field order and docs live in refinery.schemas.quality.
from refinery.schemas.quality import PII_KINDS, QUALITY_FIELDS  # noqa: E402

_QUALITY_TYPE = pa.struct([pa.field(name, typ) for name, typ, _doc in QUALITY_FIELDS])
_PII_TYPE = pa.struct([pa.field(kind, pa.int32()) for kind in PII_KINDS])

# (name, type, nullable, stage, description)
_COMMON: list[tuple[str, pa.DataType, bool, str, str]] = [
    ("doc_id", pa.string(), False, "ingest",
     "Stable record id: first 16 bytes (hex) of sha256(source_uri, source_line). Same input, same id."),
    ("text", pa.string(), False, "ingest",
     "Document text: decoded to Unicode, NFC, control characters removed, newlines normalised; "
     "PII redacted at ingest (quality.pii.redact; every kind by default)."),
    ("source_uri", pa.string(), False, "ingest", "URI of the input file the record was read from."),
    ("source_line", pa.int64(), False, "ingest",
     "0-based position in the source: line for JSONL/text, row for Parquet, record index for WARC."),
    ("source_sha256", pa.string(), True, "ingest", "sha256 of the source file's bytes (as stored)."),
    ("original_id", pa.string(), True, "ingest", "The input's own id field (ingest.id_field), if any."),
    ("meta", pa.string(), True, "ingest",
     "JSON object with every input field other than the text and id fields (WARC headers for web input)."),
    ("run_id", pa.string(), False, "write", "Identity of the run that wrote the record."),
    ("refinery_version", pa.string(), False, "write", "Refinery version that wrote the record."),
    ("config_sha256", pa.string(), False, "write", "sha256 of the resolved run config (canonical JSON)."),
    ("stages", pa.list_(pa.string()), False, "write", "Stages the record went through, in order."),
    ("n_chars", pa.int64(), False, "ingest", "Length of text in Unicode code points."),
    # language
    ("lang", pa.string(), True, "language",
     "BCP-47 language: ISO 639-1 where one exists, zh-Hans / zh-Hant for Chinese, 'und' when unsure."),
    ("lang_score", pa.float32(), True, "language", "Confidence of lang, 0-1."),
    ("lang_script", pa.string(), True, "language", "Dominant script, ISO 15924 (Latn, Hans, Hant, Cyrl, ...)."),
    ("lang_secondary", pa.list_(pa.string()), True, "language",
     "Other languages with a substantial share of the paragraphs (mixed documents)."),
    # licence
    ("licence_spdx", pa.string(), True, "licence", "SPDX licence expression, LicenseRef-unknown, or null."),
    ("licence_source", pa.string(), True, "licence", "Where the licence came from: metadata | text | none."),
    ("licence_category", pa.string(), True, "licence",
     "permissive | weak-copyleft | copyleft | non-commercial | no-derivatives | public-domain | "
     "proprietary | unknown."),
    ("licence_decision", pa.string(), True, "licence", "Policy decision: allow | review | deny."),
    ("copyright_statements", pa.list_(pa.string()), True, "licence", "Copyright statements, as written."),
    ("copyright_holders", pa.list_(pa.string()), True, "licence", "Holders named in the statements."),
    ("rights_reserved", pa.bool_(), True, "licence", "'All rights reserved' or an equivalent was found."),
    ("opted_out", pa.bool_(), True, "licence", "An AI-training / TDM opt-out signal was found."),
    ("licence_evidence", pa.list_(pa.string()), True, "licence",
     "What gave licence_spdx, and where: metadata field (for a web page: html:rel=license | html:meta:<name> | "
     "html:footer-link | html:body-link (weak)), spdx-tag, kb:<ScanCode rule> (kind) chars <span> coverage <0-1>, "
     "gnu-notice, creative-commons, spdx-text:<id> containment / share."),
    ("copyright_years", pa.list_(pa.string()), True, "licence", "Years of the copyright statements, as written."),
    ("ai_preferences", pa.list_(pa.string()), True, "licence",
     "AI-usage preferences with their source: <header|html|text>:content-usage:<train-ai|ai-use|search|train-genai>"
     "=<y|n> (IETF AIPREF), <source>:tdm-reservation=<0|1>, <source>:tdm-policy=<url> (TDMRep)."),
    # quality
    ("quality", _QUALITY_TYPE, True, "quality", "Quality signals (see the quality table)."),
    ("quality_model_score", pa.float32(), True, "quality",
     "Probability the quality.classifier model gives to quality.classifier_label (null without a classifier)."),
    ("quality_model_label", pa.string(), True, "quality",
     "Label the quality.classifier model ranks first (null without a classifier)."),
    ("pii_counts", _PII_TYPE, True, "ingest",
     "Number of PII spans found in the text, per kind (counted at ingest, before redaction)."),
    # dedup
    ("content_hash", pa.string(), True, "dedup",
     "sha256 (hex, 32 chars) of the normalised text (NFKC, case-folded, whitespace collapsed)."),
    ("dup_cluster_id", pa.string(), True, "dedup", "doc_id of the kept record of the duplicate cluster."),
    ("dup_cluster_size", pa.int32(), True, "dedup", "Number of records in the cluster (1 = unique)."),
    ("dup_of", pa.string(), True, "dedup", "On removed duplicates: doc_id of the kept record."),
    ("dup_jaccard", pa.float32(), True, "dedup", "Estimated Jaccard similarity to the kept record."),
]

_REJECT_EXTRA = [
    ("reject_stage", pa.string(), False, "any", "Stage that rejected the record."),
    ("reject_reason", pa.string(), False, "any", "Reason, from the closed enum RejectReason."),
    ("reject_detail", pa.string(), True, "any", "Observed value and the threshold that fired."),
]

_ERRORS: list[tuple[str, pa.DataType, bool, str, str]] = [
    ("source_uri", pa.string(), False, "any", "URI of the input file."),
    ("source_line", pa.int64(), True, "any", "0-based line / row / record index, null if the file failed whole."),
    ("raw", pa.binary(), True, "any", "Raw bytes that could not be processed (capped by ingest.max_error_bytes)."),
    ("error", pa.string(), False, "any", "What went wrong: exception type and message."),
    ("error_stage", pa.string(), False, "any", "Stage where the error happened."),
    ("doc_id", pa.string(), True, "any", "doc_id when the record had been parsed already."),
    ("run_id", pa.string(), False, "write", "Identity of the run that wrote the record."),
]


def _schema(cols) -> pa.Schema:
    return pa.schema(
        [pa.field(n, t, nullable=nl, metadata={"description": d, "stage": s}) for n, t, nl, s, d in cols]
    )


REFINED_SCHEMA = _schema(_COMMON)
REJECTED_SCHEMA = _schema(_COMMON + _REJECT_EXTRA)
ERRORS_SCHEMA = _schema(_ERRORS)


def with_run_metadata(schema: pa.Schema, run_meta: dict[str, str]) -> pa.Schema:
    """The schema with the run's identity in its metadata (it ends up in every file's footer)."""
    meta = {"refinery.schema_version": SCHEMA_VERSION}
    meta.update({f"refinery.{k}": str(v) for k, v in run_meta.items()})
    return schema.with_metadata(meta)


def column_docs() -> dict[str, list[tuple[str, str, str, str]]]:
    """(name, type, stage, description) per column, per output kind — for the README and the suite."""
    out = {}
    for kind, cols in (("refined", _COMMON), ("rejected (adds)", _REJECT_EXTRA), ("errors", _ERRORS)):
        out[kind] = [(n, str(t), s, d) for n, t, _nl, s, d in cols]
    return out
