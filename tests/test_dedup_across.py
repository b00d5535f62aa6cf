"""Across data owners: `refinery sketch` writes only the index; `refinery overlap` finds shared documents,
and its decisions apply with --dedup-against."""

import json

import pyarrow.parquet as pq
import pytest
from test_dedup import _decide, _rec, _window_docs, read_jsonl

from refinery.pipelines.sketch import cmd_overlap, cmd_sketch


def _jsonl(path, texts):
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()), encoding="utf-8")
    return path


def test_two_owners_find_what_they_share_without_text(tmp_path, capsys):
    w = lambda start, i=0, step=2: _window_docs(i + 1, step, start=start)[i]  # noqa: E731
    a = {"a1": w(0), "a2": w(1000), "a3": w(2000), "a4": w(3000)}
    b = {"b1": w(0, i=1), "b2": a["a2"], "b3": w(5000), "b4": w(2000, i=1, step=25)}  # b4 far from a3 (0.6)
    salt = tmp_path / "salt"
    salt.write_bytes(b"a secret both owners hold, 32 bytes")
    for name, texts in (("A", a), ("B", b)):
        src = _jsonl(tmp_path / f"{name}.jsonl", texts)
        assert cmd_sketch(["--input", str(src), "--output", str(tmp_path / f"S{name}"), "--salt-file", str(salt),
                           "--set", "language.enabled=false"]) == 0
    sa = pq.read_table(tmp_path / "SA" / "index")
    assert sa.num_rows == 4 and "text" not in sa.column_names
    assert sa.schema.metadata[b"refinery.dedup.salted"] == b"true"
    raw = b"".join(f.read_bytes() for f in (tmp_path / "SA" / "index").iterdir())
    assert w(0)[:40].encode() not in raw  # no text in the files
    capsys.readouterr()
    assert cmd_overlap([str(tmp_path / "SA"), str(tmp_path / "SB"), "--output", str(tmp_path / "D")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["documents_a"] == 4 and report["documents_b"] == 4
    assert report["a_with_near_duplicate_in_b"] == 2 and report["a_exact_in_b"] == 1  # a1 ~ b1, a2 = b2
    assert report["per_language_a"] == {"None": {"documents": 4, "with_near_duplicate_in_b": 2}}
    assert json.loads((tmp_path / "D" / "overlap.json").read_text())["a_with_near_duplicate_in_b"] == 2
    pairs = pq.read_table(tmp_path / "D" / "pairs").to_pylist()
    ids = set(pq.read_table(tmp_path / "SA" / "index").column("doc_id").to_pylist())
    b_ids = set(pq.read_table(tmp_path / "SB" / "index").column("doc_id").to_pylist())
    assert len(pairs) == 2 and all(p["a"] in ids and p["b"] in b_ids for p in pairs)
    assert sorted(p["jaccard_estimate"] for p in pairs)[-1] == 1.0  # a2 = b2
    assert pq.read_table(tmp_path / "D" / "index").num_rows == 2  # only B's matched rows leave B

    # owner A applies the decisions to its own records (doc_ids as its sketch computed them)
    by_text = {v: k for k, v in a.items()}
    src_rows = [json.loads(x) for x in (tmp_path / "A.jsonl").read_text().splitlines()]
    # the records again, under the doc_ids of the sketch (same files, same ids)
    recs = [_rec(doc_id, src_rows[i]["text"]) for i, doc_id in enumerate(_sketch_ids(tmp_path / "A.jsonl"))]
    got = _decide(recs, [f"dedup.against=['{tmp_path / 'D'}']"])
    removed = {by_text[r["text"]] for r in recs if got[r["doc_id"]][0] != "kept"}
    assert removed == {"a1", "a2"}
    assert all(got[d][0] == "near_duplicate" for d in got if got[d][0] != "kept")  # salted: found as near


def _sketch_ids(path):
    """doc_ids as ingest computes them for the lines of ``path``."""
    import glob
    import tempfile

    import apache_beam as beam

    from refinery.pipelines.config import load_config
    from refinery.transforms.beam.ingest import ReadCrude
    from refinery.transforms.beam.stage import KEPT

    tmp = tempfile.mkdtemp()
    with beam.Pipeline() as p:
        ((p | ReadCrude([str(path)], load_config(None, []), spread_records=False))[KEPT]
         | beam.Map(lambda r: json.dumps([r["source_line"], r["doc_id"]])) | beam.io.WriteToText(f"{tmp}/ids"))
    rows = sorted(read_jsonl(glob.glob(f"{tmp}/ids*")))
    return [d for _line, d in rows]


def test_overlap_refuses_an_output_folder_that_holds_files(tmp_path, capsys):
    src = _jsonl(tmp_path / "A.jsonl", {"a1": _window_docs(1, 2)[0]})
    assert cmd_sketch(["--input", str(src), "--output", str(tmp_path / "S"), "--set", "language.enabled=false"]) == 0
    (tmp_path / "D").mkdir()
    (tmp_path / "D" / "mine.txt").write_text("a user's file")
    assert cmd_overlap([str(tmp_path / "S"), str(tmp_path / "S"), "--output", str(tmp_path / "D")]) == 2
    assert "not empty" in capsys.readouterr().err and (tmp_path / "D" / "mine.txt").read_text() == "a user's file"
    assert cmd_overlap([str(tmp_path / "S"), str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such output folder" in capsys.readouterr().err


def test_an_index_gets_more_files_where_one_would_pass_its_row_limit(tmp_path, monkeypatch):
    import apache_beam as beam

    from refinery.transforms.beam import dedup_index
    from refinery.transforms.beam.dedup_index import WriteDedupIndex

    monkeypatch.setattr(dedup_index, "ROWS_PER_INDEX_FILE", 3)
    rows = [{"doc_id": f"d{i:02d}", "run_id": "r", "lang": None, "content_hash": f"h{i}", "bands": [i],
             "signature": [i, i]} for i in range(10)]
    with beam.Pipeline() as p:
        p | beam.Create(rows) | WriteDedupIndex(str(tmp_path), None, 2, {"refinery.dedup.seed": "1"})
    files = sorted((tmp_path / "index").iterdir())
    assert [f.name for f in files] == [f"part-{i:05d}-of-00004.parquet" for i in range(4)]
    tables = [pq.read_table(f) for f in files]
    assert sum(t.num_rows for t in tables) == 10 and max(t.num_rows for t in tables) <= 5
    for t in tables:  # each file sorted by doc_id, run_id kept (None), parameters in the footer
        ids = t.column("doc_id").to_pylist()
        assert ids == sorted(ids) and set(t.column("run_id").to_pylist()) == {"r"}
        assert t.schema.metadata[b"refinery.dedup.seed"] == b"1"
    got = sorted(r for t in tables for r in t.column("doc_id").to_pylist())
    assert got == [r["doc_id"] for r in rows]


def test_sketch_takes_a_yaml_config_anywhere_and_passes_beam_flags_on(tmp_path):
    src = _jsonl(tmp_path / "A.jsonl", {"a1": _window_docs(1, 2)[0]})
    cfg = tmp_path / "small.yaml"
    cfg.write_text("dedup:\n  num_perm: 64\nlanguage:\n  enabled: false\n")
    assert cmd_sketch(["--input", str(src), "--runner", "DirectRunner", str(cfg), "--output", str(tmp_path / "S")]) == 0
    assert len(pq.read_table(tmp_path / "S" / "index").column("signature")[0]) == 64
    with pytest.raises(SystemExit):
        cmd_sketch(["--input", str(src), "--output", str(tmp_path / "T"), "--no_such_beam_flag"])


def test_an_empty_input_gives_an_empty_sketch_that_overlap_reads(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    assert cmd_sketch(["--input", str(tmp_path / "empty.jsonl"), "--output", str(tmp_path / "E")]) == 0
    assert (tmp_path / "E" / "index").is_dir() and not list((tmp_path / "E" / "index").iterdir())
    src = _jsonl(tmp_path / "A.jsonl", {"a1": _window_docs(1, 2)[0]})
    assert cmd_sketch(["--input", str(src), "--output", str(tmp_path / "S"), "--set", "language.enabled=false"]) == 0
    capsys.readouterr()
    assert cmd_overlap([str(tmp_path / "S"), str(tmp_path / "E")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["documents_a"], report["documents_b"], report["a_with_near_duplicate_in_b"]) == (1, 0, 0)
    assert cmd_sketch(["--input", str(tmp_path / "none-*.jsonl"), "--output", str(tmp_path / "N")]) == 2
    assert "matches no file" in capsys.readouterr().err
