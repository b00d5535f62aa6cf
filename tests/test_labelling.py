"""The labelling commands: sample, diff, export, labels attach.

Pure cores first (allocation, the derived strata, the diff classes, label parsing), then the workflow end
to end on two releases of part of the sample corpus (tests/labelling_corpus.py): refine, sample, export,
attach labels, refine the edited corpus, diff, carry the labels over. The two refines are done once for
the module.
"""

from __future__ import annotations

import csv
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_refinery
from labelling_corpus import edit_into_release2_corpus, make_release1_corpus

from refinery.arrow_io import read_output
from refinery.pipelines.cli import main
from refinery.pipelines.diff import Side, classify, diff_releases
from refinery.pipelines.labelling import LabellingError, attach_labels, export, read_labels
from refinery.pipelines.release import ReleaseError, quality_bands, source_name
from refinery.pipelines.sample import (
    SampleError,
    SampleRequest,
    allocate,
    check_strata,
    draw_sample,
    share_gap,
)

# ------------------------------------------------------------------------------------------ allocation


def test_proportional_allocation_sums_to_n_and_follows_sizes():
    sizes = {("a",): 600, ("b",): 300, ("c",): 100}
    assert allocate(sizes, 100) == {("a",): 60, ("b",): 30, ("c",): 10}


def test_proportional_allocation_raises_small_strata_to_the_minimum():
    sizes = {("a",): 9_000, ("b",): 990, ("c",): 10}
    q = allocate(sizes, 100, "proportional", min_per_stratum=5)
    assert sum(q.values()) == 100
    assert q[("c",)] == 5 and q[("b",)] == 9 and q[("a",)] == 86  # 95 left: 95 * 990 / 9990 = 9.4


def test_minimum_is_capped_at_what_a_stratum_has():
    q = allocate({("a",): 1_000, ("b",): 2}, 50, "proportional", min_per_stratum=5)
    assert q == {("a",): 48, ("b",): 2}


def test_equal_allocation_gives_what_small_strata_cannot_to_the_others():
    q = allocate({("a",): 1_000, ("b",): 1_000, ("c",): 4}, 100, "equal")
    assert q == {("a",): 48, ("b",): 48, ("c",): 4}


def test_allocation_takes_everything_from_a_release_smaller_than_n():
    assert allocate({("a",): 3, ("b",): 4}, 100) == {("a",): 3, ("b",): 4}


def test_impossible_minimum_is_an_error_that_says_what_to_change():
    with pytest.raises(SampleError, match="cannot give each of the 3 strata 5"):
        allocate({("a",): 100, ("b",): 100, ("c",): 100}, 10, "proportional", min_per_stratum=5)


def test_minimum_is_given_only_while_shares_stay_within_the_gap():
    sizes = {("big",): 9_000, ("mid",): 900, **{(f"t{i:02d}",): 5 for i in range(20)}}
    tiny = [(f"t{i:02d}",) for i in range(20)]
    plain = allocate(sizes, 1000, "proportional", 0)
    assert (plain[("big",)], plain[("mid",)], sum(plain[k] for k in tiny)) == (900, 90, 10)
    everywhere = allocate(sizes, 1000, "proportional", 1, None)
    assert all(everywhere[k] == 1 for k in tiny) and everywhere[("big",)] == 891
    assert allocate(sizes, 1000, "proportional", 1, 0.01) == everywhere  # 0.9 pp: within 1 pp
    bounded = allocate(sizes, 1000, "proportional", 1, 0.003)
    assert sum(bounded.values()) == 1000
    assert round(share_gap(sizes, bounded), 6) <= 0.003
    assert sum(1 for k in tiny if bounded[k]) == 12  # two more than proportional alone, largest first
    assert allocate(sizes, 1000, "proportional", 1, 0) == plain


def test_bounded_minimum_never_errors_on_too_many_strata():
    sizes = {("a",): 100, ("b",): 100, ("c",): 100}
    assert sum(allocate(sizes, 10, "proportional", 5, 0.01).values()) == 10


def test_unknown_stratum_is_an_error_naming_it():
    with pytest.raises(SampleError, match="--by colour: not a stratum"):
        check_strata(("lang", "colour"))
    with pytest.raises(SampleError, match="--by text"):
        check_strata(("text",))
    with pytest.raises(SampleError, match="--by lang_score"):  # a score is not a stratum
        check_strata(("lang_score",))
    check_strata(("lang", "source", "quality_band", "licence_category", "opted_out"))


# ------------------------------------------------------------------------------------------ derived strata


@pytest.mark.parametrize("uri, source", [
    ("/data/crude/web-00017-of-00100.jsonl.gz", "web"),
    ("gs://bucket/crude/part-00003.parquet", "crude"),
    ("/x/udhr.jsonl", "udhr"),
    ("/data/corpus/shard-003.jsonl", "corpus"),
    ("/x/poetry.jsonl.gz", "poetry"),
    ("/x/CC-MAIN-2024-10.warc.wet.gz", "CC-MAIN-2024"),
    ("/x/books_12.txt", "books"),
])
def test_source_is_the_dataset_not_the_shard(uri, source):
    assert source_name(uri) == source


def test_quality_band_from_signals_and_none_without_them():
    fields = ["alpha_words_frac", "terminal_punct_lines_frac", "dup_line_char_frac", "dup_5gram_char_frac",
              "short_line_ratio"]
    typ = pa.struct([pa.field(f, pa.float32()) for f in fields])
    rows = [dict(zip(fields, (1.0, 1.0, 0.0, 0.0, 0.0), strict=True)),     # clean prose: score 1.0
            dict(zip(fields, (1.0, 0.9, 0.05, 0.05, 0.15), strict=True)),  # 0.93
            dict(zip(fields, (0.7, 0.2, 0.3, 0.2, 0.8), strict=True)),     # 0.52
            None]
    assert quality_bands(pa.array(rows, typ), 4) == ["high", "medium", "low", "none"]
    assert quality_bands(None, 2) == ["none", "none"]


# ------------------------------------------------------------------------------------------ diff classes

REF = Side("refined", 0, 0, "en", "aaa")


@pytest.mark.parametrize("old, new, expected", [
    (REF, REF, ("unchanged", "")),
    (REF, Side("refined", 0, 0, "en", "bbb"), ("changed", "text")),
    (REF, Side("refined", 0, 0, "de", "bbb"), ("changed", "text+lang")),
    (REF, Side("rejected", 0, 0, "en", "aaa", "dedup", "exact_duplicate", dup_of="x"),
     ("removed", "rejected:dedup/exact_duplicate")),
    (REF, Side("errors", -1, -1, None, None, error="boom"), ("removed", "error")),
    (REF, None, ("removed", "gone")),
    (None, REF, ("added", "new")),
    (Side("rejected", 0, 0, "en", "a", "quality", "c4_lorem_ipsum"), REF,
     ("added", "was_rejected:quality/c4_lorem_ipsum")),
    (Side("errors", -1, -1, None, None), REF, ("added", "was_error")),
    (Side("rejected", 0, 0, "en", "a", "quality", "c4_lorem_ipsum"), None, ("not_refined", "")),
])
def test_diff_classes(old, new, expected):
    assert classify(old, new) == expected


# ------------------------------------------------------------------------------------------ labels in


def test_label_studio_export_is_read_with_choices_and_cancelled_skipped(tmp_path):
    tasks = [
        {"id": 1, "data": {"text": "a", "doc_id": "d1", "text_sha256": "h1"},
         "annotations": [{"id": 10, "was_cancelled": False,
                          "result": [{"from_name": "topic", "to_name": "text", "type": "choices",
                                      "value": {"choices": ["news"]}}]},
                         {"id": 11, "was_cancelled": True, "result": []}]},
        {"id": 2, "data": {"text": "b", "doc_id": "d2"}, "annotations": []},
    ]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks))
    labels = read_labels(str(path))
    assert [(lab.doc_id, lab.label, lab.text_sha256) for lab in labels] == [("d1", "news", "h1")]


def test_label_studio_json_min_export(tmp_path):
    path = tmp_path / "min.json"
    path.write_text(json.dumps([{"text": "a", "doc_id": "d1", "id": 3, "annotator": 1, "topic": "sport"}]))
    assert [(lab.doc_id, lab.label) for lab in read_labels(str(path))] == [("d1", {"topic": "sport"})]


def test_jsonl_labels_and_a_bad_line_named(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"doc_id": "d1", "label": "ok"}\n\n{"doc_id": "d2"}\n')
    with pytest.raises(LabellingError, match=r"labels.jsonl: line 3: expected an object with doc_id and label"):
        read_labels(str(path))
    path.write_text('{"doc_id": "d1", "label": "ok"}\nnot json\n')
    with pytest.raises(LabellingError, match=r"line 2: not JSON"):
        read_labels(str(path))


def test_label_studio_task_without_doc_id_is_named(tmp_path):
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([{"data": {"text": "a"}, "annotations": []}]))
    with pytest.raises(LabellingError, match="task 0: no data.doc_id"):
        read_labels(str(path))


# ------------------------------------------------------------------------------------------ sample on the demo


def test_sample_is_deterministic_and_stratified(demo_run, tmp_path):
    out, res = demo_run
    req = SampleRequest(n=60, by=("lang", "licence_category", "source", "quality_band"), seed=7,
                        max_share_gap=None)  # the minimum in every stratum, whatever it does to the shares
    a = draw_sample(str(out), req, str(tmp_path / "a"))
    b = draw_sample(str(out), req, str(tmp_path / "b"))
    c = draw_sample(str(out), SampleRequest(n=60, by=req.by, seed=8), str(tmp_path / "c"))
    ids = [pq.read_table(r.path).column("doc_id").to_pylist() for r in (a, b, c)]
    assert ids[0] == ids[1] and ids[0] != ids[2]
    m = a.manifest
    assert m["sample_rows"] == 60 == len(ids[0]) == len(set(ids[0]))
    assert m["release"]["run_id"] == res.manifest["run_id"] and m["seed"] == 7
    assert sum(s["release_rows"] for s in m["strata"]) == res.manifest["totals"]["refined"]
    assert all(s["sample_rows"] == s["target_rows"] >= 1 for s in m["strata"])
    t = pq.read_table(a.path)
    got = {}
    for key in t.column("stratum").to_pylist():
        got[key] = got.get(key, 0) + 1
    assert got == {s["key"]: s["sample_rows"] for s in m["strata"]}
    # every sampled record is a refined record of the release, with its lang from the partition
    refined = read_output(str(out / "refined"), columns=["doc_id", "lang"]).to_pylist()
    lang = {r["doc_id"]: r["lang"] for r in refined}
    assert all(lang[d] == g for d, g in zip(t.column("doc_id").to_pylist(), t.column("lang").to_pylist(), strict=True))
    assert m["minimum"]["strata_below_minimum"] == 0 and m["minimum"]["raised_strata"] > 0
    # the default bounds what the minimum may do to the shares (1 pp), and the manifest says what it did
    d = draw_sample(str(out), SampleRequest(n=60, by=req.by, seed=7), str(tmp_path / "d")).manifest
    gap = max(abs(s["sample_share"] - s["release_share"]) for s in d["strata"])
    assert d["max_share_gap_pp"] == 1.0 and abs(100 * gap - d["minimum"]["share_gap_pp"]) < 1e-3
    # (60 records: rounding alone can be 1/60 = 1.7 pp off; the minimum adds nothing beyond 1 pp)
    assert d["minimum"]["share_gap_pp"] <= max(1.0, d["minimum"]["share_gap_without_minimum_pp"])
    assert d["minimum"]["share_gap_pp"] < m["minimum"]["share_gap_pp"]
    assert d["minimum"]["strata_not_sampled"] == sum(1 for s in d["strata"] if s["sample_rows"] == 0)


def test_proportional_sample_keeps_language_shares(demo_run, tmp_path):
    out, _res = demo_run
    req = SampleRequest(n=100, by=("lang",), seed=1, min_per_stratum=0)
    m = draw_sample(str(out), req, str(tmp_path / "s")).manifest
    assert max(abs(s["sample_share"] - s["release_share"]) for s in m["strata"]) < 0.01


def test_sample_refuses_a_non_empty_folder_and_a_failed_release(demo_run, tmp_path):
    out, _res = demo_run
    dest = tmp_path / "s"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ReleaseError, match="not empty"):
        draw_sample(str(out), SampleRequest(n=5, min_per_stratum=0), str(dest))
    assert (dest / "keep.txt").read_text() == "mine"
    with pytest.raises(ReleaseError, match="overlaps the release"):
        draw_sample(str(out), SampleRequest(n=5, min_per_stratum=0), str(out), overwrite=True)
    assert (out / "reports" / "manifest.json").is_file()
    failed = tmp_path / "failed"
    shutil.copytree(out, failed)
    m = json.loads((failed / "reports" / "manifest.json").read_text())
    m["status"] = "failed"
    (failed / "reports" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ReleaseError, match="status is 'failed'"):
        draw_sample(str(failed), SampleRequest(n=5, min_per_stratum=0), str(tmp_path / "s2"))


def test_diff_refuses_files_not_sorted_by_doc_id(demo_run, tmp_path):
    out, _res = demo_run
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    path = sorted((bad / "refined").rglob("*.parquet"), key=lambda p: -p.stat().st_size)[0]
    t = pq.read_table(path)
    pq.write_table(t.take(pa.array(list(range(t.num_rows))[::-1])), path)
    with pytest.raises(ReleaseError, match=rf"{path.name}: row 1: doc_id \w+ is out of order"):
        diff_releases(str(out), str(bad))


# ------------------------------------------------------------------------------------------ the workflow


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """Release 1 of part of the sample corpus, then release 2 of the same files edited in place."""
    base = tmp_path_factory.mktemp("labelling")
    crude = base / "crude"
    make_release1_corpus(crude)
    r1 = run_refinery([crude / "*"], base / "r1")
    assert r1.exit_code == 0
    cols = ["doc_id", "source_uri", "source_line"]
    before = {(r["source_uri"], r["source_line"]): r["doc_id"]
              for kind in ("refined", "rejected")
              for r in read_output(str(base / "r1" / kind), columns=cols).to_pylist()}
    places = edit_into_release2_corpus(crude)
    r2 = run_refinery([crude / "*"], base / "r2")
    assert r2.exit_code == 0
    after = {(r["source_uri"], r["source_line"]): r["doc_id"]
             for r in read_output(str(base / "r2" / "refined"), columns=cols).to_pylist()}
    ids = {}
    for role, (name, line) in places.items():
        key = (str(crude / name), line)
        ids[role] = after[key] if role in ("appended", "moved") else before[key]
    return base, ids


def test_workflow_refine_sample_export_attach_diff_carry(releases, tmp_path):
    base, ids = releases
    r1, r2 = str(base / "r1"), str(base / "r2")
    # sample release 1 and export it for Label Studio
    assert main(["sample", r1, "--n", "60", "--by", "lang,licence_category,source,quality_band", "--seed", "3",
                 "--output", str(tmp_path / "sample")]) == 0
    sample = json.loads((tmp_path / "sample" / "manifest.json").read_text())
    assert sample["sample_rows"] == 60 and sample["by"] == ["lang", "licence_category", "source", "quality_band"]
    assert main(["export", str(tmp_path / "sample"), "--format", "label-studio",
                 "--output", str(tmp_path / "tasks.json")]) == 0
    tasks = json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8"))
    assert len(tasks) == 60
    t0 = tasks[0]
    assert t0["data"]["text"] and t0["data"]["doc_id"] == t0["meta"]["doc_id"]
    assert t0["meta"]["run_id"] == sample["release"]["run_id"] and t0["meta"]["source_uri"].endswith(
        (".jsonl", ".gz", ".txt")) and "source_line" in t0["meta"] and t0["meta"]["stratum"]
    # a labelling team annotates every task in Label Studio and exports the result
    for i, task in enumerate(tasks):
        task["id"] = i
        task["annotations"] = [{"id": 100 + i, "was_cancelled": False, "result": [
            {"from_name": "ok", "to_name": "text", "type": "choices", "value": {"choices": [f"L{i % 3}"]}}]}]
    (tmp_path / "ls_export.json").write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    # ... and labels some chosen records by hand, as JSONL
    chosen = [ids[r] for r in ("changed", "short", "dup_a", "dup_b", "gone", "moved_from")]
    (tmp_path / "extra.jsonl").write_text("".join(json.dumps({"doc_id": d, "label": "hand"}) + "\n" for d in chosen))
    (tmp_path / "extra.jsonl").open("a").write(json.dumps({"doc_id": "0" * 32, "label": "stray"}) + "\n")
    assert main(["labels", "attach", r1, str(tmp_path / "ls_export.json"), str(tmp_path / "extra.jsonl"),
                 "--output", str(tmp_path / "labels_r1.parquet"), "--report", str(tmp_path / "r1.json")]) == 0
    rep1 = json.loads((tmp_path / "r1.json").read_text())
    assert rep1["counts"]["attached"] == 66 and rep1["counts"]["record_missing"] == 1
    assert [o["doc_id"] for o in rep1["not_attached"]] == ["0" * 32]
    lab1 = pq.read_table(tmp_path / "labels_r1.parquet").to_pylist()
    assert {r["doc_id"] for r in lab1 if r["label"] == '"L0"'}
    assert all(r["text"] for r in lab1 if r["status"] == "attached")

    # release 2: the diff names every planted edit
    assert main(["diff", r1, r2, "--output", str(tmp_path / "diff")]) == 0
    summary = json.loads((tmp_path / "diff" / "summary.json").read_text())
    changes = {r["doc_id"]: r for r in pq.read_table(tmp_path / "diff" / "changes.parquet").to_pylist()}
    assert changes[ids["changed"]]["change"] == "changed" and changes[ids["changed"]]["detail"] == "text"
    assert changes[ids["short"]]["detail"] == "rejected:quality/gopher_short_doc"
    assert (changes[ids["appended"]]["change"], changes[ids["appended"]]["detail"]) == ("added", "new")
    assert changes[ids["was_rejected"]]["change"] == "added"
    assert changes[ids["was_rejected"]]["detail"].startswith("was_rejected:quality/")
    assert changes[ids["gone"]]["detail"] == "gone"
    assert changes[ids["moved_from"]]["detail"] == "gone" and changes[ids["moved"]]["detail"] == "new"
    moved = pq.read_table(tmp_path / "diff" / "moved.parquet").to_pylist()
    assert [(m["old_doc_id"], m["new_doc_id"]) for m in moved] == [(ids["moved_from"], ids["moved"])]
    assert summary["moved"] == 1
    dups = [changes[ids[k]] for k in ("dup_a", "dup_b") if ids[k] in changes and changes[ids[k]]["change"] == "removed"]
    assert len(dups) == 1 and dups[0]["detail"] == "rejected:dedup/exact_duplicate"
    assert dups[0]["dup_of"] in (ids["dup_a"], ids["dup_b"])
    c = summary["counts"]
    assert c["added"] == 3 and c["removed"] == 4
    assert summary["by_reason"]["removed"] == {"rejected:quality/gopher_short_doc": 1,
                                               "rejected:dedup/exact_duplicate": 1, "gone": 2}
    assert summary["by_lang"]["removed"]["fr"] == 1
    r1m = json.loads((base / "r1" / "reports" / "manifest.json").read_text())
    assert c["added"] + c["removed"] + c["changed"] + c["unchanged"] + c["not_refined"] >= r1m["totals"]["refined"]
    assert c["unchanged"] + c["changed"] + c["removed"] == r1m["totals"]["refined"]
    # only the added and changed records need labels (not the moved one); they export like a sample
    to_label = pq.read_table(tmp_path / "diff" / "to_label.parquet")
    assert to_label.num_rows == c["added"] + c["changed"] - 1 == summary["to_label_rows"]
    assert ids["moved"] not in to_label.column("doc_id").to_pylist()
    assert main(["export", str(tmp_path / "diff"), "--format", "jsonl", "--field", "doc_id",
                 "--field", "content=text", "--output", str(tmp_path / "to_label.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "to_label.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["doc_id"] for r in rows} == set(to_label.column("doc_id").to_pylist())
    assert all(set(r) == {"doc_id", "content"} for r in rows)

    # carry release 1's labels to release 2
    assert main(["labels", "attach", r2, str(tmp_path / "labels_r1.parquet"),
                 "--output", str(tmp_path / "labels_r2.parquet"), "--report", str(tmp_path / "r2.json")]) == 0
    by_id = {}
    for r in pq.read_table(tmp_path / "labels_r2.parquet").to_pylist():
        by_id.setdefault(r["doc_id"], set()).add(r["status"])
    assert by_id[ids["changed"]] == {"text_changed"}
    assert by_id[ids["short"]] == {"record_rejected"}
    assert by_id[ids["gone"]] == by_id[ids["moved_from"]] == {"record_missing"}
    assert by_id["0" * 32] == {"record_missing"}
    unchanged = [d for d in by_id if d not in changes and d != "0" * 32]
    assert unchanged and all(by_id[d] == {"attached"} for d in unchanged)
    rep2 = json.loads((tmp_path / "r2.json").read_text())
    assert sum(rep2["counts"].values()) == len(lab1)
    # ... and with the diff's moves, the label on the renamed file's record follows it
    assert main(["labels", "attach", r2, str(tmp_path / "labels_r1.parquet"), "--moves", str(tmp_path / "diff"),
                 "--output", str(tmp_path / "labels_r2m.parquet")]) == 0
    followed = [r for r in pq.read_table(tmp_path / "labels_r2m.parquet").to_pylist()
                if r["labelled_doc_id"] == ids["moved_from"]]
    assert followed and {(r["doc_id"], r["status"]) for r in followed} == {(ids["moved"], "moved")}
    assert all(r["text"] for r in followed) and '"hand"' in {r["label"] for r in followed}
    assert main(["labels", "attach", r2, str(tmp_path / "labels_r1.parquet"), "--strict",
                 "--output", str(tmp_path / "labels_r2b.parquet")]) == 1


def test_export_formats_and_field_mapping(releases, tmp_path):
    base, _ids = releases
    req = SampleRequest(n=12, by=("lang",), seed=1, min_per_stratum=0)
    draw_sample(str(base / "r1"), req, str(tmp_path / "s"))
    with open(tmp_path / "out.csv", "w", encoding="utf-8", newline="") as f:
        assert export(str(tmp_path / "s"), "csv", lambda: f, ["content=text", "lang"]) == 12
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["doc_id", "content", "lang"] and len(rows) == 12
    texts = set(pq.read_table(tmp_path / "s" / "sample.parquet").column("text").to_pylist())
    assert {r["content"] for r in rows} == texts  # multi-line texts survive CSV quoting
    opened = []
    with pytest.raises(LabellingError, match="--field: no column colour"):
        export(str(tmp_path / "s"), "jsonl", lambda: opened.append(1), ["colour"])
    assert not opened  # nothing was written for a bad request


def test_attach_reports_every_label_when_records_are_rejected(releases, tmp_path):
    base, ids = releases
    labels = tmp_path / "l.jsonl"
    labels.write_text(json.dumps({"doc_id": ids["was_rejected"], "label": "x"}) + "\n")
    report = attach_labels(str(base / "r1"), [str(labels)], str(tmp_path / "o.parquet"))
    assert report["counts"]["record_rejected"] == 1
    assert report["not_attached"][0]["reject_reason"].startswith(("c4_", "gopher_", "dup_"))


def test_diff_merged_in_rounds_gives_the_same_answer(releases, monkeypatch, tmp_path):
    """Runs of a few rows, merged two at a time in rounds, and positions spilled to disk every few
    records give the same files as one run each."""
    import refinery.pipelines.diff as diff

    base, _ids = releases
    direct = diff.diff_releases(str(base / "r1"), str(base / "r2"), str(tmp_path / "direct"))
    monkeypatch.setattr(diff, "RUN_ROWS", 50)
    monkeypatch.setattr(diff, "MERGE_FAN_IN", 2)
    monkeypatch.setattr(diff, "POSITIONS_IN_MEMORY", 1)
    in_rounds = diff.diff_releases(str(base / "r1"), str(base / "r2"), str(tmp_path / "rounds"))
    for s in (direct, in_rounds):
        s.pop("created_at")
    assert in_rounds == direct and direct["counts"]["unchanged"] > 300 and direct["to_label_rows"] > 1
    for name in ("changes", "to_label", "moved"):
        assert pq.read_table(tmp_path / "rounds" / f"{name}.parquet").equals(
            pq.read_table(tmp_path / "direct" / f"{name}.parquet")), name


def _moves_in_memory(cands):
    """The pairing held in memory: each added record, in doc_id order, takes the first removed record
    (in doc_id order) with its text, once."""
    removed = {}
    for sha, added, doc_id, *_ in sorted(cands, key=lambda c: c[2]):
        if not added:
            removed.setdefault(sha, doc_id)
    pairs = set()
    for sha, added, doc_id, *_ in sorted(cands, key=lambda c: c[2]):
        if added and sha in removed:
            pairs.add((removed.pop(sha), doc_id))
    return pairs


@pytest.mark.parametrize("run_rows, fan_in", [(1 << 14, 32), (7, 2)])
def test_moves_are_paired_on_disk_as_in_memory(tmp_path, monkeypatch, run_rows, fan_in):
    """Many more candidates than a run holds, merged in rounds: the same pairs as in memory, and a text
    removed once and added twice moves only once."""
    import random

    import refinery.pipelines.diff as diff

    monkeypatch.setattr(diff, "RUN_ROWS", run_rows)
    monkeypatch.setattr(diff, "MERGE_FAN_IN", fan_in)
    rnd = random.Random(5)
    cands = [(f"h{rnd.randrange(60):03d}", rnd.random() < 0.5, f"d{i:05d}", "en", i % 3, i) for i in range(400)]
    spill = diff._MoveCandidates(str(tmp_path))
    for c in rnd.sample(cands, len(cands)):  # the join's order is doc_id order per side, not hash order
        spill.add(*c)
    got = [(old[2], new[2]) for old, new in spill.moves()]
    expected = _moves_in_memory(cands)
    assert len(got) == len(set(got)) and set(got) == expected and len(expected) > 20
    texts = [old_new[0] for old_new in got]
    assert len({c[0] for c in cands if c[2] in {n for _, n in got}}) == len(texts)  # one move per text
    if run_rows == 7:
        # it spilled 58 runs and merged them in rounds: what is left are runs of a later round
        assert {int(p.name.split("-")[2]) for p in tmp_path.iterdir()} == {5}


@pytest.mark.parametrize("batch_size", [3, 4096])
def test_rows_at_positions_across_row_groups(tmp_path, batch_size):
    from refinery.pipelines.release import BufferedWriter, iter_rows_at, open_parquet

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"i": list(range(35))}), path, row_group_size=10)
    wanted = [0, 9, 10, 11, 25, 34]
    got, where = [], []
    for rows, positions in iter_rows_at(open_parquet(str(path)), wanted, batch_size=batch_size):
        got += rows.column("i").to_pylist()
        where += positions
    assert got == where == wanted
    assert list(iter_rows_at(open_parquet(str(path)), [])) == []
    with BufferedWriter(str(tmp_path / "b.parquet"), pa.schema([("i", pa.int64())]), rows=4) as w:
        for i in range(10):
            w.write(pa.table({"i": [i]}))
    f = pq.ParquetFile(tmp_path / "b.parquet")
    assert f.metadata.num_rows == 10 and f.metadata.num_row_groups == 3


def test_spill_gathers_small_tables_into_batches_and_keeps_rows_and_schema(tmp_path):
    from refinery.pipelines.release import read_spill, write_spill

    schema = pa.schema([("i", pa.int64()), ("s", pa.string())]).with_metadata({"k": "v"})
    path = str(tmp_path / "s.arrow")
    tables = [pa.table({"i": [i], "s": [f"r{i}"]}, schema=schema) for i in range(7)]
    tables.append(pa.table({"i": list(range(7, 20)), "s": [f"r{i}" for i in range(7, 20)]}, schema=schema))
    tables.append(schema.empty_table())
    write_spill(path, schema, iter(tables), batch_rows=4)
    batches = list(read_spill(path))
    assert [b.num_rows for b in batches] == [4, 4, 4, 4, 4]
    assert pa.Table.from_batches(batches).to_pydict() == {"i": list(range(20)), "s": [f"r{i}" for i in range(20)]}
    assert batches[0].schema == schema and batches[0].schema.metadata == {b"k": b"v"}
    write_spill(path, schema, iter([]))
    assert list(read_spill(path)) == []


@pytest.mark.parametrize("argv, preset, expected", [
    (["sample"], None, "dirty_decay_ms:0,muzzy_decay_ms:0"),
    (["diff"], "narenas:1", "narenas:1"),  # the user's own setting wins
    (["run"], None, None),  # the refine run keeps jemalloc's default
])
def test_release_readers_return_freed_arrow_memory_at_once(argv, preset, expected):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "JE_ARROW_MALLOC_CONF"}
    if preset:
        env["JE_ARROW_MALLOC_CONF"] = preset
    code = (f"import sys; sys.argv = ['refinery'] + {argv!r}; import os, refinery.pipelines.cli; "
            "print(os.environ.get('JE_ARROW_MALLOC_CONF'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(expected)
