"""Explicit Parquet schemas for ``refined/``, ``rejected/`` and ``errors/``.

Every column is declared here with its type and a one-line description. The pipeline never infers a
schema from a record: rows are converted with ``pa.Table.from_pylist(rows, schema=...)``, so a
missing key becomes a null and a wrong type is an error in the writer, not a new shard layout.

Columns a stage owns are null when that stage is disabled. The stage columns are declared by the
stages themselves (``refinery.stages``); the reject and error columns belong to no stage and live here.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pyarrow as pa

from refinery.stages import STAGES
from refinery.stages.spec import ordered_columns

SCHEMA_VERSION = "1.0"

# The columns of refined/ (and rejected/): every stage's columns, in stage order (refinery.stages.STAGES).

# (name, type, nullable, stage, description)
_COMMON: list[tuple[str, pa.DataType, bool, str, str]] = [
    (c.name, c.type, c.nullable, stage, c.description) for c, stage in ordered_columns(STAGES)
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


def _python_type(t: pa.DataType) -> Any:
    """The Python type a record holds for a column of Arrow type ``t`` (what ``from_pylist`` takes)."""
    if pa.types.is_string(t) or pa.types.is_dictionary(t):
        return str
    if pa.types.is_boolean(t):
        return bool
    if pa.types.is_integer(t):
        return int
    if pa.types.is_floating(t):
        return float
    if pa.types.is_binary(t):
        return bytes
    if pa.types.is_list(t):
        return list[_python_type(t.value_type)]
    if pa.types.is_struct(t):
        return dict[str, Any]
    return Any


SIDE_CHANNEL: dict[str, tuple[Any, str]] = {
    "_reject": (tuple, "(RejectReason, detail) decided by the ingest reader (a web page with a non-text "
                       "payload or an HTTP error status); ingest pops it and rejects the record, so it never "
                       "leaves ingest and is never written."),
}
"""Keys a record may carry between two steps of one stage that are no column: name → (type, what)."""

_WRITTEN = {n: _python_type(t) for n, t in zip(REJECTED_SCHEMA.names, REJECTED_SCHEMA.types, strict=True)}

Record = TypedDict("Record", {**_WRITTEN, **{k: t for k, (t, _d) in SIDE_CHANNEL.items()}}, total=False)
Record.__doc__ = """A record as it travels between stages: a plain dict (no wrapper, no copy), with at
most these keys. The columns of ``refined/`` (and the ``reject_*`` columns a rejected record adds) are
derived from the stages' declared columns, so a stage that declares a column declares its key here too;
the side-channel keys (:data:`SIDE_CHANNEL`) are never written. The writer refuses any other key: the
record goes to ``errors/`` (``UndeclaredKeys``), it is not silently narrowed to the schema."""

RECORD_KEYS: frozenset[str] = frozenset(Record.__annotations__)
"""Every key a record may carry."""
