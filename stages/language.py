"""Stage ``language``: script-aware language identification (``DetectLanguage``) and the language policy.

Annotate: lang, lang_score, lang_script, lang_secondary. Decide: a language outside ``language.allowed``
(``language_not_allowed``) or a score under its floor (``language_uncertain``). Pure core:
:mod:`refinery.transforms.language`; DoFn and PTransform: :mod:`refinery.transforms.beam.language`.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Literal

import pyarrow as pa
from pydantic import Field, field_validator

from refinery.stages.spec import BuildContext, Check, Column, Reason, Section, StageSpec

# ISO 639-1, all 183 codes (public standard); three-letter codes come from the detectors' tables.
_ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de
dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia
id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo
lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl
ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk
tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())  # noqa: SIM905 - the standard's list, as printed
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


class LanguageConfig(Section):
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
        description="Preload lingua's full models when a worker starts instead of loading them lazily at the "
        "first short text (< 120 characters) CLD2 is unsure of: the preload runs on every core where the lazy "
        "load runs on one. auto: only when the pipeline runs in this one process (the default DirectRunner "
        "mode) on a machine with two or more CPUs and the local input is 10 MB or more (docs/PERFORMANCE.md); "
        "true: every worker; false: load them "
        "only if and when that text comes (a corpus without such text never pays).",
    )
    candidates: list[str] | None = Field(
        None,
        description="Languages the candidate models (lingua, langdetect) choose among. null: langdetect's 55 (the "
        "common set); []: every language the models know. Text that CLD2's first pass (over every language it "
        "knows) names outside them - reliably, or with letters no candidate writes (Kazakh қ ө, Icelandic ð) - "
        "keeps that language's own code (Kazakh is 'kk', not the nearest candidate 'ru'); a near-identical "
        "neighbour of a candidate (bs/sr for hr, ms for id, Cyrillic sr for mk/bg) only where lingua agrees. "
        "lang_score is calibrated: the share of such labels that were right on UDHR (see docs/langid.md).",
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
        1500, ge=50, le=10_000_000,
        description="Characters the statistical model reads at most (3 evenly spaced windows)."
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="langdetect seed (determinism).")
    secondary_min_share: float = Field(
        0.2, ge=0.0, le=1.0,
        description="Share of paragraph characters a language needs to be listed in lang_secondary."
    )


COLUMNS = (
    Column("lang", pa.string(),
           "BCP-47 language: ISO 639-1 where one exists, zh-Hans / zh-Hant for Chinese, 'und' when unsure."),
    Column("lang_score", pa.float32(), "Confidence of lang, 0-1: calibrated, the share of such labels that were "
                                       "right on UDHR (docs/langid.md)."),
    Column("lang_script", pa.string(), "Dominant script, ISO 15924 (Latn, Hans, Hant, Cyrl, ...)."),
    Column("lang_secondary", pa.list_(pa.string()),
           "Other languages with a substantial share of the paragraphs (mixed documents)."),
)

LANGUAGE_NOT_ALLOWED = Reason("language_not_allowed", "lang is not in language.allowed")
LANGUAGE_UNCERTAIN = Reason("language_uncertain", "lang_score is under language.min_score (or its per-language floor)")

BCP47_RE = r"^(und|[a-z]{2,3}(-[A-Z][a-z]{3})?)$"


def checks(cfg) -> list[Check]:
    v, c = cfg.validation, cfg.language
    out = [
        Check("lang_score_range", "critical", "lang_score within [0, 1]", "aggregates", "between",
              "lang_score_max", {"min_value": 0, "max_value": 1}),
        Check("lang_score_range_min", "critical", "lang_score within [0, 1] (minimum)", "aggregates", "between",
              "lang_score_min", {"min_value": 0, "max_value": 1}),
        Check("lang_is_bcp47", "critical", "lang is a BCP-47 tag (ISO 639 [+ script]) or 'und'", "refined_sample",
              "regex", "lang", {"regex": BCP47_RE}),
        Check("und_share", "warning", f"share of lang=und in refined/ <= {v.max_und_share}", "aggregates",
              "between", "und_share", {"min_value": 0, "max_value": v.max_und_share}),
    ]
    if c.enabled and c.allowed:
        allowed = sorted(set(c.allowed) | {f"{a}-{s}" for a in c.allowed for s in ("Hans", "Hant")})
        out.append(Check("lang_allowed", "critical", f"lang in language.allowed={c.allowed}", "refined_sample",
                         "in_set", "lang", {"value_set": allowed}))
    return out


def explain(r: dict) -> list[str]:
    return [f"language: {r.get('lang')} score={r.get('lang_score')} script={r.get('lang_script')} "
            f"secondary={r.get('lang_secondary')}"]


def transform(cfg, ctx: BuildContext):
    from refinery.transforms.beam.language import DetectLanguage  # Beam stays out of the schemas' imports

    return DetectLanguage(cfg, in_process=ctx.in_process, input_bytes=ctx.input_bytes)


SPEC = StageSpec(
    name="language",
    role="records",
    summary="script rules, then CLD2 / lingua / langdetect; policy: allowed languages, min score",
    section="language",
    config=LanguageConfig,
    columns=COLUMNS,
    reasons=(LANGUAGE_NOT_ALLOWED, LANGUAGE_UNCERTAIN),
    label="DetectLanguage",
    transform=transform,
    explain=explain,
    checks=checks,
)
