"""The run configuration: one typed section per stage, loaded from YAML and validated up front.

Every threshold lives here with a documented default. Validation happens before any pipeline is
built; an unknown key, a wrong type or an impossible value raises :class:`ConfigError` naming the
dotted key (``dedup.threshold: Input should be less than or equal to 1``).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key."""


# ISO 639-1, all 183 codes (public standard); three-letter codes come from the detectors' tables.
_ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de
dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia
id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo
lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl
ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk
tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())
_SUBTAG = re.compile(r"^(?:[A-Z][a-z]{3}|[A-Z]{2}|\d{3}|[a-z\d]{5,8})$")


@functools.lru_cache(maxsize=1)
def _language_names() -> tuple[frozenset[str], dict[str, str]]:
    """(ISO 639 codes the detectors know, language name -> code), from CLD2's and lingua's tables."""
    import pycld2
    from lingua import Language

    codes, names = set(_ISO_639_1) | {"und", "mul", "zxx"}, {}
    for name, code in pycld2.LANGUAGES:
        primary = code.split("-")[0]
        if 2 <= len(primary) <= 3 and primary.isalpha() and primary.islower():
            codes.add(primary)
            names.setdefault(name.lower().replace("_", " "), primary)
    for lang in Language.all():
        one = lang.iso_code_639_1.name.lower()
        codes.add(one)
        names.setdefault(lang.name.lower(), one)
    return frozenset(codes), names


@functools.lru_cache(maxsize=1)
def _three_to_two() -> dict[str, str]:
    from lingua import Language

    return {lang.iso_code_639_3.name.lower(): lang.iso_code_639_1.name.lower() for lang in Language.all()}


def check_language_code(code: str) -> str:
    """A BCP-47 tag whose language subtag is a known ISO 639 code (en, zh-Hant, pt-BR); else ValueError
    with a suggestion (``english`` -> ``en``)."""
    codes, names = _language_names()
    parts = code.split("-") if isinstance(code, str) else []
    if parts and all(_SUBTAG.match(p) for p in parts[1:]):
        if parts[0] in codes:
            return code
        if len(parts[0]) == 3 and parts[0].isalpha() and parts[0].islower():
            two = _three_to_two().get(parts[0])
            if two is None:
                return code  # any ISO 639-3 language: the lang column uses it where 639-1 has no code
            raise ValueError(f"{code!r}: the lang column writes this language as {two!r} (ISO 639-1 where one "
                             "exists); use that")
    guess = names.get(str(code).lower().replace("_", " "))
    if guess is None:
        close = difflib.get_close_matches(str(code).lower(), list(codes) + list(names), n=1)
        guess = names.get(close[0], close[0]) if close else None
    hint = f"; did you mean {guess!r}?" if guess else ""
    raise ValueError(f"{code!r} is not a BCP-47 language tag (ISO 639 code, optionally -Script or -REGION){hint}")


class _Section(BaseModel):
    # inf and nan pass a ge/le bound and then break the run that uses them: refused in every section.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class IngestConfig(_Section):
    """Reading and decoding crude inputs."""

    format: Literal["auto", "jsonl", "parquet", "text", "warc"] = Field(
        "auto",
        description="Input format. auto: by extension (.jsonl/.json/.ndjson[.gz|.zst], .parquet, "
        ".txt[.gz], .warc/.wet/.arc[.gz], *.paths.gz lists).",
    )
    text_field: str = Field("text", description="Field holding the document text (JSONL and Parquet).")
    id_field: str = Field("id", description="Field holding the input's own id; kept as original_id.")
    text_mode: Literal["file", "line"] = Field(
        "file", description="Plain-text inputs: one document per file, or one per non-empty line."
    )
    encoding: Literal["auto", "utf-8", "gb18030", "big5", "utf-16"] = Field(
        "auto",
        description="Input encoding. auto: BOM, else UTF-8 if the first 64 KB decode, "
        "else GB18030 or Big5 as charset-normalizer judges.",
    )
    min_chars: int = Field(
        1, ge=0, le=1_000_000, description="Records with fewer non-whitespace characters are rejected as empty_text."
    )
    max_error_bytes: int = Field(
        65536, ge=0, le=1 << 30, description="Raw bytes kept per errors/ record (the rest is cut, and the cut noted)."
    )
    max_record_bytes: int = Field(
        64 << 20, ge=1024, le=1 << 31,
        description="Largest record (a line of JSONL or text, a text file, a WARC payload) read, in bytes. A larger "
        "one is an errors/ row holding its first ingest.max_error_bytes bytes; it is never held in memory whole.",
    )
    max_decompression_ratio: float = Field(
        200.0, ge=2, le=100_000,
        description="A .gz/.zst stream that expands to more than this many times its compressed size (past the "
        "first 64 MB) is a decompression bomb: the rest of the file is one errors/ row. Text compresses 3-10x.",
    )
    keep_undecodable_raw: bool = Field(
        False,
        description="Keep errors' raw bytes that decode in no known encoding (UTF-8/16, GB18030, Big5, "
        "Windows-1252). Off: they are dropped (raw null, the error says so), because PII in them cannot be "
        "found and redacted. On: kept for debugging, checked byte by byte for the ASCII kinds only.",
    )
    html_extractor: Literal["resiliparse", "resiliparse-full", "trafilatura"] = Field(
        "resiliparse",
        description="WARC HTML to text. resiliparse: main content, boilerplate (navigation, footers) removed; "
        "resiliparse-full: all visible text; trafilatura: needs `pip install trafilatura`.",
    )
    commoncrawl_prefix: str = Field(
        "https://data.commoncrawl.org/",
        description="Prefix for the relative paths in Common Crawl *.paths.gz lists. Beam reads gs:// and local "
        "paths (not https): point this at a mirror (gs://bucket/, /data/cc/) to read listed files.",
    )


class LanguageConfig(_Section):
    """Language identification (DetectLanguage) and the language policy."""

    @field_validator("candidates", "allowed")
    @classmethod
    def _bcp47_list(cls, v):
        for code in v or []:
            check_language_code(code)
        return v

    @field_validator("min_score_per_language")
    @classmethod
    def _bcp47_keys(cls, v):
        for code in v:
            check_language_code(code)
        return v

    enabled: bool = Field(True, description="Run language identification.")
    backend: Literal["auto", "langdetect", "cld2", "lingua"] = Field(
        "auto",
        description="Model for scripts shared by many languages (script rules always come first). auto: "
        "distinctive letters on short text, CLD2 where it is reliable or the text is long (600+ characters), "
        "lingua for the rest, langdetect for short Devanagari (lingua lacks Nepali).",
    )
    warm_models: bool | Literal["auto"] = Field(
        "auto",
        description="Preload lingua's full models (~300 MB) when a worker starts instead of loading them lazily "
        "at the first short text (< 120 characters) CLD2 is unsure of: the preload runs on every core (3.8 s "
        "wall, 7.4 s CPU) where the lazy load runs on one (5.3 s). auto: only when the pipeline runs in this one "
        "process (the default DirectRunner mode) on a machine with two or more CPUs (10 MB benchmark corpus, "
        "three alternating pairs: ~1.5 s less); true: every worker; false: load them only if and when that "
        "text comes (a corpus without such text never pays).",
    )
    candidates: list[str] | None = Field(
        None,
        description="Languages the statistical models may answer. null: langdetect's 55 (the common set; keeps "
        "near-identical neighbours such as bs/hr, ms/id, nn/no apart); []: every language the models know. "
        "A language outside them that CLD2 names reliably (90 %+ of 120+ characters) keeps its own code (a "
        "Zulu page is 'zu', not the nearest candidate), unless it is such a neighbour of a candidate.",
    )
    allowed: list[str] = Field(
        default_factory=list,
        description="Languages kept (BCP-47 as in the lang column; 'zh' matches zh-Hans and zh-Hant). "
        "Empty: all. Others are rejected as language_not_allowed.",
    )
    min_score: float = Field(
        0.0, ge=0.0, le=1.0, description="Below this lang_score a record is rejected as language_uncertain."
    )
    min_score_per_language: dict[str, float] = Field(
        default_factory=dict, description="Per-language override of min_score, e.g. {en: 0.8}."
    )
    max_chars: int = Field(
        1500, ge=50, le=10_000_000, description="Characters the statistical model reads at most (3 evenly spaced windows)."
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="langdetect seed (determinism).")
    secondary_min_share: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of paragraph characters a language needs to be listed in lang_secondary."
    )


Decision = Literal["allow", "review", "deny"]
LICENCE_CATEGORIES = ("permissive", "weak-copyleft", "copyleft", "non-commercial", "no-derivatives", "public-domain",
                      "proprietary", "unknown")


class LicenceConfig(_Section):
    """Licence, copyright and opt-out tagging (TagLicences) and the licence policy."""

    enabled: bool = Field(True, description="Tag licences, copyright statements and opt-outs.")
    metadata_fields: list[str] = Field(
        default_factory=lambda: ["license", "licence", "meta.license", "meta.licence", "license_name", "rights",
                                 "warc.license"],
        description="Input fields (dotted paths into meta) holding licence metadata, first found wins.",
    )
    detect_in_text: bool = Field(True, description="Look for SPDX tags, notices, licence texts and CC links in the text.")
    text_window_chars: int = Field(
        40_000, ge=1000, le=100_000_000, description="Text detectors read the first 4/5 and last 1/5 of this many characters.")
    policy: dict[str, Decision] = Field(
        default_factory=lambda: {"permissive": "allow", "public-domain": "allow", "weak-copyleft": "allow",
                                 "copyleft": "review", "no-derivatives": "review", "non-commercial": "deny",
                                 "proprietary": "deny", "unknown": "review"},
        description="Decision per licence category.",
    )
    ids: dict[str, Decision] = Field(
        default_factory=dict, description="Decision per SPDX id, overriding its category, e.g. {GPL-3.0-only: allow}.")
    opt_out: Decision = Field("deny", description="Decision when an AI-training / TDM opt-out is found.")
    opt_out_preferences: list[str] = Field(
        default_factory=lambda: ["train-ai", "train-genai", "ai-use"],
        description="IETF AIPREF Content-Usage categories whose 'n' (header, HTML meta or text) counts as an "
        "opt-out (train-ai, train-genai, ai-use, search, ...).")
    reserved_without_licence: Decision = Field(
        "review", description="Decision for 'All rights reserved' (or equivalent) with no licence found.")
    no_licence: Decision = Field("review", description="Decision when nothing about licensing is known.")
    review_action: Literal["keep", "reject"] = Field(
        "keep", description="review records: keep them in refined/ (flagged in licence_decision) or reject them "
        "(licence_review).")

    @field_validator("policy")
    @classmethod
    def _known_categories(cls, v):
        for k in v:
            if k not in LICENCE_CATEGORIES:
                raise ValueError(f"{k}: not a licence category (one of: {', '.join(LICENCE_CATEGORIES)})")
        missing = [c for c in LICENCE_CATEGORIES if c not in v]
        if missing:
            raise ValueError(f"policy must decide every category; missing: {', '.join(missing)}")
        return v


class QualityThresholds(_Section):
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
    max_dup_para_frac: float = Field(0.3, ge=0, le=1, description="gopher_repetition: duplicate paragraphs / paragraphs.")
    max_dup_line_char_frac: float = Field(0.2, ge=0, le=1, description="gopher_repetition: characters in duplicate lines.")
    max_dup_para_char_frac: float = Field(0.2, ge=0, le=1, description="gopher_repetition: characters in duplicate paragraphs.")
    max_top_2gram_char_frac: float = Field(0.2, ge=0, le=1, description="gopher_repetition: top 2-gram character share.")
    max_top_3gram_char_frac: float = Field(0.18, ge=0, le=1, description="gopher_repetition: top 3-gram character share.")
    max_top_4gram_char_frac: float = Field(0.16, ge=0, le=1, description="gopher_repetition: top 4-gram character share.")
    max_dup_5gram_char_frac: float = Field(0.15, ge=0, le=1, description="gopher_repetition: duplicated 5-grams.")
    max_dup_6gram_char_frac: float = Field(0.14, ge=0, le=1, description="gopher_repetition: duplicated 6-grams.")
    max_dup_7gram_char_frac: float = Field(0.13, ge=0, le=1, description="gopher_repetition: duplicated 7-grams.")
    max_dup_8gram_char_frac: float = Field(0.12, ge=0, le=1, description="gopher_repetition: duplicated 8-grams.")
    max_dup_9gram_char_frac: float = Field(0.11, ge=0, le=1, description="gopher_repetition: duplicated 9-grams.")
    max_dup_10gram_char_frac: float = Field(0.10, ge=0, le=1, description="gopher_repetition: duplicated 10-grams.")
    # c4 — Raffel et al. 2020, Section 2.2
    min_sentences: float = Field(3, ge=0, description="c4: fewest sentences.")
    min_terminal_punct_lines_frac: float = Field(
        0.0001, ge=0, le=1, description="c4: a document of 2+ lines none of which ends in terminal punctuation, and with "
        "no sentence end inside a line either, has nothing C4 keeps (matters when min_sentences is 0).")
    max_javascript_lines_frac: float = Field(0.5, ge=0, le=1, description="c4: lines mentioning javascript / lines.")
    max_policy_lines_frac: float = Field(0.5, ge=0, le=1, description="c4: cookie / terms / privacy lines / lines.")
    max_badwords: float = Field(0, ge=0, description="c4 (c4_badwords, off by default: see disabled_rules): most "
                                "occurrences of listed offensive terms; C4 drops a page with any.")
    # fineweb — Penedo et al. 2024, Section 3.3
    min_line_punct_ratio: float = Field(0.12, ge=0, le=1, description="fineweb: lines ending in punctuation.")
    max_short_line_ratio: float = Field(0.67, ge=0, le=1, description="fineweb: lines of <= 30 chars (CJK: 10).")
    max_fineweb_dup_line_char_frac: float = Field(0.1, ge=0, le=1, description="fineweb: characters in duplicated lines.")
    max_newline_ratio: float = Field(0.3, ge=0, description="fineweb (datatrove default): newlines per word.")


PII_KIND_NAMES = ("email", "phone", "ip_address", "id_number", "payment_card")


def _phone_regions() -> tuple[str, ...]:
    from refinery.transforms.pii import PHONE_REGIONS

    return PHONE_REGIONS


class PiiConfig(_Section):
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


class QualityConfig(_Section):
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


class DedupConfig(_Section):
    """Exact and near-duplicate removal (DedupNearDuplicates). Near duplicate: Jaccard >= threshold on the
    shingle sets (word 5-grams; character 5-grams for CJK/Thai), the common definition."""

    enabled: bool = Field(True, description="Remove exact and near duplicates.")
    exact: bool = Field(True, description="Remove exact duplicates (hash of NFKC, case-folded, whitespace-collapsed text).")
    near: bool = Field(True, description="Remove near duplicates (MinHash-LSH, verified).")
    threshold: float = Field(
        0.8, gt=0.0, le=1.0, description="Near duplicate: estimated Jaccard of the shingle sets at or above this."
    )
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations.")
    seed: int = Field(1, ge=0, le=2**32 - 1, description="MinHash seed (datasketch-compatible, 0..2^32-1).")
    ngram: int = Field(5, ge=1, le=32, description="Shingle size (words or characters, see unit).")
    unit: Literal["auto", "word", "char"] = Field(
        "auto", description="Shingle unit. auto: characters for CJK/Thai text, words otherwise."
    )
    fold_chinese_variants: bool = Field(
        True, description="Fold Traditional to Simplified in the dedup key, so the same text in both scripts matches."
    )
    max_rounds: int = Field(
        12, ge=1, le=64,
        description="Rounds of large-star/small-star connected components (unrolled in the job graph). "
        "Each round at least halves chain lengths in practice; the run counts cc_not_converged if more were needed.",
    )
    band_shards: int = Field(
        64, ge=1, le=65536,
        description="LSH buckets are grouped by (band, digest mod band_shards): each group holds "
        "documents x bands / (bands x band_shards) entries (1M documents: ~16k). Raise it for corpora "
        "far beyond 100M documents; results do not depend on it.",
    )
    keep: Literal["quality_longest", "longest", "smallest_id"] = Field(
        "quality_longest",
        description="Which record of a cluster is kept: highest quality score, then longest, then smallest doc_id.",
    )


class ValidationConfig(_Section):
    """Validation of the written output and the auditor reports."""

    enabled: bool = Field(True, description="Validate the written output and write reports (a critical failure exits 1).")
    max_und_share: float = Field(0.1, ge=0, le=1, description="Warning when more of refined/ than this is lang=und.")
    max_error_share: float = Field(0.05, ge=0, le=1, description="Warning when more input records than this are errors.")
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


class RunConfig(_Section):
    run: RunPolicyConfig = Field(default_factory=RunPolicyConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    language: LanguageConfig = Field(default_factory=LanguageConfig)
    licence: LicenceConfig = Field(default_factory=LicenceConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


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
