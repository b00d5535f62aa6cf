"""The run manifest (``OUT/reports/manifest.json``): its pydantic model, :class:`Manifest`.

The run builds the manifest in steps (started, then finished or failed, then validated and sealed);
every write goes through :func:`manifest_json`, which validates it against the model (an unknown key,
a missing one or a wrong type is an error naming the field, before anything is written) and returns
the model's JSON form in the manifest's own key order. ``refinery validate`` reports a manifest that
does not fit the model (:func:`manifest_problems`); readers get the model's fields by name
(:func:`read_manifest_model`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

Status = Literal["running", "succeeded", "failed"]
Kind = Literal["refined", "rejected", "errors"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputFile(_Part):
    """One input file as the run read it."""

    uri: str
    bytes: int | None
    sha256: str | None
    records: int
    blank_lines: int
    format: str | None
    encoding: str | None
    compression: str | None
    non_document_records: dict[str, int] | None = None
    """WARC records that are no document, per WARC-Type (``warcinfo``, ``request`` ...); only when there are
    some."""
    non_text_payloads: dict[str, int] | None = None
    """WARC responses not refined because their content type is not text or HTML, per content type
    (``ingest.non_text_payloads: count``); only when there are some."""


class OutputFile(_Part):
    """One written Parquet file."""

    kind: Kind
    path: str
    partition: str | None
    rows: int
    bytes: int
    sha256: str


class Totals(_Part):
    records: int
    input_bytes: int
    refined: int
    rejected: int
    errors: int


class FileReconciliation(_Part):
    """One input file: its records against the rows written from it."""

    uri: str
    records: int
    refined: int
    rejected: int
    errors: int
    ok: bool


class Reconciliation(_Part):
    ok: bool
    files: list[FileReconciliation]


class Validation(_Part):
    success: bool
    critical_failures: list[str]
    warnings: list[str]
    checks: int


class ReportFile(_Part):
    path: str
    bytes: int
    sha256: str


class Signature(_Part):
    algorithm: str
    key_id: str
    file: str


class Manifest(_Part):
    """``reports/manifest.json``. The fields up to ``input_patterns`` are written when the run starts;
    ``engine`` when a portable engine was started for it; ``wall_seconds`` to ``reconciliation`` when the
    pipeline finished; ``error`` when the run failed; ``validation`` and ``validation_seconds`` with the
    expectation suite on; ``report_files`` (and ``signature``, when signed) when the output is sealed;
    ``warnings`` when something beside the data went wrong without failing the run."""

    run_id: str
    status: Status
    started_at: str
    finished_at: str | None
    refinery_version: str
    schema_version: str
    git_commit: str | None
    beam_version: str
    python_version: str
    runner: str
    pipeline_options: dict[str, Any]
    """Beam options, credentials redacted."""
    config_path: str | None
    config: dict[str, Any]
    """The resolved run config (``RunConfig.model_dump``): validated by ``RunConfig`` itself."""
    config_sha256: str
    stages: dict[str, Literal["ran", "disabled"]]
    input_patterns: list[str]
    engine: dict[str, Any] | None = None
    error: str | None = None
    wall_seconds: float | None = None
    inputs: list[InputFile] | None = None
    outputs: list[OutputFile] | None = None
    totals: Totals | None = None
    counters: dict[str, dict[str, int]] | None = None
    """Final counter values: namespace (stage) → counter → value."""
    busy_seconds: dict[str, float] | None = None
    reconciliation: Reconciliation | None = None
    validation: Validation | None = None
    validation_seconds: float | None = None
    report_files: list[ReportFile] | None = None
    signature: Signature | None = None
    warnings: list[str] | None = None
    """What went wrong beside the data and did not fail the run: a lineage event not delivered."""


def manifest_json(manifest: dict) -> dict:
    """``manifest`` validated by :class:`Manifest`, as the JSON object to write: the model's JSON form
    of the keys it has, in its own order. Raises ``pydantic.ValidationError`` naming each bad field."""
    dumped = Manifest.model_validate(manifest).model_dump(mode="json", exclude_unset=True)
    return {k: dumped[k] for k in manifest}


def manifest_problems(manifest: Any) -> list[str]:
    """How ``manifest`` (as read from a file) departs from :class:`Manifest`, one line per field."""
    try:
        Manifest.model_validate(manifest)
    except ValidationError as exc:
        return [f"manifest: {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()]
    return []


def read_manifest_model(data: bytes | str) -> Manifest:
    """A manifest file's content as a :class:`Manifest` (``ValidationError`` when it is not one)."""
    return Manifest.model_validate_json(data)
