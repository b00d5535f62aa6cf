"""Fixed cost of a run: `refinery run` on one record, as a user runs it, and where the time goes.

    python -m benchmarks.fixed_cost --runs 5
    python -m benchmarks.fixed_cost --runs 5 --set dedup.cluster_step=distributed

Each run is a fresh ``refinery run`` process (validation on, defaults) on one UDHR record of the
bundled sample. Printed: wall, CPU (user + system, children included: the validation process) and
peak memory per run, their medians, and for one more run in this process the split into import,
job building, the pipeline and the post-run (reconciliation, validation, manifest), with the job
graph's size (leaf transforms, shuffles). The target of the throughput issue is a wall time of 4 s
or less. Compare two checkouts with ``farm-bench`` in alternating pairs: the machine is noisy.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample" / "udhr.jsonl"


def one_record(folder: Path) -> Path:
    path = folder / "one.jsonl"
    with open(SAMPLE, encoding="utf-8") as f:
        path.write_text(f.readline(), encoding="utf-8")
    return path


def timed_process(argv: list[str]) -> dict:
    """A fresh CLI process: wall, CPU of it and its children, peak memory of the largest."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "refinery.pipelines.cli", *argv], capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"refinery run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_mb": round(after.ru_maxrss / 1024, 1)}


def phases(argv: list[str]) -> dict:
    """One run in this process, timed by phase; the job graph counted as it is built."""
    t0 = time.monotonic()
    importlib.import_module("refinery")  # first: its warning filters must precede Beam's import
    import apache_beam as beam

    import refinery.pipelines.run as run_mod
    from refinery.pipelines.cli import main

    spent: dict[str, float] = {"import": time.monotonic() - t0}
    graph: dict[str, int] = {}

    def timed(name, fn):
        def call(*a, **k):
            t = time.monotonic()
            try:
                return fn(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.monotonic() - t
        return call

    build = run_mod.build_pipeline

    def build_and_count(p, *a, **k):
        out = build(p, *a, **k)

        class Count(beam.pipeline.PipelineVisitor):
            def visit_transform(self, node):
                graph["transforms"] = graph.get("transforms", 0) + 1
                graph["shuffles"] = graph.get("shuffles", 0) + isinstance(node.transform, beam.GroupByKey)

        p.visit(Count())
        return out

    run_mod.build_pipeline = timed("build", build_and_count)
    run_mod.finish = timed("post-run", run_mod.finish)
    pipeline_run = beam.Pipeline.run
    beam.Pipeline.run = timed("pipeline", pipeline_run)
    try:
        code = main(argv)
    finally:
        beam.Pipeline.run = pipeline_run
    if code != 0:
        raise SystemExit(f"refinery run exited {code}")
    spent["total"] = time.monotonic() - t0
    return {"phases_s": {k: round(v, 2) for k, v in spent.items()}, "graph": graph}


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to refinery run")
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="refinery-fixed-") as tmp:
        tmp = Path(tmp)
        argv = ["run", "--input", str(one_record(tmp)), "--output", str(tmp / "out"), "--overwrite", "--quiet"]
        for kv in args.set:
            argv += ["--set", kv]
        runs = []
        for i in range(args.runs):
            runs.append(timed_process(argv))
            print(f"run {i + 1}: wall {runs[-1]['wall_s']:.2f} s, cpu {runs[-1]['cpu_s']:.2f} s, "
                  f"peak {runs[-1]['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
        split = phases(argv)
    out = {"runs": runs, "median_wall_s": round(median([r["wall_s"] for r in runs]), 2),
           "median_cpu_s": round(median([r["cpu_s"] for r in runs]), 2),
           "max_peak_mb": max(r["peak_mb"] for r in runs), **split, "load_average": os.getloadavg()[0]}
    print(f"one-record run, median of {args.runs}: wall {out['median_wall_s']:.2f} s (target <= 4 s), "
          f"cpu {out['median_cpu_s']:.2f} s, peak {out['max_peak_mb']:.0f} MB; load average {out['load_average']:.1f}")
    g = split["graph"]
    print("in-process split: " + ", ".join(f"{k} {v:.2f} s" for k, v in split["phases_s"].items())
          + f"; job graph: {g.get('transforms', 0)} transforms, {g.get('shuffles', 0)} shuffles")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
