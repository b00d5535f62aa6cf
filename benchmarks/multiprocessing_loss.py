"""Standalone check for record loss in Beam's multi_processing DirectRunner (only Beam, no Refinery).

    python -m benchmarks.multiprocessing_loss --records 1000000 --files 8 --runs 3 --workers 2

Refinery's reconciliation caught Beam's local multi-process mode losing records (2 of 6 two-worker
runs of a 200 MB corpus, and a 1.6 GB run); the records that went missing were those that had
crossed a CoGroupByKey (its dedup join). This script builds the same shape with nothing but Beam:
text files of JSON lines are read, each record emits a few LSH-like band keys, the bands are
grouped, every record gets the smallest id of its bands back, and a CoGroupByKey joins that
decision to the record. Every record must come out exactly once; the job writes what came out to
text files and the driver counts them against what it wrote. Each run prints the counts and
``LOST n`` / ``DUPLICATED n``; exit status 1 if any run lost or duplicated a record.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import sys
import tempfile
import time


def write_inputs(folder: str, records: int, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5000)]
    per = records // files
    for f in range(files):
        with open(os.path.join(folder, f"part-{f:03d}.jsonl"), "w") as out:
            for i in range(per):
                text = " ".join(rng.choice(words) for _ in range(60))
                out.write(json.dumps({"id": f"{f}-{i}", "text": text}) + "\n")


def bands(record: dict, n: int = 4):
    import hashlib  # a multi-process worker does not have this module's globals

    words = record["text"].split()
    for b in range(n):
        h = hashlib.blake2b(" ".join(words[b * 3:(b + 1) * 3]).encode(), digest_size=6).hexdigest()
        yield f"{b}:{h}", record["id"]


def run_once(inputs: str, out: str, workers: int) -> None:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    opts = ["--runner=DirectRunner"]
    if workers > 1:
        opts += ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    with beam.Pipeline(options=PipelineOptions(opts)) as p:
        records = p | "Read" >> beam.io.ReadFromText(inputs) | "Parse" >> beam.Map(json.loads)
        by_id = records | "ById" >> beam.Map(lambda r: (r["id"], r))
        decisions = (records
                     | "Bands" >> beam.FlatMap(bands)
                     | "GroupBands" >> beam.GroupByKey()
                     | "Smallest" >> beam.FlatMap(lambda kv: ((i, min(kv[1])) for i in kv[1]))
                     | "PerRecord" >> beam.CombinePerKey(min))
        joined = ({"record": by_id, "decision": decisions}
                  | "Join" >> beam.CoGroupByKey()
                  | "Emit" >> beam.FlatMap(lambda kv: [f"{kv[0]}\t{len(kv[1]['decision'])}"] * len(kv[1]["record"])))
        _ = joined | "Write" >> beam.io.WriteToText(os.path.join(out, "ids"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="beam-mp-loss-")
    bad = False
    try:
        inputs = os.path.join(work, "in")
        os.makedirs(inputs)
        write_inputs(inputs, args.records, args.files)
        expected = args.records // args.files * args.files
        for run in range(args.runs):
            out = os.path.join(work, f"out-{run}")
            t0 = time.monotonic()
            run_once(os.path.join(inputs, "*.jsonl"), out, args.workers)
            seen: dict[str, int] = {}
            no_decision = 0
            for path in glob.glob(os.path.join(out, "ids*")):
                with open(path) as f:
                    for line in f:
                        rid, n = line.rstrip("\n").split("\t")
                        seen[rid] = seen.get(rid, 0) + 1
                        no_decision += n == "0"
            lost = expected - len(seen)
            dup = sum(c - 1 for c in seen.values() if c > 1)
            bad |= bool(lost or dup or no_decision)
            print(f"run {run + 1}: {args.workers} worker(s), {time.monotonic() - t0:.1f} s: wrote {expected:,}, "
                  f"came out {len(seen):,} (LOST {lost:,}, DUPLICATED {dup:,}, without a decision {no_decision:,})",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
