"""Benchmark decontamination: n-gram index of evaluation sets, one assertion per behaviour."""

import gzip
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.pipelines.config import ConfigError, RunConfig, load_config
from refinery.pipelines.refine import stage_transforms, stages_status
from refinery.schemas.reasons import REASON_STAGE, RejectReason
from refinery.stages.decontaminate import Decontaminate, Index, decision, find_overlap, load_index, ngrams

QUESTION = ("Which of the following best describes the role of mitochondria in eukaryotic cells "
            "during aerobic respiration and energy production?")
ZH_ITEM = "下列哪一项最能描述线粒体在真核细胞有氧呼吸和能量产生过程中的作用请从四个选项中选择"


def _index(**sets):
    return Index.build(sets, 13, 20)


def test_a_document_quoting_13_words_of_an_item_is_contaminated_and_the_span_is_named():
    idx = _index(mmlu=[QUESTION])
    doc = "Homework help. " + QUESTION.upper() + " Answer: B."
    o = find_overlap(doc, idx)
    assert o.set_name == "mmlu" and o.ngrams == 7  # 19 words: 7 distinct 13-grams, case folded
    assert o.span == QUESTION.upper().rstrip("?")  # from the first shared word to the last
    rej = decision(o, 1)
    assert rej.reason is RejectReason.CONTAMINATED or rej.reason.value == "contaminated"
    assert "set=mmlu" in rej.detail and "mitochondria".upper() in rej.detail


def test_twelve_shared_words_are_not_an_overlap():
    idx = _index(mmlu=[QUESTION])
    twelve = " ".join(QUESTION.split()[:12])
    assert find_overlap(f"{twelve} and more", idx) is None and find_overlap(f"{twelve} cells", idx) is not None


def test_min_ngrams_is_the_threshold():
    o = find_overlap(QUESTION, _index(mmlu=[QUESTION]))
    assert decision(o, 7) is not None and decision(o, 8) is None


def test_chinese_is_matched_on_20_character_grams_whatever_the_punctuation():
    idx = _index(cmmlu=[ZH_ITEM])
    copied = "题目：" + ZH_ITEM[:12] + "，" + ZH_ITEM[12:22] + "。"  # 22 characters, punctuation inserted
    o = find_overlap(copied, idx)
    assert o is not None and o.set_name == "cmmlu" and o.ngrams == 3
    assert find_overlap("题目：" + ZH_ITEM[:19], idx) is None  # 19 characters: shorter than a gram


def test_the_set_sharing_most_grams_is_named_and_short_items_are_counted():
    idx = _index(b_set=[QUESTION], a_set=[" ".join(QUESTION.split()[:14]), "too short"])
    assert idx.items == {"a_set": 2, "b_set": 1} and idx.short_items == {"a_set": 1, "b_set": 0}
    assert find_overlap(QUESTION, idx).set_name == "b_set"  # a_set holds 2 of its grams, b_set all 7
    assert len(list(ngrams("one two three", 13, 20))) == 0


def test_sets_are_read_from_jsonl_gz_and_parquet_globs(tmp_path):
    (tmp_path / "ev").mkdir()
    with gzip.open(tmp_path / "ev" / "a.jsonl.gz", "wt") as f:
        f.write(json.dumps({"question": QUESTION}) + "\n\n")
    pq.write_table(pa.table({"question": [ZH_ITEM, None]}), tmp_path / "ev" / "b.parquet")
    cfg = load_config(None, [f"decontam.sets={{ev: '{tmp_path}/ev/*'}}", "decontam.text_field=question"])
    idx = load_index(cfg.decontam)
    assert idx.items == {"ev": 2} and find_overlap(QUESTION, idx) and find_overlap(ZH_ITEM, idx)


def test_a_bad_set_is_an_error_that_names_the_key(tmp_path):
    cfg = load_config(None, [f"decontam.sets={{mmlu: '{tmp_path}/nothing/*.jsonl'}}"])
    with pytest.raises(ValueError, match="decontam.sets.mmlu: .* matches no file"):
        Decontaminate(cfg)
    (tmp_path / "bad.jsonl").write_text('{"q": 1}\n')
    cfg = load_config(None, [f"decontam.sets={{mmlu: '{tmp_path}/bad.jsonl'}}"])
    with pytest.raises(ValueError, match="bad.jsonl:0: no string field 'text'"):
        load_index(cfg.decontam)
    with pytest.raises(ConfigError, match="decontam.sets"):
        load_config(None, ["decontam.sets={'bad name': x.jsonl}"])


def test_off_without_sets_and_on_with_one(tmp_path):
    cfg = RunConfig()
    assert cfg.decontam.sets == {} and stages_status(cfg)["decontam"] == "disabled"
    assert "Decontaminate" not in dict(stage_transforms(cfg))
    (tmp_path / "ev.jsonl").write_text(json.dumps({"text": QUESTION}) + "\n")
    on = load_config(None, [f"decontam.sets={{mmlu: '{tmp_path}/ev.jsonl'}}"])
    labels = [label for label, _t in stage_transforms(on)]
    assert labels.index("ScoreQuality") < labels.index("Decontaminate") < labels.index("DedupNearDuplicates")
    assert REASON_STAGE[RejectReason.CONTAMINATED].value == "decontam"


def test_decontaminate_transform_outputs_and_counters(tmp_path):
    (tmp_path / "ev.jsonl").write_text(json.dumps({"text": QUESTION}) + "\n")
    cfg = load_config(None, [f"decontam.sets={{mmlu: '{tmp_path}/ev.jsonl'}}"])
    rec = {"source_uri": "mem://x", "source_line": 0, "stages": ["ingest"]}
    records = [{**rec, "doc_id": "clean", "text": "A perfectly ordinary page about gardening and tomatoes."},
               {**rec, "doc_id": "copied", "text": "Quiz: " + QUESTION}]
    with TestPipeline() as p:
        out = p | beam.Create(records) | Decontaminate(cfg)
        assert_that(out["kept"] | "k" >> beam.Map(lambda r: (r["doc_id"], r["stages"])),
                    equal_to([("clean", ["ingest", "decontam"])]), label="kept")
        assert_that(out["rejected"] | "r" >> beam.Map(lambda r: (r["doc_id"], r["reject_stage"], r["reject_reason"],
                                                                  r["reject_detail"].split(" span=")[0])),
                    equal_to([("copied", "decontam", "contaminated",
                               "set=mmlu shared_ngrams=7 >= decontam.min_ngrams=1")]), label="rejected")
        assert_that(out["errors"], equal_to([]), label="errors")
