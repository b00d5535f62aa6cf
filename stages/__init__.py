"""The stages of a run, in the order records flow through them: the one list of them.

Each entry is a stage module's ``SPEC`` (:class:`~refinery.stages.spec.StageSpec`): its name, config
section, columns, reasons, transform and ``explain`` lines. Everything that enumerates stages is
derived from :data:`STAGES` — the Parquet schemas and the README's schema section
(:mod:`refinery.schemas`), the ``Stage`` and ``RejectReason`` enums and the reason-to-stage map, the
run config's sections, the pipeline (:mod:`refinery.pipelines.refine`), the manifest's stage status,
``refinery explain``, the expectation suite and the Croissant / OpenLineage fields.

Adding a stage: write ``refinery/stages/<name>.py`` declaring ``SPEC`` and add it here. The list is
checked when this module is imported: a name, section, label, column or reason declared twice is a
:class:`~refinery.stages.spec.SpecError`.
"""

from __future__ import annotations

from refinery.stages import decontaminate, dedup, ingest, language, licence, quality, write
from refinery.stages.spec import BuildContext, Check, Column, Reason, Section, SpecError, StageSpec, check_specs

STAGES: tuple[StageSpec, ...] = (
    ingest.SPEC,
    language.SPEC,
    licence.SPEC,
    quality.SPEC,
    decontaminate.SPEC,
    dedup.SPEC,
    write.SPEC,
)

check_specs(STAGES)

BY_NAME: dict[str, StageSpec] = {s.name: s for s in STAGES}


def record_stages() -> list[StageSpec]:
    """The stages between the source and the sink, in pipeline order."""
    return [s for s in STAGES if s.role == "records"]


__all__ = ["BY_NAME", "STAGES", "BuildContext", "Check", "Column", "Reason", "Section", "SpecError", "StageSpec",
           "record_stages"]
