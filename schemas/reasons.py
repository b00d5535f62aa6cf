"""Stages and the one closed list of reasons a record can be rejected for.

A reason is always written with the stage that decided it (``reject_stage``) and a human-readable
``reject_detail`` that names the observed value and the threshold that fired.
"""

from __future__ import annotations

import enum


class Stage(str, enum.Enum):
    """Pipeline stages, in the order records flow through them."""

    INGEST = "ingest"
    LANGUAGE = "language"
    LICENCE = "licence"
    QUALITY = "quality"
    DEDUP = "dedup"
    WRITE = "write"


class RejectReason(str, enum.Enum):
    """Why a record went to ``rejected/``. Closed: a stage may only use these values."""

    # ingest
    EMPTY_TEXT = "empty_text"
    # language
    LANGUAGE_NOT_ALLOWED = "language_not_allowed"
    LANGUAGE_UNCERTAIN = "language_uncertain"
    # licence
    LICENCE_DENIED = "licence_denied"
    LICENCE_REVIEW = "licence_review"
    OPTED_OUT = "opted_out"
    # quality (named after the rule that fired)
    GOPHER_SHORT_DOC = "gopher_short_doc"
    GOPHER_LONG_DOC = "gopher_long_doc"
    GOPHER_MEAN_WORD_LENGTH = "gopher_mean_word_length"
    GOPHER_SYMBOL_RATIO = "gopher_symbol_ratio"
    GOPHER_BULLET_LINES = "gopher_bullet_lines"
    GOPHER_ELLIPSIS_LINES = "gopher_ellipsis_lines"
    GOPHER_ALPHA_WORDS = "gopher_alpha_words"
    GOPHER_STOP_WORDS = "gopher_stop_words"
    DUP_LINE_FRAC = "dup_line_frac"
    DUP_PARA_FRAC = "dup_para_frac"
    DUP_LINE_CHAR_FRAC = "dup_line_char_frac"
    DUP_PARA_CHAR_FRAC = "dup_para_char_frac"
    TOP_NGRAM_CHAR_FRAC = "top_ngram_char_frac"
    DUP_NGRAM_CHAR_FRAC = "dup_ngram_char_frac"
    C4_TERMINAL_PUNCT = "c4_terminal_punct"
    C4_LOREM_IPSUM = "c4_lorem_ipsum"
    C4_CURLY_BRACE = "c4_curly_brace"
    C4_JAVASCRIPT = "c4_javascript"
    C4_POLICY = "c4_policy"
    C4_TOO_FEW_SENTENCES = "c4_too_few_sentences"
    C4_BADWORDS = "c4_badwords"
    QUALITY_MODEL_SCORE = "quality_model_score"
    FINEWEB_LINE_PUNCT = "fineweb_line_punct"
    FINEWEB_SHORT_LINES = "fineweb_short_lines"
    FINEWEB_DUP_LINE_CHARS = "fineweb_dup_line_chars"
    FINEWEB_NEWLINE_RATIO = "fineweb_newline_ratio"
    # dedup
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    # web crawl
    NON_TEXT_PAYLOAD = "non_text_payload"
    EMPTY_PAGE = "empty_page"
    HTTP_STATUS_NOT_OK = "http_status_not_ok"


REASON_STAGE: dict[RejectReason, Stage] = {
    RejectReason.EMPTY_TEXT: Stage.INGEST,
    RejectReason.NON_TEXT_PAYLOAD: Stage.INGEST,
    RejectReason.EMPTY_PAGE: Stage.INGEST,
    RejectReason.HTTP_STATUS_NOT_OK: Stage.INGEST,
    RejectReason.LANGUAGE_NOT_ALLOWED: Stage.LANGUAGE,
    RejectReason.LANGUAGE_UNCERTAIN: Stage.LANGUAGE,
    RejectReason.LICENCE_DENIED: Stage.LICENCE,
    RejectReason.LICENCE_REVIEW: Stage.LICENCE,
    RejectReason.OPTED_OUT: Stage.LICENCE,
    RejectReason.EXACT_DUPLICATE: Stage.DEDUP,
    RejectReason.NEAR_DUPLICATE: Stage.DEDUP,
}
for _reason in RejectReason:
    REASON_STAGE.setdefault(_reason, Stage.QUALITY)
