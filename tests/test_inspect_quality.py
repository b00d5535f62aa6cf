"""``refinery inspect``'s quality report: per language, share kept, top rejection reasons, two
PII-redacted examples per reason (issue 17, item 7)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from refinery.pipelines.inspect import quality_by_language, snippet


def _write(path, rows):
    path.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), path / "part-0.parquet")


def test_per_language_share_kept_and_top_reasons_with_redacted_examples(tmp_path):
    _write(tmp_path / "refined", [{"doc_id": f"k{i}", "lang": "en", "text": "fine"} for i in range(6)]
           + [{"doc_id": "z0", "lang": "zh-Hans", "text": "好"}])
    rej = [{"doc_id": f"r{i}", "lang": "en", "reject_stage": "quality", "reject_reason": "gopher_short_doc",
            "reject_detail": "n_words=3 < min_words=50", "text": f"Mail me at john{i}@example.com now"}
           for i in range(3)]
    rej.append({"doc_id": "r9", "lang": "en", "reject_stage": "dedup", "reject_reason": "exact_duplicate",
                "reject_detail": "same text", "text": "dup " * 100})
    rej.append({"doc_id": "z1", "lang": "zh-Hans", "reject_stage": "quality", "reject_reason": "c4_too_few_sentences",
                "reject_detail": "n_sentences=0", "text": "标题"})
    _write(tmp_path / "rejected", rej)
    by = {d["lang"]: d for d in quality_by_language(str(tmp_path))}
    en = by["en"]
    assert (en["records"], en["kept"]) == (10, 6) and abs(en["kept_share"] - 0.6) < 1e-9
    assert [r["reason"] for r in en["top_rejections"]] == ["quality/gopher_short_doc", "dedup/exact_duplicate"]
    ex = en["top_rejections"][0]["examples"]
    assert [e["doc_id"] for e in ex] == ["r0", "r1"]  # two per reason, first in doc_id order
    assert all("<EMAIL>" in e["snippet"] and "@example.com" not in e["snippet"] for e in ex)
    assert by["zh-Hans"]["kept_share"] == 0.5
    assert list(by) == ["en", "zh-Hans"]  # most records first


def test_snippet_is_one_line_and_bounded():
    s = snippet("line one\nline two " + "x " * 500)
    assert "\n" not in s and s.endswith(" …") and len(s) <= 162
