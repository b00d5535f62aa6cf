"""Validation and lineage: the suite, critical failures, re-validation, reports, OpenLineage, Croissant."""

import http.server
import json
import re
import shutil
import threading

import pytest
from conftest import SAMPLE, run_refinery

from refinery.pipelines.config import load_config
from refinery.pipelines.run import run
from refinery.validators.revalidate import validate_output
from refinery.validators.suite import build_checks


def test_clean_run_passes_and_writes_every_report(demo_run):
    out, res = demo_run
    m = res.manifest
    assert m["validation"]["success"] and m["validation"]["critical_failures"] == []
    for name in ("reports/validation.json", "reports/report.html", "reports/datacard.md", "reports/openlineage.jsonl",
                 "croissant.json"):
        assert (out / name).is_file(), name
    v = json.loads((out / "reports/validation.json").read_text())
    ids = {c["id"] for c in v["checks"]}
    assert {"doc_id_unique", "text_not_empty", "licence_never_deny_in_refined", "reject_reason_in_enum",
            "reconciliation", "content_hash_unique", "lang_score_range", "und_share"} <= ids
    assert all(c["success"] for c in v["checks"])
    assert v["ge"]["aggregates"]["success"]  # Great Expectations' own result is kept


def test_report_is_self_contained_and_has_every_section(demo_run):
    out, res = demo_run
    page = (out / "reports/report.html").read_text()
    # nothing loaded from elsewhere: no external scripts, styles, fonts or images
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    for section in ("Run identity", "Inputs", "Reconciliation per input file", "Funnel", "Languages",
                    "Licences", "Duplicate clusters", "Quality signals", "Expectations"):
        assert section in page, section
    assert page.count("<svg") >= 6
    assert res.manifest["run_id"] in page and res.manifest["config_sha256"] in page


def test_planted_critical_failure_exits_1_and_names_the_expectation(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "n", "text": "12345 67890 " * 30}) + "\n")  # no letters: lang=und
    cfg = load_config(None, ["validation.max_und_share=0", "validation.critical=[und_share]", "quality.enabled=false",
                             "licence.no_licence=allow"])
    res = run([str(src)], str(tmp_path / "out"), cfg, [], overwrite=True, quiet=True)
    assert res.exit_code == 1
    assert res.manifest["validation"]["critical_failures"] == ["und_share"]
    assert any("und_share FAILED (critical)" in m for m in res.messages)
    assert res.manifest["status"] == "failed"


def test_unknown_check_in_critical_list_is_an_error():
    with pytest.raises(ValueError, match="no check named"):
        build_checks(load_config(None, ["validation.critical=[und_shar]"]))


def test_validate_recomputes_the_suite_from_the_files(tmp_path, demo_run):
    out, _res = demo_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    problems, result = validate_output(str(copy))
    assert problems == [] and result["success"]
    # an added copy of a refined file: integrity names the file, the suite sees the duplicate ids
    files = sorted((copy / "refined").rglob("*.parquet"))
    shutil.copy(files[0], files[0].with_name("part-99999-of-99999.parquet"))
    problems, result = validate_output(str(copy))
    assert any("part-99999-of-99999.parquet: file not in the manifest" in p for p in problems)
    assert "doc_id_unique" in result["critical_failures"]


def test_openlineage_events_in_file(demo_run):
    out, res = demo_run
    events = [json.loads(line) for line in (out / "reports/openlineage.jsonl").read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert len({e["run"]["runId"] for e in events}) == 1
    done = events[1]
    assert {o["name"].rsplit("/", 1)[1] for o in done["outputs"]} == {"refined", "rejected", "errors"}
    refined = next(o for o in done["outputs"] if o["name"].endswith("refined"))
    assert "schema" in refined["facets"] and "dataQualityAssertions" in refined["facets"]
    assert refined["outputFacets"]["outputStatistics"]["rowCount"] == res.manifest["totals"]["refined"]
    assert len(done["inputs"]) == len(res.manifest["inputs"])
    assert done["inputs"][0]["inputFacets"]["dataQualityMetrics"]["rowCount"] >= 1


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Recorder.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_openlineage_events_sent_over_http(tmp_path, monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.received = []
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_address[1]}")
        res = run_refinery([SAMPLE / "malformed.jsonl"], tmp_path / "o",
                           load_config(overrides=["run.max_error_share=0.8"]))  # 5 errors in 7 records
        assert res.exit_code == 0
    finally:
        server.shutdown()
    types = [body["eventType"] for _path, body in _Recorder.received]
    assert types == ["START", "COMPLETE"]
    assert all(path == "/api/v1/lineage" for path, _b in _Recorder.received)


def test_croissant_describes_refined_and_reads_with_mlcroissant(demo_run):
    import mlcroissant as mlc

    out, res = demo_run
    ds = mlc.Dataset(jsonld=str(out / "croissant.json"))
    assert {f.name for f in ds.metadata.record_sets[0].fields} >= {"doc_id", "text", "lang", "source_uri"}
    langs = [r["refined/lang"] for r in ds.records(record_set="refined")]
    assert len(langs) == res.manifest["totals"]["refined"] and b"zh-Hant" in langs


def test_datacard(demo_run):
    out, res = demo_run
    card = (out / "reports/datacard.md").read_text()
    assert f"{res.manifest['totals']['refined']:,} documents" in card and "zh-Hant" in card


def _suite_args(demo_run):
    from refinery.pipelines.config import RunConfig

    out, res = demo_run
    agg = json.loads((out / "reports" / "_run" / "aggregates.json").read_text())
    return RunConfig(), agg, res.manifest, agg.pop("refined_sample"), agg.pop("rejected_sample")


def _verdict(result):
    return result["success"], result["critical_failures"], result["warnings"], result["checks"]


def test_the_suite_run_aside_gives_the_in_process_result(demo_run):
    import os

    from refinery.validators.suite import run_suite
    from refinery.validators.worker import SuiteProcess

    args = _suite_args(demo_run)
    here = run_suite(*args)
    aside = SuiteProcess()
    assert aside.pid != os.getpid()
    there = aside.run_suite(*args)
    assert aside.ran_aside is True
    assert _verdict(there) == _verdict(here) and here["checks"]


def test_the_suite_runs_here_when_its_process_died(demo_run):
    import os
    import signal

    from refinery.validators.suite import run_suite
    from refinery.validators.worker import SuiteProcess

    args = _suite_args(demo_run)
    aside = SuiteProcess()
    os.kill(aside.pid, signal.SIGKILL)
    result = aside.run_suite(*args)
    assert aside.ran_aside is False
    assert _verdict(result) == _verdict(run_suite(*args))


def test_a_suite_error_in_the_aside_process_is_raised_here_with_its_traceback():
    from refinery.validators.worker import SuiteProcess

    aside = SuiteProcess()
    with pytest.raises(AttributeError):
        aside.run_suite("not a config", {}, {}, [], [])
    assert aside.ran_aside is False


def test_a_stuck_aside_process_is_given_up_and_the_suite_runs_here(demo_run, monkeypatch):
    import subprocess

    from refinery.validators import worker
    from refinery.validators.suite import run_suite

    args = _suite_args(demo_run)
    aside = worker.SuiteProcess()
    aside.close()
    aside._proc = subprocess.Popen(["sleep", "60"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # never answers
    monkeypatch.setattr(worker, "ANSWER_TIMEOUT_S", 0.5)
    result = aside.run_suite(*args)
    assert aside.ran_aside is False and aside._proc.poll() is not None  # killed, not left behind
    assert _verdict(result) == _verdict(run_suite(*args))
