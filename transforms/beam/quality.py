"""``ScoreQuality``: quality signals, then the rule presets, then (optionally) a quality model.

Annotate: ``quality`` and ``quality_score`` (every signal, written for rejected records too), on text whose PII was
already redacted at ingest (``refinery.transforms.pii.PiiScrubber``, which also fills
``pii_counts``); with ``quality.classifier``, ``quality_model_score`` and ``quality_model_label``
from the fastText model (loaded once per worker, shared between the DoFn instances of a process).
Decide: the first rule of ``quality.rules`` that fires, with the fitted and configured per-language
thresholds; reason named after the rule, detail = value and threshold; then the model's score
against ``quality.min_model_score`` (reason ``quality_model_score``).
Outputs: ``kept``, ``rejected``, ``errors``. Counters (namespace ``quality``): seen, kept,
dropped:<reason>, error:<type>. Config: ``quality.*``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import apache_beam as beam
from apache_beam.utils.shared import Shared

from refinery.schemas.reasons import RejectReason, Stage
from refinery.transforms.beam.stage import RecordStageFn, Rejection, SharedHolder, run_record_stage
from refinery.transforms.quality import (
    apply_rules,
    preset_for,
    preset_settings,
    quality_score,
    quality_signals,
    thresholds_for,
)
from refinery.transforms.quality_model import QualityClassifier

if TYPE_CHECKING:
    from refinery.schemas.records import Record


class _ScoreQualityFn(RecordStageFn):
    stage = Stage.QUALITY

    def __init__(self, cfg, shared: Shared):
        super().__init__(cfg)
        self._shared = shared

    def setup(self):
        super().setup()
        q = self.cfg.quality
        self._base = q.thresholds.model_dump()
        self._by_lang: dict[str, dict] = {}
        self._disabled = set(q.disabled_rules)
        self._model = None
        if q.classifier:
            path, label = q.classifier, q.classifier_label
            self._model = self._shared.acquire(lambda: SharedHolder(QualityClassifier(path, label)),
                                               tag=f"quality-model:{path}:{label}").value

        self._presets: dict[str, tuple] = {}
        self._preset_of: dict[str, str] = {}

    def _preset(self, record: Record) -> str:
        q = self.cfg.quality
        if not q.presets_by_input:
            return q.preset
        uri = record.get("source_uri") or ""
        name = self._preset_of.get(uri)
        if name is None:
            name = self._preset_of[uri] = preset_for(uri, q.presets_by_input, q.preset)
        return name

    def _settings(self, preset: str, lang: str | None) -> tuple:
        """(rules, thresholds, disabled) for this preset and language, worked out once."""
        key = (preset, lang or "")
        hit = self._presets.get(key)
        if hit is None:
            q = self.cfg.quality
            rules, base, disabled = preset_settings(preset, q.rules, self._base, self._disabled)
            hit = self._presets[key] = (rules, thresholds_for(lang, base, q.per_language, q.fitted_per_language),
                                        disabled)
        return hit

    def annotate(self, record: Record):
        record["quality"] = quality_signals(record["text"], record.get("lang"))
        preset = self._preset(record)
        settings = self._settings(preset, record.get("lang"))
        record["quality_score"] = quality_score(record["quality"], *settings)
        if self._model is not None:
            record["quality_model_score"], record["quality_model_label"] = self._model.score([record["text"]])[0]
        return preset, settings  # decide's note: the same preset and settings, not worked out twice

    def decide(self, record: Record, note=None):
        if note is None:  # called on its own, without annotate's note
            preset = self._preset(record)
            note = preset, self._settings(preset, record.get("lang"))
        preset, (rules, thresholds, disabled) = note
        hit = apply_rules(record["quality"], rules, thresholds, disabled)
        if hit is not None:
            reason, detail = hit
            return Rejection(reason, detail if preset == "web" else f"{detail} [preset {preset}]")
        if self._model is not None:
            s, t = record["quality_model_score"], self.cfg.quality.min_model_score
            if s < t and RejectReason.QUALITY_MODEL_SCORE.value not in self._disabled:
                return Rejection(RejectReason.QUALITY_MODEL_SCORE,
                                 f"quality_model_score={s:.4g} < min_model_score={t:g} "
                                 f"({self.cfg.quality.classifier_label})")
        return None


class ScoreQuality(beam.PTransform):
    """Records → records with ``quality``; quality rules decide. A configured classifier is loaded
    here once (a missing or invalid file fails the build, before any record is read)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        if cfg.quality.classifier:
            QualityClassifier(cfg.quality.classifier, cfg.quality.classifier_label)

    def expand(self, records):
        return run_record_stage(records, "Score", _ScoreQualityFn(self.cfg, Shared()))
