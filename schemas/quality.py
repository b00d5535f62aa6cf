"""Fields of the ``quality`` struct column and the PII kinds counted in ``pii_counts``.

Each signal names the published rule set it comes from. For CJK text a "word" is one Han/kana/Hangul
character (plus any Latin-script words mixed in), so word-count rules are comparable across scripts.
"""

from __future__ import annotations

import pyarrow as pa

_f32 = pa.float32()
_i32 = pa.int32()

# (field, type, description)
QUALITY_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("n_words", _i32, "Gopher: words (CJK: characters) in the document; tokens of symbols only (», ###) "
                      "are not words."),
    ("mean_word_length", _f32, "Gopher: mean word length in characters (CJK words count 1)."),
    ("symbol_word_ratio", _f32, "Gopher: ('#' + '...' + '…') occurrences per word."),
    ("bullet_lines_frac", _f32, "Gopher: fraction of lines starting with a bullet."),
    ("ellipsis_lines_frac", _f32, "Gopher: fraction of lines ending with an ellipsis."),
    ("alpha_words_frac", _f32, "Gopher: fraction of word-tokenizer tokens (punctuation marks are tokens) "
                               "containing a letter."),
    ("stop_words", _i32, "Gopher: stop words of the document's language found (per-language lists)."),
    ("dup_line_frac", _f32, "Gopher repetition: fraction of lines that duplicate an earlier line."),
    ("dup_para_frac", _f32, "Gopher repetition: fraction of paragraphs that duplicate an earlier one."),
    ("dup_line_char_frac", _f32, "Gopher repetition / FineWeb: characters in duplicated lines / all."),
    ("dup_para_char_frac", _f32, "Gopher repetition: characters in duplicated paragraphs / all."),
    ("top_2gram_char_frac", _f32, "Gopher repetition: characters covered by the most frequent word 2-gram."),
    ("top_3gram_char_frac", _f32, "Gopher repetition: same, 3-gram."),
    ("top_4gram_char_frac", _f32, "Gopher repetition: same, 4-gram."),
    ("dup_5gram_char_frac", _f32, "Gopher repetition: characters covered by repeated word 5-grams."),
    ("dup_6gram_char_frac", _f32, "Gopher repetition: same, 6-grams."),
    ("dup_7gram_char_frac", _f32, "Gopher repetition: same, 7-grams."),
    ("dup_8gram_char_frac", _f32, "Gopher repetition: same, 8-grams."),
    ("dup_9gram_char_frac", _f32, "Gopher repetition: same, 9-grams."),
    ("dup_10gram_char_frac", _f32, "Gopher repetition: same, 10-grams."),
    ("terminal_punct_lines_frac", _f32, "C4: fraction of lines ending in terminal punctuation (. ! ? \" 。！？…)."),
    ("n_sentences", _i32, "C4: sentences in the lines C4 keeps (terminal punctuation, >= 5 words, no js/policy)."),
    ("has_lorem_ipsum", pa.bool_(), "C4: 'lorem ipsum' appears."),
    ("has_curly_brace", pa.bool_(), "C4: '{' appears (code or templates)."),
    ("javascript_lines", _i32, "C4: lines mentioning 'javascript'."),
    ("policy_lines", _i32, "C4: lines with cookie / terms-of-use / privacy-policy boilerplate."),
    ("line_punct_ratio", _f32, "FineWeb: fraction of lines ending in punctuation."),
    ("short_line_ratio", _f32, "FineWeb: fraction of lines of 30 characters or fewer."),
    ("newline_ratio", _f32, "FineWeb: newlines per word."),
    ("n_lines", _i32, "Non-empty lines."),
    ("badwords", _i32, "C4/mC4 badwords: occurrences of listed offensive terms of the document's language (whole "
     "words; substrings in zh, ja, th); null for a language without a list (transforms/data/badwords, CC-BY-4.0)."),
    ("cjk_frac", _f32, "Fraction of words that are Han or kana characters."),
    ("spaceless_script", pa.bool_(), "Mostly a script without spaces between words (Thai, Lao, Khmer, Myanmar)."),
    ("syllabic_script", pa.bool_(), "Spaceless or Hangul (syllable blocks): Gopher's mean word length does not apply."),
]

PII_KINDS = ["email", "phone", "ip_address", "id_number", "payment_card"]
