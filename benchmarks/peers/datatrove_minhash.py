"""Run datatrove's MinHash deduplication end to end (its documented 4-stage recipe: signatures →
buckets → clusters → filter, reading JSONL and writing the deduplicated JSONL) over a folder of
``*.jsonl`` files; print JSON with wall time and MB/s. Executed with the interpreter of a separate
environment that has datatrove (never a Refinery dependency):

    python3 -m venv /tmp/dtvenv && /tmp/dtvenv/bin/pip install datatrove regex nltk spacy
    /tmp/dtvenv/bin/python benchmarks/peers/datatrove_minhash.py CORPUS_DIR WORK_DIR [WORKERS]

Config: datatrove's defaults (MinhashConfig: 5-grams, 14 buckets x 8 hashes, English word
tokenizer); ``tasks`` = number of input files, ``workers`` = WORKERS (default 1) for the signature
and filter stages, ``WORKERS`` bucket tasks; the cluster stage is one task by datatrove's design.
"""

import glob
import json
import os
import shutil
import sys
import time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter


def main():
    corpus, work = sys.argv[1], sys.argv[2]
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    shutil.rmtree(work, ignore_errors=True)
    files = sorted(glob.glob(os.path.join(corpus, "*.jsonl")))
    nbytes = sum(os.path.getsize(f) for f in files)
    tasks = len(files)
    cfg = MinhashConfig()
    logs = os.path.join(work, "logs")

    def reader():
        return JsonlReader(corpus, glob_pattern="*.jsonl", id_key="id")

    timings = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[reader(), MinhashDedupSignature(output_folder=f"{work}/sigs", config=cfg)],
        tasks=tasks, workers=workers, logging_dir=f"{logs}/sigs").run()
    timings["signatures"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(input_folder=f"{work}/sigs", output_folder=f"{work}/buckets", config=cfg)],
        tasks=cfg.num_buckets, workers=workers, logging_dir=f"{logs}/buckets").run()
    timings["buckets"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=cfg)],
        tasks=1, logging_dir=f"{logs}/clusters").run()
    timings["clusters"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[reader(), MinhashDedupFilter(input_folder=f"{work}/remove_ids"),
                  JsonlWriter(f"{work}/deduped", compression=None)],
        tasks=tasks, workers=workers, logging_dir=f"{logs}/filter").run()
    timings["filter"] = time.perf_counter() - t0
    wall = time.perf_counter() - t_all
    kept = 0
    for f in glob.glob(f"{work}/deduped/*"):
        with open(f, "rb") as fh:
            kept += sum(1 for _ in fh)
    print(json.dumps({"seconds": wall, "mb_s": nbytes / wall / 1e6, "bytes": nbytes, "kept": kept,
                      "workers": workers, "stages_s": timings}))


if __name__ == "__main__":
    main()
