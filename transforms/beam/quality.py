"""``ScoreQuality``: quality signals, then the rule presets.

Annotate: ``quality`` (every signal, written for rejected records too), on text whose PII was
already redacted at ingest (``refinery.transforms.pii.PiiScrubber``, which also fills
``pii_counts``). Decide: the first rule of ``quality.rules`` that fires, with per-language threshold
overrides; reason named after the rule, detail = value and threshold.
Outputs: ``kept``, ``rejected``, ``errors``. Counters (namespace ``quality``): seen, kept,
dropped:<reason>, error:<type>. Config: ``quality.*``.
"""

from __future__ import annotations

import apache_beam as beam

from refinery.schemas.reasons import Stage
from refinery.transforms.beam.stage import RecordStageFn, Rejection, run_record_stage
from refinery.transforms.quality import apply_rules, quality_signals, thresholds_for


class _ScoreQualityFn(RecordStageFn):
    stage = Stage.QUALITY

    def setup(self):
        super().setup()
        q = self.cfg.quality
        self._base = q.thresholds.model_dump()
        self._by_lang: dict[str, dict] = {}
        self._disabled = set(q.disabled_rules)

    def _thresholds(self, lang: str | None) -> dict:
        key = lang or ""
        t = self._by_lang.get(key)
        if t is None:
            t = self._by_lang[key] = thresholds_for(lang, self._base, self.cfg.quality.per_language,
                                                            self.cfg.quality.fitted_per_language)
        return t

    def annotate(self, record):
        record["quality"] = quality_signals(record["text"], record.get("lang"))

    def decide(self, record):
        hit = apply_rules(record["quality"], self.cfg.quality.rules, self._thresholds(record.get("lang")),
                          self._disabled)
        return None if hit is None else Rejection(*hit)


class ScoreQuality(beam.PTransform):
    """Records → records with ``quality``; quality rules decide."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg

    def expand(self, records):
        return run_record_stage(records, "Score", _ScoreQualityFn(self.cfg))
