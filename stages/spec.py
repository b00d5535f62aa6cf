"""What a stage declares about itself: :class:`StageSpec` and the pieces it is made of.

A stage module (``refinery.stages.<name>``) builds one ``SPEC`` from these and nothing else lists
what it declares: ``refinery.stages.STAGES`` orders the specs, and the Parquet schemas, the reject
reasons, the config sections, the pipeline, the manifest, ``refinery explain`` and the expectation
suite are derived from that list. This module imports neither Beam nor Great Expectations, so the
schemas can be read without them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every config section: unknown keys, inf and nan are refused (a bound lets inf through)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


@dataclasses.dataclass(frozen=True)
class Column:
    """One output column a stage adds. ``after``: the column it follows in the schema, for a column
    older than the stage order (a new column needs none: it comes after its stage's other columns)."""

    name: str
    type: pa.DataType
    description: str
    nullable: bool = True
    after: str | None = None


@dataclasses.dataclass(frozen=True)
class Reason:
    """A reason a stage may reject with (``reject_reason``); ``value`` is the written name."""

    value: str
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A stage's decision against a record: the reason (a :class:`Reason` or ``RejectReason`` member:
    anything whose ``.value`` is the reason's name) and the detail written as ``reject_detail``."""

    reason: Any
    detail: str


@dataclasses.dataclass(frozen=True)
class Check:
    """One expectation on the written output, evaluated by ``refinery.validators.suite``.

    ``expect``: ``between`` (``min_value``/``max_value``), ``in_set`` (``value_set``) or ``regex``
    (``regex``), given in ``kwargs``; ``target``: ``aggregates`` (a column of the aggregate row),
    ``refined_sample`` or ``rejected_sample``."""

    id: str
    severity: Literal["critical", "warning"]
    description: str
    target: Literal["aggregates", "refined_sample", "rejected_sample"]
    expect: Literal["between", "in_set", "regex"]
    column: str
    kwargs: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What the pipeline tells a stage's transform factory about the run."""

    in_process: bool = False  # the runner executes the whole pipeline in this one process
    input_bytes: int | None = None  # size of the local input files on disk; None: unknown (remote inputs)
    # A portable runner: the bucket count of refinery.transforms.beam.bundles (None: not one).
    bounded_buckets: int | None = None
    # A portable runner: the folder records are staged in (refinery.transforms.beam.staging; None: not
    # staged). A barrier stage given one stages the records it decides on and returns their stubs.
    staging: str | None = None


Role = Literal["source", "records", "sink"]


def _no_lines(_record: dict) -> list[str]:
    return []


def _no_checks(_cfg) -> list[Check]:
    return []


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """Everything the rest of Refinery needs to know about a stage.

    - ``name``: the ``reject_stage`` / ``error_stage`` value, counter namespace and manifest key.
    - ``role``: ``source`` (reads inputs: ingest), ``records`` (records in, kept / rejected / errors
      out: the stages between) or ``sink`` (writes the outputs). Only ``records`` stages are chained
      by the pipeline from this list; the source and the sink are wired around them.
    - ``section`` / ``config``: the config section's key and its pydantic model (None: no section).
    - ``columns``: the columns the stage adds to ``refined/`` and ``rejected/`` (null when it is off).
    - ``reasons``: the reasons it may reject with (closed: nothing else may be written).
    - ``label`` / ``transform``: the PTransform's name in the job graph and a factory
      ``(cfg, BuildContext) -> PTransform`` returning ``{kept, rejected, errors}``.
    - ``enabled``: whether it runs, from its config section (default: the section's ``enabled``).
    - ``write_extra``: ``(outputs, out_dir, cfg, identity) -> None``, for a stage whose transform returns
      outputs beyond kept / rejected / errors: attaches their writing to the pipeline (dedup: its index
      of the refined records under ``OUT/index/``).
    - ``barrier``: the stage holds its whole input before it emits (dedup): the refined files are then
      sized on the records entering it, so the write need not wait behind a copy of them all.
    - ``explain``: lines of ``refinery explain`` for one written record.
    - ``checks``: expectations on the written output for this config.
    """

    name: str
    role: Role
    summary: str
    section: str | None = None
    config: type[Section] | None = None
    columns: Sequence[Column] = ()
    reasons: Sequence[Reason] = ()
    label: str | None = None
    transform: Callable[[Any, BuildContext], Any] | None = None
    enabled: Callable[[Any], bool] = lambda section: bool(section.enabled)
    write_extra: Callable[[dict, str, Any, dict], None] | None = None
    barrier: bool = False
    explain: Callable[[dict], list[str]] = _no_lines
    checks: Callable[[Any], list[Check]] = _no_checks

    @property
    def value(self) -> str:
        """The stage's name, as ``Stage.<NAME>.value`` gives it: a spec stands where a Stage member does."""
        return self.name

    def is_enabled(self, cfg) -> bool:
        """Whether the stage runs under run config ``cfg``."""
        if self.section is None:
            return True
        return self.enabled(getattr(cfg, self.section))

    def reason(self, value: str) -> Reason:
        """This stage's declared reason named ``value`` (KeyError otherwise)."""
        for r in self.reasons:
            if r.value == value:
                return r
        raise KeyError(f"stage {self.name!r} declares no reason {value!r}")


class SpecError(TypeError):
    """The list of stages contradicts itself (raised when ``refinery.stages`` is imported)."""


def check_specs(specs: Sequence[StageSpec]) -> None:
    """Refuse a list of stages in which a name, section, label, column or reason is declared twice,
    a record stage lacks its transform, or a column's ``after`` names no column."""
    seen: dict[str, dict[str, str]] = {"name": {}, "section": {}, "label": {}, "column": {}, "reason": {}}

    def claim(kind: str, key: str | None, owner: str) -> None:
        if key is None:
            return
        if key in seen[kind]:
            raise SpecError(f"{kind} {key!r} is declared by both stage {seen[kind][key]!r} and stage {owner!r}")
        seen[kind][key] = owner

    for s in specs:
        claim("name", s.name, s.name)
        claim("section", s.section, s.name)
        claim("label", s.label, s.name)
        for c in s.columns:
            claim("column", c.name, s.name)
        for r in s.reasons:
            claim("reason", r.value, s.name)
        if (s.section is None) != (s.config is None):
            raise SpecError(f"stage {s.name!r}: a config section needs both a key and a model")
        if s.role == "records" and (s.transform is None or s.label is None):
            raise SpecError(f"stage {s.name!r}: a records stage needs a label and a transform factory")
    for s in specs:
        for c in s.columns:
            if c.after is not None and c.after not in seen["column"]:
                raise SpecError(f"column {c.name!r} (stage {s.name!r}) comes after {c.after!r}, "
                                "which no stage declares")


def ordered_columns(specs: Sequence[StageSpec]) -> list[tuple[Column, str]]:
    """(column, stage name) in schema order: every stage's columns in stage order, then each column
    with an ``after`` moved behind the column it names."""
    placed = [(c, s.name) for s in specs for c in s.columns if c.after is None]
    for s in specs:
        for c in s.columns:
            if c.after is not None:
                at = next(i for i, (p, _s) in enumerate(placed) if p.name == c.after)
                placed.insert(at + 1, (c, s.name))
    return placed
