"""Scale harness: the whole refinery (every stage on) on generated corpora, next to datatrove.

    python -m benchmarks.run --mb 10,50,200 --workers 1,2 \\
        --datatrove-python /tmp/dtvenv/bin/python --json /tmp/scale.json
    python -m benchmarks.run --mb 40,200 --runner FlinkRunner --parallelism 1,2 --json /tmp/flink.json

For each size it generates (once, cached under ``--work``) the deterministic multilingual corpus of
:mod:`benchmarks.corpus` (about half CJK, injected exact and near duplicates, junk, licence notices;
8 JSONL shards), then runs ``refinery run`` on it exactly as a user would (a fresh process, DirectRunner,
validation and reports on), once per ``--workers`` value: 1 = in-process, N > 1 =
``--direct_running_mode=multi_processing --direct_num_workers=N``; with ``--runner FlinkRunner`` (or
SparkRunner) N is the engine's parallelism (``--parallelism N``: N Python worker processes). It prints

- end to end: the CLI process's wall time (start-up, pipeline, validation, reports) → MB/s, docs/s;
  the pipeline's own wall time; peak resident memory (one process: its own; several: the runner's,
  which holds the shuffles, and the largest worker's);
- per stage (one worker): the stage's busy time (its own code, from the run's ``busy_seconds``) →
  docs/s and MB/s of what it saw; the rest of the pipeline time is Beam (shuffles, coders) and I/O;
- the scaling table (MB/s and peak memory per worker vs corpus size);
- the peak resident memory of every process of every run, sampled from ``/proc`` (the CLI, the
  job-server JVM, the worker pool, each SDK worker; DirectRunner workers);
- with ``--datatrove-python``: datatrove's MinHash dedup end to end on the same files with the same
  worker counts, and its Gopher quality + repetition filters on the first ``--gopher-mb`` MB (they are
  slow), with the ratios. datatrove lives only in that separate environment, never in Refinery's.

The JSON (``--json``) holds every number printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._proctree import TreeSampler
from benchmarks._timing import benchmark_parser
from benchmarks.corpus import generate

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"


def corpus_dir(work: Path, shared: Path, mb: float) -> tuple[Path, dict]:
    d = work / f"corpus-{mb:g}mb"
    facts_path = d / "corpus.json"
    if facts_path.exists():
        facts = json.loads(facts_path.read_text())
        if facts.get("mb") == mb:
            return d, facts
    print(f"generating a {mb:g} MB corpus in {d} ...", file=sys.stderr, flush=True)
    return d, generate(shared, mb, d)


def runner_args(runner: str, workers: int) -> list[str]:
    """Beam flags for one run: DirectRunner 1 = in-process, N > 1 = its multi_processing mode;
    FlinkRunner / SparkRunner N = parallelism N (engine started by refinery, N Python workers)."""
    if runner == "DirectRunner":
        return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"] if workers > 1 else []
    return [f"--runner={runner}", f"--parallelism={workers}"]


def run_sampled(cmd: list[str]) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run ``cmd`` (output captured) while sampling the peak RSS of every process in its tree."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    sampler = TreeSampler(proc.pid)
    stdout, stderr = proc.communicate()
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), sampler.stop()


def run_refinery(corpus: Path, out: Path, workers: int, runner: str = "DirectRunner") -> dict:
    cmd = [sys.executable, "-m", "benchmarks._measure", "--", "run", "--input", str(corpus / "shard-*.jsonl"),
           "--output", str(out), "--overwrite", "--quiet", *runner_args(runner, workers)]
    t0 = time.perf_counter()
    res, processes = run_sampled(cmd)
    wall = time.perf_counter() - t0
    manifest = out / "reports" / "manifest.json"
    m = json.loads(manifest.read_text()) if manifest.exists() else {}
    if res.returncode != 0 and "wall_seconds" not in m:
        raise SystemExit(f"refinery run failed ({res.returncode}):\n{res.stderr[-3000:]}")
    mem = json.loads(res.stdout.strip().splitlines()[-1])
    # A run that finished but failed its checks (exit 1: reconciliation or a critical expectation) is
    # reported as failed, with why, and the benchmark goes on to the next run.
    failed = [line.removeprefix("refinery: ") for line in res.stderr.splitlines()
              if "FAILED" in line and line.startswith("refinery: ")] if res.returncode else []
    return {"runner": runner, "workers": workers, "exit": res.returncode, "failed": failed,
            "cli_seconds": round(wall, 2), "pipeline_seconds": m["wall_seconds"],
            "validation_seconds": m.get("validation_seconds"), "busy_seconds": m.get("busy_seconds", {}),
            "counters": m["counters"], "totals": m["totals"], "peak_rss_mb": mem["peak_rss_mb"],
            "self_peak_rss_mb": mem["self_peak_rss_mb"], "children_peak_rss_mb": mem["children_peak_rss_mb"],
            "processes": processes}


def run_datatrove_minhash(python: str, corpus: Path, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as work:
        res = subprocess.run([python, str(PEERS / "datatrove_minhash.py"), str(corpus), work, str(workers)],
                             capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"datatrove MinHash failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_datatrove_gopher(python: str, corpus: Path, mb: float) -> dict:
    """datatrove's Gopher quality + repetition filters on the corpus's first ``mb`` MB of documents."""
    budget = int(mb * 1e6)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        used = 0
        with open(corpus / "shard-000.jsonl", encoding="utf-8") as fh:
            for line in fh:
                d = json.loads(line)
                f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
                used += len(d["text"].encode())
                if used >= budget:
                    break
    try:
        res = subprocess.run([python, str(PEERS / "datatrove_gopher.py"), f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if res.returncode != 0:
        raise SystemExit(f"datatrove Gopher failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {"mb": used / 1e6, "seconds": out["seconds"], "mb_s": out["mb_s"]}


def stage_table(run: dict, facts: dict) -> list[dict]:
    rows = []
    mb = facts["file_bytes"] / 1e6
    records = run["totals"]["records"] or 1
    for stage, busy in run["busy_seconds"].items():
        seen = run["counters"].get(stage, {}).get("seen", records)
        rows.append({"stage": stage, "busy_s": busy, "docs": seen,
                     "docs_s": seen / busy if busy else None, "mb_s": mb * seen / records / busy if busy else None})
    return rows


def main() -> None:
    ap = benchmark_parser(__doc__)
    ap.add_argument("--mb", default="10,50,200", help="corpus sizes in MB, comma-separated (default 10,50,200)")
    ap.add_argument("--workers", "--parallelism", default="1,2",
                    help="worker counts (DirectRunner) or parallelism (FlinkRunner, SparkRunner); default 1,2")
    ap.add_argument("--runner", default="DirectRunner", help="DirectRunner (default), FlinkRunner or SparkRunner; "
                    "comma-separated to run several on the same corpus")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "refinery-bench"),
                    help="where corpora and outputs go (corpora are reused between runs)")
    ap.add_argument("--datatrove-python", help="python of an environment with datatrove (see benchmarks/peers/)")
    ap.add_argument("--gopher-mb", type=float, default=3.0,
                    help="MB of the corpus datatrove's Gopher filters read (default 3; they run ~0.2-0.5 MB/s)")
    args = ap.parse_args()
    shared, work = Path(args.shared), Path(args.work)
    sizes = [float(s) for s in args.mb.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    runners = [r.strip() for r in args.runner.split(",") if r.strip()]
    results: dict = {"sizes": [], "cpu_count": os.cpu_count()}
    for mb in sizes:
        corpus, facts = corpus_dir(work, shared, mb)
        entry: dict = {"mb": mb, "corpus": facts, "refinery": [], "datatrove": {}}
        for runner, w in [(runner, w) for runner in runners for w in workers]:
            print(f"[{mb:g} MB] refinery, {runner}, {w} worker(s) ...", file=sys.stderr, flush=True)
            r = run_refinery(corpus, work / f"out-{mb:g}mb-{runner}-{w}w", w, runner)
            r["mb_s"] = facts["file_bytes"] / 1e6 / r["cli_seconds"]
            r["docs_s"] = facts["docs"] / r["cli_seconds"]
            r["pipeline_mb_s"] = facts["file_bytes"] / 1e6 / r["pipeline_seconds"]
            entry["refinery"].append(r)
            if args.datatrove_python and runner == runners[0]:
                print(f"[{mb:g} MB] datatrove MinHash, {w} worker(s) ...", file=sys.stderr, flush=True)
                entry["datatrove"][f"minhash_{w}w"] = run_datatrove_minhash(args.datatrove_python, corpus, w)
        if args.datatrove_python and args.gopher_mb > 0:
            print(f"[{mb:g} MB] datatrove Gopher filters on {args.gopher_mb:g} MB ...", file=sys.stderr, flush=True)
            entry["datatrove"]["gopher"] = run_datatrove_gopher(args.datatrove_python, corpus, args.gopher_mb)
        one = next((r for r in entry["refinery"] if r["workers"] == 1), entry["refinery"][0])
        entry["stages"] = stage_table(one, facts)
        results["sizes"].append(entry)
        report(results)
        if args.json:  # after every size, so a later failure keeps what was measured
            Path(args.json).write_text(json.dumps(results, indent=1))
    if args.json:
        print(f"\nwrote {args.json}")


def _peaks(r: dict) -> str:
    """One process: its peak. Several: the runner's (it holds the shuffles) / the largest worker's."""
    if r.get("runner", "DirectRunner") != "DirectRunner":
        by = _by_label(r)
        return f"{max(by.get('cli', [0])):,.0f} / {max(by.get('sdk_worker', [0])):,.0f}"
    if r["workers"] == 1:
        return f"{r['self_peak_rss_mb']:,.0f}"
    return f"{r['self_peak_rss_mb']:,.0f} / {r['children_peak_rss_mb']:,.0f}"


def _by_label(r: dict) -> dict[str, list[float]]:
    by: dict[str, list[float]] = {}
    for p in r.get("processes", []):
        by.setdefault(p["label"], []).append(p["peak_rss_mb"])
    return by


def process_table(results: dict) -> None:
    """Peak RSS of every process of every run (launcher, job-server JVM, worker pool, each SDK worker)."""
    print("\n== peak resident memory per process, MB (sampled from /proc: VmHWM) ==")
    for e in results["sizes"]:
        for r in e["refinery"]:
            parts = [f"{label} " + "/".join(f"{mb:,.0f}" for mb in sorted(mbs, reverse=True))
                     for label, mbs in sorted(_by_label(r).items())]
            total = sum(p["peak_rss_mb"] for p in r.get("processes", []))
            print(f"{e['mb']:>6g} MB {r.get('runner', 'DirectRunner'):<12} x{r['workers']}: {'; '.join(parts)}"
                  f"  (sum of peaks {total:,.0f})")


def report(results: dict) -> None:
    print("\n== end to end (refinery run: every stage on, validation + reports; wall of the CLI process) ==")
    print(f"{'MB':>6} {'docs':>8} {'runner':>12} {'workers':>7} {'wall s':>8} {'MB/s':>7} {'docs/s':>8} "
          f"{'pipeline s':>10} "
          f"{'valid. s':>8} {'peak MB runner/worker':>21} | {'datatrove MinHash MB/s':>22} {'ratio':>6}")
    for e in results["sizes"]:
        for r in e["refinery"]:
            dt = e["datatrove"].get(f"minhash_{r['workers']}w")
            dts = f"{dt['mb_s']:>22.2f} {r['mb_s'] / dt['mb_s']:>5.2f}x" if dt else f"{'-':>22} {'-':>6}"
            if r.get("exit"):
                dts += f"  FAILED (exit {r['exit']}): {'; '.join(r['failed'][:2]) or 'see its manifest'}"
            print(f"{e['mb']:>6g} {e['corpus']['docs']:>8,} {r.get('runner', 'DirectRunner'):>12} {r['workers']:>7} "
                  f"{r['cli_seconds']:>8.1f} {r['mb_s']:>7.2f} "
                  f"{r['docs_s']:>8,.0f} {r['pipeline_seconds']:>10.1f} {r['validation_seconds'] or 0:>8.1f} "
                  f"{_peaks(r):>21} | {dts}")
        for runner in dict.fromkeys(r.get("runner", "DirectRunner") for r in e["refinery"]):
            by_w = {r["workers"]: r for r in e["refinery"] if r.get("runner", "DirectRunner") == runner}
            for w, r in sorted(by_w.items()):
                if w > 1 and 1 in by_w:
                    print(f"{'':>6} {runner} speed-up with {w} workers: "
                          f"{by_w[1]['cli_seconds'] / r['cli_seconds']:.2f}x end to end, "
                          f"{by_w[1]['pipeline_seconds'] / r['pipeline_seconds']:.2f}x pipeline")
        g = e["datatrove"].get("gopher")
        if g:
            print(f"{'':>6} datatrove Gopher quality+repetition filters: {g['mb_s']:.2f} MB/s on {g['mb']:.1f} MB "
                  f"(refinery's whole pipeline: {e['refinery'][0]['mb_s'] / g['mb_s']:.1f}x)")
    last = results["sizes"][-1]
    print(f"\n== per stage, {last['mb']:g} MB, one worker: busy time in the stage's own code ==")
    print(f"{'stage':<10} {'busy s':>8} {'docs':>9} {'docs/s':>9} {'MB/s':>8}")
    for s in last["stages"]:
        print(f"{s['stage']:<10} {s['busy_s']:>8.1f} {s['docs']:>9,} {s['docs_s'] or 0:>9,.0f} {s['mb_s'] or 0:>8.2f}")
    one = last["refinery"][0]
    busy = sum(one["busy_seconds"].values())
    print(f"{'(Beam)':<10} {one['pipeline_seconds'] - busy:>8.1f}   pipeline wall − busy: shuffles, coders, bundles, "
          f"start-up")
    if len(results["sizes"]) > 1:
        print("\n== scaling (one worker unless noted) ==")
        print(f"{'MB':>6} {'runner':>12} {'workers':>7} {'MB/s':>7} {'pipeline MB/s':>13} "
              f"{'peak MB runner/worker':>21}")
        for e in results["sizes"]:
            for r in e["refinery"]:
                print(f"{e['mb']:>6g} {r.get('runner', 'DirectRunner'):>12} {r['workers']:>7} {r['mb_s']:>7.2f} "
                      f"{r['pipeline_mb_s']:>13.2f} {_peaks(r):>21}")
    process_table(results)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
