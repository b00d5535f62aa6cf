"""The run configuration: one typed section per stage, loaded from YAML and validated up front.

The stage sections are declared by the stages (``refinery.stages``: each stage's ``config`` model) and
composed here in stage order, between the run-level sections (``run`` first; ``validation`` and
``output`` last).

Every threshold lives here with a documented default. Validation happens before any pipeline is
built; an unknown key, a wrong type or an impossible value raises :class:`ConfigError` naming the
dotted key (``dedup.threshold: Input should be less than or equal to 1``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model

from refinery.stages import STAGES
from refinery.stages.dedup import DedupConfig
from refinery.stages.ingest import IngestConfig
from refinery.stages.language import LanguageConfig, check_language_code
from refinery.stages.licence import LICENCE_CATEGORIES, Decision, LicenceConfig
from refinery.stages.quality import PII_KIND_NAMES, PiiConfig, QualityConfig, QualityThresholds
from refinery.stages.spec import Section as _Section


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key."""


__all__ = ["LICENCE_CATEGORIES", "PII_KIND_NAMES", "ConfigError", "Decision", "DedupConfig", "IngestConfig",
           "LanguageConfig", "LicenceConfig", "OutputConfig", "PiiConfig", "QualityConfig", "QualityThresholds",
           "RunConfig", "RunPolicyConfig", "ValidationConfig", "check_language_code", "defaults_yaml",
           "load_config", "parse_override"]


class ValidationConfig(_Section):
    """Validation of the written output and the auditor reports."""

    enabled: bool = Field(True, description="Validate the written output and write reports "
                                            "(a critical failure exits 1).")
    max_und_share: float = Field(0.1, ge=0, le=1, description="Warning when more of refined/ than this is lang=und.")
    max_error_share: float = Field(0.05, ge=0, le=1,
                                   description="Warning when more input records than this are errors.")
    max_rejected_share_default: float = Field(
        0.5, ge=0, le=1, description="Warning when a stage rejects more than this share of the input records.")
    max_rejected_share: dict[str, float] = Field(
        default_factory=dict, description="Per-stage override of max_rejected_share_default, e.g. {quality: 0.7}.")
    sample_rows: int = Field(5000, ge=100, le=1_000_000, description="Rows in the bottom-k sample per output kind.")
    critical: list[str] = Field(
        default_factory=list,
        description="Warning checks promoted to critical (fail the run), e.g. [und_share, rejected_share_quality].")
    openlineage: bool = Field(
        True, description="Write OpenLineage START/COMPLETE/FAIL events to reports/openlineage.jsonl, and send them "
        "over HTTP when OPENLINEAGE_URL is set.")


class OutputConfig(_Section):
    """Parquet output layout."""

    compression: Literal["zstd", "snappy", "gzip", "none"] = Field("zstd", description="Parquet compression.")
    target_shard_mb: float = Field(
        128.0, ge=0.001, le=4096,
        description="Target text size per Parquet file (MB, 0.001-4096: each file is built in memory); partitions "
        "are split into this many shards."
    )
    write_rejected_text: bool = Field(True, description="Keep the text of rejected records.")


class RunPolicyConfig(_Section):
    """When a run that finished is still a failure as a whole."""

    max_error_share: float = Field(
        0.5, ge=0, le=1,
        description="A run whose errors/ rows are more than this share of its input records ends failed (exit 1), "
        "naming the file and the most common error — after everything is written. A file every one of whose "
        "records is an error always fails the run (a wrong text field, JSON that is not JSON Lines ...).",
    )
    preflight_records: int = Field(
        20, ge=0, le=100_000,
        description="Records read from the start of each local input file (up to 64 files) before the pipeline is "
        "built: a file whose first records are all errors stops the run in seconds (exit 2). 0: no pre-check.",
    )


class _RunConfigBase(_Section):
    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def _section(model: type[_Section]):
    return (model, Field(default_factory=model))


# run, then every stage's section in stage order, then validation and output.
RunConfig = create_model(
    "RunConfig",
    __base__=_RunConfigBase,
    __module__=__name__,
    run=_section(RunPolicyConfig),
    **{s.section: _section(s.config) for s in STAGES if s.section is not None},
    validation=_section(ValidationConfig),
    output=_section(OutputConfig),
)
RunConfig.__doc__ = "The whole run configuration: one section per stage (refinery.stages) plus run, validation, output."


def _format_error(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (see `refinery config --defaults` for the valid keys)"
        lines.append(f"{origin}: {key}: {msg}")
    return "\n".join(lines)


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {dotted}: '{part}' is not a section")
        node = nxt
    node[parts[-1]] = value


def parse_override(item: str) -> tuple[str, Any]:
    """``key.path=value`` → (key.path, YAML-parsed value)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set dedup.enabled=false")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value is not valid YAML: {exc}") from exc
    return key, value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read YAML (optional), apply ``--set`` overrides, validate. Raises ConfigError naming the key."""
    data: dict = {}
    origin = "config"
    if path is not None:
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        data = loaded
    for item in overrides or []:
        key, value = parse_override(item)
        _set_dotted(data, key, value)
        origin = f"{origin} (with --set)" if "--set" not in origin else origin
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, origin)) from None


def defaults_yaml() -> str:
    """The full default config as YAML, every key preceded by its documentation."""
    out = ["# Refinery run configuration — every key with its default.",
           "# Override in a YAML file (refinery run config.yaml ...) or with --set section.key=value.", ""]
    _emit(RunConfig(), out, 0)
    return "\n".join(out)


def _emit(model: BaseModel, out: list[str], depth: int) -> None:
    pad = "  " * depth
    for key, field in type(model).model_fields.items():
        value = getattr(model, key)
        doc = field.description or (type(value).__doc__ or "").strip() if isinstance(value, BaseModel) else \
            field.description or ""
        for line in _wrap(doc, 96 - len(pad)):
            out.append(f"{pad}# {line}")
        if isinstance(value, BaseModel):
            out.append(f"{pad}{key}:")
            _emit(value, out, depth + 1)
            if depth == 0:
                out.append("")
        else:
            dumped = yaml.safe_dump({key: value}, default_flow_style=True, allow_unicode=True, width=10_000).strip()
            out.append(f"{pad}{dumped[1:-1]}")


def _wrap(text: str, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return lines
