"""Quality signals, one test per rule, PII per kind (valid and checksum-invalid)."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.pipelines.config import ConfigError, QualityThresholds, load_config
from refinery.schemas.quality import QUALITY_FIELDS
from refinery.transforms.beam.quality import ScoreQuality
from refinery.transforms.pii import find_pii, luhn_valid, prc_id_valid, redact
from refinery.transforms.quality import apply_rules, quality_signals

T = QualityThresholds().model_dump()
ALL = ["gopher_quality", "gopher_repetition", "c4", "fineweb"]

EN = ("The river rises in the hills to the north of the town and flows slowly through the valley. "
      "In spring the water is high and the farmers wait for the floods to recede before they plant. "
      "Over the centuries the river has moved its bed many times, and the old channels can still be seen "
      "from the air as long curves of darker soil in the fields.\n\n"
      "Historians have studied the records of the town to learn how often the floods came and how the people "
      "adapted to them. They found that the market moved twice, and that the church was rebuilt on higher "
      "ground after a great flood in the eighteenth century.")
ZH = ("这条河发源于城北的山丘，缓缓流过山谷。春天河水上涨，农民们要等洪水退去以后才开始播种。"
      "几百年来，河道多次改变，从空中仍然可以看到旧河道在田野里留下的深色弧线。\n\n"
      "历史学家研究了城里的档案，想了解洪水来得有多频繁，人们又是怎样适应的。"
      "他们发现集市搬迁过两次，十八世纪的一场大洪水之后，教堂也在更高的地方重建了。")


def _reason(text, lang, rules=ALL, **over):
    t = {**T, **over}
    hit = apply_rules(quality_signals(text, lang), rules, t, set())
    return None if hit is None else hit[0].value


def test_signals_cover_every_schema_field():
    sig = quality_signals(EN, "en")
    assert {name for name, _t, _d in QUALITY_FIELDS} <= set(sig)


@pytest.mark.parametrize("text, lang", [(EN, "en"), (ZH, "zh-Hans")])
def test_clean_prose_passes_every_preset(text, lang):
    assert _reason(text, lang) is None


def test_cjk_words_are_characters_and_punctuation_is_not_a_word():
    sig = quality_signals("我们今天去公园。", "zh-Hans")
    assert sig["n_words"] == 7 and sig["alpha_words_frac"] == 1.0 and sig["n_sentences"] == 1
    assert sig["cjk_frac"] == 1.0


@pytest.mark.parametrize(
    "text, lang, reason",
    [
        ("Too short to be a document.", "en", "gopher_short_doc"),
        (" ".join(["supercalifragilisticexpialidocious"] * 60) + ".", "en", "gopher_mean_word_length"),
        (EN + " " + " ".join(["#tag"] * 60), "en", "gopher_symbol_ratio"),
        ("\n".join(f"• item number {i} in the list of the things." for i in range(60)), "en", "gopher_bullet_lines"),
        ("\n".join(f"and then the story of {i} goes on and on for a while until it is the end of it..."
                   for i in range(60)), "en", "gopher_ellipsis_lines"),
        (" ".join(f"{i}-{i * 7}" for i in range(80)) + " the end of the and to.", "en", "gopher_alpha_words"),
        (" ".join(["cheap", "flights", "hotel", "deals", "online"] * 15) + ".", "en", "gopher_stop_words"),
    ],
)
def test_gopher_quality_rules(text, lang, reason):
    assert _reason(text, lang, ["gopher_quality"]) == reason


def test_symbol_tokens_are_not_words_and_punctuation_marks_are_tokens():
    words = "the quick brown fox jumps over the lazy dog "
    plain = quality_signals(words * 2, "en")
    with_symbols = quality_signals(("» ### — " + words) * 2, "en")
    assert with_symbols["n_words"] == plain["n_words"] == 18
    assert with_symbols["mean_word_length"] == pytest.approx(plain["mean_word_length"])
    # "(a)," is four tokens, one with a letter; a URL and a run of dashes are one token each
    assert quality_signals("(a),", "en")["alpha_words_frac"] == pytest.approx(1 / 4)
    assert quality_signals("see https://example.org/a/b ----------", "en")["alpha_words_frac"] == pytest.approx(2 / 3)
    assert quality_signals("in 1998, 2.5 % rose", "en")["alpha_words_frac"] == pytest.approx(2 / 6)
    legal = ("(a) 1.1, 2.2; (b) 3.3, 4.4; (c) 5.5. " * 20).strip()
    assert _reason(legal, "en") == "gopher_alpha_words"


def test_gopher_repetition_rules():
    spam = "\n".join(["Click here to subscribe to the newsletter and the offers!"] * 30 + [EN])
    assert _reason(spam, "en", ["gopher_repetition"]) == "dup_line_frac"
    paras = "\n\n".join([EN.split("\n\n")[0]] * 3 + [EN.split("\n\n")[1]])
    hit = apply_rules(quality_signals(paras, "en"), ["gopher_repetition"], T, {"dup_line_frac", "dup_line_char_frac"})
    assert hit[0].value == "dup_para_frac"
    ngram = EN + " " + " ".join(["to be or not to be"] * 40)
    assert _reason(ngram, "en", ["gopher_repetition"]) in ("top_ngram_char_frac", "dup_ngram_char_frac")


def test_c4_rules():
    assert _reason(EN + " Lorem ipsum dolor sit amet.", "en", ["c4"]) == "c4_lorem_ipsum"
    assert _reason(EN + " function f() { return 1; }", "en", ["c4"]) == "c4_curly_brace"
    assert apply_rules(quality_signals(EN + " {x}", "en"), ["c4"], T, {"c4_curly_brace"}) is None
    assert _reason("One sentence only. Two.", "en", ["c4"]) == "c4_too_few_sentences"
    js = "\n".join(["Please enable JavaScript.", "Javascript is required.", "Fine text here."])
    assert _reason(js, "en", ["c4"], min_sentences=0) == "c4_javascript"
    cookies = "\n".join(["This site uses cookies.", "Read our privacy policy.", "Hello there."])
    assert _reason(cookies, "en", ["c4"], min_sentences=0) == "c4_policy"
    assert _reason("no punctuation at all here\nnor here", "en", ["c4"], min_sentences=0) == "c4_terminal_punct"


def test_fineweb_rules():
    lines = "\n".join(f"line {i} without an end" for i in range(20))
    assert _reason(lines, "en", ["fineweb"]) == "fineweb_line_punct"
    short = "\n".join(["Home.", "About.", "Contact.", "A long enough final line of text, ending well."] * 5)
    assert _reason(short, "en", ["fineweb"], max_fineweb_dup_line_char_frac=1) == "fineweb_short_lines"
    dup = "\n".join([EN.split("\n\n")[0]] * 2)
    assert _reason(dup, "en", ["fineweb"]) == "fineweb_dup_line_chars"
    listy = "\n".join(f"Word {i}." for i in range(40))
    assert _reason(listy, "en", ["fineweb"], max_short_line_ratio=1) == "fineweb_newline_ratio"


def test_thai_is_not_judged_by_punctuation_or_word_length():
    thai = (  # UDHR preamble in Thai (public domain)
        'โดยที่การยอมรับนับถือเกียรติศักดิ์ประจำตัว และสิทธิเท่าเทียมกันและโอนมิได้ของบรรดา สมาชิก ทั้ง'
        ' หลายแห่งครอบครัว มนุษย์เป็นหลักมูลเหตุแห่งอิสรภาพ ความยุติธรรม และสันติภาพในโลก'
        ' โดยที่การไม่นำพาและการเหยียดหยามต่อสิทธิมนุษยชน ยังผลให้มีการหระทำอันป่าเถื่อน'
        ' ซี่งเป็นการละเมิดมโนธรรมของมนุษยชาติอย่างร้ายแรง และใต้[ได้]มีการประกาศว่า'
        ' ปณิธานสูงสุดของสามัญชนได้แก่ความต้องการให้มนุษย์มีชีวิตอยู่ในโลกด้วยอิสรภาพในการพูด'
        ' และความเชื่อถือ และอิสรภาพพ้นจากความหวาดกลัวและความต้องการ'
        ' โดยที่เป็นการจำเป็นอย่างยิ่งที่สิทธิมนุษยชนควรได้รับความคุ้มครองโดยหลักบังคับของกฎหมาย '
        ' ถ้าไม่ประสงค์จะให้คนตกอยู่ในบังคับให้หันเข้าหาการขบถขัดขืนต่อทรราชและการกดขี่เป็นวิถีทางสุดท้าย'
        ' โดยที่ประชากรแห่งสหประชาชาติได้ยืนยันไว้ในกฎบัตรถึงความเชื่อมั่นในสิทธิมนุษยชนอันเป็นหลักมูล'
        ' ในเกียรติศักดิ์และคุณค่าของมนุษย์และในสิทธิเท่าเทียมกันของบรรดาชายและหญิง'
        ' และได้ตกลงใจที่จะส่งเสริมความก้าวหน้าทางสังคม และมาตรฐานแห่งชีวิตที่ดีขึ้นด้ว'
    )
    assert _reason(thai, "th") is None


@pytest.mark.parametrize(
    "text, kind",
    [
        ("write to maria.lopez@example.org today", "email"),
        ("call +44 20 7946 0958 now", "phone"),
        ("手机 13812345678 联系", "phone"),
        ("call (212) 555-0187 today", "phone"),
        ("server 81.2.69.160 answered", "ip_address"),
        ("server 2a00:1450:4001:82a::200e answered", "ip_address"),
        ("身份证号 11010519491231002X 登记", "id_number"),
        ("card 4111 1111 1111 1111 expires", "payment_card"),
    ],
)
def test_pii_found_and_redacted(text, kind):
    spans = find_pii(text)
    assert [k for _s, _e, k in spans] == [kind]
    assert f"<{kind.upper()}>" in redact(text, spans, {kind})


@pytest.mark.parametrize(
    "text",
    [
        "身份证号 110105194912310021 登记",  # wrong check character
        "card 4111 1111 1111 1112 expires",  # fails Luhn
        "private host 192.168.1.20 and docs range 203.0.113.7",
        "The meeting is on 2024-05-31 at 10:30, tickets cost $25 or 120元, since 1998.",
        "Order number 20240531123456 and population 1412000000.",
    ],
)
def test_pii_no_false_positives(text):
    assert find_pii(text) == []


def test_checksums():
    assert prc_id_valid("11010519491231002X") and not prc_id_valid("110105194912310021")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_per_language_override_must_name_a_threshold():
    with pytest.raises(ConfigError, match="unknown threshold"):
        load_config(None, ["quality.per_language={zh: {min_wrods: 3}}"])


def _rec(doc_id, text, lang):
    return {"doc_id": doc_id, "text": text, "lang": lang, "source_uri": "mem://x", "source_line": 0,
            "stages": ["ingest", "language"]}


def test_score_quality_transform_decides_on_the_text_ingest_redacted():
    cfg = load_config(None, ["quality.per_language={zh: {min_words: 10}}"])
    redacted = EN + " Contact <EMAIL> or <PHONE>."  # PII left ingest as placeholders
    records = [_rec("en", redacted, "en"), _rec("zh-short", "我们今天去公园散步，天气很好。我们很高兴。", "zh-Hans"),
               _rec("junk", "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " + EN, "en")]
    with TestPipeline() as p:
        out = p | beam.Create(records) | ScoreQuality(cfg)
        assert_that(out["kept"] | "k" >> beam.Map(lambda r: (r["doc_id"], r["text"] == redacted, "pii_counts" in r)),
                    equal_to([("en", True, False)]), label="kept")
        assert_that(out["rejected"] | "r" >> beam.Map(lambda r: (r["doc_id"], r["reject_reason"],
                                                                  r["quality"]["n_words"] > 0)),
                    equal_to([("zh-short", "c4_too_few_sentences", True), ("junk", "c4_lorem_ipsum", True)]),
                    label="rejected")


def test_pii_hints_never_hide_a_match():
    import random

    import refinery.transforms.pii as pii

    def unhinted(text):
        taken = []
        for kind, spans, _hint in pii._DETECTORS:
            for s, e in spans(text, pii.PHONE_REGIONS):
                if not any(s < te and ts < e for ts, te, _k in taken):
                    taken.append((s, e, kind))
        return sorted(taken)

    rng = random.Random(11)
    pieces = ["+86 138 0013 8000", "13800138000", "(212) 555-0123", "8.8.8.8", "2001:4860:4860::8888",
              "4111 1111 1111 1111", "11010519491231002X", "a@b.io", "2024-05-01", "$12.50", " ", "x", "1", ":", ".",
              "123-45-6789", "SSN 123 45 6789", "206-543-9196", "030 12345678"]
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(1500)]
    texts += ["".join(rng.choice("0123456789 -+().:@abcdef") for _ in range(rng.randint(5, 50))) for _ in range(1500)]
    assert sum(bool(unhinted(t)) for t in texts) > 500  # the set does hold PII
    for t in texts:
        assert pii.find_pii(t) == unhinted(t), t


def test_thresholds_for_a_language_layer_built_in_then_configured_overrides():
    from refinery.transforms.quality import thresholds_for

    base = QualityThresholds().model_dump()
    assert thresholds_for("en", base, {}) == base
    assert thresholds_for("ml", base, {})["max_mean_word_length"] > 16  # fitted: UDHR Malayalam words average 12
    assert thresholds_for("ml", base, {}, fitted={})["max_mean_word_length"] == 10
    assert thresholds_for("ml", base, {"ml": {"max_mean_word_length": 11}})["max_mean_word_length"] == 11
    over = {"zh": {"min_words": 30}, "zh-Hant": {"min_words": 20}}
    assert thresholds_for("zh-Hans", base, over)["min_words"] == 30
    assert thresholds_for("zh-Hant", base, over)["min_words"] == 20
    assert thresholds_for(None, base, over) == base


def test_long_malayalam_words_are_not_gopher_rejects_by_default():
    from refinery.transforms.quality import thresholds_for

    base = QualityThresholds().model_dump()
    sig = quality_signals("പ്രഖ്യാപനത്തിലുള്ള അവകാശങ്ങൾക്കും സ്വാതന്ത്ര്യങ്ങൾക്കും എല്ലാവർക്കും അർഹതയുണ്ട്. " * 14, "ml")
    assert 10 < sig["mean_word_length"] < 16
    hit = apply_rules(sig, ["gopher_quality"], base)
    assert hit is not None and hit[0].value == "gopher_mean_word_length"
    hit = apply_rules(sig, ["gopher_quality"], thresholds_for("ml", base, {}))
    assert hit is None or hit[0].value != "gopher_mean_word_length"
