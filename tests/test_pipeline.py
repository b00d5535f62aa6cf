"""Transform and end-to-end tests: reconciliation, determinism, output contract."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from conftest import SAMPLE, run_refinery

from refinery.arrow_io import read_output
from refinery.pipelines.config import RunConfig
from refinery.pipelines.run import RunFailed, reconcile
from refinery.schemas import ERRORS_SCHEMA, REJECTED_SCHEMA
from refinery.transforms.beam.write import refined_file_schema


def _rows(out, kind, drop=("run_id",)):
    path = out / kind
    if not path.exists():
        return []
    rows = read_output(str(path)).to_pylist()
    return sorted(({k: v for k, v in r.items() if k not in drop} for r in rows),
                  key=lambda r: (r.get("doc_id") or "", r.get("source_uri"), str(r.get("source_line"))))


def test_demo_reconciles_and_writes_the_contract(demo_run):
    out, res = demo_run
    m = res.manifest
    assert res.exit_code == 0 and m["status"] == "succeeded"
    assert m["reconciliation"]["ok"]
    assert m["totals"]["records"] == m["totals"]["refined"] + m["totals"]["rejected"] + m["totals"]["errors"]
    for inp in m["inputs"]:
        assert len(inp["sha256"]) == 64 and inp["records"] > 0
    for o in m["outputs"]:
        md = pq.read_metadata(o["path"]).metadata
        assert md[b"refinery.run_id"].decode() == m["run_id"]
        assert md[b"refinery.config_sha256"].decode() == m["config_sha256"]
        assert b"refinery.schema_version" in md and b"refinery.refinery_version" in md
        schema = pq.read_schema(o["path"]).remove_metadata()
        expected = {"refined": refined_file_schema(), "rejected": REJECTED_SCHEMA, "errors": ERRORS_SCHEMA}[o["kind"]]
        assert schema.names == expected.names
        assert [f.type for f in schema] == [f.type for f in expected]


def test_malformed_lines_land_in_errors_and_the_rest_goes_through(demo_run):
    out, _res = demo_run
    errors = [r for r in _rows(out, "errors") if r["source_uri"].endswith("malformed.jsonl")]
    by_line = {r["source_line"]: r["error"].split(":")[0] for r in errors}
    assert by_line == {1: "JSONDecodeError", 2: "UnicodeDecodeError", 3: "KeyError", 4: "TypeError", 5: "ValueError"}
    kept = {r["original_id"] for r in _rows(out, "refined") + _rows(out, "rejected")
            if r["source_uri"].endswith("malformed.jsonl")}
    assert kept == {"plant-good-among-bad", "plant-good-after-bad"}


def test_refined_rows_carry_lineage(demo_run):
    out, res = demo_run
    rows = _rows(out, "refined", drop=())
    sha = {i["uri"]: i["sha256"] for i in res.manifest["inputs"]}
    for r in rows:
        assert r["source_sha256"] == sha[r["source_uri"]]
        assert r["run_id"] == res.manifest["run_id"] and r["config_sha256"] == res.manifest["config_sha256"]
        assert r["stages"][0] == "ingest"
    assert len({r["doc_id"] for r in rows}) == len(rows)


def test_same_result_whatever_the_input_order_and_worker_count(tmp_path, demo_run):
    out, _res = demo_run
    files = sorted(SAMPLE.iterdir(), reverse=True)
    res2 = run_refinery(files, tmp_path / "mp", beam_args=[
        "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert res2.exit_code == 0
    for kind in ("refined", "rejected", "errors"):
        assert _rows(out, kind) == _rows(tmp_path / "mp", kind), kind


def test_non_empty_output_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("x")
    from refinery.pipelines.run import run

    with pytest.raises(RunFailed, match="not empty"):
        run([str(SAMPLE / "malformed.jsonl")], str(tmp_path / "out"), RunConfig(), [], overwrite=False, quiet=True)


def test_reconcile_names_the_file_that_lost_records():
    inputs = [{"uri": "a", "records": 3}, {"uri": "b", "records": 2}]
    outputs = [{"kind": "refined", "per_source": {"a": 2, "b": 2}}, {"kind": "errors", "per_source": {"a": 0}}]
    rec = reconcile(inputs, outputs)
    assert not rec["ok"]
    assert [f["uri"] for f in rec["files"] if not f["ok"]] == ["a"]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "refinery.pipelines.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_cli_run_inspect_explain_validate(tmp_path):
    out = tmp_path / "o"
    # malformed.jsonl is 5 errors in 7 records: alone, it is over the default run.max_error_share (0.5)
    r = _cli("run", "--input", str(SAMPLE / "malformed.jsonl"), "--output", str(out), "--set", "dedup.enabled=false",
             "--set", "run.max_error_share=0.8")
    assert r.returncode == 0, r.stderr
    assert "reconciliation: OK" in r.stderr
    # the CLI validates in a process that imported the suite while the pipeline ran: same report
    validation = json.loads((out / "reports" / "manifest.json").read_text())["validation"]
    assert validation["success"] and validation["checks"] > 10
    assert (out / "reports" / "validation.json").exists()
    r = _cli("inspect", str(out))
    assert r.returncode == 0 and "malformed.jsonl" in r.stdout
    r = _cli("explain", str(out), "plant-good-after-bad")
    assert r.returncode == 0 and "line/row 7" in r.stdout
    r = _cli("explain", str(out), "no-such-id")
    assert r.returncode == 1
    r = _cli("validate", str(out))
    assert r.returncode == 0, r.stdout
    r = _cli("run", "--input", str(SAMPLE / "malformed.jsonl"), "--output", str(out))
    assert r.returncode == 2 and "not empty" in r.stderr


def test_cli_config_errors_exit_2_and_name_the_key(tmp_path):
    r = _cli("run", "--input", str(SAMPLE / "malformed.jsonl"), "--output", str(tmp_path / "o"),
             "--set", "quality.nonsense=1")
    assert r.returncode == 2 and "quality.nonsense: unknown key" in r.stderr
    r = _cli("run", "--input", str(tmp_path / "missing*.jsonl"), "--output", str(tmp_path / "o"))
    assert r.returncode == 2 and "matches no file" in r.stderr


def test_cli_help_teaches_every_command():
    for cmd in ("run", "inspect", "explain", "validate", "config"):
        r = _cli(cmd, "--help")
        assert r.returncode == 0 and "usage:" in r.stdout, cmd
    assert "--direct_num_workers" in _cli("run", "--help").stdout
    r = _cli("config", "--defaults")
    assert r.returncode == 0 and "threshold: 0.8" in r.stdout


def test_validate_detects_deleted_row_altered_value_and_missing_file(tmp_path):
    import pyarrow as pa

    out = tmp_path / "o"
    assert run_refinery([SAMPLE / "udhr.jsonl"], out).exit_code == 0
    from refinery.validators.integrity import check_output

    assert check_output(str(out)) == []
    files = sorted((out / "refined").rglob("*.parquet"))
    victim = files[0]
    t = pq.read_table(victim, use_threads=False)
    pq.write_table(t.slice(1), victim)  # a deleted row
    problems = check_output(str(out))
    assert any("rows added or deleted" in p and victim.name in p for p in problems)
    col = t.column("text").to_pylist()
    col[0] = col[0] + " (edited)"
    pq.write_table(t.set_column(t.schema.get_field_index("text"), "text", pa.array(col)), victim)
    assert any("altered" in p for p in check_output(str(out)))
    victim.unlink()
    assert any("missing" in p for p in check_output(str(out)))


def test_dataflow_job_builds_without_network_or_credentials():
    r = _cli("run", "--input", "gs://bucket/crude/*.jsonl.gz", "--output", "gs://bucket/refined",
             "--runner", "DataflowRunner", "--project", "my-project", "--region", "us-central1",
             "--temp_location", "gs://bucket/tmp", "--dry_run=True")
    assert r.returncode == 0, r.stderr
    assert "nothing was submitted" in r.stderr


def test_run_arguments_split_between_refinery_and_beam():
    from refinery.pipelines.cli import _split_run_args

    args, beam = _split_run_args(["my.yaml", "--input", "a/*.jsonl", "-i", "b.parquet", "--output", "out",
                                  "--runner", "DirectRunner", "--direct_num_workers=2", "--set", "dedup.enabled=false"])
    assert args.config == "my.yaml" and args.input == ["a/*.jsonl", "b.parquet"] and args.output == "out"
    assert args.overrides == ["dedup.enabled=false"]
    assert beam == ["--runner", "DirectRunner", "--direct_num_workers=2"]


def test_busy_clocks_are_reported_apart_from_record_counters(demo_run):
    _out, res = demo_run
    m = res.manifest
    busy = m["busy_seconds"]
    assert set(busy) == {"ingest", "language", "licence", "quality", "dedup", "write"}
    assert all(v >= 0 for v in busy.values()) and sum(busy.values()) > 0
    assert "refinery.timing" not in m["counters"]
    assert sum(busy.values()) <= m["wall_seconds"]  # one process: busy time is a share of the pipeline's wall


def test_large_local_multiprocess_runs_are_warned_about(tmp_path, monkeypatch, capsys):
    import refinery.pipelines.run as run_mod

    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "Ein kurzer deutscher Satz, der hier nur als Eingabe dient."}\n')
    assert run_mod.local_input_bytes([str(tmp_path / "*.jsonl")]) == src.stat().st_size
    monkeypatch.setattr(run_mod, "MULTIPROCESS_WARN_BYTES", 10)
    cfg = RunConfig()
    cfg.validation.enabled = False
    res = run_refinery([src], tmp_path / "out", cfg, beam_args=["--direct_running_mode=multi_processing",
                                                                 "--direct_num_workers=2"])
    assert res.exit_code == 0
    assert "lose records on inputs this large" in capsys.readouterr().err


def test_records_are_spread_after_the_read_only_where_there_are_workers_to_spread_to(tmp_path):
    import apache_beam as beam

    from refinery.pipelines.refine import build_pipeline
    from refinery.pipelines.run import single_process

    assert single_process("DirectRunner", {})
    assert single_process("DirectRunner", {"direct_running_mode": "in_memory"})
    assert not single_process("DirectRunner", {"direct_running_mode": "multi_processing"})
    assert not single_process("DataflowRunner", {})

    def labels(spread):
        p = beam.Pipeline()
        build_pipeline(p, [str(tmp_path / "*.jsonl")], str(tmp_path / "out"), RunConfig(),
                       {"run_id": "r", "config_sha256": "c", "refinery_version": "v"},
                       spread_records=spread)
        return {t.unique_name for t in p.to_runner_api().components.transforms.values()}

    assert "ReadCrude/SpreadRecords" in labels(True)
    assert not any("SpreadRecords" in name for name in labels(False))
    assert "ReadCrude/SpreadFiles" in labels(False)


def test_garbage_collection_is_relaxed_only_while_an_in_process_pipeline_runs():
    import gc

    from refinery.pipelines.run import _collect_garbage_less

    before = gc.get_threshold()
    with _collect_garbage_less(True):
        assert gc.get_threshold() == (50_000, 20, 100)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with _collect_garbage_less(False):
        assert gc.get_threshold() == before


def test_refined_files_are_sized_on_the_records_entering_dedup(tmp_path):
    # The refined shard count of a partition comes from the records that entered dedup (the kept ones
    # and the duplicates it removed), so the write does not wait behind a copy of all refined records.
    import math

    from refinery.pipelines.config import load_config

    cfg = load_config(overrides=["output.target_shard_mb=0.002"])  # 2,000 bytes: several shards per language
    out = tmp_path / "o"
    res = run_refinery([SAMPLE / "*"], out, cfg)
    assert res.exit_code == 0
    refined = read_output(str(out / "refined")).to_pylist()
    removed = [r for r in read_output(str(out / "rejected")).to_pylist() if r["reject_stage"] == "dedup"]
    assert removed  # the sample corpus has duplicates
    size: dict[str, int] = {}
    for r in refined + removed:
        size[r["lang"] or "und"] = size.get(r["lang"] or "und", 0) + len(r["text"]) + 200
    names = {}
    for f in (out / "refined").glob("lang=*/*.parquet"):
        names.setdefault(f.parent.name.removeprefix("lang="), set()).add(f.name.split("-of-")[1])
    assert names and any(size[lang] > 2000 for lang in names)
    for lang, suffixes in names.items():
        assert suffixes == {f"{math.ceil(size[lang] / 2000):05d}.parquet"}, lang
