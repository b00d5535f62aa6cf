"""Stages and the one closed list of reasons a record can be rejected for — derived from ``refinery.stages``.

A reason is always written with the stage that decided it (``reject_stage``) and a human-readable
``reject_detail`` that names the observed value and the threshold that fired. Both enums and the map
below are built from :data:`refinery.stages.STAGES` when this module is imported: a reason exists only
because a stage declares it, so every reason has exactly one stage.
"""

from __future__ import annotations

import enum

from refinery.stages import STAGES
from refinery.stages.spec import SpecError

# Pipeline stages, in the order records flow through them (INGEST = "ingest", ...).
Stage = enum.Enum("Stage", [(s.name.upper(), s.name) for s in STAGES], type=str, module=__name__)
Stage.__doc__ = "Pipeline stages, in the order records flow through them (from refinery.stages.STAGES)."

# Why a record went to ``rejected/``. Closed: a stage may only use the reasons it declares.
RejectReason = enum.Enum("RejectReason", [(r.value.upper(), r.value) for s in STAGES for r in s.reasons],
                         type=str, module=__name__)
RejectReason.__doc__ = "Why a record went to rejected/: the reasons the stages declare (closed)."

REASON_STAGE: dict[RejectReason, Stage] = {RejectReason(r.value): Stage(s.name) for s in STAGES for r in s.reasons}


def check_reason_map(reasons, reason_stage: dict, stages) -> None:
    """Every reason is filed under exactly one known stage, and the map names no other reason."""
    unmapped = [r.value for r in reasons if r not in reason_stage]
    unknown = [getattr(r, "value", r) for r in reason_stage if r not in set(reasons)]
    bad_stage = [getattr(r, "value", r) for r, s in reason_stage.items() if s not in set(stages)]
    if unmapped or unknown or bad_stage:
        raise SpecError(f"reject reasons out of step with the stages: unmapped {unmapped}, unknown {unknown}, "
                        f"filed under no stage {bad_stage}")


check_reason_map(RejectReason, REASON_STAGE, Stage)
