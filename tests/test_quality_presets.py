"""Per-source presets (issue 17, item 5): books/literature and edited beside web, chosen per input
pattern, named in the rejected record's detail."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.pipelines.config import RunConfig, load_config
from refinery.transforms.beam.quality import ScoreQuality
from refinery.transforms.quality import apply_rules, preset_for, preset_settings, quality_signals

# 静夜思 (Li Bai): 20 characters, four lines without sentence ends
POEM = "床前明月光\n疑是地上霜\n举头望明月\n低头思故乡"
# 诗经 refrain: repeated lines
REFRAIN = "\n".join(["关关雎鸠，在河之洲。", "窈窕淑女，君子好逑。", "参差荇菜，左右流之。", "窈窕淑女，寤寐求之。",
                     "参差荇菜，左右采之。", "窈窕淑女，琴瑟友之。", "参差荇菜，左右芼之。", "窈窕淑女，钟鼓乐之。"])


def _decide(text, lang, preset):
    q = RunConfig().quality
    rules, t, disabled = preset_settings(preset, q.rules, q.thresholds.model_dump(), set(q.disabled_rules))
    return apply_rules(quality_signals(text, lang), rules, t, disabled)


def test_books_keeps_short_poems_and_refrains_that_web_rejects():
    assert _decide(POEM, "zh-Hans", "web") is not None
    assert _decide(POEM, "zh-Hans", "books") is None and _decide(POEM, "zh-Hans", "literature") is None
    assert _decide(REFRAIN, "zh-Hans", "books") is None
    assert _decide("Lorem ipsum " * 40, "en", "books") is not None  # repetition still rejects


def test_edited_skips_line_layout_rules_only():
    story = ("Council backs bus plan\nBy a staff reporter\n\n"
             + " ".join(["The council voted on Tuesday to expand the bus network into the suburbs.",
                         "Officials said the first routes would open in the spring.",
                         "Residents have long complained about slow and crowded services."]))
    assert _decide(story, "en", "edited") is None
    assert _decide("Lorem ipsum dolor sit amet. " + story, "en", "edited")[0].value == "c4_lorem_ipsum"


def test_preset_for_an_input_pattern():
    by = {"poetry/*.jsonl": "books", "*news*": "edited"}
    assert preset_for("file:///data/poetry/tang.jsonl", by) == "books"
    assert preset_for("/data/wmt-news-2019.txt", by) == "edited"
    assert preset_for("/data/crawl.warc.gz", by) == "web"
    assert preset_for("/data/crawl.warc.gz", by, default="edited") == "edited"


def test_score_quality_applies_the_preset_of_each_input():
    cfg = load_config(None, ["quality.presets_by_input={'*poems*': books}"])
    recs = [{"doc_id": d, "text": POEM, "lang": "zh-Hans", "source_uri": uri, "source_line": 0,
             "stages": ["ingest", "language"]} for d, uri in (("p", "/in/poems.jsonl"), ("w", "/in/web.jsonl"))]
    with TestPipeline() as p:
        out = p | beam.Create(recs) | ScoreQuality(cfg)
        assert_that(out["kept"] | "k" >> beam.Map(lambda r: r["doc_id"]), equal_to(["p"]), label="kept")
        assert_that(out["rejected"] | "r" >> beam.Map(lambda r: (r["doc_id"], "[preset" in r["reject_detail"])),
                    equal_to([("w", False)]), label="rejected")
