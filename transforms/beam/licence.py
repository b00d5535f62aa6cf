"""``TagLicences``: licence (SPDX), copyright statements, opt-outs, then the allow/review/deny policy.

Annotate: licence_spdx, licence_source, licence_category, licence_decision, copyright_statements,
copyright_holders, copyright_years, rights_reserved, opted_out, licence_evidence, ai_preferences.
Decide: ``deny`` → rejected (``opted_out`` or ``licence_denied``); ``review`` → kept and flagged, or
rejected (``licence_review``) when ``licence.review_action: reject``; the policy's reason reaches
``decide`` as the note ``annotate`` returns, not as a key of the record. Outputs: ``kept``,
``rejected``, ``errors``. Counters (namespace ``licence``): seen, kept, dropped:<reason>, error:<type>,
decision:<allow|review|deny>, source:<metadata|text|none>. Config: ``licence.*``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import apache_beam as beam
import orjson
from apache_beam.utils.shared import Shared

from refinery.schemas.reasons import RejectReason, Stage
from refinery.transforms.beam.stage import RecordStageFn, Rejection, SharedHolder, run_record_stage
from refinery.transforms.licence import LicenceIndex, analyse, decide

if TYPE_CHECKING:
    from refinery.schemas.records import Record


class _TagLicencesFn(RecordStageFn):
    stage = Stage.LICENCE

    def __init__(self, cfg, shared: Shared):
        super().__init__(cfg)
        self._shared = shared

    def setup(self):
        super().setup()
        self._index = self._shared.acquire(lambda: SharedHolder(LicenceIndex.load()), tag="spdx-index").value

    def annotate(self, record: Record):
        c = self.cfg.licence
        meta = orjson.loads(record["meta"]) if record.get("meta") else None
        f = analyse(record["text"], meta, c, self._index if c.detect_in_text else None)
        decision, why = decide(f, c)
        record.update(
            licence_spdx=f.spdx, licence_source=f.source, licence_category=f.category, licence_decision=decision,
            copyright_statements=f.statements, copyright_holders=f.holders, rights_reserved=f.reserved,
            opted_out=bool(f.opt_outs), licence_evidence=f.evidence, copyright_years=f.years,
            ai_preferences=f.ai_preferences,
        )
        self._counters.inc(f"decision:{decision}")
        self._counters.inc(f"source:{f.source}")
        return why  # the policy's reason: the note decide() reads, never a key of the record

    def decide(self, record: Record, why: str = ""):
        decision = record["licence_decision"]
        if decision == "deny":
            reason = RejectReason.OPTED_OUT if record["opted_out"] and why.startswith("opt-out") \
                else RejectReason.LICENCE_DENIED
            return Rejection(reason, why)
        if decision == "review" and self.cfg.licence.review_action == "reject":
            return Rejection(RejectReason.LICENCE_REVIEW, why)
        return None


class TagLicences(beam.PTransform):
    """Records → records with licence columns; the licence policy decides."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def expand(self, records):
        return run_record_stage(records, "Tag", _TagLicencesFn(self.cfg, Shared()))
