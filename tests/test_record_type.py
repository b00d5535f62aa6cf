"""The record type: every key a stage writes is declared (``refinery.schemas.Record``), and the writer
refuses an undeclared key explicitly (errors/ row or exception), never narrowing it away silently."""

from __future__ import annotations

import glob
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.utils.shared import Shared

from refinery.arrow_io import read_output
from refinery.pipelines.config import RunConfig
from refinery.schemas import ERRORS_SCHEMA, RECORD_KEYS, REJECTED_SCHEMA, SIDE_CHANNEL, Record
from refinery.transforms.beam.dedup import _ApplyFn
from refinery.transforms.beam.dedup_elements import Decision, wire
from refinery.transforms.beam.language import _DetectLanguageFn
from refinery.transforms.beam.licence import _TagLicencesFn
from refinery.transforms.beam.quality import _ScoreQualityFn
from refinery.transforms.beam.write import UndeclaredKeys, WriteOutputs, WriterInputs, _add_run_id
from refinery.transforms.ingest import local_opener, read_crude

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample"


def _emitted(fn, records):
    """Everything ``fn`` (a DoFn, used without a runner) emits for ``records``: (output tag, element)."""
    fn.setup()
    out = []
    for rec in records:
        for item in fn.process(rec):
            tag = getattr(item, "tag", "kept")
            out.append((tag, getattr(item, "value", item)))
    return out


@pytest.fixture(scope="module")
def sample_keys():
    """Keys of the sample corpus's records as ingest and each record stage leave them (pure functions,
    no pipeline): {step: set of keys}."""
    cfg = RunConfig(language={"backend": "cld2"})  # fast; every backend writes the same keys
    records, keys = [], {}
    for path in sorted(glob.glob(str(SAMPLE / "*"))):
        for kind, item in read_crude(path, cfg.ingest, local_opener):
            if kind == "record":
                records.append(item)
    keys["reader"] = set().union(*records)
    # What ingest rejects on the reader's word stays behind; a third of the rest is enough (each stage writes
    # the same keys on every record) and keeps the test at a few seconds.
    records = [r for r in records if "_reject" not in r][::3]
    for name, fn in (("language", _DetectLanguageFn(cfg, Shared())), ("licence", _TagLicencesFn(cfg, Shared())),
                     ("quality", _ScoreQualityFn(cfg, Shared()))):
        out = _emitted(fn, records)
        assert not [v for tag, v in out if tag == "errors"], name
        keys[name] = set().union(*(v for _t, v in out))
        records = [v for tag, v in out if tag == "kept"]
    apply = _ApplyFn(bands=16, rows=8)
    sig = np.arange(128, dtype=np.uint32).tobytes()
    elements = []
    for i, rec in enumerate(records):
        rec = dict(rec, content_hash=f"{i:032x}")
        kept = i % 2 == 0
        d = Decision("kept" if kept else "near_duplicate", rec["doc_id"], 2, None if kept else "other",
                     None if kept else 0.9, rec["doc_id"], None, sig if kept else None)
        elements.append((rec["doc_id"], {"rec": [rec], "decision": [wire(d)]}))
    out = _emitted(apply, elements)
    keys["dedup"] = set().union(*(v for tag, v in out if tag in ("kept", "rejected")))
    return keys


def test_every_key_a_stage_writes_is_declared(sample_keys):
    for step, keys in sample_keys.items():
        assert keys <= RECORD_KEYS, f"{step} writes undeclared keys {sorted(keys - RECORD_KEYS)}"
    # ... and what leaves a stage is written: no side-channel key travels on.
    assert "_reject" in sample_keys["reader"]  # the sample has web pages the reader rejects
    for step, keys in sample_keys.items():
        assert step == "reader" or not keys & set(SIDE_CHANNEL), step
    assert {"lang", "licence_decision", "quality_score", "dup_cluster_id", "dup_of"} <= sample_keys["dedup"]


def test_record_declares_the_columns_and_the_side_channel():
    assert Record.__total__ is False
    assert set(REJECTED_SCHEMA.names) | set(SIDE_CHANNEL) == RECORD_KEYS
    assert Record.__annotations__["lang_secondary"] == list[str] and Record.__annotations__["n_chars"] is int
    assert all(k.startswith("_") for k in SIDE_CHANNEL) and not set(SIDE_CHANNEL) & set(REJECTED_SCHEMA.names)


def _record(doc_id: str, **extra) -> dict:
    return {"doc_id": doc_id, "text": "some text", "source_uri": "in.jsonl", "source_line": 0, "n_chars": 9,
            "lang": "en", "stages": ["ingest"], **extra}


def test_writer_sends_a_record_with_an_undeclared_key_to_errors(tmp_path):
    identity = {"run_id": "r1", "refinery_version": "0", "config_sha256": "c" * 64}
    with TestPipeline() as p:
        inputs = WriterInputs(
            refined=p | "R" >> beam.Create([_record("a"), _record("b", bogus_score=0.5)]),
            rejected=p | "J" >> beam.Create([_record("c", reject_stage="quality", reject_reason="x",
                                                     reject_detail="d", _reject=("x", "d"))]),
            errors=p | "E" >> beam.Create([]),
            files=p | "F" >> beam.Create([{"uri": "in.jsonl", "sha256": "s" * 64}]),
            refined_sized_by=p | "S" >> beam.Create([_record("a"), _record("b")]),
        )
        _ = inputs | WriteOutputs(str(tmp_path), RunConfig(), identity)
    refined = read_output(str(tmp_path / "refined")).to_pylist()
    errors = read_output(str(tmp_path / "errors")).to_pylist()
    assert [r["doc_id"] for r in refined] == ["a"]
    assert not (tmp_path / "rejected").exists() or read_output(str(tmp_path / "rejected")).num_rows == 0
    got = {e["doc_id"]: e for e in errors}
    assert set(got) == {"b", "c"}
    assert got["b"]["error"].startswith("UndeclaredKeys: ") and "'bogus_score'" in got["b"]["error"]
    assert "'_reject'" in got["c"]["error"]  # a side-channel key must not reach the writer either
    assert all(e["error_stage"] == "write" and e["run_id"] == "r1" for e in errors)


def test_an_error_row_with_an_undeclared_key_is_an_exception():
    declared = frozenset(ERRORS_SCHEMA.names) - {"run_id"}
    row = {"source_uri": "f", "source_line": 1, "raw": b"", "error": "x", "error_stage": "ingest", "doc_id": None}
    assert _add_run_id(row, "r1", declared)["run_id"] == "r1"
    with pytest.raises(UndeclaredKeys, match="extra"):
        _add_run_id(dict(row, extra=1), "r1", declared)
