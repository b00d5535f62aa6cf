"""``DetectLanguage``: annotate lang / lang_score / lang_script / lang_secondary, then apply the policy.

Outputs: ``kept``, ``rejected`` (``language_not_allowed``, ``language_uncertain``; rejected records
keep their lang), ``errors``. Counters (namespace ``language``): seen, kept, dropped:<reason>,
error:<type>, method:<script|letters|cld2|lingua|langdetect|no-letters>.
Config: ``language.*``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import apache_beam as beam
from apache_beam.utils.shared import Shared

from refinery.runtime import usable_cpus, warm_models_wanted
from refinery.schemas.reasons import RejectReason, Stage
from refinery.transforms.beam.stage import RecordStageFn, Rejection, SharedHolder, run_record_stage
from refinery.transforms.language import LanguageIdentifier, language_allowed, min_score_for

if TYPE_CHECKING:
    from refinery.schemas.records import Record

__all__ = ["DetectLanguage", "warm_models_wanted"]


class _DetectLanguageFn(RecordStageFn):
    stage = Stage.LANGUAGE

    def __init__(self, cfg, shared: Shared, in_process: bool = False, input_bytes: int | None = None):
        super().__init__(cfg)
        self._shared = shared
        self._in_process = in_process
        self._input_bytes = input_bytes

    def setup(self):
        super().setup()
        c = self.cfg.language

        def build():
            ident = LanguageIdentifier(c.backend, c.max_chars, c.seed, c.secondary_min_share, c.candidates)
            if warm_models_wanted(c.warm_models, self._in_process, usable_cpus(), self._input_bytes):
                ident.warm_up()
            return SharedHolder(ident)

        # One identifier (and one set of loaded models) per worker process, shared by its threads.
        self._ident = self._shared.acquire(build, tag=f"langid-{self.cfg.sha256()}").value

    def annotate(self, record: Record):
        res = self._ident.identify(record["text"])
        record["lang"] = res.lang
        record["lang_score"] = res.score
        record["lang_script"] = res.script
        record["lang_secondary"] = list(res.secondary)
        self._counters.inc(f"method:{res.method}")

    def decide(self, record: Record):
        c = self.cfg.language
        lang = record["lang"]
        if not language_allowed(lang, c.allowed):
            return Rejection(RejectReason.LANGUAGE_NOT_ALLOWED, f"lang={lang} not in language.allowed={c.allowed}")
        floor = min_score_for(lang, c.min_score, c.min_score_per_language)
        if record["lang_score"] < floor:
            return Rejection(RejectReason.LANGUAGE_UNCERTAIN,
                             f"lang_score={record['lang_score']:.3f} < {floor} (lang={lang})")
        return None


class DetectLanguage(beam.PTransform):
    """Records → records with language columns; policy from ``language.allowed`` / ``min_score``."""

    def __init__(self, cfg, in_process: bool = False, input_bytes: int | None = None):
        super().__init__()
        self.cfg = cfg
        self.in_process = in_process
        self.input_bytes = input_bytes

    def expand(self, records):
        fn = _DetectLanguageFn(self.cfg, Shared(), self.in_process, self.input_bytes)
        return run_record_stage(records, "Detect", fn)
