"""C4/mC4 badwords: a count per document, whole words for spaced scripts, substrings for CJK/Thai;
the c4 rule rejects only when switched on (issue 17, item 3)."""

from __future__ import annotations

from pathlib import Path

from refinery.pipelines.config import RunConfig, load_config
from refinery.transforms.quality import apply_rules, count_badwords, quality_signals

EN = ("The committee met on Monday to review the annual budget and the plans for the new library. "
      "Members agreed that the reading rooms should stay open longer during the examination period. ")


def test_whole_words_for_spaced_scripts():
    assert count_badwords("what a shit day", "en") == 1
    assert count_badwords("shitake mushrooms and a scunthorpe sign", "en") == 0  # not inside other words
    assert count_badwords("two girls one cup, 2 girls 1 cup", "en") >= 1  # multi-word terms
    assert count_badwords("Scheiße", "de") is not None
    assert count_badwords("anything", "xx") is None and count_badwords("anything", None) is None


def test_substrings_for_chinese_and_thai():
    zh_term = next(t for t in Path("transforms/data/badwords/zh.txt").read_text(encoding="utf-8").split() if t)
    assert count_badwords(f"我们今天{zh_term}去公园", "zh-Hans") >= 1
    assert count_badwords("我们今天去公园散步", "zh-Hant") == 0


def test_counted_always_rejected_only_when_the_rule_is_on():
    text = EN * 3 + "Some idiot wrote shit on the wall."
    sig = quality_signals(text, "en")
    assert sig["badwords"] == 1
    cfg = RunConfig().quality
    t = cfg.thresholds.model_dump()
    assert "c4_badwords" in cfg.disabled_rules
    assert apply_rules(sig, ["c4"], t, set(cfg.disabled_rules)) is None
    on = load_config(None, ["quality.disabled_rules=[c4_curly_brace]"]).quality
    hit = apply_rules(sig, ["c4"], t, set(on.disabled_rules))
    assert hit[0].value == "c4_badwords" and "badwords=1 > max_badwords=0" in hit[1]
    assert apply_rules(quality_signals(EN * 3, "en"), ["c4"], t, set(on.disabled_rules)) is None
