"""quality.classifier: a fastText model trained here, in the test (nothing downloaded), scores every
document; the threshold decides; clear errors for a missing file, a non-model, an unknown label."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.pipelines.config import load_config
from refinery.transforms.beam.quality import ScoreQuality
from refinery.transforms.quality_model import QualityClassifier, QualityModelError

GOOD = ("The committee met on Monday to review the annual budget and the plans for the new library. "
        "Members agreed that the reading rooms should stay open longer during the examination period. "
        "The chair said that a final decision would be taken at the next meeting in the spring. "
        "Several members asked for more detail on the costs of heating and lighting the old building. ")
BAD = ("Buy cheap watches now and click here for the best deal of the year with free shipping today. "
       "Click here to win a prize and buy more cheap watches now with our best deal and free shipping. "
       "Best deal today buy now click here cheap watches free shipping win a prize best offer online. "
       "Limited offer click now buy cheap watches best price free shipping win big today only online. ")


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    import fasttext  # fasttext-wheel, in the test extra
    d = tmp_path_factory.mktemp("ft")
    train = d / "train.txt"
    good, bad = GOOD.split(". "), BAD.split(". ")
    with open(train, "w", encoding="utf-8") as f:
        for k in range(60):
            f.write(f"__label__hq {good[k % len(good)]} {good[(k + 1) % len(good)]}\n")
            f.write(f"__label__lq {bad[k % len(bad)]} {bad[(k + 2) % len(bad)]}\n")
    model = fasttext.train_supervised(str(train), epoch=25, lr=0.5, dim=16, wordNgrams=2, seed=1, thread=1,
                                      verbose=0)
    path = d / "quality.bin"
    model.save_model(str(path))
    return str(path)


def test_scores_in_one_batch(model_path):
    clf = QualityClassifier(model_path, "__label__hq")
    (g, gl), (b, bl) = clf.score([GOOD, BAD])
    assert gl == "__label__hq" and bl == "__label__lq" and g > 0.8 and b < 0.2
    assert clf.score([]) == []


def test_clear_errors(tmp_path, model_path):
    with pytest.raises(QualityModelError, match="no such file"):
        QualityClassifier(str(tmp_path / "missing.bin"), "__label__hq")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is not a fastText model at all\n" * 10)
    with pytest.raises(QualityModelError, match="not a fastText model"):
        QualityClassifier(str(junk), "__label__hq")
    with pytest.raises(QualityModelError, match="'__label__edu' is not a label"):
        QualityClassifier(model_path, "__label__edu")
    cfg = load_config(None, [f"quality.classifier={tmp_path / 'missing.bin'}"])
    with pytest.raises(QualityModelError, match="no such file"):
        ScoreQuality(cfg)


def test_score_quality_scores_every_record_and_the_threshold_decides(model_path):
    cfg = load_config(None, [f"quality.classifier={model_path}", "quality.rules=[]"])
    records = [{"doc_id": d, "text": t, "lang": "en", "source_uri": "mem://x", "source_line": 0,
                "stages": ["ingest", "language"]} for d, t in (("good", GOOD), ("bad", BAD))]
    with TestPipeline() as p:
        out = p | beam.Create(records) | ScoreQuality(cfg)
        assert_that(out["kept"] | "k" >> beam.Map(lambda r: (r["doc_id"], r["quality_model_label"],
                                                              r["quality_model_score"] > 0.5)),
                    equal_to([("good", "__label__hq", True)]), label="kept")
        assert_that(out["rejected"] | "r" >> beam.Map(lambda r: (r["doc_id"], r["reject_reason"],
                                                                  r["reject_detail"].startswith("quality_model_score="))),
                    equal_to([("bad", "quality_model_score", True)]), label="rejected")
