"""Staged records (the portable runners' way out of a many-output stage) come back whole, each once."""

import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from refinery.pipelines.refine import remove_staging, staging_folder
from refinery.transforms.beam.staging import (
    SIZE,
    STAGED,
    STUB_KEYS,
    RestoreRecords,
    StageRecords,
    read_staged,
    stub_of,
    write_staged,
)


def _record(i: int) -> dict:
    return {"doc_id": f"d{i}", "lang": "zh" if i % 2 else "en", "text": "文本 text " * i, "stages": ["ingest"],
            "quality": {"n_words": i, "ratio": i / 7}, "source_uri": "in.jsonl", "source_line": i, "none": None}


def test_a_staging_file_gives_back_the_records_it_was_given(tmp_path):
    recs = [_record(i) for i in range(30)]
    path = str(tmp_path / "one.stage")
    write_staged(path, recs)
    assert read_staged(path) == recs


def test_a_stub_carries_only_the_fields_the_later_steps_read():
    stub = stub_of(_record(3), "f.stage", 7)
    assert set(stub) == {*STUB_KEYS, STAGED, SIZE} - {"content_hash"}
    assert stub[STAGED] == ("f.stage", 7) and "text" not in stub and "quality" not in stub
    assert stub[SIZE] == len(_record(3)["text"])  # what the writer sizes its files on


def _decide(stub: dict) -> dict:
    """What dedup does to a stub: decision columns added, a stage appended."""
    out = dict(stub)
    out["dup_cluster_size"] = int(out["doc_id"][1:]) % 3 + 1
    out["stages"] = [*out["stages"], "dedup"]
    return out


def test_staged_records_come_back_whole_with_what_their_stubs_gained(tmp_path):
    recs = [_record(i) for i in range(40)]
    rejected = [{**_record(i), "reject_stage": "quality", "reject_reason": "gopher_short_doc"} for i in range(40, 50)]
    folder = str(tmp_path / "staging")
    want_kept = [{**r, "dup_cluster_size": i % 3 + 1, "stages": ["ingest", "dedup"]} for i, r in enumerate(recs)]
    with TestPipeline() as p:
        kept = (p | "k" >> beam.Create(recs) | "sk" >> StageRecords(folder, 4, "kept")
                | "decide" >> beam.Map(_decide))
        rej = p | "r" >> beam.Create(rejected) | "sr" >> StageRecords(folder, 4, "rejected")
        out = {"refined": kept, "rejected": rej} | RestoreRecords(4)  # one output: (tag, record)
        want = [("refined", r) for r in want_kept] + [("rejected", r) for r in rejected]
        assert_that(out, equal_to(want), label="restored")
    names = os.listdir(folder)
    # One file per bundle and bucket, its bucket first in its name; bucket 0-3 only.
    assert names and {n[:6] for n in names} <= {"b00000", "b00001", "b00002", "b00003"}


def test_the_run_removes_its_staging_folder_and_nothing_beside_it(tmp_path):
    out = tmp_path / "out"
    folder = staging_folder(str(out))
    os.makedirs(folder)
    write_staged(os.path.join(folder, "b00000-x.stage"), [_record(1)])
    (out / "reports" / "_run" / "inputs.json").write_text("[]")
    remove_staging(str(out))
    assert not os.path.exists(folder)
    assert (out / "reports" / "_run" / "inputs.json").read_text() == "[]"
    remove_staging(str(out))  # none left: nothing to do, no error
