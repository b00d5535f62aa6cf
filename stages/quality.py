"""Stage ``quality``: quality signals and the rule presets (``ScoreQuality``).

Annotate: the ``quality`` struct (every signal, written for rejected records too). Decide: the first
rule of ``quality.rules`` that fires, named after the rule (one reason per rule below). PII counting and
redaction (``quality.pii``) happen at ingest. Pure core: :mod:`refinery.transforms.quality`; DoFn and
PTransform: :mod:`refinery.transforms.beam.quality`.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from pydantic import Field, field_validator

from refinery.schemas.quality import QUALITY_FIELDS
from refinery.stages.language import check_language_code
from refinery.stages.spec import BuildContext, Column, Reason, Section, StageSpec


class QualityThresholds(Section):
    """Thresholds of the quality presets (sources: transforms/quality.py module docstring)."""

    # gopher_quality — Rae et al. 2021, Appendix A.1.1
    min_words: float = Field(50, ge=0, description="gopher_quality: fewest words (CJK: characters).")
    max_words: float = Field(100_000, ge=0, description="gopher_quality: most words.")
    min_mean_word_length: float = Field(3, ge=0, description="gopher_quality: shortest mean word length (not for CJK).")
    max_mean_word_length: float = Field(10, ge=0, description="gopher_quality: longest mean word length (not for CJK).")
    max_symbol_word_ratio: float = Field(0.1, ge=0, description="gopher_quality: ('#', '...', '…') per word.")
    max_bullet_lines_frac: float = Field(0.9, ge=0, le=1, description="gopher_quality: lines starting with a bullet.")
    max_ellipsis_lines_frac: float = Field(0.3, ge=0, le=1, description="gopher_quality: lines ending in an ellipsis.")
    min_alpha_words_frac: float = Field(0.8, ge=0, le=1, description="gopher_quality: words containing a letter.")
    min_stop_words: float = Field(2, ge=0, description="gopher_quality: stop words (languages with a list only).")
    # gopher_repetition — Rae et al. 2021, Table A1
    max_dup_line_frac: float = Field(0.3, ge=0, le=1, description="gopher_repetition: duplicate lines / lines.")
    max_dup_para_frac: float = Field(0.3, ge=0, le=1,
        description="gopher_repetition: duplicate paragraphs / paragraphs.")
    max_dup_line_char_frac: float = Field(0.2, ge=0, le=1,
        description="gopher_repetition: characters in duplicate lines.")
    max_dup_para_char_frac: float = Field(0.2, ge=0, le=1,
        description="gopher_repetition: characters in duplicate paragraphs.")
    max_top_2gram_char_frac: float = Field(0.2, ge=0, le=1,
        description="gopher_repetition: top 2-gram character share.")
    max_top_3gram_char_frac: float = Field(0.18, ge=0, le=1,
        description="gopher_repetition: top 3-gram character share.")
    max_top_4gram_char_frac: float = Field(0.16, ge=0, le=1,
        description="gopher_repetition: top 4-gram character share.")
    max_dup_5gram_char_frac: float = Field(0.15, ge=0, le=1, description="gopher_repetition: duplicated 5-grams.")
    max_dup_6gram_char_frac: float = Field(0.14, ge=0, le=1, description="gopher_repetition: duplicated 6-grams.")
    max_dup_7gram_char_frac: float = Field(0.13, ge=0, le=1, description="gopher_repetition: duplicated 7-grams.")
    max_dup_8gram_char_frac: float = Field(0.12, ge=0, le=1, description="gopher_repetition: duplicated 8-grams.")
    max_dup_9gram_char_frac: float = Field(0.11, ge=0, le=1, description="gopher_repetition: duplicated 9-grams.")
    max_dup_10gram_char_frac: float = Field(0.10, ge=0, le=1, description="gopher_repetition: duplicated 10-grams.")
    # c4 — Raffel et al. 2020, Section 2.2
    min_sentences: float = Field(3, ge=0, description="c4: fewest sentences.")
    min_terminal_punct_lines_frac: float = Field(
        0.0001, ge=0, le=1,
        description="c4: a document of 2+ lines none of which ends in terminal punctuation, and with "
        "no sentence end inside a line either, has nothing C4 keeps (matters when min_sentences is 0).")
    max_javascript_lines_frac: float = Field(0.5, ge=0, le=1, description="c4: lines mentioning javascript / lines.")
    max_policy_lines_frac: float = Field(0.5, ge=0, le=1, description="c4: cookie / terms / privacy lines / lines.")
    max_badwords: float = Field(0, ge=0, description="c4 (c4_badwords, off by default: see disabled_rules): most "
                                "occurrences of listed offensive terms; C4 drops a page with any.")
    # fineweb — Penedo et al. 2024, Section 3.3
    min_line_punct_ratio: float = Field(0.12, ge=0, le=1, description="fineweb: lines ending in punctuation.")
    max_short_line_ratio: float = Field(0.67, ge=0, le=1, description="fineweb: lines of <= 30 chars (CJK: 10).")
    max_fineweb_dup_line_char_frac: float = Field(0.1, ge=0, le=1,
        description="fineweb: characters in duplicated lines.")
    max_newline_ratio: float = Field(0.3, ge=0, description="fineweb (datatrove default): newlines per word.")


PII_KIND_NAMES = ("email", "phone", "ip_address", "id_number", "payment_card")


def _phone_regions() -> tuple[str, ...]:
    from refinery.transforms.pii import PHONE_REGIONS

    return PHONE_REGIONS


class PiiConfig(Section):
    """PII counting (pii_counts) and redaction, done at ingest: before any stage routes a record
    anywhere (rejected or refined) and before anything is written, whatever stages are enabled."""

    detect: bool = Field(True, description="Count PII per kind in pii_counts (counted before redaction).")
    redact: list[Literal["email", "phone", "ip_address", "id_number", "payment_card"]] = Field(
        default_factory=lambda: list(PII_KIND_NAMES),
        description="Kinds replaced by typed placeholders (<EMAIL>, <PHONE>, ...) in text, meta, original_id "
        "and errors' raw bytes and messages. The unredacted text is never written. Empty: no redaction.",
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: list(_phone_regions()),
        description="Regions (ISO 3166 alpha-2) whose national phone formats are recognised, tried in order "
        "(numbers written with + and a country code are recognised whatever this says).",
    )

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, v):
        import phonenumbers

        bad = [r for r in v if r not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ValueError(f"unknown phone region(s) {', '.join(map(repr, bad))}: ISO 3166 alpha-2 codes "
                             "in upper case, e.g. US, GB, DE, CN")
        return v


def _fitted_thresholds() -> dict[str, dict[str, float]]:
    from refinery.transforms.quality import fitted_thresholds

    return {lang: dict(t) for lang, t in fitted_thresholds().items()}


class QualityConfig(Section):
    """Quality signals, rule presets and PII (ScoreQuality)."""

    enabled: bool = Field(True, description="Compute quality signals and apply quality rules (PII is redacted "
                          "at ingest, quality.pii, whether this stage runs or not).")
    rules: list[Literal["gopher_quality", "gopher_repetition", "c4", "fineweb"]] = Field(
        default_factory=lambda: ["gopher_quality", "gopher_repetition", "c4", "fineweb"],
        description="Presets that decide (signals are always computed and written). Empty: annotate only.",
    )
    disabled_rules: list[str] = Field(
        default_factory=lambda: ["c4_curly_brace", "c4_badwords"],
        description="Reasons switched off inside the chosen presets. Default: c4_curly_brace (C4's rule drops "
        "every page with a '{', i.e. all code and many technical pages) and c4_badwords (C4's offensive-term "
        "lists, transforms/data/badwords, CC-BY-4.0 LDNOOBW: whole-word matches flag medical, legal and "
        "sex-education text too, and the lists are uneven across languages; the count is always in "
        "quality.badwords). Set disabled_rules to [c4_curly_brace] to reject as C4 does.",
    )
    thresholds: QualityThresholds = Field(default_factory=QualityThresholds)
    fitted_per_language: dict[str, dict[str, float]] = Field(
        default_factory=_fitted_thresholds,
        description="Per-language thresholds fitted from clean reference text (UDHR, one translation per "
        "language) by scripts/fit_quality_thresholds.py, shipped in transforms/data/quality_thresholds.json: "
        "FineWeb-2 style, each English default relaxed to the language's own distribution (alphabetic-word "
        "ratio, word length, stop words, top n-grams), never made stricter. Only values that differ from "
        "quality.thresholds are listed. Set {} for the English-calibrated thresholds everywhere, or change one "
        "language here or in per_language.",
    )
    per_language: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Threshold overrides per language, e.g. {zh: {min_words: 30}} ('zh' covers zh-Hans/zh-Hant). "
        "They apply over quality.fitted_per_language.",
    )
    preset: Literal["web", "books", "literature", "edited"] = Field(
        "web", description="Source preset of every input (refinery.transforms.quality.SOURCE_PRESETS): web = the "
        "rules and thresholds above; books / literature = classical poetry and verse (short documents and "
        "refrains are normal: Gopher rules only, min_words 10, no stop-word rule, repetition bounds 0.4-0.6); "
        "edited = news and papers (Gopher + C4, no FineWeb line rules, no c4_terminal_punct, min_words 30).")
    presets_by_input: dict[str, Literal["web", "books", "literature", "edited"]] = Field(
        default_factory=dict, description="Source preset per input pattern, e.g. {'poetry/*.jsonl': books, "
        "'*news*': edited}: glob on the source URI or its file name, first match wins, else quality.preset. "
        "Recorded in the manifest with the config; a rejected record's detail names its preset.")
    classifier: str | None = Field(
        None, description="Path of a fastText classifier (a FineWeb-Edu- or DCLM-style quality model you trained "
        "or downloaded; local file): every document gets quality_model_score and quality_model_label, and "
        "documents scoring below min_model_score are rejected (quality_model_score). Needs "
        "pip install 'refinery[classifier]'. Loaded once per worker. Null: no model.")
    classifier_label: str = Field("__label__hq", description="The model's label whose probability is the score.")
    min_model_score: float = Field(0.5, ge=0, le=1, description="Fewest quality_model_score kept (with a classifier).")
    pii: PiiConfig = Field(default_factory=PiiConfig)

    @field_validator("per_language", "fitted_per_language")
    @classmethod
    def _known_thresholds(cls, v):
        known = set(QualityThresholds.model_fields)
        for lang, over in v.items():
            check_language_code(lang)
            for key in over:
                if key not in known:
                    raise ValueError(f"{lang}.{key}: unknown threshold (one of: {', '.join(sorted(known))})")
        return v

    @field_validator("disabled_rules")
    @classmethod
    def _known_reasons(cls, v):
        from refinery.schemas.reasons import RejectReason

        known = {r.value for r in RejectReason}
        for name in v:
            if name.split(":")[0] not in known:
                raise ValueError(f"{name}: not a reject reason")
        return v


_QUALITY_TYPE = pa.struct([pa.field(name, typ) for name, typ, _doc in QUALITY_FIELDS])

COLUMNS = (
    Column("quality", _QUALITY_TYPE, "Quality signals (see the quality table)."),
    Column("quality_score", pa.float32(),
           "0-1: mean credit over the quality rules that apply (0 if a rule fired, 0.5-1 by the margin it passed "
           "by, full at 50 % of the threshold); what dedup.keep=quality_longest ranks by."),
    Column("quality_model_score", pa.float32(),
           "Probability the quality.classifier model gives to quality.classifier_label (null without a classifier)."),
    Column("quality_model_label", pa.string(),
           "Label the quality.classifier model ranks first (null without a classifier)."),
)

GOPHER_SHORT_DOC = Reason("gopher_short_doc", "gopher_quality: fewer words than min_words")
GOPHER_LONG_DOC = Reason("gopher_long_doc", "gopher_quality: more words than max_words")
GOPHER_MEAN_WORD_LENGTH = Reason("gopher_mean_word_length", "gopher_quality: mean word length outside its bounds")
GOPHER_SYMBOL_RATIO = Reason("gopher_symbol_ratio", "gopher_quality: too many '#' / ellipsis symbols per word")
GOPHER_BULLET_LINES = Reason("gopher_bullet_lines", "gopher_quality: too many lines starting with a bullet")
GOPHER_ELLIPSIS_LINES = Reason("gopher_ellipsis_lines", "gopher_quality: too many lines ending in an ellipsis")
GOPHER_ALPHA_WORDS = Reason("gopher_alpha_words", "gopher_quality: too few words containing a letter")
GOPHER_STOP_WORDS = Reason("gopher_stop_words", "gopher_quality: too few stop words")
DUP_LINE_FRAC = Reason("dup_line_frac", "gopher_repetition: duplicate lines")
DUP_PARA_FRAC = Reason("dup_para_frac", "gopher_repetition: duplicate paragraphs")
DUP_LINE_CHAR_FRAC = Reason("dup_line_char_frac", "gopher_repetition: characters in duplicate lines")
DUP_PARA_CHAR_FRAC = Reason("dup_para_char_frac", "gopher_repetition: characters in duplicate paragraphs")
TOP_NGRAM_CHAR_FRAC = Reason("top_ngram_char_frac",
                             "gopher_repetition: characters covered by the top word 2/3/4-gram")
DUP_NGRAM_CHAR_FRAC = Reason("dup_ngram_char_frac",
                             "gopher_repetition: characters covered by repeated word 5..10-grams")
C4_TERMINAL_PUNCT = Reason("c4_terminal_punct", "c4: no line ends in terminal punctuation")
C4_LOREM_IPSUM = Reason("c4_lorem_ipsum", "c4: 'lorem ipsum'")
C4_CURLY_BRACE = Reason("c4_curly_brace", "c4: a '{'")
C4_JAVASCRIPT = Reason("c4_javascript", "c4: too many lines mention javascript")
C4_POLICY = Reason("c4_policy", "c4: too many cookie / terms / privacy lines")
C4_TOO_FEW_SENTENCES = Reason("c4_too_few_sentences", "c4: too few sentences")
C4_BADWORDS = Reason("c4_badwords", "c4: listed offensive terms (quality.badwords > max_badwords; off by default)")
QUALITY_MODEL_SCORE = Reason("quality_model_score", "quality.classifier: quality_model_score below min_model_score")
FINEWEB_LINE_PUNCT = Reason("fineweb_line_punct", "fineweb: too few lines end in punctuation")
FINEWEB_SHORT_LINES = Reason("fineweb_short_lines", "fineweb: too many short lines")
FINEWEB_DUP_LINE_CHARS = Reason("fineweb_dup_line_chars", "fineweb: characters in duplicated lines")
FINEWEB_NEWLINE_RATIO = Reason("fineweb_newline_ratio", "fineweb: too many newlines per word")

REASONS = (
    GOPHER_SHORT_DOC,
    GOPHER_LONG_DOC,
    GOPHER_MEAN_WORD_LENGTH,
    GOPHER_SYMBOL_RATIO,
    GOPHER_BULLET_LINES,
    GOPHER_ELLIPSIS_LINES,
    GOPHER_ALPHA_WORDS,
    GOPHER_STOP_WORDS,
    DUP_LINE_FRAC,
    DUP_PARA_FRAC,
    DUP_LINE_CHAR_FRAC,
    DUP_PARA_CHAR_FRAC,
    TOP_NGRAM_CHAR_FRAC,
    DUP_NGRAM_CHAR_FRAC,
    C4_TERMINAL_PUNCT,
    C4_LOREM_IPSUM,
    C4_CURLY_BRACE,
    C4_JAVASCRIPT,
    C4_POLICY,
    C4_TOO_FEW_SENTENCES,
    C4_BADWORDS,
    QUALITY_MODEL_SCORE,
    FINEWEB_LINE_PUNCT,
    FINEWEB_SHORT_LINES,
    FINEWEB_DUP_LINE_CHARS,
    FINEWEB_NEWLINE_RATIO,
)


def explain(r: dict) -> list[str]:
    if not r.get("quality"):
        return []
    q = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r["quality"].items() if v is not None}
    return [f"quality:  {q}"]


def transform(cfg, _ctx: BuildContext):
    from refinery.transforms.beam.quality import ScoreQuality  # Beam stays out of the schemas' imports

    return ScoreQuality(cfg)


SPEC = StageSpec(
    name="quality",
    role="records",
    summary="Gopher / C4 / FineWeb signals (script-aware) and rule presets",
    section="quality",
    config=QualityConfig,
    columns=COLUMNS,
    reasons=REASONS,
    label="ScoreQuality",
    transform=transform,
    explain=explain,
)
