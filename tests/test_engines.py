"""Flink and Spark (Beam's portable runners, embedded) give the DirectRunner's answers.

The sample corpus goes through ``refinery run`` four times, each a fresh CLI process as a user runs
it: DirectRunner, FlinkRunner with parallelism 1 and 2, SparkRunner with local[2]. Refined, rejected and
errors rows (doc_id with its decision) must be the same sets, every run's reconciliation must hold, and no job server
may outlive its run.

The parallelism-2 Flink run is given small sort buffers (:data:`SMALL_SORT_BUFFERS`: 96 MB of managed
memory in 8 KB pages, ~400 KB per sorting operator) through ``--flink_conf_dir``. Flink moves every
element, and every GroupByKey's values of one key, through such a buffer as one record; on a 10 MB
corpus with the default memory (~10 MB per operator here) a validation sample gathered as one element
of 5,000 records failed with "Record too large". With small buffers the sample corpus shows the same
shape: such an element (~490 KB) fails there, while every element of a well-shaped job (the largest
is one record, ~125 KB) fits. The first run fetches the job server's jars with Maven into
``$REFINERY_CACHE_DIR/jars`` (default ``~/.cache/refinery``); later runs reuse them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from conftest import ROOT, SAMPLE

from refinery.pipelines import engines

RUN_TIMEOUT_S = 900  # the first Flink (Spark) run fetches ~160 MB (~250 MB) of jars
SMALL_SORT_BUFFERS = "taskmanager.memory.managed.size: 96m\ntaskmanager.memory.segment-size: 8kb\n"


STDERR: dict[Path, str] = {}  # each run's standard error, by output folder


def _cli_run(out: Path, *beam_args: str, quiet: bool = True) -> dict:
    cmd = [sys.executable, "-m", "refinery.pipelines.cli", "run", "--input", str(SAMPLE / "*"),
           "--output", str(out), "--overwrite", *(["--quiet"] if quiet else []), *beam_args]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=RUN_TIMEOUT_S)
    assert res.returncode == 0, (f"{' '.join(beam_args) or 'DirectRunner'} failed ({res.returncode}):\n"
                                 f"{res.stderr[-4000:]}")
    STDERR[out] = res.stderr
    return json.loads((out / "reports" / "manifest.json").read_text())


def _decisions(out: Path) -> dict[str, set]:
    """doc_id with its decision, per output kind."""
    def rows(kind, cols):
        folder = out / kind
        if not folder.exists():
            return set()
        partitioning = ds.HivePartitioning.discover(infer_dictionary=True)
        t = ds.dataset(str(folder), format="parquet", partitioning=partitioning).to_table(columns=cols)
        return set(zip(*(t.column(c).to_pylist() for c in cols), strict=True))

    return {"refined": rows("refined", ["doc_id", "lang", "dup_cluster_id"]),
            "rejected": rows("rejected", ["doc_id", "reject_stage", "reject_reason"]),
            "errors": rows("errors", ["source_uri", "source_line", "error_stage"])}


def _alive_with(marker: str) -> list[int]:
    """Pids of processes whose command line contains ``marker``."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            pids.append(int(pid))
    return pids


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("engines")
    conf = base / "flink-conf"
    conf.mkdir()
    (conf / "flink-conf.yaml").write_text(SMALL_SORT_BUFFERS)
    return {
        "direct": (base / "direct", _cli_run(base / "direct", "--runner=DirectRunner")),
        "flink1": (base / "flink1", _cli_run(base / "flink1", "--runner=FlinkRunner", "--parallelism=1", quiet=False)),
        "flink2": (base / "flink2", _cli_run(base / "flink2", "--runner", "FlinkRunner", "--parallelism", "2",
                                             f"--flink_conf_dir={conf}")),
        "spark2": (base / "spark2", _cli_run(base / "spark2", "--runner=SparkRunner", "--parallelism=2")),
    }


def test_flink_gives_the_direct_runners_rows(three_runs):
    direct = _decisions(three_runs["direct"][0])
    assert direct["refined"] and direct["rejected"] and direct["errors"]
    for name in ("flink1", "flink2", "spark2"):
        got = _decisions(three_runs[name][0])
        for kind in ("refined", "rejected", "errors"):
            assert got[kind] == direct[kind], (name, kind, sorted(got[kind] ^ direct[kind])[:5])


def test_flink_runs_reconcile_and_record_the_engine(three_runs):
    for name, (_out, manifest) in three_runs.items():
        assert manifest["status"] == "succeeded", name
        assert manifest["reconciliation"]["ok"], name
        assert all(f["ok"] for f in manifest["reconciliation"]["files"]), name
    for name, runner, parallelism, master in (("flink1", "FlinkRunner", 1, "[local]"),
                                              ("flink2", "FlinkRunner", 2, "[local]"),
                                              ("spark2", "SparkRunner", 2, "local[2]")):
        m = three_runs[name][1]
        assert m["runner"] == runner
        assert m["engine"]["engine"] == runner and m["engine"]["beam_version"] == engines.BEAM_VERSION
        assert m["engine"]["parallelism"] == parallelism and m["engine"]["master"] == master
        assert m["engine"]["environment"].startswith("EXTERNAL")
        assert int(m["pipeline_options"]["sdk_worker_parallelism"]) == parallelism
        assert m["totals"] == three_runs["direct"][1]["totals"]
        # The stages' counters come back from the job server too, and agree with the DirectRunner's.
        counters = dict(m["counters"])
        staging = counters.pop("staging")
        assert counters == three_runs["direct"][1]["counters"], name
        # Every record was staged and restored once (refinery.transforms.beam.staging).
        records = m["totals"]["refined"] + m["totals"]["rejected"]
        assert staging == {"staged": records, "restored": records}, name
    assert "engine" not in three_runs["direct"][1]
    assert three_runs["flink2"][1]["engine"]["flink_conf_dir"].endswith("flink-conf")
    assert "flink_conf_dir" not in three_runs["flink1"][1]["engine"]


def test_a_flink_run_shows_progress_from_its_workers_and_no_worker_noise(three_runs):
    err = STDERR[three_runs["flink1"][0]]
    lines = [line for line in err.splitlines() if re.match(r"refinery: \d+:\d\d  read ", line)]
    assert lines, err[-3000:]
    read = [int(m.group(1).replace(",", "")) for line in lines if (m := re.search(r"ingest ([\d,]+)", line))]
    assert max(read) > 0, lines  # counted by the worker processes while the job ran
    for noise in ("Traceback", "FutureWarning", "Starting worker"):
        assert noise not in err, err[-3000:]
    log = three_runs["flink1"][1]["engine"]["worker_pool_log"]
    assert os.path.isfile(log)


def test_no_job_server_outlives_its_run(three_runs):
    for name in ("flink1", "flink2", "spark2"):
        artifacts = three_runs[name][1]["engine"]["job_server_log"] + ".artifacts"
        assert _alive_with(artifacts) == [], name


def test_a_job_servers_temporary_files_stay_in_its_run_folder_and_go_with_it(three_runs):
    """Flink's and Spark's shuffle and spill files went to /tmp, and a job server the kernel killed left
    them there (GBs at 2 GB of input): they go to the run's engine folder, removed when it stops."""
    flink_log = three_runs["flink1"][1]["engine"]["job_server_log"]
    assert flink_log + ".tmp/" in Path(flink_log).read_text(errors="replace")  # where Flink put its files
    for name in ("flink1", "flink2", "spark2"):  # (Spark's job server logs nothing to check it by)
        log = three_runs[name][1]["engine"]["job_server_log"]
        assert os.path.exists(log) and not os.path.exists(log + ".tmp"), name


def _overlap(out: Path, a: Path, b: Path, *beam_args: str):
    """`refinery overlap A B --output OUT` as a user runs it → (report, pairs, B's matched doc_ids)."""
    import pyarrow.parquet as pq

    cmd = [sys.executable, "-m", "refinery.pipelines.cli", "overlap", str(a), str(b), "--output", str(out), *beam_args]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=RUN_TIMEOUT_S)
    assert res.returncode == 0, f"overlap {' '.join(beam_args)} failed ({res.returncode}):\n{res.stderr[-4000:]}"
    pairs = sorted((r["a"], r["b"], r["jaccard_estimate"]) for r in pq.read_table(out / "pairs").to_pylist())
    return json.loads(res.stdout), pairs, sorted(pq.read_table(out / "index").column("doc_id").to_pylist())


def test_sketch_on_flink_gives_the_direct_runners_index(tmp_path):
    import pyarrow.parquet as pq

    def sketch(out, *beam_args):
        cmd = [sys.executable, "-m", "refinery.pipelines.cli", "sketch", "--input", str(SAMPLE / "*"),
               "--output", str(out), *beam_args]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=RUN_TIMEOUT_S)
        assert res.returncode == 0, f"sketch {' '.join(beam_args)} failed ({res.returncode}):\n{res.stderr[-4000:]}"
        t = pq.read_table(out / "index").drop_columns(["run_id"])
        return sorted(zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True))

    direct = sketch(tmp_path / "direct")
    assert len(direct) > 100 and direct == sketch(tmp_path / "flink", "--runner", "FlinkRunner", "--parallelism=2")


def test_overlap_on_flink_gives_the_direct_runners_report_pairs_and_decisions(three_runs, tmp_path):
    """Two releases of the same corpus: every refined record of one is in the other."""
    a, b = three_runs["direct"][0], three_runs["flink2"][0]
    direct = _overlap(tmp_path / "direct", a, b)
    flink = _overlap(tmp_path / "flink", a, b, "--runner=FlinkRunner", "--parallelism=2")
    assert flink == direct
    report, pairs, matched = direct
    refined = three_runs["direct"][1]["totals"]["refined"]
    assert report["documents_a"] == report["documents_b"] == report["a_exact_in_b"] == refined
    assert report["a_with_near_duplicate_in_b"] == len(pairs) > 0.9 * refined  # all but the shortest texts
    assert sum(x == y and est == 1.0 for x, y, est in pairs) > 0.95 * len(pairs)
    assert matched == sorted({y for _x, y, _e in pairs})


def test_a_terminated_flink_run_stops_its_engine_and_leaves_no_spill_or_staging_files(tmp_path):
    """``kill PID`` of a running ``refinery run`` left the job server's spill folder (11 GB from a 2 GB
    run) and the staging files behind: the run now stops like Ctrl-C, with the engine and its files."""
    lines = (ROOT / "examples" / "sample" / "udhr.jsonl").read_text(encoding="utf-8").splitlines()
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("\n".join(lines * 40) + "\n", encoding="utf-8")  # ~3,000 records: runs well past its start
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "refinery.pipelines.cli", "run", "--input", str(corpus),
                             "--output", str(out), "--runner=FlinkRunner", "--parallelism=1"],
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    for line in proc.stderr:  # a progress line counted by the workers: the job is running
        seen.append(line)
        if re.search(r"ingest [1-9]", line):
            break
    assert proc.poll() is None, "the run ended before the workers counted anything:\n" + "".join(seen[-20:])
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 143, rest[-3000:]
    assert "refinery: terminated: the run stopped" in rest and "Traceback" not in rest
    manifest = json.loads((out / "reports" / "manifest.json").read_text())
    assert (manifest["status"], manifest["error"]) == ("failed", "terminated")
    log = manifest["engine"]["job_server_log"]
    assert not os.path.exists(log + ".tmp")  # Flink's spill files went with the job server
    assert _alive_with(log + ".artifacts") == []
    assert not (out / "reports" / "_run" / "staging").exists()
    assert not (out / "_SUCCESS").exists()


def test_a_job_server_out_of_heap_fails_the_run_and_says_how_to_give_it_more(tmp_path):
    """The JVM exits on its first OutOfMemoryError (a 2 GB Flink run with the default heap otherwise hung
    for good, its gRPC threads dead); the run then fails, naming the job server's log and the setting."""
    env = {**os.environ, "REFINERY_JOB_SERVER_JAVA_OPTS": "-Xmx160m"}
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "refinery.pipelines.cli", "run", "--input", str(SAMPLE / "*"),
                          "--output", str(out), "--quiet", "--runner", "FlinkRunner", "--parallelism", "1"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=RUN_TIMEOUT_S)
    assert res.returncode == 1, res.stderr[-4000:]
    failed = [line for line in res.stderr.splitlines() if line.startswith("refinery: run FAILED:")]
    assert len(failed) == 1 and "job server exited with status 3" in failed[0], res.stderr[-4000:]
    assert "REFINERY_JOB_SERVER_JAVA_OPTS=-Xmx" in failed[0]
    log = re.search(r"\(log: ([^)]+)\)", failed[0]).group(1)
    assert "OutOfMemoryError" in Path(log).read_text(errors="replace")
    manifest = json.loads((out / "reports" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"].startswith("EngineError: the job server exited")


def _dead_job_server(tmp_path, script: str, log: str) -> engines.PreparedEngine:
    server = object.__new__(engines.JobServer)  # its process only: what died() reads
    server.log_path = str(tmp_path / "job-server.log")
    Path(server.log_path).write_text(log)
    server.proc = subprocess.Popen(["sh", "-c", script])
    server.proc.wait()
    return engines.PreparedEngine(beam_args=[], processes=[server])


def test_a_job_server_killed_or_exited_is_named_with_its_log(tmp_path):
    killed = _dead_job_server(tmp_path, "kill -9 $$", "INFO ...\n").died()
    assert "killed (SIGKILL" in killed and "out-of-memory killer" in killed and "job-server.log" in killed
    exited = _dead_job_server(tmp_path, "exit 1", "java.lang.IllegalStateException\n").died()
    assert exited.startswith("the job server exited with status 1 (log: ") and "heap" not in exited
    oom = _dead_job_server(tmp_path, "exit 3", "Terminating due to java.lang.OutOfMemoryError: Java heap space\n")
    assert "its Java heap ran out" in oom.died()
    alive = _dead_job_server(tmp_path, "exit 0", "")
    alive.processes[0].proc = subprocess.Popen(["sleep", "30"])
    try:
        assert alive.died(grace=0.1) is None
    finally:
        alive.processes[0].proc.kill()
        alive.processes[0].proc.wait()


def test_the_job_server_exits_on_out_of_memory_unless_the_user_says_otherwise(monkeypatch):
    monkeypatch.delenv("REFINERY_JOB_SERVER_JAVA_OPTS", raising=False)
    assert "-XX:+ExitOnOutOfMemoryError" in engines._java_options()
    monkeypatch.setenv("REFINERY_JOB_SERVER_JAVA_OPTS", "-Xmx8g -XX:-ExitOnOutOfMemoryError")
    opts = engines._java_options()
    assert opts[-2:] == ["-Xmx8g", "-XX:-ExitOnOutOfMemoryError"]
    assert opts.index("-XX:-ExitOnOutOfMemoryError") > opts.index("-XX:+ExitOnOutOfMemoryError")


# ---- fast checks of the pieces, no JVM started ----

def test_runner_names_map_to_engines():
    assert engines.engine_for("FlinkRunner").name == "FlinkRunner"
    assert engines.engine_for("flink").name == "FlinkRunner"
    assert engines.engine_for("SparkRunner").name == "SparkRunner"
    for other in (None, "DirectRunner", "DataflowRunner", "PortableRunner", "PrismRunner"):
        assert engines.engine_for(other) is None
        assert engines.prepare(other, ["--foo=1"]) is None


def test_missing_java_or_maven_is_one_line_naming_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("REFINERY_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(engines.EngineError) as exc:
        engines.prepare("FlinkRunner", ["--parallelism=2"])
    msg = str(exc.value)
    assert "\n" not in msg and "Java" in msg and "apt-get install" in msg and "--flink_job_server_jar" in msg


def test_cli_reports_a_missing_engine_tool_as_usage_error(tmp_path):
    env = {**os.environ, "REFINERY_CACHE_DIR": str(tmp_path / "cache"), "PATH": str(tmp_path / "empty")}
    res = subprocess.run([sys.executable, "-m", "refinery.pipelines.cli", "run", "--input", str(SAMPLE / "udhr.jsonl"),
                          "--output", str(tmp_path / "out"), "--runner", "FlinkRunner"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("refinery: error:")]
    assert len(errors) == 1 and "needs Java" in errors[0]
    manifest = json.loads((tmp_path / "out" / "reports" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "needs Java" in manifest["error"]


def test_launcher_manifest_lines_fit_the_jar_format():
    jars = [f"lib/some-rather-long-artifact-name-{i}-2.56.0.jar" for i in range(40)]
    raw = engines._manifest("org.apache.beam.runners.flink.FlinkJobServerDriver", jars, ("java.base/java.nio",))
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 72 for line in lines)
    assert raw.endswith(b"\r\n\r\n")
    # Unfolded, the Class-Path lists every jar, space separated, in order.
    text = raw.decode().replace("\r\n ", "")
    class_path = next(line for line in text.split("\r\n") if line.startswith("Class-Path: "))
    assert class_path.removeprefix("Class-Path: ").split(" ") == jars
    assert "Main-Class: org.apache.beam.runners.flink.FlinkJobServerDriver" in text.split("\r\n")


def test_user_flags_win_and_the_runner_becomes_portable(monkeypatch):
    started = []

    class FakePool:
        address = "localhost:1"

        def __init__(self, log_path=None, progress_dir=None):
            self.log_path = log_path
            started.append(("pool", os.path.basename(log_path), os.path.isdir(progress_dir)))

        def stop(self):
            started.append("pool stopped")

    monkeypatch.setattr(engines, "WorkerPool", FakePool)
    prepared = engines.prepare("FlinkRunner", ["--runner", "FlinkRunner", "--job_endpoint=localhost:9",
                                               "--flink_master=host:8081", "--parallelism=3",
                                               "--sdk_worker_parallelism=1"])
    args = prepared.beam_args
    assert args[0] == "--runner=PortableRunner" and "FlinkRunner" not in args
    assert "--flink_master=host:8081" in args and "--sdk_worker_parallelism=1" in args
    assert "--environment_type=EXTERNAL" in args and "--environment_config=localhost:1" in args
    assert prepared.facts["master"] == "host:8081" and prepared.facts["parallelism"] == 3
    assert prepared.facts["worker_pool_log"].endswith("worker-pool.log")
    prepared.close()
    prepared.close()
    assert started == [("pool", "worker-pool.log", True), "pool stopped"]


def test_flink_conf_dir_goes_to_the_job_server_and_must_hold_a_flink_conf(tmp_path, monkeypatch):
    started = {}

    class FakeServer:
        address = "localhost:2"
        log_path = str(tmp_path / "log")

        def __init__(self, engine, jar, master, log_path, conf_dir=None):
            started["conf_dir"] = conf_dir

        def stop(self):
            pass

    monkeypatch.setattr(engines, "JobServer", FakeServer)
    monkeypatch.setattr(engines, "WorkerPool", lambda log_path=None, progress_dir=None: type(
        "P", (), {"address": "localhost:1", "log_path": log_path, "stop": lambda s: None})())
    with pytest.raises(engines.EngineError, match="no flink-conf.yaml"):
        engines.prepare("FlinkRunner", ["--flink_job_server_jar=x.jar", f"--flink_conf_dir={tmp_path}"])
    (tmp_path / "flink-conf.yaml").write_text(SMALL_SORT_BUFFERS)
    prepared = engines.prepare("FlinkRunner", ["--flink_job_server_jar=x.jar", f"--flink_conf_dir={tmp_path}"],
                               log_dir=str(tmp_path / "logs"))
    assert started["conf_dir"] == str(tmp_path) and prepared.facts["flink_conf_dir"] == str(tmp_path)
    assert prepared.facts["worker_pool_log"] == str(tmp_path / "logs" / "worker-pool.log")
    prepared.close()


def test_flink_conf_dir_is_a_flag_the_cli_accepts():
    from refinery.pipelines.cli import beam_flags

    assert "--flink_conf_dir" in beam_flags()


@pytest.mark.slow
def test_a_standalone_flink_cluster_gives_the_direct_runners_rows(tmp_path):
    """Flink 1.16.3 from PyPI (apache-flink-libraries), JobManager + TaskManager with 2 slots, started
    by benchmarks/flink_cluster.py; the run submits to it with --flink_master=localhost:PORT."""
    from benchmarks.flink_cluster import Cluster

    direct = _decisions_of_run(tmp_path / "direct", "--runner=DirectRunner")
    cluster = Cluster(tmp_path / "cluster", slots=2)
    try:
        out = tmp_path / "cluster-out"
        manifest = _cli_run(out, "--runner=FlinkRunner", f"--flink_master={cluster.master}", "--parallelism=2")
        assert cluster.overview()["jobs-finished"] == 1
    finally:
        cluster.stop()
    assert manifest["status"] == "succeeded" and manifest["reconciliation"]["ok"]
    assert manifest["engine"]["master"] == cluster.master
    got = _decisions(out)
    for kind in ("refined", "rejected", "errors"):
        assert got[kind] == direct[kind], (kind, sorted(got[kind] ^ direct[kind])[:5])


def _decisions_of_run(out: Path, *beam_args: str) -> dict[str, set]:
    _cli_run(out, *beam_args)
    return _decisions(out)


def test_engines_benchmark_judges_the_targets_from_what_was_run():
    from benchmarks.engines import plan, speedups, targets

    assert plan(["DirectRunner", "FlinkRunner"], [1, 2]) == [("DirectRunner", 1), ("FlinkRunner", 1),
                                                             ("FlinkRunner", 2)]

    def size(mb, p1_s, p2_s, jvm1, jvm2):
        e = {"mb": mb, "runs": [
            {"runner": "FlinkRunner", "workers": 1, "cli_seconds": p1_s,
             "processes": [{"label": "jvm", "peak_rss_mb": jvm1}]},
            {"runner": "FlinkRunner", "workers": 2, "cli_seconds": p2_s,
             "processes": [{"label": "jvm", "peak_rss_mb": jvm2}]}]}
        speedups(e)
        return e

    sizes = [size(40, 100, 70, 900, 900), size(200, 100, 55, 1000, 1100), size(2000, 1000, 560, 1200, 1500)]
    got = {t["target"]: t["met"] for t in targets({"sizes": sizes})}
    assert got["FlinkRunner p2/p1 >= 1.7x at >= 200 MB"] is True  # 1.82x, 1.79x
    assert got["FlinkRunner p2/p1 >= 1.6x at 40-200 MB"] is False  # 1.43x
    assert got["FlinkRunner p1: peak RSS per process flat (+/-25%) 200 -> 2000 MB"] is True  # x1.20
    assert got["FlinkRunner p2: peak RSS per process flat (+/-25%) 200 -> 2000 MB"] is False  # x1.36
    only_small = {t["target"]: t["met"] for t in targets({"sizes": [size(10, 100, 90, 900, 900)]})}
    assert set(only_small.values()) == {None}  # nothing at the sizes the targets name: not measured
