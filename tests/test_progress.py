"""Progress while a run goes (refinery.progress) and Ctrl-C ending it cleanly."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam

from refinery import progress
from refinery.transforms.beam.stage import Counters

ROOT = Path(__file__).resolve().parent.parent


def test_progress_line_reads_bytes_of_the_total_and_records_per_stage():
    values = {("ingest", "bytes_read"): 12_300_000, ("ingest", "seen"): 9120, ("language", "seen"): 9000,
              ("dedup", "seen"): 0}
    line = progress.progress_line(values, ["ingest", "language", "dedup"], elapsed=42.0, total_bytes=40_000_000)
    assert line.startswith("0:42  read 12.3 of 40.0 MB (31%, 0.29 MB/s, ETA 1:34)")
    assert line.endswith("ingest 9,120 → language 9,000 → dedup 0")
    # too little read yet for the rate to say anything about the rest: no ETA (a one-record run's
    # ten seconds of start-up read 0.0 of 0.7 MB once gave "ETA 52:50")
    early = progress.progress_line({("ingest", "bytes_read"): 1_000}, ["ingest"], 10.0, 700_000)
    assert early.startswith("0:10  read 0.0 of 0.7 MB (0%, 0.00 MB/s)") and "ETA" not in early
    # unknown total (remote inputs): no share, no ETA
    assert "of" not in progress.progress_line(values, ["ingest"], 42.0, None).split("MB")[0]


def test_reporter_prints_plain_lines_in_a_log_and_never_fails_the_run():
    out = io.StringIO()
    calls = []

    def source():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("job server busy")  # a tick that cannot read is skipped
        return {("ingest", "seen"): len(calls)}

    r = progress.Reporter(source, ["ingest"], None, every_s=0.05, stream=out).start()
    time.sleep(0.4)
    r.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("refinery: 0:00  read 0.0 MB") for line in lines)
    assert "ingest 1" in lines[0] and "ingest 2" not in out.getvalue()


class _Count(beam.DoFn):
    def setup(self):
        self._c = Counters("language")

    def process(self, x):
        self._c.inc("seen")
        yield x


def test_in_process_stages_note_their_counters_in_the_tally_only_when_enabled():
    tally = progress.enable()
    try:
        with beam.Pipeline() as p:
            _ = p | beam.Create(range(7)) | beam.ParDo(_Count())
        assert tally.snapshot()[("language", "seen")] == 7
    finally:
        progress.disable()
    with beam.Pipeline() as p:
        _ = p | beam.Create(range(3)) | beam.ParDo(_Count())
    assert tally.snapshot()[("language", "seen")] == 7  # nothing noted once disabled


def test_ctrl_c_stops_the_run_with_one_line_and_a_failed_interrupted_manifest(tmp_path):
    lines = (ROOT / "examples" / "sample" / "udhr.jsonl").read_text(encoding="utf-8").splitlines()
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("\n".join(lines * 40) + "\n", encoding="utf-8")  # ~3,000 records: runs far past 5 s
    out = tmp_path / "out"
    # no lingua preload: it holds the GIL for seconds, and no handler can run meanwhile
    proc = subprocess.Popen([sys.executable, "-m", "refinery.pipelines.cli", "run", "--input", str(corpus),
                             "--output", str(out), "--set", "language.warm_models=false"],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    for line in proc.stderr:  # the first progress line: the job is running
        seen.append(line)
        if "read " in line and " → " in line:
            break
    assert proc.poll() is None, "the run ended before its first progress line:\n" + "".join(seen)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130, rest
    assert time.monotonic() - t0 < 30
    assert "refinery: interrupted: the run stopped" in rest and "Traceback" not in rest
    manifest = json.loads((out / "reports" / "manifest.json").read_text())
    assert (manifest["status"], manifest["error"]) == ("failed", "interrupted")
    assert not (out / "_SUCCESS").exists()


def test_worker_tallies_are_written_and_summed(tmp_path):
    import json as _json

    from refinery import progress

    assert progress.worker_values(str(tmp_path)) is None  # no worker has written yet
    tally = progress.Tally()
    tally.add("ingest", "seen", 5)
    tally.add("ingest", "bytes_read", 1000)
    progress._dump(tally, str(tmp_path / "11.json"))
    (tmp_path / "12.json").write_text(_json.dumps({"ingest\tseen": 7, "quality\tseen": 2}), encoding="utf-8")
    (tmp_path / "13.json.tmp").write_text("{half", encoding="utf-8")  # being written: not read
    assert progress.worker_values(str(tmp_path)) == {("ingest", "seen"): 12, ("ingest", "bytes_read"): 1000,
                                                     ("quality", "seen"): 2}


def test_a_worker_process_writes_its_tally_when_told_where(tmp_path):
    import os
    import subprocess
    import sys

    from refinery import progress

    code = ("import time\n"
            "from refinery import progress\n"
            "assert progress._tally is not None\n"
            "progress._tally.add('ingest', 'seen', 3)\n"
            f"time.sleep({progress.WORKER_EVERY_S} + 0.5)\n")
    env = {**os.environ, "REFINERY_PROGRESS_DIR": str(tmp_path)}
    env.pop("PYTHONWARNINGS", None)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert progress.worker_values(str(tmp_path)) == {("ingest", "seen"): 3}


def test_metrics_are_asked_anew_not_the_first_answer_kept():
    from refinery import progress

    class PortableLike:  # Beam 2.56's portable PipelineResult keeps its first metrics() answer in _metrics
        def __init__(self):
            self._metrics, self.asked = None, 0

        def metrics(self):
            if not self._metrics:
                self.asked += 1
                self._metrics = f"answer {self.asked}"
            return self._metrics

    result = PortableLike()
    assert progress.fresh_metrics(result) == "answer 1"  # while the job runs
    assert progress.fresh_metrics(result) == "answer 2"  # after it finished: a new answer
