"""Engines benchmark: the whole refinery on DirectRunner and on Flink (parallelism 1 and 2), same corpus.

    python -m benchmarks.engines --mb 10,40 --json /tmp/engines.json
    python -m benchmarks.engines --mb 200,2000 --runner FlinkRunner --parallelism 1,2 --json /tmp/engines-big.json
    python -m benchmarks.engines --mb 40 --runner DirectRunner,FlinkRunner,SparkRunner

For each size it generates (once, cached under ``--work``) the corpus of :mod:`benchmarks.corpus`
and runs ``refinery run`` on it as a user would (a fresh CLI process, validation and reports on):
the DirectRunner once (in-process; ``--parallelism`` does not apply to it), each engine once per
``--parallelism`` value (the engine's job server and N Python SDK worker processes, started by
Refinery). It prints one table:

- wall s and MB/s of the CLI process (start-up, pipeline, validation, reports);
- speed-up of parallelism N over parallelism 1 of the same engine and size;
- whether the refined / rejected / errors rows (doc_id with its decision) equal the DirectRunner's;
- peak resident memory of every process, sampled from ``/proc`` (VmHWM): the launching CLI, the job
  server JVM, the worker pool, each SDK worker;

then the targets of issue #15 — parallelism 2 >= 1.7x parallelism 1 at 200 MB (>= 1.6x at 40 MB),
and each process's peak RSS flat (within +/-25 %) between the smallest and the largest size of at
least 200 MB — each as met / not met / not measured. The JSON (``--json``) holds every number, and
is rewritten after every run so that a later failure keeps what was measured. On a machine shared
with other work the wall times (and so the speed-ups) are disturbed: say so with the figures.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pyarrow.dataset as ds

from benchmarks._timing import benchmark_parser
from benchmarks.run import corpus_dir, run_refinery
from refinery.arrow_io import hive_partitioning

SPEEDUP_TARGETS = ((200.0, float("inf"), 1.7), (40.0, 200.0, 1.6))  # (corpus MB from, below, p2/p1 at least)
RSS_FLAT = 0.25  # each process's peak within +/-25 % from the first size of >= 200 MB to the largest
RSS_FLAT_FROM_MB = 200.0
LABELS = ("cli", "jvm", "worker_pool", "sdk_worker")


def decisions(out: Path) -> dict[str, set]:
    """doc_id with its decision, per output kind (what must not depend on the engine)."""
    def rows(kind, cols):
        folder = out / kind
        if not folder.exists():
            return set()
        t = ds.dataset(str(folder), format="parquet", partitioning=hive_partitioning()).to_table(columns=cols)
        return set(zip(*(t.column(c).to_pylist() for c in cols), strict=True))

    return {"refined": rows("refined", ["doc_id", "lang", "dup_cluster_id"]),
            "rejected": rows("rejected", ["doc_id", "reject_stage", "reject_reason"]),
            "errors": rows("errors", ["source_uri", "source_line", "error_stage"])}


def peaks_by_label(run: dict) -> dict[str, list[float]]:
    by: dict[str, list[float]] = {}
    for p in run.get("processes", []):
        by.setdefault(p["label"], []).append(p["peak_rss_mb"])
    return {k: sorted(v, reverse=True) for k, v in by.items()}


def plan(runners: list[str], parallelism: list[int]) -> list[tuple[str, int]]:
    """(runner, N) pairs to run: the DirectRunner once, every engine once per N."""
    out = []
    for r in runners:
        out += [(r, 1)] if r == "DirectRunner" else [(r, n) for n in parallelism]
    return out


def speedups(entry: dict) -> None:
    """Adds ``speedup`` (wall of parallelism 1 / this wall) to every engine run of one size."""
    for r in entry["runs"]:
        one = next((x for x in entry["runs"] if x["runner"] == r["runner"] and x["workers"] == 1), None)
        r["speedup"] = (round(one["cli_seconds"] / r["cli_seconds"], 3) if one and r["runner"] != "DirectRunner"
                        else None)


def targets(results: dict) -> list[dict]:
    """Issue #15's targets, each met / not met / not measured, from what was run."""
    out = []
    sizes = results["sizes"]
    for runner in sorted({r["runner"] for e in sizes for r in e["runs"]} - {"DirectRunner"}):
        for from_mb, below_mb, want in SPEEDUP_TARGETS:
            got = [(e["mb"], r["speedup"]) for e in sizes if from_mb <= e["mb"] < below_mb
                   for r in e["runs"] if r["runner"] == runner and r["workers"] == 2 and r.get("speedup")]
            span = f">= {from_mb:g} MB" if below_mb == float("inf") else f"{from_mb:g}-{below_mb:g} MB"
            out.append({"target": f"{runner} p2/p1 >= {want}x at {span}",
                        "measured": ", ".join(f"{s:.2f}x at {mb:g} MB" for mb, s in got) or None,
                        "met": (all(s >= want for _mb, s in got) if got else None)})
        big = [e for e in sizes if e["mb"] >= RSS_FLAT_FROM_MB]
        for w in sorted({r["workers"] for e in sizes for r in e["runs"] if r["runner"] == runner}):
            if len(big) < 2:
                out.append({"target": f"{runner} p{w}: peak RSS per process flat (+/-{RSS_FLAT:.0%}) from "
                            f"{RSS_FLAT_FROM_MB:g} MB up", "measured": None, "met": None})
                continue
            lo, hi = big[0], big[-1]
            a = next((r for r in lo["runs"] if r["runner"] == runner and r["workers"] == w), None)
            b = next((r for r in hi["runs"] if r["runner"] == runner and r["workers"] == w), None)
            if not a or not b:
                continue
            pa, pb = peaks_by_label(a), peaks_by_label(b)
            ratios = {k: max(pb[k]) / max(pa[k]) for k in LABELS if pa.get(k) and pb.get(k)}
            out.append({"target": f"{runner} p{w}: peak RSS per process flat (+/-{RSS_FLAT:.0%}) "
                        f"{lo['mb']:g} -> {hi['mb']:g} MB",
                        "measured": ", ".join(f"{k} x{v:.2f}" for k, v in ratios.items()),
                        "met": all(abs(v - 1) <= RSS_FLAT for v in ratios.values()) if ratios else None})
    return out


def _mb(values: list[float] | None) -> str:
    return "/".join(f"{v:,.0f}" for v in values) if values else "-"


def report(results: dict) -> None:
    print("\n== refinery run on each engine (wall of the CLI process; peak RSS per process, MB, from /proc) ==")
    print(f"{'MB':>6} {'runner':<12} {'p':>2} {'exit':>4} {'wall s':>8} {'MB/s':>6} {'p/p1':>5} {'same rows':>9} "
          f"{'cli':>7} {'jvm':>7} {'pool':>5} {'sdk workers':>15}")
    for e in results["sizes"]:
        for r in e["runs"]:
            by = peaks_by_label(r)
            same = ("-" if r["runner"] == "DirectRunner" or "same_rows" not in r  # nothing to compare with
                    else "yes" if r["same_rows"] else "NO")
            sp = f"{r['speedup']:.2f}" if r.get("speedup") else "-"
            print(f"{e['mb']:>6g} {r['runner']:<12} {r['workers']:>2} {r['exit']:>4} {r['cli_seconds']:>8.1f} "
                  f"{r['mb_s']:>6.2f} {sp:>5} {same:>9} {_mb(by.get('cli')):>7} {_mb(by.get('jvm')):>7} "
                  f"{_mb(by.get('worker_pool')):>5} {_mb(by.get('sdk_worker')):>15}")
    print("\n== targets (issue #15) ==")
    for t in targets(results):
        state = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        print(f"{state:<13} {t['target']}" + (f": {t['measured']}" if t["measured"] else ""))
    sys.stdout.flush()


def main() -> None:
    ap = benchmark_parser(__doc__)
    ap.add_argument("--mb", default="10,40", help="corpus sizes in MB, comma-separated (default 10,40)")
    ap.add_argument("--runner", default="DirectRunner,FlinkRunner",
                    help="comma-separated: DirectRunner, FlinkRunner, SparkRunner (default DirectRunner,FlinkRunner)")
    ap.add_argument("--parallelism", default="1,2", help="engine parallelism values (default 1,2)")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "refinery-bench"),
                    help="where corpora and outputs go (corpora are reused between runs)")
    args = ap.parse_args()
    shared, work = Path(args.shared), Path(args.work)
    runners = [r.strip() for r in args.runner.split(",") if r.strip()]
    parallelism = [int(n) for n in args.parallelism.split(",")]
    results: dict = {"sizes": []}
    import os

    results["cpu_count"] = os.cpu_count()
    for mb in (float(s) for s in args.mb.split(",")):
        corpus, facts = corpus_dir(work, shared, mb)
        entry = {"mb": mb, "corpus": facts, "runs": []}
        results["sizes"].append(entry)
        direct_rows = None
        for runner, n in plan(runners, parallelism):
            print(f"[{mb:g} MB] {runner} parallelism {n} ...", file=sys.stderr, flush=True)
            out = work / f"out-{mb:g}mb-{runner}-{n}"
            r = run_refinery(corpus, out, n, runner) if runner != "DirectRunner" else run_refinery(corpus, out, 1)
            r["mb_s"] = round(facts["file_bytes"] / 1e6 / r["cli_seconds"], 3)
            rows = decisions(out)
            if runner == "DirectRunner":
                direct_rows = rows
            elif direct_rows is not None:
                r["same_rows"] = rows == direct_rows
            entry["runs"].append(r)
            speedups(entry)
            if args.json:
                Path(args.json).write_text(json.dumps({**results, "targets": targets(results)}, indent=1,
                                                      default=str))
        report(results)
    if args.json:
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
